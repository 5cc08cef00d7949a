// CUDA kernel and launcher for filtered_lrelu (TensorFlow-free; build with
// nvcc). Definition and sign-record layout: filtered_lrelu.h.
//
// One thread block computes one output tile of one plane and one lane group
// (4 consecutive channels of an NHWC image with C > 1, matching one byte of
// the sign record; else a single lane) entirely in shared memory:
//   1. filters -> shared (accumulation type);
//   2. the input rectangle the tile needs, + bias, zeros outside the image;
//   3. up-filter: separable fu along x (into a rows x grid-columns buffer),
//      then along y; 2-D fu directly. Only taps of the right polyphase are
//      visited (the others hit inserted zeros);
//   4. activation on the grid tile (compute mode: writes the record bytes of
//      the grid positions this tile owns; read mode: reads the record);
//   5. down-filter (separable: along x into a buffer, then along y) and the
//      store of the output tile.
// The grid tile is the only copy of the upsampled signal: nothing of that
// size ever reaches global memory.
#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "custom_ops/cc/kernels/cuda_half.cuh"
#include "custom_ops/cc/kernels/filtered_lrelu.h"

namespace sg2 {
namespace {

using cuda::Load;
using cuda::LoadReadOnly;
using cuda::Store;

constexpr int kThreads = 256;

// Launch geometry shared by host and device.
struct FlCudaArgs {
  FilteredLreluParams p;
  int oth, otw;          // output tile
  int64_t nty, ntx;      // tiles per plane along y, x
  int64_t groups;        // lane groups per plane (C > 1: ceil(C/4), else 1)
  int64_t lanes;         // FilteredLreluLanes
  int nu, nd;            // filter values (1-D: taps, 2-D: fh * fw)
  int r1, hx;            // shared buffer sizes in A elements (see Launch)
};

// The tile function below is __host__ __device__: the kernel runs it with
// 256 threads per block; EmulateFilteredLreluCudaOnHost runs it on the host
// with one "thread" per block (every loop strides by the thread count, so one
// thread does all the work and the barriers are no-ops), which lets the
// harness check the kernel's index math, tiling and record writes without a
// GPU.
SG2_HD void BlockSync() {
#ifdef __CUDA_ARCH__
  __syncthreads();
#endif
}

SG2_HD int64_t Min64(int64_t a, int64_t b) { return a < b ? a : b; }

// Loads widen to the accumulation type, stores round once (host and device;
// CUDA's fp16/bf16 conversions are host-device functions).
template <typename T>
SG2_HD typename AccType<T>::type Ld(const T* p) {
#ifdef __CUDA_ARCH__
  return LoadReadOnly(p);
#else
  if constexpr (std::is_same<T, Half16>::value) {
    return __half2float(*reinterpret_cast<const __half*>(p));
  } else if constexpr (std::is_same<T, BFloat16>::value) {
    return __bfloat162float(*reinterpret_cast<const __nv_bfloat16*>(p));
  } else {
    return *p;
  }
#endif
}

template <typename T>
SG2_HD void St(T* p, typename AccType<T>::type v) {
#ifdef __CUDA_ARCH__
  Store(p, v);
#else
  if constexpr (std::is_same<T, Half16>::value) {
    *reinterpret_cast<__half*>(p) = __float2half_rn(v);
  } else if constexpr (std::is_same<T, BFloat16>::value) {
    *reinterpret_cast<__nv_bfloat16*>(p) = __float2bfloat16_rn(v);
  } else {
    *p = v;
  }
#endif
}

SG2_HD int64_t FloorDivD(int64_t n, int64_t d) {
  int64_t q = n / d;
  if ((n % d != 0) && (n < 0)) --q;
  return q;
}

// First tap k >= 0 with (t + k - pad0) % up == 0.
SG2_HD int FirstPhase(int64_t t, int pad0, int up) {
  int64_t r = (static_cast<int64_t>(pad0) - t) % up;
  if (r < 0) r += up;
  return static_cast<int>(r);
}

// Output tile `block` computed by thread `tid` of `nthreads`, with shared
// memory `smem_raw` (SmemBytes).
template <typename T, int G, bool kFuSep, bool kFdSep>
SG2_HD void FilteredLreluTile(const FlCudaArgs& a, int64_t block, int tid,
                              int nthreads, unsigned char* smem_raw,
                              const T* __restrict x, const float* __restrict fu,
                              const float* __restrict fd,
                              const T* __restrict b,
                              const uint8_t* __restrict si, T* __restrict y,
                              uint8_t* __restrict so) {
  using A = typename AccType<T>::type;
  const FilteredLreluParams& p = a.p;
  A* sfu = reinterpret_cast<A*>(smem_raw);
  A* sfd = sfu + a.nu;
  A* s1 = sfd + a.nd;  // input rectangle, later the x-down-filtered rows
  A* shx = s1 + a.r1;  // separable fu: x-up-filtered input rows
  A* sgrid = shx + a.hx;
  // Which tile.
  int64_t bid = block;
  const int64_t tile_x = bid % a.ntx;
  bid /= a.ntx;
  const int64_t tile_y = bid % a.nty;
  bid /= a.nty;
  const int64_t plane = bid / a.groups;
  const int c0 = static_cast<int>(bid % a.groups) * G;
  const int64_t H = p.in_h, W = p.in_w, OH = p.out_h, OW = p.out_w;
  const int up = p.up, down = p.down;
  const int64_t oy0 = tile_y * a.oth, oy1 = Min64(OH, oy0 + a.oth);
  const int64_t ox0 = tile_x * a.otw, ox1 = Min64(OW, ox0 + a.otw);
  const int oh = static_cast<int>(oy1 - oy0), ow = static_cast<int>(ox1 - ox0);
  const int64_t ty0 = oy0 * down, tx0 = ox0 * down;
  const int th = (oh - 1) * down + p.fdh, tw = (ow - 1) * down + p.fdw;
  const int64_t iy0 = FloorDivD(ty0 - p.pady0 + up - 1, up);
  const int64_t ix0 = FloorDivD(tx0 - p.padx0 + up - 1, up);
  const int ih = static_cast<int>(
      FloorDivD(ty0 + th - 1 + p.fuh - 1 - p.pady0, up) - iy0 + 1);
  const int iw = static_cast<int>(
      FloorDivD(tx0 + tw - 1 + p.fuw - 1 - p.padx0, up) - ix0 + 1);
  const int64_t C = p.channels;
  const int64_t L = a.lanes;

  // 1. filters.
  for (int i = tid; i < a.nu; i += nthreads) sfu[i] = static_cast<A>(fu[i]);
  for (int i = tid; i < a.nd; i += nthreads) sfd[i] = static_cast<A>(fd[i]);

  // 2. input rectangle + bias (zeros outside the image: that is padding).
  A bias[G];
#pragma unroll
  for (int g = 0; g < G; ++g) {
    const int64_t c = L == 1 ? plane % C : c0 + g;
    bias[g] = (p.has_bias && c < C) ? Ld(b + c) : A(0);
  }
  const T* xp = x + plane * H * W * L;
  for (int idx = tid; idx < ih * iw; idx += nthreads) {
    const int r = idx / iw, col = idx % iw;
    const int64_t iy = iy0 + r, ix = ix0 + col;
    const bool in = iy >= 0 && iy < H && ix >= 0 && ix < W;
#pragma unroll
    for (int g = 0; g < G; ++g) {
      A v = A(0);
      if (in && c0 + g < L) v = Ld(xp + (iy * W + ix) * L + c0 + g) + bias[g];
      s1[idx * G + g] = v;
    }
  }
  BlockSync();

  // 3. up-filter onto the grid tile.
  if constexpr (kFuSep) {
    for (int idx = tid; idx < ih * tw; idx += nthreads) {
      const int r = idx / tw, t = idx % tw;
      const int64_t tx = tx0 + t;
      const int k0 = FirstPhase(tx, p.padx0, up);
      int i = static_cast<int>((tx + k0 - p.padx0) / up - ix0);
      A acc[G];
#pragma unroll
      for (int g = 0; g < G; ++g) acc[g] = A(0);
      for (int k = k0; k < p.fuw; k += up, ++i) {
        const A w = sfu[k];
        const A* src = s1 + (r * iw + i) * G;
#pragma unroll
        for (int g = 0; g < G; ++g) acc[g] += w * src[g];
      }
#pragma unroll
      for (int g = 0; g < G; ++g) shx[idx * G + g] = acc[g];
    }
    BlockSync();
    for (int idx = tid; idx < th * tw; idx += nthreads) {
      const int rr = idx / tw, t = idx % tw;
      const int64_t ty = ty0 + rr;
      const int k0 = FirstPhase(ty, p.pady0, up);
      int i = static_cast<int>((ty + k0 - p.pady0) / up - iy0);
      A acc[G];
#pragma unroll
      for (int g = 0; g < G; ++g) acc[g] = A(0);
      for (int k = k0; k < p.fuh; k += up, ++i) {
        const A w = sfu[k];
        const A* src = shx + (i * tw + t) * G;
#pragma unroll
        for (int g = 0; g < G; ++g) acc[g] += w * src[g];
      }
#pragma unroll
      for (int g = 0; g < G; ++g) sgrid[idx * G + g] = acc[g];
    }
  } else {
    for (int idx = tid; idx < th * tw; idx += nthreads) {
      const int rr = idx / tw, t = idx % tw;
      const int64_t ty = ty0 + rr, tx = tx0 + t;
      const int ky0 = FirstPhase(ty, p.pady0, up);
      const int kx0 = FirstPhase(tx, p.padx0, up);
      const int i0 = static_cast<int>((ty + ky0 - p.pady0) / up - iy0);
      const int j0 = static_cast<int>((tx + kx0 - p.padx0) / up - ix0);
      A acc[G];
#pragma unroll
      for (int g = 0; g < G; ++g) acc[g] = A(0);
      int i = i0;
      for (int ky = ky0; ky < p.fuh; ky += up, ++i) {
        int j = j0;
        for (int kx = kx0; kx < p.fuw; kx += up, ++j) {
          const A w = sfu[ky * p.fuw + kx];
          const A* src = s1 + (i * iw + j) * G;
#pragma unroll
          for (int g = 0; g < G; ++g) acc[g] += w * src[g];
        }
      }
#pragma unroll
      for (int g = 0; g < G; ++g) sgrid[idx * G + g] = acc[g];
    }
  }
  BlockSync();

  // 4. activation, 4 grid values per unit (one record byte): the 4 lanes of a
  // position (G == 4), or 4 consecutive columns (G == 1; tiles start at
  // multiples of 4 columns).
  {
    const A gain = A(p.gain), slope = A(p.slope), clamp = A(p.clamp);
    const bool clamp_on = p.clamp >= 0.f;
    const int per_row = G == 4 ? tw : (tw + 3) / 4;
    const int64_t TH = p.tmp_h, TW = p.tmp_w;
    const int64_t own_y1 = Min64(ty0 + th, oy1 == OH ? TH : oy1 * down);
    const int64_t own_x1 = Min64(tx0 + tw, ox1 == OW ? TW : ox1 * down);
    const int64_t LB = (L + 3) / 4;
    const int64_t sign_cols = p.read_signs ? SignCols(p.sign_row_bytes, L) : 0;
    for (int u = tid; u < th * per_row; u += nthreads) {
      const int rr = u / per_row, q = u % per_row;
      const int64_t ty = ty0 + rr;
      const int t_first = G == 4 ? q : 4 * q;
      const int64_t tx_first = tx0 + t_first;
      unsigned byte = 0;
      if (p.read_signs) {
        const int64_t ry = ty - p.sy;
        const bool row_ok = ry >= 0 && ry < p.sign_h;
        const uint8_t* rec = si + (plane * p.sign_h + ry) * p.sign_row_bytes;
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int t = G == 4 ? q : 4 * q + e;
          if (t >= tw) break;
          const int64_t rx = tx0 + t - p.sx;
          unsigned code = 0;
          if (row_ok && rx >= 0 && rx < sign_cols) {
            code = G == 4 ? (rec[rx * LB + c0 / 4] >> (2 * e)) & 3u
                          : (rec[rx >> 2] >> (2 * (rx & 3))) & 3u;
          }
          A& v = sgrid[(rr * tw + t) * G + (G == 4 ? e : 0)];
          v = code >= 2 ? A(0) : v * (code == 0 ? gain : gain * slope);
        }
      } else {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int t = G == 4 ? q : 4 * q + e;
          if (t >= tw) break;
          A& v = sgrid[(rr * tw + t) * G + (G == 4 ? e : 0)];
          const A z = v;
          const bool neg = !(z > A(0));
          const A av = (neg ? z * slope : z) * gain;
          const bool cl = clamp_on && !(Abs(av) <= clamp);
          v = clamp_on ? (av > clamp ? clamp : (av < -clamp ? -clamp : av)) : av;
          const int64_t c = G == 4 ? c0 + e : 0;
          const bool real = (G == 4 ? c < L : tx_first + e < TW) &&
                            FilteredLreluUsed(tx0 + t, p.fdw, down) &&
                            FilteredLreluUsed(ty, p.fdh, down);
          if (real) byte |= (cl ? 2u : (neg ? 1u : 0u)) << (2 * e);
        }
        if (p.write_signs && ty < own_y1 && tx_first < own_x1) {
          uint8_t* rec = so + (plane * p.sign_h + ty) * p.sign_row_bytes;
          if (G == 4) {
            rec[tx_first * LB + c0 / 4] = static_cast<uint8_t>(byte);
          } else {
            rec[tx_first >> 2] = static_cast<uint8_t>(byte);
          }
        }
      }
    }
  }
  BlockSync();

  // 5. down-filter and store.
  T* yp = y + plane * OH * OW * L;
  if constexpr (kFdSep) {
    A* sdx = s1;
    for (int idx = tid; idx < th * ow; idx += nthreads) {
      const int rr = idx / ow, o = idx % ow;
      A acc[G];
#pragma unroll
      for (int g = 0; g < G; ++g) acc[g] = A(0);
      const A* src = sgrid + (rr * tw + o * down) * G;
      for (int k = 0; k < p.fdw; ++k) {
        const A w = sfd[k];
#pragma unroll
        for (int g = 0; g < G; ++g) acc[g] += w * src[k * G + g];
      }
#pragma unroll
      for (int g = 0; g < G; ++g) sdx[idx * G + g] = acc[g];
    }
    BlockSync();
    for (int idx = tid; idx < oh * ow; idx += nthreads) {
      const int r = idx / ow, o = idx % ow;
      A acc[G];
#pragma unroll
      for (int g = 0; g < G; ++g) acc[g] = A(0);
      for (int k = 0; k < p.fdh; ++k) {
        const A w = sfd[k];
        const A* src = sdx + ((r * down + k) * ow + o) * G;
#pragma unroll
        for (int g = 0; g < G; ++g) acc[g] += w * src[g];
      }
      T* dst = yp + ((oy0 + r) * OW + ox0 + o) * L + c0;
#pragma unroll
      for (int g = 0; g < G; ++g)
        if (c0 + g < L) St(dst + g, acc[g]);
    }
  } else {
    for (int idx = tid; idx < oh * ow; idx += nthreads) {
      const int r = idx / ow, o = idx % ow;
      A acc[G];
#pragma unroll
      for (int g = 0; g < G; ++g) acc[g] = A(0);
      for (int ky = 0; ky < p.fdh; ++ky) {
        const A* src = sgrid + ((r * down + ky) * tw + o * down) * G;
        for (int kx = 0; kx < p.fdw; ++kx) {
          const A w = sfd[ky * p.fdw + kx];
#pragma unroll
          for (int g = 0; g < G; ++g) acc[g] += w * src[kx * G + g];
        }
      }
      T* dst = yp + ((oy0 + r) * OW + ox0 + o) * L + c0;
#pragma unroll
      for (int g = 0; g < G; ++g)
        if (c0 + g < L) St(dst + g, acc[g]);
    }
  }
}

template <typename T, int G, bool kFuSep, bool kFdSep>
__global__ void __launch_bounds__(kThreads)
    FilteredLreluKernel(FlCudaArgs a, const T* __restrict x,
                        const float* __restrict fu, const float* __restrict fd,
                        const T* __restrict b, const uint8_t* __restrict si,
                        T* __restrict y, uint8_t* __restrict so) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  FilteredLreluTile<T, G, kFuSep, kFdSep>(a, blockIdx.x, threadIdx.x, kThreads,
                                          smem_raw, x, fu, fd, b, si, y, so);
}

// Shared memory (bytes) for an output tile of oth x otw; fills the buffer
// sizes of `a`.
template <typename A, int G>
size_t SmemBytes(const FilteredLreluParams& p, int oth, int otw,
                 FlCudaArgs* a) {
  const int64_t th = int64_t(oth - 1) * p.down + p.fdh;
  const int64_t tw = int64_t(otw - 1) * p.down + p.fdw;
  const int64_t ih = (th + p.fuh - 2) / p.up + 2;
  const int64_t iw = (tw + p.fuw - 2) / p.up + 2;
  const int64_t in = ih * iw * G;
  const int64_t dx = p.fd_2d ? 0 : th * otw * G;
  const int64_t r1 = in > dx ? in : dx;
  const int64_t hx = p.fu_2d ? 0 : ih * tw * G;
  const int64_t grid = th * tw * G;
  a->r1 = static_cast<int>(r1);
  a->hx = static_cast<int>(hx);
  return sizeof(A) * static_cast<size_t>(a->nu + a->nd + r1 + hx + grid);
}

template <typename T, int G, bool kFuSep, bool kFdSep>
int LaunchKernel(cudaStream_t stream, const FlCudaArgs& a, size_t smem,
                 int64_t blocks, const T* x, const float* fu, const float* fd,
                 const T* b, const uint8_t* si, T* y, uint8_t* so) {
  auto kernel = FilteredLreluKernel<T, G, kFuSep, kFdSep>;
  if (smem > 48 * 1024) {
    const cudaError_t e = cudaFuncSetAttribute(
        kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
        static_cast<int>(smem));
    if (e != cudaSuccess) return static_cast<int>(e);
  }
  kernel<<<static_cast<unsigned>(blocks), kThreads, smem, stream>>>(
      a, x, fu, fd, b, si, y, so);
  return static_cast<int>(cudaGetLastError());
}

// Launch plan: lane groups, the largest output tile whose shared memory fits
// 48 KB (the default limit, good occupancy), else `optin` bytes (the
// device's opt-in limit); tile widths are multiples of 4 (whole record bytes
// per tile). first_tile > 0 skips the larger tiles (the harness's emulation
// uses it to exercise many tiles per plane). False when nothing fits.
template <typename T, int G>
bool Plan(const FilteredLreluParams& p, int optin, int first_tile,
          FlCudaArgs* a, size_t* smem, int64_t* blocks) {
  using A = typename AccType<T>::type;
  a->p = p;
  a->lanes = FilteredLreluLanes(p);
  a->groups = G == 4 ? (a->lanes + 3) / 4 : 1;
  a->nu = p.fu_2d ? p.fuh * p.fuw : p.fuw;
  a->nd = p.fd_2d ? p.fdh * p.fdw : p.fdw;
  static const int kTiles[][2] = {{32, 32}, {32, 16}, {16, 16}, {16, 8},
                                  {8, 8},   {8, 4},   {4, 4},   {2, 4},
                                  {1, 4}};
  constexpr int kNumTiles = sizeof(kTiles) / sizeof(kTiles[0]);
  bool found = false;
  for (const size_t budget : {size_t(48 * 1024), size_t(optin)}) {
    for (int i = first_tile < kNumTiles ? first_tile : kNumTiles - 1;
         i < kNumTiles; ++i) {
      const int oth = static_cast<int>(
          kTiles[i][0] < p.out_h ? kTiles[i][0] : p.out_h);
      const int otw = kTiles[i][1];
      *smem = SmemBytes<A, G>(p, oth, otw, a);
      if (*smem <= budget) {
        a->oth = oth;
        a->otw = otw;
        found = true;
        break;
      }
    }
    if (found) break;
  }
  if (!found) return false;
  a->nty = (p.out_h + a->oth - 1) / a->oth;
  a->ntx = (p.out_w + a->otw - 1) / a->otw;
  *blocks = FilteredLreluPlanes(p) * a->groups * a->nty * a->ntx;
  return true;
}

// Whether grid positions no tile computes may exist (their codes must be 0).
inline bool NeedsRecordZeroed(const FilteredLreluParams& p) {
  return p.write_signs && (p.fdw < p.down || p.fdh < p.down);
}

inline size_t RecordBytes(const FilteredLreluParams& p) {
  return static_cast<size_t>(FilteredLreluPlanes(p) * p.sign_h *
                             p.sign_row_bytes);
}

template <typename T, int G>
int LaunchG(cudaStream_t stream, const FilteredLreluParams& p, const T* x,
            const float* fu, const float* fd, const T* b, const uint8_t* si,
            T* y, uint8_t* so) {
  int device = 0, optin = 48 * 1024;
  if (cudaGetDevice(&device) == cudaSuccess) {
    int v = 0;
    if (cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin,
                               device) == cudaSuccess && v > optin) {
      optin = v;
    }
  }
  FlCudaArgs a;
  size_t smem = 0;
  int64_t blocks = 0;
  if (!Plan<T, G>(p, optin, 0, &a, &smem, &blocks)) {
    return static_cast<int>(cudaErrorInvalidValue);
  }
  if (blocks <= 0) return 0;
  if (blocks > INT32_MAX) return static_cast<int>(cudaErrorInvalidValue);
  if (NeedsRecordZeroed(p)) {
    const cudaError_t e = cudaMemsetAsync(so, 0, RecordBytes(p), stream);
    if (e != cudaSuccess) return static_cast<int>(e);
  }
  if (!p.fu_2d && !p.fd_2d)
    return LaunchKernel<T, G, true, true>(stream, a, smem, blocks, x, fu, fd, b, si, y, so);
  if (!p.fu_2d)
    return LaunchKernel<T, G, true, false>(stream, a, smem, blocks, x, fu, fd, b, si, y, so);
  if (!p.fd_2d)
    return LaunchKernel<T, G, false, true>(stream, a, smem, blocks, x, fu, fd, b, si, y, so);
  return LaunchKernel<T, G, false, false>(stream, a, smem, blocks, x, fu, fd, b, si, y, so);
}

template <typename T, int G, bool kFuSep, bool kFdSep>
void EmulateTiles(const FlCudaArgs& a, size_t smem, int64_t blocks,
                  const T* x, const float* fu, const float* fd, const T* b,
                  const uint8_t* si, T* y, uint8_t* so) {
  std::vector<double> buf(smem / sizeof(double) + 2);  // 8-byte aligned
  unsigned char* sm = reinterpret_cast<unsigned char*>(buf.data());
  for (int64_t blk = 0; blk < blocks; ++blk) {
    FilteredLreluTile<T, G, kFuSep, kFdSep>(a, blk, 0, 1, sm, x, fu, fd, b,
                                            si, y, so);
  }
}

// cudaDevAttrMaxSharedMemoryPerBlockOptin of an A100 (sm_80), the smallest
// among the GPUs the library is built for.
constexpr int kEmulatedOptinSharedBytes = 163 * 1024;

template <typename T, int G>
int EmulateG(const FilteredLreluParams& p, int first_tile, const T* x,
             const float* fu, const float* fd, const T* b, const uint8_t* si,
             T* y, uint8_t* so) {
  FlCudaArgs a;
  size_t smem = 0;
  int64_t blocks = 0;
  // Plan tries 48 KiB first; beyond it, the opt-in that LaunchG asks a real
  // GPU for, here the smallest among the targeted GPUs (sm_80).
  if (!Plan<T, G>(p, kEmulatedOptinSharedBytes, first_tile, &a, &smem, &blocks)) {
    return static_cast<int>(cudaErrorInvalidValue);
  }
  if (NeedsRecordZeroed(p)) std::memset(so, 0, RecordBytes(p));
  if (!p.fu_2d && !p.fd_2d) {
    EmulateTiles<T, G, true, true>(a, smem, blocks, x, fu, fd, b, si, y, so);
  } else if (!p.fu_2d) {
    EmulateTiles<T, G, true, false>(a, smem, blocks, x, fu, fd, b, si, y, so);
  } else if (!p.fd_2d) {
    EmulateTiles<T, G, false, true>(a, smem, blocks, x, fu, fd, b, si, y, so);
  } else {
    EmulateTiles<T, G, false, false>(a, smem, blocks, x, fu, fd, b, si, y, so);
  }
  return 0;
}

}  // namespace

template <typename T>
int LaunchFilteredLreluCuda(cudaStream_t stream, const FilteredLreluParams& p,
                            const T* x, const float* fu, const float* fd,
                            const T* b, const uint8_t* si, T* y, uint8_t* so) {
  if (p.batch * p.channels * p.out_h * p.out_w <= 0) return 0;
  if (FilteredLreluLanes(p) > 1) {
    return LaunchG<T, 4>(stream, p, x, fu, fd, b, si, y, so);
  }
  return LaunchG<T, 1>(stream, p, x, fu, fd, b, si, y, so);
}

template <typename T>
int EmulateFilteredLreluCudaOnHost(const FilteredLreluParams& p,
                                   int first_tile, const T* x, const float* fu,
                                   const float* fd, const T* b,
                                   const uint8_t* si, T* y, uint8_t* so) {
  if (p.batch * p.channels * p.out_h * p.out_w <= 0) return 0;
  if (FilteredLreluLanes(p) > 1) {
    return EmulateG<T, 4>(p, first_tile, x, fu, fd, b, si, y, so);
  }
  return EmulateG<T, 1>(p, first_tile, x, fu, fd, b, si, y, so);
}

#define SG2_INSTANTIATE(T)                                                  \
  template int LaunchFilteredLreluCuda<T>(                                  \
      cudaStream_t, const FilteredLreluParams&, const T*, const float*,     \
      const float*, const T*, const uint8_t*, T*, uint8_t*);                \
  template int EmulateFilteredLreluCudaOnHost<T>(                           \
      const FilteredLreluParams&, int, const T*, const float*, const float*, \
      const T*, const uint8_t*, T*, uint8_t*);
SG2_INSTANTIATE(BFloat16)
SG2_INSTANTIATE(Half16)
SG2_INSTANTIATE(float)
SG2_INSTANTIATE(double)
#undef SG2_INSTANTIATE

}  // namespace sg2
