// Upsample (zero insertion) -> pad/crop -> 2-D FIR correlation -> downsample,
// fused: TensorFlow-free parameters, CPU functor and CUDA launcher
// declarations.
//
// y[n, oy, ox, c] = sum_{ky, kx} f[ky, kx] * xp[n, oy*downy + ky, ox*downx + kx, c]
// where xp is x upsampled by zero insertion (x[i, j] at [i*upy, j*upx]) and
// padded by pady0/pady1 rows and padx0/padx1 columns (negative pads crop).
// The filter is NOT flipped (correlation).
#ifndef STYLEGAN2_TF_CUSTOM_OPS_KERNELS_UPFIRDN2D_H_
#define STYLEGAN2_TF_CUSTOM_OPS_KERNELS_UPFIRDN2D_H_

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "custom_ops/cc/kernels/sg2_common.h"

namespace sg2 {

struct UpFirDn2dParams {
  int64_t batch = 0, channels = 0;  // N, C
  int64_t in_h = 0, in_w = 0;       // H, W of x
  int64_t out_h = 0, out_w = 0;     // see UpFirDn2dOutSize
  int fh = 1, fw = 1;               // filter size
  int upx = 1, upy = 1, downx = 1, downy = 1;
  int padx0 = 0, padx1 = 0, pady0 = 0, pady1 = 0;
  bool nchw = false;  // false: x/y are NHWC; true: NCHW
};

// floor((in*up + pad0 + pad1 - f) / down) + 1; may be < 1 (invalid).
inline int64_t UpFirDn2dOutSize(int64_t in, int up, int pad0, int pad1, int f,
                                int down) {
  return FloorDiv(in * up + pad0 + pad1 - f, down) + 1;
}

// Polyphase tap table along one axis: for output position o, the nonzero
// taps are (k[t], i[t]) for t in [start[o], start[o] + count[o]): filter tap k
// meets input sample i. Taps that hit inserted zeros or padding are skipped.
struct TapTable {
  std::vector<int32_t> start, count, k;
  std::vector<int64_t> i;
};

inline void BuildTapTable(int64_t out, int64_t in, int up, int down, int pad0,
                          int f, TapTable* t) {
  t->start.resize(out);
  t->count.resize(out);
  t->k.clear();
  t->i.clear();
  for (int64_t o = 0; o < out; ++o) {
    // Coordinate in the upsampled (unpadded) signal touched by tap k = 0.
    const int64_t p0 = o * down - pad0;
    // First k with p0 + k >= 0 and (p0 + k) % up == 0 (both conditions are
    // congruent mod up, so max() keeps the phase).
    const int64_t phase = ((-p0) % up + up) % up;
    const int64_t k0 = std::max<int64_t>(phase, -p0);
    const int64_t k1 = std::min<int64_t>(f, in * up - p0);
    t->start[o] = static_cast<int32_t>(t->k.size());
    for (int64_t k = k0; k < k1; k += up) {
      t->k.push_back(static_cast<int32_t>(k));
      t->i.push_back((p0 + k) / up);
    }
    t->count[o] = static_cast<int32_t>(t->k.size()) - t->start[o];
  }
}

namespace internal {

// What both CPU layouts precompute: the row and column tap tables, the filter
// in the accumulation type, and the taps per output (for the cost estimate).
template <typename A>
struct CpuPlan {
  TapTable rows, cols;
  int32_t cols_max = 0;  // the most column taps of an output column
  std::vector<A> filter;
  int64_t taps;
  template <typename T>
  CpuPlan(const UpFirDn2dParams& p, const T* f)
      : filter(static_cast<size_t>(p.fh) * p.fw),
        taps(std::max<int64_t>(1, ((p.fh + p.upy - 1) / p.upy) *
                                      ((p.fw + p.upx - 1) / p.upx))) {
    BuildTapTable(p.out_h, p.in_h, p.upy, p.downy, p.pady0, p.fh, &rows);
    BuildTapTable(p.out_w, p.in_w, p.upx, p.downx, p.padx0, p.fw, &cols);
    for (int32_t c : cols.count) cols_max = std::max(cols_max, c);
    for (size_t t = 0; t < filter.size(); ++t) filter[t] = static_cast<A>(f[t]);
  }
};

// Filters whose taps along the pass's axis (after skipping zeros and
// padding) number at most this many sum them in registers (SumTaps).
constexpr int32_t kMaxRegisterTaps = 4;

// out[e] = (((0 + w[0] * x[0][e]) + w[1] * x[1][e]) + ...) for e < m, over n
// taps (0 <= n <= kMaxRegisterTaps): the order of the tap-by-tap loop, one
// pass over out.
template <typename T>
SG2_ALWAYS_INLINE void SumTaps(typename AccType<T>::type* __restrict out,
                               int64_t m, int32_t n, const T* const* xs,
                               const typename AccType<T>::type* ws) {
  using A = typename AccType<T>::type;
  const T* __restrict x0 = xs[0];
  const T* __restrict x1 = xs[1];
  const T* __restrict x2 = xs[2];
  const T* __restrict x3 = xs[3];
  switch (n) {
    case 0:
      for (int64_t e = 0; e < m; ++e) out[e] = A(0);
      return;
    case 1:
      for (int64_t e = 0; e < m; ++e)
        out[e] = A(0) + ws[0] * static_cast<A>(x0[e]);
      return;
    case 2:
      for (int64_t e = 0; e < m; ++e)
        out[e] = (A(0) + ws[0] * static_cast<A>(x0[e])) +
                 ws[1] * static_cast<A>(x1[e]);
      return;
    case 3:
      for (int64_t e = 0; e < m; ++e)
        out[e] = ((A(0) + ws[0] * static_cast<A>(x0[e])) +
                  ws[1] * static_cast<A>(x1[e])) +
                 ws[2] * static_cast<A>(x2[e]);
      return;
    default:
      for (int64_t e = 0; e < m; ++e)
        out[e] = (((A(0) + ws[0] * static_cast<A>(x0[e])) +
                   ws[1] * static_cast<A>(x1[e])) +
                  ws[2] * static_cast<A>(x2[e])) +
                 ws[3] * static_cast<A>(x3[e]);
      return;
  }
}

// NHWC: one output row oy, accumulated tap by tap: for each row tap (in
// table order) and each column tap kx = 0, 1, ..., every output pixel of the
// row that the tap reaches gets f * x. Each output element thus sums its taps
// in the same order as a per-pixel loop would (rows, then columns, ascending),
// with the taps that land on inserted zeros or padding skipped, but the work
// runs as long loops over the row's pixels x channels: one contiguous loop per
// tap when the x axis is not resampled (the vertical pass of a separable
// filter, or a plain blur), one loop over the reached pixels otherwise.
// row(i): input row i (W * C values). buf: OW * C accumulators for the 16-bit
// types (unused for float/double, which accumulate in place in yr).
template <typename T, typename RowFn>
SG2_ALWAYS_INLINE void UpFirDn2dRowNHWC(
    const UpFirDn2dParams& p, const CpuPlan<typename AccType<T>::type>& plan,
    int64_t oy, RowFn&& row, T* yr, typename AccType<T>::type* buf) {
  using A = typename AccType<T>::type;
  const int64_t C = p.channels, W = p.in_w, OW = p.out_w;
  const bool dense_x = p.upx == 1 && p.downx == 1;
  A* __restrict acc;
  if constexpr (std::is_same<T, A>::value) {
    acc = yr;
  } else {
    acc = buf;
  }
  const int32_t r0 = plan.rows.start[oy], rn = plan.rows.count[oy];
  if (dense_x && p.fw == 1 && p.padx0 == 0 && W == OW && rn >= 1 &&
      rn <= kMaxRegisterTaps) {
    // A column filter (the y pass of a separable filter): every row tap
    // covers the whole row, summed in registers.
    const T* xs[kMaxRegisterTaps] = {};
    A ws[kMaxRegisterTaps] = {};
    for (int32_t t = 0; t < rn; ++t) {
      xs[t] = row(plan.rows.i[r0 + t]);
      ws[t] = plan.filter[plan.rows.k[r0 + t]];
    }
    SumTaps<T>(acc, OW * C, rn, xs, ws);
    if constexpr (!std::is_same<T, A>::value) StoreNarrowed(acc, yr, OW * C);
    return;
  }
  if (rn == 1 && plan.cols_max <= kMaxRegisterTaps) {
    // A row filter (the x pass of a separable filter): each output pixel sums
    // its column taps (from the tap table, ascending) in registers over the
    // channels.
    const T* xr = row(plan.rows.i[r0]);
    const A* fr =
        plan.filter.data() + static_cast<int64_t>(plan.rows.k[r0]) * p.fw;
    for (int64_t ox = 0; ox < OW; ++ox) {
      const int32_t c0 = plan.cols.start[ox], cn = plan.cols.count[ox];
      const T* xs[kMaxRegisterTaps] = {};
      A ws[kMaxRegisterTaps] = {};
      for (int32_t t = 0; t < cn; ++t) {
        xs[t] = xr + plan.cols.i[c0 + t] * C;
        ws[t] = fr[plan.cols.k[c0 + t]];
      }
      SumTaps<T>(acc + ox * C, C, cn, xs, ws);
    }
    if constexpr (!std::is_same<T, A>::value) StoreNarrowed(acc, yr, OW * C);
    return;
  }
  for (int64_t e = 0; e < OW * C; ++e) acc[e] = A(0);
  for (int32_t r = r0; r < r0 + rn; ++r) {
    const T* xr = row(plan.rows.i[r]);
    const A* fr =
        plan.filter.data() + static_cast<int64_t>(plan.rows.k[r]) * p.fw;
    for (int kx = 0; kx < p.fw; ++kx) {
      const A w = fr[kx];
      if (dense_x) {
        // acc[ox] += w * x[ox + kx - padx0] for the in-range columns.
        const int64_t shift = kx - p.padx0;
        const int64_t lo = std::max<int64_t>(0, -shift);
        const int64_t hi = std::min<int64_t>(OW, W - shift);
        if (lo >= hi) continue;
        A* __restrict a = acc + lo * C;
        const T* __restrict xs = xr + (lo + shift) * C;
        const int64_t m = (hi - lo) * C;
        for (int64_t e = 0; e < m; ++e) a[e] += w * static_cast<A>(xs[e]);
      } else {
        // Output column ox meets upsampled column ox * downx + kx - padx0,
        // which holds input column q / upx when q is a multiple of upx
        // inside the input.
        for (int64_t ox = 0; ox < OW; ++ox) {
          const int64_t q = ox * p.downx + kx - p.padx0;
          if (q < 0 || q >= W * p.upx || q % p.upx != 0) continue;
          A* __restrict a = acc + ox * C;
          const T* __restrict xp = xr + (q / p.upx) * C;
          for (int64_t c = 0; c < C; ++c) a[c] += w * static_cast<A>(xp[c]);
        }
      }
    }
  }
  if constexpr (!std::is_same<T, A>::value) StoreNarrowed(acc, yr, OW * C);
}

// NHWC: one work unit = one output row (n, oy). Units [u0, u1).
template <typename T>
SG2_ALWAYS_INLINE void UpFirDn2dRowsNHWC(
    const UpFirDn2dParams& p, const CpuPlan<typename AccType<T>::type>& plan,
    const T* x, T* y, typename AccType<T>::type* buf, int64_t u0, int64_t u1) {
  const int64_t C = p.channels, H = p.in_h, W = p.in_w;
  const int64_t OH = p.out_h, OW = p.out_w;
  for (int64_t u = u0; u < u1; ++u) {
    const T* xn = x + (u / OH) * H * W * C;
    UpFirDn2dRowNHWC<T>(
        p, plan, u % OH, [&](int64_t i) { return xn + i * W * C; },
        y + u * OW * C, buf);
  }
}

// The parameters of one pass of a separable upfirdn2d (see
// UpFirDn2dSeparableCpu) over an image of height h (x pass) or width w (y
// pass): the other axis is left as it is.
inline UpFirDn2dParams XPassParams(const UpFirDn2dParams& p, int64_t h) {
  UpFirDn2dParams q = p;
  q.in_h = q.out_h = h;
  q.fh = 1;
  q.upy = q.downy = 1;
  q.pady0 = q.pady1 = 0;
  return q;
}
inline UpFirDn2dParams YPassParams(const UpFirDn2dParams& p, int64_t w) {
  UpFirDn2dParams q = p;
  q.in_w = q.out_w = w;
  q.fw = 1;
  q.upx = q.downx = 1;
  q.padx0 = q.padx1 = 0;
  return q;
}

// Separable NHWC, x pass first, one work unit = one output row (n, oy): the
// x-pass rows it needs (consecutive input rows, at most `slots` of them) are
// computed into a ring of T rows (rounded as the separate pass rounds them),
// where the next output rows find them again, then the y pass reads them.
// px/plan_x: the x pass over x (XPassParams(p, H)); py/plan_y: the y pass over
// the x pass's output (YPassParams(p, OW)). ring: slots * OW * C values,
// tags: slots (-1 = empty), buf: OW * C accumulators (16-bit types).
template <typename T>
SG2_ALWAYS_INLINE void UpFirDn2dSepXFirstRowsNHWC(
    const UpFirDn2dParams& px, const CpuPlan<typename AccType<T>::type>& plan_x,
    const UpFirDn2dParams& py, const CpuPlan<typename AccType<T>::type>& plan_y,
    const T* x, T* y, T* ring, int64_t* tags, int slots,
    typename AccType<T>::type* buf, int64_t u0, int64_t u1) {
  const int64_t C = px.channels, H = px.in_h, W = px.in_w;
  const int64_t OH = py.out_h, OW = px.out_w;
  for (int64_t u = u0; u < u1; ++u) {
    const int64_t n = u / OH, oy = u % OH;
    const T* xn = x + n * H * W * C;
    const int32_t r0 = plan_y.rows.start[oy], rn = plan_y.rows.count[oy];
    for (int32_t r = r0; r < r0 + rn; ++r) {
      const int64_t i = plan_y.rows.i[r];
      const int s = static_cast<int>(i % slots);
      if (tags[s] == n * H + i) continue;
      UpFirDn2dRowNHWC<T>(
          px, plan_x, i, [&](int64_t j) { return xn + j * W * C; },
          ring + s * OW * C, buf);
      tags[s] = n * H + i;
    }
    UpFirDn2dRowNHWC<T>(
        py, plan_y, oy,
        [&](int64_t i) { return ring + (i % slots) * OW * C; },
        y + u * OW * C, buf);
  }
}

// Separable NHWC, y pass first, one work unit = one output row (n, oy): the y
// pass's row oy (W * C values, rounded to T in mid), then the x pass over it.
// py/plan_y: YPassParams(p, W); px/plan_x: XPassParams(p, 1) (one row).
// buf: max(W, OW) * C accumulators (16-bit types).
template <typename T>
SG2_ALWAYS_INLINE void UpFirDn2dSepYFirstRowsNHWC(
    const UpFirDn2dParams& py, const CpuPlan<typename AccType<T>::type>& plan_y,
    const UpFirDn2dParams& px, const CpuPlan<typename AccType<T>::type>& plan_x,
    const T* x, T* y, T* mid, typename AccType<T>::type* buf, int64_t u0,
    int64_t u1) {
  const int64_t C = py.channels, H = py.in_h, W = py.in_w;
  const int64_t OH = py.out_h, OW = px.out_w;
  for (int64_t u = u0; u < u1; ++u) {
    const T* xn = x + (u / OH) * H * W * C;
    UpFirDn2dRowNHWC<T>(
        py, plan_y, u % OH, [&](int64_t i) { return xn + i * W * C; }, mid,
        buf);
    UpFirDn2dRowNHWC<T>(
        px, plan_x, 0, [&](int64_t) { return static_cast<const T*>(mid); },
        y + u * OW * C, buf);
  }
}

// NCHW: one work unit = one output row (n, c, oy). When the x axis has no
// resampling (upx == downx == 1, e.g. the vertical pass of a separable
// filter) the inner loop runs over contiguous output columns. acc: OW
// accumulators.
template <typename T>
SG2_ALWAYS_INLINE void UpFirDn2dRowsNCHW(
    const UpFirDn2dParams& p, const CpuPlan<typename AccType<T>::type>& plan,
    const T* x, T* y, typename AccType<T>::type* acc, int64_t u0, int64_t u1) {
  using A = typename AccType<T>::type;
  const int64_t H = p.in_h, W = p.in_w;
  const int64_t OH = p.out_h, OW = p.out_w;
  const bool dense_x = p.upx == 1 && p.downx == 1;
  for (int64_t u = u0; u < u1; ++u) {
    const int64_t nc = u / OH, oy = u % OH;
    const T* xc = x + nc * H * W;
    T* yr = y + u * OW;
    const int32_t r0 = plan.rows.start[oy], rn = plan.rows.count[oy];
    for (int64_t ox = 0; ox < OW; ++ox) acc[ox] = A(0);
    if (dense_x) {
      for (int32_t r = r0; r < r0 + rn; ++r) {
        const T* __restrict xr = xc + plan.rows.i[r] * W;
        const A* fr =
            plan.filter.data() + static_cast<int64_t>(plan.rows.k[r]) * p.fw;
        for (int kx = 0; kx < p.fw; ++kx) {
          // y[ox] += f * x[ox + kx - padx0] for in-range columns.
          const int64_t shift = kx - p.padx0;
          const int64_t lo = std::max<int64_t>(0, -shift);
          const int64_t hi = std::min<int64_t>(OW, W - shift);
          const A w = fr[kx];
          A* __restrict a = acc;
          for (int64_t ox = lo; ox < hi; ++ox)
            a[ox] += w * static_cast<A>(xr[ox + shift]);
        }
      }
    } else {
      for (int64_t ox = 0; ox < OW; ++ox) {
        const int32_t c0 = plan.cols.start[ox], cn = plan.cols.count[ox];
        A s = A(0);
        for (int32_t r = r0; r < r0 + rn; ++r) {
          const T* xr = xc + plan.rows.i[r] * W;
          const A* fr =
            plan.filter.data() + static_cast<int64_t>(plan.rows.k[r]) * p.fw;
          for (int32_t q = c0; q < c0 + cn; ++q)
            s += fr[plan.cols.k[q]] * static_cast<A>(xr[plan.cols.i[q]]);
        }
        acc[ox] = s;
      }
    }
    StoreNarrowed(acc, yr, OW);
  }
}

// Copies of the row loops for wider vectors; *Best runs the one this CPU
// supports (see SG2_CPU_DISPATCH).
SG2_CPU_LOOP_COPIES(UpFirDn2dRowsNHWC, (typename T), (T),
                    (const UpFirDn2dParams& p,
                     const CpuPlan<typename AccType<T>::type>& plan, const T* x,
                     T* y, typename AccType<T>::type* buf, int64_t u0,
                     int64_t u1),
                    (p, plan, x, y, buf, u0, u1))
SG2_CPU_LOOP_COPIES(UpFirDn2dSepXFirstRowsNHWC, (typename T), (T),
                    (const UpFirDn2dParams& px,
                     const CpuPlan<typename AccType<T>::type>& plan_x,
                     const UpFirDn2dParams& py,
                     const CpuPlan<typename AccType<T>::type>& plan_y,
                     const T* x, T* y, T* ring, int64_t* tags, int slots,
                     typename AccType<T>::type* buf, int64_t u0, int64_t u1),
                    (px, plan_x, py, plan_y, x, y, ring, tags, slots, buf, u0,
                     u1))
SG2_CPU_LOOP_COPIES(UpFirDn2dSepYFirstRowsNHWC, (typename T), (T),
                    (const UpFirDn2dParams& py,
                     const CpuPlan<typename AccType<T>::type>& plan_y,
                     const UpFirDn2dParams& px,
                     const CpuPlan<typename AccType<T>::type>& plan_x,
                     const T* x, T* y, T* mid, typename AccType<T>::type* buf,
                     int64_t u0, int64_t u1),
                    (py, plan_y, px, plan_x, x, y, mid, buf, u0, u1))
SG2_CPU_LOOP_COPIES(UpFirDn2dRowsNCHW, (typename T), (T),
                    (const UpFirDn2dParams& p,
                     const CpuPlan<typename AccType<T>::type>& plan, const T* x,
                     T* y, typename AccType<T>::type* acc, int64_t u0,
                     int64_t u1),
                    (p, plan, x, y, acc, u0, u1))

template <typename T, typename PF>
void UpFirDn2dCpuNHWC(const UpFirDn2dParams& p, const T* x, const T* f,
                      T* y, PF&& parallel_for) {
  using A = typename AccType<T>::type;
  const CpuPlan<A> plan(p, f);
  const int64_t cost = p.out_w * p.channels * (2 * plan.taps + 1);
  parallel_for(p.batch * p.out_h, cost, [&](int64_t u0, int64_t u1) {
    std::vector<A> buf;
    if (!std::is_same<T, A>::value) buf.resize(p.out_w * p.channels);
    UpFirDn2dRowsNHWCBest<T>(p, plan, x, y, buf.data(), u0, u1);
  });
}

template <typename T, typename PF>
void UpFirDn2dCpuNCHW(const UpFirDn2dParams& p, const T* x, const T* f,
                      T* y, PF&& parallel_for) {
  using A = typename AccType<T>::type;
  const CpuPlan<A> plan(p, f);
  parallel_for(p.batch * p.channels * p.out_h, p.out_w * (2 * plan.taps + 1),
               [&](int64_t u0, int64_t u1) {
    std::vector<A> acc(p.out_w);
    UpFirDn2dRowsNCHWBest<T>(p, plan, x, y, acc.data(), u0, u1);
  });
}

template <typename T, typename PF>
void UpFirDn2dSeparableCpuNHWC(const UpFirDn2dParams& p, bool y_first,
                               const T* x, const T* fx, const T* fy, T* y,
                               PF&& parallel_for) {
  using A = typename AccType<T>::type;
  const int64_t C = p.channels, W = p.in_w, OW = p.out_w;
  const int64_t taps = (p.fw + p.upx - 1) / p.upx + (p.fh + p.upy - 1) / p.upy;
  const int64_t cost = std::max(W, OW) * C * (2 * taps + 2);
  if (y_first) {
    const UpFirDn2dParams py = YPassParams(p, W), px = XPassParams(p, 1);
    const CpuPlan<A> plan_y(py, fy), plan_x(px, fx);
    parallel_for(p.batch * p.out_h, cost, [&](int64_t u0, int64_t u1) {
      std::vector<T> mid(W * C);
      std::vector<A> buf;
      if (!std::is_same<T, A>::value) buf.resize(std::max(W, OW) * C);
      UpFirDn2dSepYFirstRowsNHWCBest<T>(py, plan_y, px, plan_x, x, y,
                                        mid.data(), buf.data(), u0, u1);
    });
  } else {
    const UpFirDn2dParams px = XPassParams(p, p.in_h), py = YPassParams(p, OW);
    const CpuPlan<A> plan_x(px, fx), plan_y(py, fy);
    int slots = 1;
    for (int32_t c : plan_y.rows.count) slots = std::max<int>(slots, c);
    parallel_for(p.batch * p.out_h, cost, [&](int64_t u0, int64_t u1) {
      std::vector<T> ring(static_cast<size_t>(slots) * OW * C);
      std::vector<int64_t> tags(slots, -1);
      std::vector<A> buf;
      if (!std::is_same<T, A>::value) buf.resize(OW * C);
      UpFirDn2dSepXFirstRowsNHWCBest<T>(px, plan_x, py, plan_y, x, y,
                                        ring.data(), tags.data(), slots,
                                        buf.data(), u0, u1);
    });
  }
}

}  // namespace internal

// y = upfirdn2d(x, f). Shapes are described by p (out_h/out_w must already be
// computed with UpFirDn2dOutSize and be >= 1). T: float, double or a 16-bit
// type convertible to/from float with static_cast (half, bfloat16), which is
// accumulated in float and rounded once on output.
template <typename T, typename PF>
void UpFirDn2dCpu(const UpFirDn2dParams& p, const T* x, const T* f, T* y,
                  PF&& parallel_for) {
  if (p.nchw) {
    internal::UpFirDn2dCpuNCHW<T>(p, x, f, y, parallel_for);
  } else {
    internal::UpFirDn2dCpuNHWC<T>(p, x, f, y, parallel_for);
  }
}

// Separable upfirdn2d: the x pass (filter fx: fw taps; upx, downx, padx0/1)
// and the y pass (fy: fh taps; upy, downy, pady0/1), x first or, with
// y_first, y first. Bit for bit what two UpFirDn2dCpu calls give, one with the
// [1, fw] filter fx and one with the [fh, 1] filter fy, the first one's output
// rounded to T: the intermediate image (UpFirDn2dSeparableTempSize values)
// is rounded exactly as before, but on NHWC it never leaves the cache (each
// thread keeps the rows it needs), which saves writing and re-reading it.
// NCHW, and NHWC with few channels, run the two passes through tmp (see
// UpFirDn2dSeparableCpuUsesTemp; otherwise it is not used and may be null).
inline int64_t UpFirDn2dSeparableTempSize(const UpFirDn2dParams& p,
                                          bool y_first) {
  return p.batch * p.channels *
         (y_first ? p.out_h * p.in_w : p.in_h * p.out_w);
}

// Below this many channels the fused NHWC rows are too short to pay for their
// per-row work (a 1-channel image: 0.8x the two passes), and the CPU runs the
// two passes through tmp.
constexpr int64_t kSeparableFusedMinChannels = 16;

// Whether UpFirDn2dSeparableCpu needs tmp.
inline bool UpFirDn2dSeparableCpuUsesTemp(const UpFirDn2dParams& p) {
  return p.nchw || p.channels < kSeparableFusedMinChannels;
}

template <typename T, typename PF>
void UpFirDn2dSeparableCpu(const UpFirDn2dParams& p, bool y_first, const T* x,
                           const T* fx, const T* fy, T* tmp, T* y,
                           PF&& parallel_for) {
  if (!UpFirDn2dSeparableCpuUsesTemp(p)) {
    internal::UpFirDn2dSeparableCpuNHWC<T>(p, y_first, x, fx, fy, y,
                                           parallel_for);
  } else if (y_first) {
    const UpFirDn2dParams py = internal::YPassParams(p, p.in_w);
    UpFirDn2dCpu<T>(py, x, fy, tmp, parallel_for);
    UpFirDn2dCpu<T>(internal::XPassParams(p, p.out_h), tmp, fx, y,
                    parallel_for);
  } else {
    const UpFirDn2dParams px = internal::XPassParams(p, p.in_h);
    UpFirDn2dCpu<T>(px, x, fx, tmp, parallel_for);
    UpFirDn2dCpu<T>(internal::YPassParams(p, p.out_w), tmp, fy, y,
                    parallel_for);
  }
}


// CUDA launcher (defined in upfirdn2d_kernels.cu.cc). T in {float, double,
// Half16, BFloat16}; f is in device memory. Returns 0 or a cudaError_t code.
template <typename T>
int LaunchUpFirDn2dCuda(cudaStream_t stream, const UpFirDn2dParams& p,
                        const T* x, const T* f, T* y);

// The separable form on CUDA: the two passes through tmp
// (UpFirDn2dSeparableTempSize values, device memory), both with
// LaunchUpFirDn2dCuda. Returns 0 or a cudaError_t code.
template <typename T>
int LaunchUpFirDn2dSeparableCuda(cudaStream_t stream, const UpFirDn2dParams& p,
                                 bool y_first, const T* x, const T* fx,
                                 const T* fy, T* tmp, T* y);

}  // namespace sg2

#endif  // STYLEGAN2_TF_CUSTOM_OPS_KERNELS_UPFIRDN2D_H_
