// Per-sample channel scaling, the modulation and demodulation of StyleGAN2's
// non-fused modulated convolution, and its gradient in one pass:
//
//   y[n, i, c]  = x[n, i, c] * s[n, c]
//   dx[n, i, c] = dy[n, i, c] * s[n, c]
//   ds[n, c]    = sum_i dy[n, i, c] * x[n, i, c]
//
// x is viewed as [batch, inner, channels] (NHWC: inner = H * W). The gradient
// reads dy and x once; TensorFlow's broadcasting Mul/Mul/Sum read them twice
// and write the product dy * x in between. The 16-bit types are computed in
// float: each product is rounded once to the storage type and ds accumulates
// in float (double for double).
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

// y = x * s over rows [r0, r1) of one sample (all channels).
template <typename T>
SG2_ALWAYS_INLINE void ChannelScaleRows(const T* __restrict x,
                                        const T* __restrict s, T* __restrict y,
                                        int64_t rows, int64_t C) {
  using A = typename AccType<T>::type;
  for (int64_t r = 0; r < rows; ++r) {
    const T* __restrict xr = x + r * C;
    T* __restrict yr = y + r * C;
    StoreEach<kChannelScaleTile>(yr, C, [&](int64_t c) SG2_LAMBDA_INLINE -> A {
      return static_cast<A>(xr[c]) * static_cast<A>(s[c]);
    });
  }
}

// Forward over global row blocks [b0, b1) of kChannelScaleRows rows each
// (blocks never straddle samples: each sample has ceil(inner / rows) blocks).
template <typename T>
SG2_ALWAYS_INLINE void ChannelScaleBlocks(const ChannelScaleParams& p,
                                          const T* x, const T* s, T* y,
                                          int64_t b0, int64_t b1) {
  const int64_t C = p.channels, inner = p.inner;
  const int64_t per = (inner + kChannelScaleRows - 1) / kChannelScaleRows;
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t n = b / per, r0 = (b % per) * kChannelScaleRows;
    const int64_t rows =
        inner - r0 < kChannelScaleRows ? inner - r0 : kChannelScaleRows;
    const int64_t off = (n * inner + r0) * C;
    ChannelScaleRows<T>(x + off, s + n * C, y + off, rows, C);
  }
}

// Gradient of one unit: rows [r0, r0 + rows) and channels [c0, c0 + w) of
// sample n; writes dx there and the unit's partial ds (w values) to `part`.
template <typename T>
SG2_ALWAYS_INLINE void ChannelScaleGradUnit(
    const T* __restrict dy, const T* __restrict x, const T* __restrict s,
    T* __restrict dx, typename AccType<T>::type* __restrict part, int64_t rows,
    int64_t w, int64_t C) {
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
    StoreEach<kChannelScaleTile>(dxr, w, [&](int64_t c) SG2_LAMBDA_INLINE -> A {
      const A g = static_cast<A>(dyr[c]);
      acc[c] += g * static_cast<A>(xr[c]);
      return g * sc[c];
    });
  }
  for (int64_t c = 0; c < w; ++c) part[c] = acc[c];
}

// Gradient units [u0, u1) of the enumeration (n, chunk, tile), tile fastest.
template <typename T>
SG2_ALWAYS_INLINE void ChannelScaleGradUnits(
    const ChannelScaleParams& p, const T* dy, const T* x, const T* s, T* dx,
    typename AccType<T>::type* parts, int64_t u0, int64_t u1) {
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
    ChannelScaleGradUnit<T>(dy + off, x + off, s + n * C + c0, dx + off,
                            parts + (n * chunks + k) * C + c0, rows, w, C);
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
SG2_CPU_LOOP_COPIES(ChannelScaleBlocks, (typename T), (T),
                    (const ChannelScaleParams& p, const T* x, const T* s, T* y,
                     int64_t b0, int64_t b1),
                    (p, x, s, y, b0, b1))
SG2_CPU_LOOP_COPIES(ChannelScaleGradUnits, (typename T), (T),
                    (const ChannelScaleParams& p, const T* dy, const T* x,
                     const T* s, T* dx, typename AccType<T>::type* parts,
                     int64_t u0, int64_t u1),
                    (p, dy, x, s, dx, parts, u0, u1))

}  // namespace internal

// y = x * s (see the top of this file). T: float, double, or a 16-bit type
// convertible to/from float with static_cast. parallel_for: see ParallelForFn.
template <typename T, typename PF>
void ChannelScaleCpu(const ChannelScaleParams& p, const T* x, const T* s, T* y,
                     PF&& parallel_for) {
  if (p.batch == 0 || p.inner == 0 || p.channels == 0) return;
  const int64_t per = (p.inner + kChannelScaleRows - 1) / kChannelScaleRows;
  parallel_for(p.batch * per, kChannelScaleRows * p.channels * 2,
               [&](int64_t b0, int64_t b1) {
                 internal::ChannelScaleBlocksBest<T>(p, x, s, y, b0, b1);
               });
}

// dx = dy * s and ds = sum over rows of dy * x, in one pass over dy and x.
template <typename T, typename PF>
void ChannelScaleGradCpu(const ChannelScaleParams& p, const T* dy, const T* x,
                         const T* s, T* dx, T* ds, PF&& parallel_for) {
  using A = typename AccType<T>::type;
  const int64_t N = p.batch, C = p.channels;
  if (N == 0 || C == 0) return;
  if (p.inner == 0) {
    for (int64_t i = 0; i < N * C; ++i) ds[i] = static_cast<T>(A(0));
    return;
  }
  const int64_t tiles = (C + kChannelScaleTile - 1) / kChannelScaleTile;
  const int64_t chunks = (p.inner + kChannelScaleRows - 1) / kChannelScaleRows;
  std::vector<A> parts(static_cast<size_t>(N * chunks * C));
  A* pp = parts.data();
  parallel_for(N * chunks * tiles, kChannelScaleRows * kChannelScaleTile * 4,
               [&](int64_t u0, int64_t u1) {
                 internal::ChannelScaleGradUnitsBest<T>(p, dy, x, s, dx, pp,
                                                        u0, u1);
               });
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t c = 0; c < C; ++c) {
      A sum = pp[(n * chunks) * C + c];
      for (int64_t k = 1; k < chunks; ++k) sum += pp[(n * chunks + k) * C + c];
      ds[n * C + c] = static_cast<T>(sum);
    }
  }
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
  for (int64_t c = 0; c < C; ++c) {
    A total = chunks > 0 ? pp[c] : A(0);
    for (int64_t k = 1; k < chunks; ++k) total += pp[k * C + c];
    sum[c] = static_cast<T>(total);
  }
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
template <typename T>
int LaunchChannelScaleCuda(cudaStream_t stream, const ChannelScaleParams& p,
                           const T* x, const T* s, T* y);
// sum over the rows of x [rows, C]; workspace: ChannelSumWorkspaceElems.
SG2_HD int64_t ChannelSumWorkspaceElems(int64_t rows, int64_t C) {
  return (rows + kChannelScaleRows - 1) / kChannelScaleRows * C;
}
template <typename T>
int LaunchChannelSumCuda(cudaStream_t stream, int64_t rows, int64_t C,
                         const T* x, T* sum,
                         typename AccType<T>::type* workspace);
template <typename T>
int LaunchChannelScaleGradCuda(cudaStream_t stream, const ChannelScaleParams& p,
                               const T* dy, const T* x, const T* s, T* dx,
                               T* ds, typename AccType<T>::type* workspace);

}  // namespace sg2

#endif  // STYLEGAN2_TF_CUSTOM_OPS_KERNELS_CHANNEL_SCALE_H_
