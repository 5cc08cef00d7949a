// CUDA kernel and launcher for upfirdn2d (TensorFlow-free; build with nvcc).
#include <cuda_runtime.h>

#include <cstdint>

#include "custom_ops/cc/kernels/cuda_half.cuh"
#include "custom_ops/cc/kernels/upfirdn2d.h"

namespace sg2 {
namespace {

using cuda::Load;
using cuda::LoadReadOnly;
using cuda::Store;

// Filters up to this many taps are staged in shared memory (as the
// accumulation type); larger ones are read from global memory.
constexpr int kMaxSmemTaps = 1024;

// Polyphase tap range along one axis for output position o: taps
// k = k0, k0 + up, ... < k1 hit input samples i0, i0 + 1, ... (taps that hit
// inserted zeros or padding are skipped).
template <typename I>
__device__ __forceinline__ void TapRange(I o, int up, int down, int pad0, int f,
                                         I in, I* k0, I* k1, I* i0) {
  const I p0 = o * down - pad0;  // upsampled coordinate of tap 0
  I k = up == 1 ? I(0) : ((-p0) % up + up) % up;  // phase: (p0 + k) % up == 0
  if (-p0 > k) k = -p0;  // congruent to the phase, so it keeps it
  I e = in * up - p0;
  if (e > f) e = f;
  *k0 = k;
  *k1 = e;
  *i0 = up == 1 ? p0 + k : (p0 + k) / up;
}

template <typename T, bool kSmem>
__device__ __forceinline__ typename AccType<T>::type Tap(
    const typename AccType<T>::type* fs, const T* f, int idx) {
  if constexpr (kSmem) {
    return fs[idx];
  } else {
    return LoadReadOnly(f + idx);
  }
}

template <typename T, bool kSmem>
__device__ __forceinline__ void StageFilter(const UpFirDn2dParams& p,
                                            const T* f,
                                            typename AccType<T>::type* fs) {
  if constexpr (kSmem) {
    const int n = p.fh * p.fw;
    const int tid = threadIdx.y * blockDim.x + threadIdx.x;
    for (int t = tid; t < n; t += blockDim.x * blockDim.y)
      fs[t] = LoadReadOnly(f + t);
    __syncthreads();
  }
}

template <typename T, int N>
struct alignas(sizeof(T) * N) VecT {
  T v[N];
};

// NHWC, many channels: threadIdx.x runs over groups of kVec consecutive
// channels (one aligned vector load per tap, coalesced across the warp); each
// (threadIdx.y, block) handles one output pixel at a time, so the index
// decomposition and tap ranges are computed once per pixel, not per element.
template <typename T, typename I, bool kSmem, int kVec>
__global__ void UpFirDn2dNHWCKernel(UpFirDn2dParams p, const T* __restrict x,
                                    const T* __restrict f, T* __restrict y) {
  using A = typename AccType<T>::type;
  using V = VecT<T, kVec>;
  extern __shared__ unsigned char smem_raw[];
  A* fs = reinterpret_cast<A*>(smem_raw);
  StageFilter<T, kSmem>(p, f, fs);
  const I C = p.channels, H = p.in_h, W = p.in_w, OH = p.out_h, OW = p.out_w;
  const I CV = C / kVec;  // vectors per pixel (C % kVec == 0)
  const I pixels = static_cast<I>(p.batch) * OH * OW;
  for (I pix = static_cast<I>(blockIdx.x) * blockDim.y + threadIdx.y;
       pix < pixels; pix += static_cast<I>(gridDim.x) * blockDim.y) {
    const I ox = pix % OW, t = pix / OW, oy = t % OH, n = t / OH;
    I ky0, ky1, iy0, kx0, kx1, ix0;
    TapRange<I>(oy, p.upy, p.downy, p.pady0, p.fh, H, &ky0, &ky1, &iy0);
    TapRange<I>(ox, p.upx, p.downx, p.padx0, p.fw, W, &kx0, &kx1, &ix0);
    const V* xn = reinterpret_cast<const V*>(x + n * H * W * C);
    V* yp = reinterpret_cast<V*>(y + pix * C);
    for (I cv = threadIdx.x; cv < CV; cv += blockDim.x) {
      A acc[kVec];
#pragma unroll
      for (int k = 0; k < kVec; ++k) acc[k] = A(0);
      I iy = iy0;
      for (I ky = ky0; ky < ky1; ky += p.upy, ++iy) {
        const V* xr = xn + iy * W * CV + cv;
        I ix = ix0;
        for (I kx = kx0; kx < kx1; kx += p.upx, ++ix) {
          const A w = Tap<T, kSmem>(fs, f, ky * p.fw + kx);
          const V xv = xr[ix * CV];
#pragma unroll
          for (int k = 0; k < kVec; ++k) acc[k] += w * Load(&xv.v[k]);
        }
      }
      V out;
#pragma unroll
      for (int k = 0; k < kVec; ++k) Store(&out.v[k], acc[k]);
      yp[cv] = out;
    }
  }
}

// NCHW, wide rows: threadIdx.x runs over output columns, each
// (threadIdx.y, block) handles one output row (n, c, oy) at a time.
template <typename T, typename I, bool kSmem>
__global__ void UpFirDn2dNCHWKernel(UpFirDn2dParams p, const T* __restrict x,
                                    const T* __restrict f, T* __restrict y) {
  using A = typename AccType<T>::type;
  extern __shared__ unsigned char smem_raw[];
  A* fs = reinterpret_cast<A*>(smem_raw);
  StageFilter<T, kSmem>(p, f, fs);
  const I H = p.in_h, W = p.in_w, OH = p.out_h, OW = p.out_w;
  const I rows = static_cast<I>(p.batch) * p.channels * OH;
  for (I row = static_cast<I>(blockIdx.x) * blockDim.y + threadIdx.y;
       row < rows; row += static_cast<I>(gridDim.x) * blockDim.y) {
    const I oy = row % OH, nc = row / OH;
    I ky0, ky1, iy0;
    TapRange<I>(oy, p.upy, p.downy, p.pady0, p.fh, H, &ky0, &ky1, &iy0);
    const T* xc = x + nc * H * W;
    T* yr = y + row * OW;
    for (I ox = threadIdx.x; ox < OW; ox += blockDim.x) {
      I kx0, kx1, ix0;
      TapRange<I>(ox, p.upx, p.downx, p.padx0, p.fw, W, &kx0, &kx1, &ix0);
      A acc = A(0);
      I iy = iy0;
      for (I ky = ky0; ky < ky1; ky += p.upy, ++iy) {
        const T* xr = xc + iy * W;
        I ix = ix0;
        for (I kx = kx0; kx < kx1; kx += p.upx, ++ix)
          acc += Tap<T, kSmem>(fs, f, ky * p.fw + kx) * LoadReadOnly(xr + ix);
      }
      Store(yr + ox, acc);
    }
  }
}

// Fallback for few channels (NHWC) or narrow rows (NCHW): one thread per
// output element, consecutive threads on the fastest output axis.
template <typename T, typename I, bool kNCHW, bool kSmem>
__global__ void UpFirDn2dFlatKernel(UpFirDn2dParams p, const T* __restrict x,
                                    const T* __restrict f, T* __restrict y) {
  using A = typename AccType<T>::type;
  extern __shared__ unsigned char smem_raw[];
  A* fs = reinterpret_cast<A*>(smem_raw);
  StageFilter<T, kSmem>(p, f, fs);
  const I C = p.channels, H = p.in_h, W = p.in_w, OH = p.out_h, OW = p.out_w;
  const I total = static_cast<I>(p.batch) * C * OH * OW;
  for (I idx = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x;
       idx < total; idx += static_cast<I>(gridDim.x) * blockDim.x) {
    I n, c, oy, ox, t = idx;
    if constexpr (kNCHW) {
      ox = t % OW; t /= OW;
      oy = t % OH; t /= OH;
      c = t % C; n = t / C;
    } else {
      c = t % C; t /= C;
      ox = t % OW; t /= OW;
      oy = t % OH; n = t / OH;
    }
    I ky0, ky1, iy0, kx0, kx1, ix0;
    TapRange<I>(oy, p.upy, p.downy, p.pady0, p.fh, H, &ky0, &ky1, &iy0);
    TapRange<I>(ox, p.upx, p.downx, p.padx0, p.fw, W, &kx0, &kx1, &ix0);
    // Element strides of x along y and x, and the offset of (n, c).
    const I sy = kNCHW ? W : W * C, sx = kNCHW ? 1 : C;
    const T* xb = x + (kNCHW ? (n * C + c) * H * W : n * H * W * C + c);
    A acc = A(0);
    I iy = iy0;
    for (I ky = ky0; ky < ky1; ky += p.upy, ++iy) {
      I ix = ix0;
      for (I kx = kx0; kx < kx1; kx += p.upx, ++ix)
        acc += Tap<T, kSmem>(fs, f, ky * p.fw + kx) * LoadReadOnly(xb + iy * sy + ix * sx);
    }
    Store(y + idx, acc);
  }
}

constexpr int kThreads = 256;
constexpr int kMaxBlocks = 65535;

template <typename T, typename I, bool kSmem>
int LaunchTyped(cudaStream_t stream, const UpFirDn2dParams& p, const T* x,
                const T* f, T* y) {
  using A = typename AccType<T>::type;
  const size_t smem = kSmem ? sizeof(A) * p.fh * p.fw : 0;
  // Channel vector width for NHWC: 16-byte loads when channels and pointers
  // allow (4 floats / 4 halves / 2 doubles).
  constexpr int kVec = sizeof(T) == 8 ? 2 : 4;
  const bool vec = !p.nchw && p.channels % kVec == 0 &&
                   reinterpret_cast<uintptr_t>(x) % (sizeof(T) * kVec) == 0 &&
                   reinterpret_cast<uintptr_t>(y) % (sizeof(T) * kVec) == 0;
  const int64_t lanes = p.nchw ? p.out_w : (vec ? p.channels / kVec : p.channels);
  if (lanes >= 32 || (vec && lanes >= 8)) {
    // Block = bx lanes x by items (bx a multiple of 8, at most 256).
    const int bx = static_cast<int>(lanes >= kThreads ? kThreads : (lanes + 7) / 8 * 8);
    const int by = kThreads / bx;
    const int64_t items = p.nchw ? p.batch * p.channels * p.out_h
                                 : p.batch * p.out_h * p.out_w;
    const int64_t want = (items + by - 1) / by;
    const int blocks = static_cast<int>(want < kMaxBlocks ? want : kMaxBlocks);
    if (p.nchw) {
      UpFirDn2dNCHWKernel<T, I, kSmem><<<blocks, dim3(bx, by), smem, stream>>>(p, x, f, y);
    } else {
      if (vec) {
        UpFirDn2dNHWCKernel<T, I, kSmem, kVec><<<blocks, dim3(bx, by), smem, stream>>>(p, x, f, y);
      } else {
        UpFirDn2dNHWCKernel<T, I, kSmem, 1><<<blocks, dim3(bx, by), smem, stream>>>(p, x, f, y);
      }
    }
  } else {
    const int64_t total = p.batch * p.channels * p.out_h * p.out_w;
    const int64_t want = (total + kThreads - 1) / kThreads;
    const int blocks = static_cast<int>(want < kMaxBlocks ? want : kMaxBlocks);
    if (p.nchw) {
      UpFirDn2dFlatKernel<T, I, true, kSmem><<<blocks, kThreads, smem, stream>>>(p, x, f, y);
    } else {
      UpFirDn2dFlatKernel<T, I, false, kSmem><<<blocks, kThreads, smem, stream>>>(p, x, f, y);
    }
  }
  return static_cast<int>(cudaGetLastError());
}

}  // namespace

template <typename T>
int LaunchUpFirDn2dCuda(cudaStream_t stream, const UpFirDn2dParams& p,
                        const T* x, const T* f, T* y) {
  const int64_t total = p.batch * p.channels * p.out_h * p.out_w;
  if (total <= 0) return 0;
  const int64_t in_total = p.batch * p.channels * p.in_h * p.in_w;
  // 32-bit index math when every index (and the upsampled extent) fits.
  const int64_t big = in_total > total ? in_total : total;
  const bool small = big < INT32_MAX / 2 &&
                     (p.in_h * p.upy + p.fh) < INT32_MAX / 2 &&
                     (p.in_w * p.upx + p.fw) < INT32_MAX / 2;
  const bool smem = p.fh * p.fw <= kMaxSmemTaps;
  if (small) {
    return smem ? LaunchTyped<T, int32_t, true>(stream, p, x, f, y)
                : LaunchTyped<T, int32_t, false>(stream, p, x, f, y);
  }
  return smem ? LaunchTyped<T, int64_t, true>(stream, p, x, f, y)
              : LaunchTyped<T, int64_t, false>(stream, p, x, f, y);
}

template <typename T>
int LaunchUpFirDn2dSeparableCuda(cudaStream_t stream, const UpFirDn2dParams& p,
                                 bool y_first, const T* x, const T* fx,
                                 const T* fy, T* tmp, T* y) {
  if (y_first) {
    const int err = LaunchUpFirDn2dCuda<T>(
        stream, internal::YPassParams(p, p.in_w), x, fy, tmp);
    if (err) return err;
    return LaunchUpFirDn2dCuda<T>(stream, internal::XPassParams(p, p.out_h),
                                  tmp, fx, y);
  }
  const int err = LaunchUpFirDn2dCuda<T>(
      stream, internal::XPassParams(p, p.in_h), x, fx, tmp);
  if (err) return err;
  return LaunchUpFirDn2dCuda<T>(stream, internal::YPassParams(p, p.out_w), tmp,
                                fy, y);
}

#define SG2_INSTANTIATE(T)                                                 \
  template int LaunchUpFirDn2dCuda<T>(cudaStream_t, const UpFirDn2dParams&, \
                                      const T*, const T*, T*);              \
  template int LaunchUpFirDn2dSeparableCuda<T>(                             \
      cudaStream_t, const UpFirDn2dParams&, bool, const T*, const T*,       \
      const T*, T*, T*);
SG2_INSTANTIATE(BFloat16)
SG2_INSTANTIATE(Half16)
SG2_INSTANTIATE(float)
SG2_INSTANTIATE(double)
#undef SG2_INSTANTIATE

}  // namespace sg2
