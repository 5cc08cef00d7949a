// Per-sample channel scaling, the modulation and demodulation of StyleGAN2's
// non-fused modulated convolution, and its gradient in one pass:
//
//   y[n, i, c]  = x[n, i, c] * s[n, c]                     (+ a[n, i], below)
//   dx[n, i, c] = dy[n, i, c] * s[n, c]
//   ds[n, c]    = sum_i dy[n, i, c] * x[n, i, c]
//
// x is viewed as [batch, inner, channels] (NHWC: inner = H * W). The gradient
// reads dy and x once; TensorFlow's broadcasting Mul/Mul/Sum read them twice
// and write the product dy * x in between. The 16-bit types are computed in
// float: each product is rounded once to the storage type and ds accumulates
// in float (double for double).
//
// With a per-row addend a [batch, inner] (the synthesis layer's noise, added
// after the demodulation) the forward pass is
//
//   y[n, i, c]  = T(T(x[n, i, c] * s[n, c]) + a[n, i])
//
// i.e. a multiply and then an add, each rounded to the storage type T, the
// numbers of TensorFlow's Mul followed by its broadcasting AddV2; and the
// gradient also gives
//
//   da[n, i]    = sum_c dy[n, i, c]
//
// summed in float in this order: within each tile of kChannelScaleTile
// channels, 16 lanes (lane j adds channels j, j + 16, ... in order), the lanes
// combined by halving (lane j += lane j + h for h = 8, 4, 2, 1), then the tile
// sums added in tile order.
//
// and, for bias gradients, the per-channel sum over all rows
//
//   sum[c] = sum_r x[r, c]          (x viewed as [rows, channels])
//
// ds and sum add in a fixed order that depends only on the shape: rows in
// chunks of kChannelScaleRows, each chunk summed in row order, then the chunk
// sums in chunk order. So the results do not depend on the number of threads.
#ifndef STYLEGAN2_TF_CUSTOM_OPS_KERNELS_CHANNEL_SCALE_H_
#define STYLEGAN2_TF_CUSTOM_OPS_KERNELS_CHANNEL_SCALE_H_

#include <cstdint>
#include <type_traits>
#include <vector>

#include "custom_ops/cc/kernels/sg2_common.h"

namespace sg2 {

struct ChannelScaleParams {
  int64_t batch = 0;     // x.shape[0] = s.shape[0]
  int64_t inner = 0;     // product of x's dims between the first and the last
  int64_t channels = 0;  // x.shape[-1] = s.shape[1]
};

// Rows per partial sum of ds (part of the summation order, see above).
constexpr int64_t kChannelScaleRows = 1024;
// Channels per CPU work unit of the gradient (its accumulators live in
// registers / on the stack).
constexpr int64_t kChannelScaleTile = 64;

namespace internal {

// out[g * width + i] = T(the `count` partials parts[(g * count + k) * width + i]
// summed for k = 0, 1, ... in order, starting from the first; 0 when count is 0).
// The order is part of the ops' summation order: every functor that combines
// partial sums (ds, da, the bias gradient, and scale_bias_act's) goes through
// here, so they cannot drift apart.
template <typename T, typename A>
void SumPartialsInOrder(const A* parts, int64_t groups, int64_t count,
                        int64_t width, T* out) {
  for (int64_t g = 0; g < groups; ++g) {
    const A* group = parts + g * count * width;
    for (int64_t i = 0; i < width; ++i) {
      A sum = count > 0 ? group[i] : A(0);
      for (int64_t k = 1; k < count; ++k) sum += group[k * width + i];
      out[g * width + i] = static_cast<T>(sum);
    }
  }
}

// y = x * s (+ a) over `rows` rows of one sample (all channels); a points at
// the rows' addends when kAdd.
template <bool kAdd, typename T>
SG2_ALWAYS_INLINE void ChannelScaleRows(const T* __restrict x,
                                        const T* __restrict s,
                                        const T* __restrict a, T* __restrict y,
                                        int64_t rows, int64_t C) {
  using A = typename AccType<T>::type;
  for (int64_t r = 0; r < rows; ++r) {
    const T* __restrict xr = x + r * C;
    T* __restrict yr = y + r * C;
    if constexpr (!kAdd) {
      StoreEach<kChannelScaleTile>(yr, C, [&](int64_t c) SG2_LAMBDA_INLINE -> A {
        return static_cast<A>(xr[c]) * static_cast<A>(s[c]);
      });
    } else if constexpr (std::is_same<T, BFloat16>::value) {
      // The products are rounded to bfloat16 first, a tile at a time through
      // the vector narrowing, then widened and added to.
      const A ar = static_cast<A>(a[r]);
      for (int64_t c0 = 0; c0 < C; c0 += kChannelScaleTile) {
        const int64_t w = C - c0 < kChannelScaleTile ? C - c0 : kChannelScaleTile;
        float prod[kChannelScaleTile];
        BFloat16 rounded[kChannelScaleTile];
        for (int64_t c = 0; c < w; ++c) {
          prod[c] = static_cast<A>(xr[c0 + c]) * static_cast<A>(s[c0 + c]);
        }
        NarrowToBFloat16(prod, rounded, w);
        StoreEach<kChannelScaleTile>(yr + c0, w, [&](int64_t c) SG2_LAMBDA_INLINE -> A {
          return static_cast<A>(rounded[c]) + ar;
        });
      }
    } else {
      const A ar = static_cast<A>(a[r]);
      StoreEach<kChannelScaleTile>(yr, C, [&](int64_t c) SG2_LAMBDA_INLINE -> A {
        const T prod = static_cast<T>(static_cast<A>(xr[c]) * static_cast<A>(s[c]));
        return static_cast<A>(prod) + ar;
      });
    }
  }
}

// Forward over global row blocks [b0, b1) of kChannelScaleRows rows each
// (blocks never straddle samples: each sample has ceil(inner / rows) blocks).
template <bool kAdd, typename T>
SG2_ALWAYS_INLINE void ChannelScaleBlocks(const ChannelScaleParams& p,
                                          const T* x, const T* s, const T* a,
                                          T* y, int64_t b0, int64_t b1) {
  const int64_t C = p.channels, inner = p.inner;
  const int64_t per = (inner + kChannelScaleRows - 1) / kChannelScaleRows;
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t n = b / per, r0 = (b % per) * kChannelScaleRows;
    const int64_t rows =
        inner - r0 < kChannelScaleRows ? inner - r0 : kChannelScaleRows;
    const int64_t off = (n * inner + r0) * C;
    ChannelScaleRows<kAdd, T>(x + off, s + n * C, kAdd ? a + n * inner + r0 : a,
                              y + off, rows, C);
  }
}

// The addend's gradient of one row's tile (w <= kChannelScaleTile channels):
// sum_c dy[c] in the lane order described at the top of this file.
template <typename T>
SG2_ALWAYS_INLINE typename AccType<T>::type TileRowSum(const T* __restrict dy,
                                                       int64_t w) {
  using A = typename AccType<T>::type;
  A lane[16];
  for (int j = 0; j < 16; ++j) lane[j] = A(0);
  for (int64_t c0 = 0; c0 < w; c0 += 16) {
    const int64_t m = w - c0 < 16 ? w - c0 : 16;
    for (int64_t j = 0; j < m; ++j) lane[j] += static_cast<A>(dy[c0 + j]);
  }
  for (int h = 8; h >= 1; h /= 2) {
    for (int j = 0; j < h; ++j) lane[j] += lane[j + h];
  }
  return lane[0];
}

// Gradient of one unit: rows [r0, r0 + rows) and channels [c0, c0 + w) of
// sample n; writes dx there and the unit's partial ds (w values) to `part`,
// and with kAdd each row's partial da (the tile's sum of dy) to da_part[r].
template <bool kAdd, typename T>
SG2_ALWAYS_INLINE void ChannelScaleGradUnit(
    const T* __restrict dy, const T* __restrict x, const T* __restrict s,
    T* __restrict dx, typename AccType<T>::type* __restrict part,
    typename AccType<T>::type* __restrict da_part, int64_t rows, int64_t w,
    int64_t C) {
  using A = typename AccType<T>::type;
  A acc[kChannelScaleTile];
  A sc[kChannelScaleTile];
  for (int64_t c = 0; c < w; ++c) {
    acc[c] = A(0);
    sc[c] = static_cast<A>(s[c]);
  }
  for (int64_t r = 0; r < rows; ++r) {
    const T* __restrict dyr = dy + r * C;
    const T* __restrict xr = x + r * C;
    T* __restrict dxr = dx + r * C;
    // Before dx is written: the op may hand dy's buffer to dx.
    if constexpr (kAdd) da_part[r] = TileRowSum<T>(dyr, w);
    StoreEach<kChannelScaleTile>(dxr, w, [&](int64_t c) SG2_LAMBDA_INLINE -> A {
      const A g = static_cast<A>(dyr[c]);
      acc[c] += g * static_cast<A>(xr[c]);
      return g * sc[c];
    });
  }
  for (int64_t c = 0; c < w; ++c) part[c] = acc[c];
}

// Gradient units [u0, u1) of the enumeration (n, chunk, tile), tile fastest.
// With kAdd, da_parts is [tiles, batch * inner]: each tile's row sums.
template <bool kAdd, typename T>
SG2_ALWAYS_INLINE void ChannelScaleGradUnits(
    const ChannelScaleParams& p, const T* dy, const T* x, const T* s, T* dx,
    typename AccType<T>::type* parts, typename AccType<T>::type* da_parts,
    int64_t u0, int64_t u1) {
  const int64_t C = p.channels, inner = p.inner;
  const int64_t tiles = (C + kChannelScaleTile - 1) / kChannelScaleTile;
  const int64_t chunks = (inner + kChannelScaleRows - 1) / kChannelScaleRows;
  for (int64_t u = u0; u < u1; ++u) {
    const int64_t t = u % tiles, k = (u / tiles) % chunks, n = u / (tiles * chunks);
    const int64_t c0 = t * kChannelScaleTile, r0 = k * kChannelScaleRows;
    const int64_t w = C - c0 < kChannelScaleTile ? C - c0 : kChannelScaleTile;
    const int64_t rows =
        inner - r0 < kChannelScaleRows ? inner - r0 : kChannelScaleRows;
    const int64_t off = (n * inner + r0) * C + c0;
    ChannelScaleGradUnit<kAdd, T>(
        dy + off, x + off, s + n * C + c0, dx + off,
        parts + (n * chunks + k) * C + c0,
        kAdd ? da_parts + t * p.batch * inner + n * inner + r0 : da_parts, rows,
        w, C);
  }
}

// Channel sums of units [u0, u1) of the enumeration (chunk, tile), tile
// fastest: each writes the partial sums of its rows and channels to `parts`.
template <typename T>
SG2_ALWAYS_INLINE void ChannelSumUnits(int64_t rows, int64_t C, const T* x,
                                       typename AccType<T>::type* parts,
                                       int64_t u0, int64_t u1) {
  using A = typename AccType<T>::type;
  const int64_t tiles = (C + kChannelScaleTile - 1) / kChannelScaleTile;
  for (int64_t u = u0; u < u1; ++u) {
    const int64_t t = u % tiles, k = u / tiles;
    const int64_t c0 = t * kChannelScaleTile, r0 = k * kChannelScaleRows;
    const int64_t w = C - c0 < kChannelScaleTile ? C - c0 : kChannelScaleTile;
    const int64_t n = rows - r0 < kChannelScaleRows ? rows - r0 : kChannelScaleRows;
    A acc[kChannelScaleTile];
    for (int64_t c = 0; c < w; ++c) acc[c] = A(0);
    const T* __restrict xs = x + r0 * C + c0;
    for (int64_t r = 0; r < n; ++r) {
      const T* __restrict xr = xs + r * C;
      for (int64_t c = 0; c < w; ++c) acc[c] += static_cast<A>(xr[c]);
    }
    A* __restrict part = parts + k * C + c0;
    for (int64_t c = 0; c < w; ++c) part[c] = acc[c];
  }
}

SG2_CPU_LOOP_COPIES(ChannelSumUnits, (typename T), (T),
                    (int64_t rows, int64_t C, const T* x,
                     typename AccType<T>::type* parts, int64_t u0, int64_t u1),
                    (rows, C, x, parts, u0, u1))
SG2_CPU_LOOP_COPIES(ChannelScaleBlocks, (bool kAdd, typename T), (kAdd, T),
                    (const ChannelScaleParams& p, const T* x, const T* s,
                     const T* a, T* y, int64_t b0, int64_t b1),
                    (p, x, s, a, y, b0, b1))
SG2_CPU_LOOP_COPIES(ChannelScaleGradUnits, (bool kAdd, typename T), (kAdd, T),
                    (const ChannelScaleParams& p, const T* dy, const T* x,
                     const T* s, T* dx, typename AccType<T>::type* parts,
                     typename AccType<T>::type* da_parts, int64_t u0,
                     int64_t u1),
                    (p, dy, x, s, dx, parts, da_parts, u0, u1))

}  // namespace internal

// y = x * s, or T(x * s) + a when a is not null (see the top of this file).
// T: float, double, or a 16-bit type convertible to/from float with
// static_cast. a: [batch, inner] or null. parallel_for: see ParallelForFn.
template <typename T, typename PF>
void ChannelScaleCpu(const ChannelScaleParams& p, const T* x, const T* s,
                     const T* a, T* y, PF&& parallel_for) {
  if (p.batch == 0 || p.inner == 0 || p.channels == 0) return;
  const int64_t per = (p.inner + kChannelScaleRows - 1) / kChannelScaleRows;
  parallel_for(p.batch * per, kChannelScaleRows * p.channels * 2,
               [&](int64_t b0, int64_t b1) {
                 if (a != nullptr) {
                   internal::ChannelScaleBlocksBest<true, T>(p, x, s, a, y, b0, b1);
                 } else {
                   internal::ChannelScaleBlocksBest<false, T>(p, x, s, a, y, b0, b1);
                 }
               });
}

// dx = dy * s and ds = sum over rows of dy * x, in one pass over dy and x; and
// da = sum over channels of dy when da is not null ([batch, inner]).
template <typename T, typename PF>
void ChannelScaleGradCpu(const ChannelScaleParams& p, const T* dy, const T* x,
                         const T* s, T* dx, T* ds, T* da, PF&& parallel_for) {
  using A = typename AccType<T>::type;
  const int64_t N = p.batch, C = p.channels, inner = p.inner;
  if (da != nullptr && C == 0) {
    for (int64_t i = 0; i < N * inner; ++i) da[i] = static_cast<T>(A(0));
  }
  if (N == 0 || C == 0) return;
  if (inner == 0) {
    for (int64_t i = 0; i < N * C; ++i) ds[i] = static_cast<T>(A(0));
    return;
  }
  const int64_t tiles = (C + kChannelScaleTile - 1) / kChannelScaleTile;
  const int64_t chunks = (inner + kChannelScaleRows - 1) / kChannelScaleRows;
  std::vector<A> parts(static_cast<size_t>(N * chunks * C));
  std::vector<A> da_parts(da != nullptr ? static_cast<size_t>(tiles * N * inner) : 0);
  A* pp = parts.data();
  A* dp = da_parts.data();
  parallel_for(N * chunks * tiles, kChannelScaleRows * kChannelScaleTile * 4,
               [&](int64_t u0, int64_t u1) {
                 if (da != nullptr) {
                   internal::ChannelScaleGradUnitsBest<true, T>(p, dy, x, s, dx,
                                                                pp, dp, u0, u1);
                 } else {
                   internal::ChannelScaleGradUnitsBest<false, T>(p, dy, x, s, dx,
                                                                 pp, dp, u0, u1);
                 }
               });
  internal::SumPartialsInOrder(pp, N, chunks, C, ds);
  if (da != nullptr) internal::SumPartialsInOrder(dp, 1, tiles, N * inner, da);
}

// sum[c] = sum over the rows of x [rows, C] (a bias gradient; see the top of
// this file for the summation order).
template <typename T, typename PF>
void ChannelSumCpu(int64_t rows, int64_t C, const T* x, T* sum,
                   PF&& parallel_for) {
  using A = typename AccType<T>::type;
  if (C == 0) return;
  const int64_t tiles = (C + kChannelScaleTile - 1) / kChannelScaleTile;
  const int64_t chunks = (rows + kChannelScaleRows - 1) / kChannelScaleRows;
  std::vector<A> parts(static_cast<size_t>(chunks * C));
  A* pp = parts.data();
  parallel_for(chunks * tiles, kChannelScaleRows * kChannelScaleTile * 2,
               [&](int64_t u0, int64_t u1) {
                 internal::ChannelSumUnitsBest<T>(rows, C, x, pp, u0, u1);
               });
  internal::SumPartialsInOrder(pp, 1, chunks, C, sum);
}

// ---------------------------------------------------------------------------
// CUDA launchers (defined in channel_scale_kernels.cu.cc). T in {float,
// double, Half16, BFloat16}; the 16-bit types compute in float. The gradient
// sums ds in the same chunk order as the CPU functor, needing a workspace of
// ChannelScaleWorkspaceElems(p) accumulation-type elements (float, double for
// double) in device memory. Return 0 on success, else a cudaError_t code.
SG2_HD int64_t ChannelScaleWorkspaceElems(const ChannelScaleParams& p) {
  const int64_t chunks = (p.inner + kChannelScaleRows - 1) / kChannelScaleRows;
  return p.batch * chunks * p.channels;
}
// a: [batch, inner] or null (see ChannelScaleCpu).
template <typename T>
int LaunchChannelScaleCuda(cudaStream_t stream, const ChannelScaleParams& p,
                           const T* x, const T* s, const T* a, T* y);
// sum over the rows of x [rows, C]; workspace: ChannelSumWorkspaceElems.
SG2_HD int64_t ChannelSumWorkspaceElems(int64_t rows, int64_t C) {
  return (rows + kChannelScaleRows - 1) / kChannelScaleRows * C;
}
template <typename T>
int LaunchChannelSumCuda(cudaStream_t stream, int64_t rows, int64_t C,
                         const T* x, T* sum,
                         typename AccType<T>::type* workspace);
// da: [batch, inner] or null (see ChannelScaleGradCpu).
template <typename T>
int LaunchChannelScaleGradCuda(cudaStream_t stream, const ChannelScaleParams& p,
                               const T* dy, const T* x, const T* s, T* dx,
                               T* ds, T* da, typename AccType<T>::type* workspace);

}  // namespace sg2

#endif  // STYLEGAN2_TF_CUSTOM_OPS_KERNELS_CHANNEL_SCALE_H_
