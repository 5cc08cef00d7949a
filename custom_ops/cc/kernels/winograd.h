// Tile transforms of Winograd's minimal-filtering convolution F(m x m, 3 x 3)
// (Lavin & Gray 2016), the linear maps around the batched matrix product:
// TensorFlow-free parameters, CPU functors and CUDA launcher declarations.
//
// ToTiles, per sample n, tile (i, j) and channel c, with a matrix M [t, s]:
//   out[p t + q, (n Th + i) Tw + j, c] =
//       sum_a sum_b M[p, a] M[q, b] x[n, i m - pad + a, j m - pad + b, c]
// (x is zero outside the image), the a-sum first (a ascending), then the
// b-sum (b ascending); every term is added, zero coefficients included. FromTiles is its adjoint (transpose) for an image of
// H x W:
//   x[n, r, k, c] = sum over the tiles whose window covers (r, k) (tile rows,
//   then tile columns, ascending) of
//       sum_p M[p, a] (sum_q M[q, b] tiles[p t + q, tile, c])
// with a = r - (i m - pad), b = k - (j m - pad); the q-sum first, then the
// p-sum, each ascending. The convolution (stylegan2_tf/ops/winograd.py) is
// FromTiles(A) o BatchMatMul(., G w G^T) o ToTiles(B^T): the input transform
// is ToTiles with B^T [t, t] (s = t = m + 2, pad 1), the output transform
// FromTiles with A [t, m] (s = m, pad 0). Each op's gradient is the other
// with the same matrix, so every order of derivative stays in these ops.
//
// Layouts: x [N, H, W, C] (NHWC), tiles [t t, N Th Tw, C], with
// Th = (H + 2 pad - s) / m + 1 (exact) and Tw likewise.
#ifndef STYLEGAN2_TF_CUSTOM_OPS_KERNELS_WINOGRAD_H_
#define STYLEGAN2_TF_CUSTOM_OPS_KERNELS_WINOGRAD_H_

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "custom_ops/cc/kernels/sg2_common.h"

namespace sg2 {

// Largest tile (t) and window (s) the kernels take: F(6 x 6, 3 x 3) has t = 8.
constexpr int kWinogradMaxTile = 8;

struct WinogradParams {
  int64_t batch = 0, height = 0, width = 0, channels = 0;  // x: N, H, W, C
  int64_t tiles_h = 0, tiles_w = 0;                        // Th, Tw
  int rows = 0, window = 0, stride = 0, pad = 0;           // t, s, m, pad
  // M [t, s] row-major (float64 so that both types read exact values).
  double matrix[kWinogradMaxTile * kWinogradMaxTile];

  SG2_HD int64_t tiles() const { return batch * tiles_h * tiles_w; }
  // Whether neighbouring tiles' windows overlap (the input transform's do).
  SG2_HD bool overlapping() const { return window > stride; }
};

// Tiles along an axis of `size` pixels: windows of s at stride m over the
// axis padded by pad on both sides must end exactly at the padded edge
// (false otherwise).
inline bool WinogradTileCount(int64_t size, int window, int stride, int pad,
                              int64_t* tiles) {
  const int64_t span = size + 2 * static_cast<int64_t>(pad) - window;
  if (span < 0 || span % stride != 0) return false;
  *tiles = span / stride + 1;
  return true;
}

namespace internal {

// Channels handled together, as one vector of 64 bytes (GCC's vector
// extension: 16 floats or 8 doubles): a tile's window of one such vector per
// pixel stays in L1 and each coefficient is applied to whole vectors.
template <typename T>
struct WinogradVec {
  typedef T type __attribute__((vector_size(64)));
  typedef T unaligned __attribute__((vector_size(64), aligned(alignof(T)), may_alias));
  static constexpr int kLanes = 64 / sizeof(T);
};

// Loads lanes [0, w) of src (the rest 0), or the whole vector when w is full.
template <typename T>
SG2_ALWAYS_INLINE typename WinogradVec<T>::type WinogradLoad(const T* src, int w) {
  using V = typename WinogradVec<T>::type;
  if (w == WinogradVec<T>::kLanes) return *reinterpret_cast<const typename WinogradVec<T>::unaligned*>(src);
  V v = V{};
  for (int l = 0; l < w; ++l) v[l] = src[l];
  return v;
}

template <typename T>
SG2_ALWAYS_INLINE void WinogradStore(T* dst, typename WinogradVec<T>::type v, int w) {
  if (w == WinogradVec<T>::kLanes) {
    *reinterpret_cast<typename WinogradVec<T>::unaligned*>(dst) = v;
    return;
  }
  for (int l = 0; l < w; ++l) dst[l] = v[l];
}

// ToTiles for tile rows u = n Th + i in [u0, u1). kT / kS: t and s at compile
// time (0: read from p). Every term is added, zero coefficients and the zeros
// outside the image included, in the order stated at the top of this file.
template <typename T, int kT, int kS>
SG2_ALWAYS_INLINE void WinogradToTilesRows(const WinogradParams& p, const T* x,
                                           T* tiles, int64_t u0, int64_t u1) {
  using V = typename WinogradVec<T>::type;
  constexpr int L = WinogradVec<T>::kLanes, K = kWinogradMaxTile;
  const int t = kT > 0 ? kT : p.rows, s = kS > 0 ? kS : p.window;
  const int64_t C = p.channels, H = p.height, W = p.width, Th = p.tiles_h, Tw = p.tiles_w;
  const int64_t plane = p.tiles() * C;
  T m[K * K];
  for (int k = 0; k < t * s; ++k) m[k] = static_cast<T>(p.matrix[k]);
  V win[K][K], tmp[K][K];
  for (int64_t u = u0; u < u1; ++u) {
    const int64_t n = u / Th, i = u % Th, r0 = i * p.stride - p.pad;
    const T* xn = x + n * H * W * C;
    for (int64_t j = 0; j < Tw; ++j) {
      const int64_t k0 = j * p.stride - p.pad, tile = u * Tw + j;
      for (int64_t c0 = 0; c0 < C; c0 += L) {
        const int w = static_cast<int>(std::min<int64_t>(L, C - c0));
        for (int a = 0; a < s; ++a) {
          const int64_t r = r0 + a;
          for (int b = 0; b < s; ++b) {
            const int64_t k = k0 + b;
            win[a][b] = (r < 0 || r >= H || k < 0 || k >= W)
                            ? V{}
                            : WinogradLoad(xn + (r * W + k) * C + c0, w);
          }
        }
        for (int b = 0; b < s; ++b) {
          for (int pp = 0; pp < t; ++pp) {
            V acc = V{};
            for (int a = 0; a < s; ++a) acc += m[pp * s + a] * win[a][b];
            tmp[pp][b] = acc;
          }
        }
        for (int pp = 0; pp < t; ++pp) {
          for (int q = 0; q < t; ++q) {
            V acc = V{};
            for (int b = 0; b < s; ++b) acc += m[q * s + b] * tmp[pp][b];
            WinogradStore(tiles + (pp * t + q) * plane + tile * C + c0, acc, w);
          }
        }
      }
    }
  }
}

// FromTiles for units [u0, u1): a unit is a sample n (overlapping windows) or
// a tile row u = n Th + i. The unit's rows are zeroed, then each tile's window
// is computed (q-sums, then p-sums) and added, tiles in order.
template <typename T, int kT, int kS>
SG2_ALWAYS_INLINE void WinogradFromTilesRows(const WinogradParams& p,
                                             const T* tiles, T* x, int64_t u0,
                                             int64_t u1) {
  using V = typename WinogradVec<T>::type;
  constexpr int L = WinogradVec<T>::kLanes, K = kWinogradMaxTile;
  const int t = kT > 0 ? kT : p.rows, s = kS > 0 ? kS : p.window;
  const int64_t C = p.channels, H = p.height, W = p.width, Th = p.tiles_h, Tw = p.tiles_w;
  const int64_t plane = p.tiles() * C;
  const bool per_sample = p.overlapping();
  T m[K * K];
  for (int k = 0; k < t * s; ++k) m[k] = static_cast<T>(p.matrix[k]);
  V v[K][K], tmp[K][K];
  for (int64_t u = u0; u < u1; ++u) {
    const int64_t n = per_sample ? u : u / Th;
    const int64_t i_begin = per_sample ? 0 : u % Th;
    const int64_t i_end = per_sample ? Th : i_begin + 1;
    T* xn = x + n * H * W * C;
    // The unit's rows: a sample's, or the tile row's band [i m - pad,
    // (i + 1) m - pad) (the first and last reaching the image's edges), which
    // holds its windows (s <= m).
    const int64_t r_lo = per_sample || i_begin == 0 ? 0 : i_begin * p.stride - p.pad;
    const int64_t r_hi = per_sample || i_begin == Th - 1
                             ? H
                             : std::min<int64_t>(H, (i_begin + 1) * p.stride - p.pad);
    if (r_hi > r_lo) std::fill(xn + r_lo * W * C, xn + r_hi * W * C, T(0));
    for (int64_t i = i_begin; i < i_end; ++i) {
      const int64_t r0 = i * p.stride - p.pad;
      for (int64_t j = 0; j < Tw; ++j) {
        const int64_t k0 = j * p.stride - p.pad, tile = (n * Th + i) * Tw + j;
        for (int64_t c0 = 0; c0 < C; c0 += L) {
          const int w = static_cast<int>(std::min<int64_t>(L, C - c0));
          for (int pp = 0; pp < t; ++pp) {
            for (int q = 0; q < t; ++q) {
              v[pp][q] = WinogradLoad(tiles + (pp * t + q) * plane + tile * C + c0, w);
            }
          }
          for (int pp = 0; pp < t; ++pp) {
            for (int b = 0; b < s; ++b) {
              V acc = V{};
              for (int q = 0; q < t; ++q) acc += m[q * s + b] * v[pp][q];
              tmp[pp][b] = acc;
            }
          }
          for (int a = 0; a < s; ++a) {
            const int64_t r = r0 + a;
            if (r < 0 || r >= H) continue;
            for (int b = 0; b < s; ++b) {
              const int64_t k = k0 + b;
              if (k < 0 || k >= W) continue;
              V acc = V{};
              for (int pp = 0; pp < t; ++pp) acc += m[pp * s + a] * tmp[pp][b];
              T* d = xn + (r * W + k) * C + c0;
              WinogradStore(d, WinogradLoad(d, w) + acc, w);
            }
          }
        }
      }
    }
  }
}

SG2_CPU_LOOP_COPIES(WinogradToTilesRows, (typename T, int kT, int kS), (T, kT, kS),
                    (const WinogradParams& p, const T* x, T* tiles, int64_t u0, int64_t u1),
                    (p, x, tiles, u0, u1))
SG2_CPU_LOOP_COPIES(WinogradFromTilesRows, (typename T, int kT, int kS), (T, kT, kS),
                    (const WinogradParams& p, const T* tiles, T* x, int64_t u0, int64_t u1),
                    (p, tiles, x, u0, u1))

// Runs the loops compiled for F(4 x 4, 3 x 3)'s two transforms (t = 6 with
// s = 6 or 4), any other shape with the sizes read at run time.
template <bool kFrom, typename T>
void WinogradDispatch(const WinogradParams& p, const T* in, T* out, int64_t u0,
                      int64_t u1) {
#define SG2_WINOGRAD_RUN(TT, SS)                                      \
  if (kFrom) {                                                        \
    WinogradFromTilesRowsBest<T, TT, SS>(p, in, out, u0, u1);         \
  } else {                                                            \
    WinogradToTilesRowsBest<T, TT, SS>(p, in, out, u0, u1);           \
  }                                                                   \
  return;
  if (p.rows == 6 && p.window == 6) { SG2_WINOGRAD_RUN(6, 6) }
  if (p.rows == 6 && p.window == 4) { SG2_WINOGRAD_RUN(6, 4) }
  SG2_WINOGRAD_RUN(0, 0)
#undef SG2_WINOGRAD_RUN
}

inline int64_t WinogradTileCost(const WinogradParams& p) {
  return 2 * static_cast<int64_t>(p.rows) * p.window * (p.rows + p.window) * p.channels / 16;
}

}  // namespace internal

// tiles [t t, N Th Tw, C] = ToTiles(x [N, H, W, C]). Parallel over tile rows.
template <typename T, typename PF>
void WinogradToTilesCpu(const WinogradParams& p, const T* x, T* tiles,
                        PF&& parallel_for) {
  parallel_for(p.batch * p.tiles_h, p.tiles_w * internal::WinogradTileCost(p),
               [&](int64_t u0, int64_t u1) {
    internal::WinogradDispatch<false>(p, x, tiles, u0, u1);
  });
}

// x [N, H, W, C] = FromTiles(tiles [t t, N Th Tw, C]). With overlapping
// windows one unit is a sample, otherwise a tile row, so the order in which a
// pixel's terms are added never depends on the threads.
template <typename T, typename PF>
void WinogradFromTilesCpu(const WinogradParams& p, const T* tiles, T* x,
                          PF&& parallel_for) {
  const bool per_sample = p.overlapping();
  const int64_t units = per_sample ? p.batch : p.batch * p.tiles_h;
  const int64_t cost = (per_sample ? p.tiles_h : 1) * p.tiles_w * internal::WinogradTileCost(p);
  parallel_for(units, cost, [&](int64_t u0, int64_t u1) {
    internal::WinogradDispatch<true>(p, tiles, x, u0, u1);
  });
}

// CUDA launchers (winograd_kernels.cu.cc): arrays in device memory, p by
// value. Return 0 or a cudaError_t code.
template <typename T>
int LaunchWinogradToTilesCuda(cudaStream_t stream, const WinogradParams& p,
                              const T* x, T* tiles);
template <typename T>
int LaunchWinogradFromTilesCuda(cudaStream_t stream, const WinogradParams& p,
                                const T* tiles, T* x);

}  // namespace sg2

#endif  // STYLEGAN2_TF_CUSTOM_OPS_KERNELS_WINOGRAD_H_
