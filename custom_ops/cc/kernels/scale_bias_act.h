// The tail of a synthesis layer in one pass: demodulation, noise, bias and
// activation,
//
//   t[n, i, c] = T(T(x[n, i, c] * s[n, c]) + a[n, i])   (Sg2ChannelScale)
//   y[n, i, c] = T(clip(gain * act(t + b[c])))          (Sg2BiasAct)
//
// with exactly the numbers of the two ops (the addend a and the bias b are
// optional), and its gradient
//
//   g   = T(dy * gain * act'(t + b) * mask)    (Sg2BiasActGrad, t recomputed)
//   dx  = T(g * s),  ds = sum_i g * x,  da = sum_c g   (Sg2ChannelScaleGrad)
//   db  = sum over the rows of g                       (Sg2ChannelSum)
//
// summed in the orders those ops use (channel_scale.h), so the results are
// bit for bit those of the separate ops. The two-op forward writes t and reads
// it back; the four-op gradient writes and reads g twice. Here t and g live
// in registers: the forward reads x and writes y, the gradient reads dy and x
// and writes dx.
//
// The gradient works on units of kChannelScaleRows rows of the flattened
// [batch * inner] rows (db's chunks) by kChannelScaleTile channels. When a
// sample's chunks of ds (kChannelScaleRows rows of one sample) each lie inside
// one such unit, i.e. when inner is a multiple or a divisor of
// kChannelScaleRows (every power-of-two resolution), each unit sums its ds
// and db partials in row order. Otherwise the functor runs the separate ops'
// functors through temporaries (the same numbers, more memory traffic).
#ifndef STYLEGAN2_TF_CUSTOM_OPS_KERNELS_SCALE_BIAS_ACT_H_
#define STYLEGAN2_TF_CUSTOM_OPS_KERNELS_SCALE_BIAS_ACT_H_

#include <cstdint>
#include <type_traits>
#include <vector>

#include "custom_ops/cc/kernels/bias_act.h"
#include "custom_ops/cc/kernels/channel_scale.h"
#include "custom_ops/cc/kernels/sg2_common.h"

namespace sg2 {

struct ScaleBiasActParams {
  ChannelScaleParams scale;  // x viewed as [batch, inner, channels]
  Act act = Act::kLinear;
  float alpha = 0.f;
  float gain = 1.f;
  float clamp = -1.f;  // < 0: no clamp
};

// The Sg2BiasAct(Grad) parameters of t = [batch * inner, channels] (bias
// along the last axis; channels 0 when there is no bias), for the first-order
// gradient (the only one the fused ops run through bias_act's functors).
inline BiasActParams ScaleBiasActBiasParams(const ScaleBiasActParams& p,
                                            bool has_bias) {
  BiasActParams q;
  q.size = p.scale.batch * p.scale.inner * p.scale.channels;
  q.channels = has_bias ? p.scale.channels : 0;
  q.inner = 1;
  q.act = p.act;
  q.alpha = p.alpha;
  q.gain = p.gain;
  q.clamp = p.clamp;
  q.order = 1;
  return q;
}

// Whether the gradient's units hold whole chunks of ds (see the top).
SG2_HD bool ScaleBiasActGradFuses(const ChannelScaleParams& p) {
  return p.inner > 0 && (p.inner % kChannelScaleRows == 0 ||
                         kChannelScaleRows % p.inner == 0);
}

namespace internal {

// t = T(T(x * s) + a) (a added when kAdd), rounded as Sg2ChannelScale rounds,
// in the accumulation type.
template <bool kAdd, typename T>
SG2_ALWAYS_INLINE typename AccType<T>::type Scaled(
    T x, typename AccType<T>::type s, typename AccType<T>::type ar) {
  using A = typename AccType<T>::type;
  const A prod = RoundThrough<T>(static_cast<A>(x) * s);
  return kAdd ? RoundThrough<T>(prod + ar) : prod;
}

// Forward over row blocks [b0, b1) of ChannelScaleCpu's enumeration. bias:
// [channels] in the accumulation type (zeros for no bias, as Sg2BiasAct adds
// 0 then); sa: s in the accumulation type.
template <Act kAct, bool kClamp, bool kAdd, typename T>
SG2_ALWAYS_INLINE void ScaleBiasActBlocks(const ScaleBiasActParams& p,
                                          const T* x,
                                          const typename AccType<T>::type* sa,
                                          const T* a,
                                          const typename AccType<T>::type* bias,
                                          T* y, int64_t b0, int64_t b1) {
  using A = typename AccType<T>::type;
  const int64_t C = p.scale.channels, inner = p.scale.inner;
  const int64_t per = (inner + kChannelScaleRows - 1) / kChannelScaleRows;
  const A alpha = A(p.alpha), gain = A(p.gain), clamp = kClamp ? A(p.clamp) : A(-1);
  for (int64_t blk = b0; blk < b1; ++blk) {
    const int64_t n = blk / per, r0 = (blk % per) * kChannelScaleRows;
    const int64_t rows =
        inner - r0 < kChannelScaleRows ? inner - r0 : kChannelScaleRows;
    const A* __restrict sn = sa + n * C;
    const A* __restrict bt = bias;
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t row = n * inner + r0 + r;
      const A ar = kAdd ? static_cast<A>(a[row]) : A(0);
      const T* __restrict xr = x + row * C;
      StoreEach<kChannelScaleTile>(y + row * C, C,
                                   [&](int64_t c) SG2_LAMBDA_INLINE -> A {
        return BiasActForward<kAct, A>(Scaled<kAdd, T>(xr[c], sn[c], ar) + bt[c],
                                       alpha, gain, clamp);
      });
    }
  }
}

// Gradient units [u0, u1) of the enumeration (chunk, tile), tile fastest; a
// chunk is kChannelScaleRows rows of the flattened [batch * inner] rows.
// Writes dx, each ds segment's partial to ds_parts [batch, chunks per sample,
// C], each chunk's db partial to db_parts [chunks, C] and, with an addend,
// each tile's row sums to da_parts [tiles, batch * inner]. Needs
// ScaleBiasActGradFuses.
template <Act kAct, bool kClamp, bool kAdd, typename T>
SG2_ALWAYS_INLINE void ScaleBiasActGradUnits(
    const ScaleBiasActParams& p, const T* dy, const T* x, const T* s,
    const T* a, const typename AccType<T>::type* bias, T* dx,
    typename AccType<T>::type* ds_parts, typename AccType<T>::type* db_parts,
    typename AccType<T>::type* da_parts, int64_t u0, int64_t u1) {
  using A = typename AccType<T>::type;
  const int64_t N = p.scale.batch, C = p.scale.channels, inner = p.scale.inner;
  const int64_t R = N * inner;
  const int64_t tiles = (C + kChannelScaleTile - 1) / kChannelScaleTile;
  const int64_t per = (inner + kChannelScaleRows - 1) / kChannelScaleRows;
  const A alpha = A(p.alpha), gain = A(p.gain), clamp = kClamp ? A(p.clamp) : A(-1);
  for (int64_t u = u0; u < u1; ++u) {
    const int64_t tile = u % tiles, k = u / tiles;
    const int64_t c0 = tile * kChannelScaleTile;
    const int64_t w = C - c0 < kChannelScaleTile ? C - c0 : kChannelScaleTile;
    const int64_t r_begin = k * kChannelScaleRows;
    const int64_t r_end = R - r_begin < kChannelScaleRows ? R : r_begin + kChannelScaleRows;
    const A* __restrict bt = bias + c0;
    A ds_acc[kChannelScaleTile], db_acc[kChannelScaleTile], sc[kChannelScaleTile];
    for (int64_t c = 0; c < w; ++c) db_acc[c] = A(0);
    int64_t seg = -1;  // the ds segment (n * per + chunk of n) being summed
    for (int64_t r = r_begin; r < r_end; ++r) {
      const int64_t n = r / inner;
      const int64_t r_seg = n * per + (r - n * inner) / kChannelScaleRows;
      if (r_seg != seg) {
        if (seg >= 0) {
          for (int64_t c = 0; c < w; ++c) ds_parts[seg * C + c0 + c] = ds_acc[c];
        }
        seg = r_seg;
        for (int64_t c = 0; c < w; ++c) {
          ds_acc[c] = A(0);
          sc[c] = static_cast<A>(s[n * C + c0 + c]);
        }
      }
      const T* __restrict dyr = dy + r * C + c0;
      const T* __restrict xr = x + r * C + c0;
      const A ar = kAdd ? static_cast<A>(a[r]) : A(0);
      // g = T(dy * act'(t + b) ...) with t recomputed, kept widened.
      A g[kChannelScaleTile];
      for (int64_t c = 0; c < w; ++c) {
        g[c] = RoundThrough<T>(BiasActBackward<kAct, A>(
            static_cast<A>(dyr[c]), Scaled<kAdd, T>(xr[c], sc[c], ar) + bt[c],
            alpha, gain, clamp, 1));
      }
      if (kAdd) da_parts[tile * R + r] = TileRowSum<A>(g, w);
      StoreEach<kChannelScaleTile>(dx + r * C + c0, w,
                                   [&](int64_t c) SG2_LAMBDA_INLINE -> A {
        const A gc = g[c];
        ds_acc[c] += gc * static_cast<A>(xr[c]);
        db_acc[c] += gc;
        return gc * sc[c];
      });
    }
    if (seg >= 0) {
      for (int64_t c = 0; c < w; ++c) ds_parts[seg * C + c0 + c] = ds_acc[c];
    }
    for (int64_t c = 0; c < w; ++c) db_parts[k * C + c0 + c] = db_acc[c];
  }
}

SG2_CPU_LOOP_COPIES(ScaleBiasActBlocks,
                    (Act kAct, bool kClamp, bool kAdd, typename T),
                    (kAct, kClamp, kAdd, T),
                    (const ScaleBiasActParams& p, const T* x,
                     const typename AccType<T>::type* sa, const T* a,
                     const typename AccType<T>::type* bias, T* y, int64_t b0,
                     int64_t b1),
                    (p, x, sa, a, bias, y, b0, b1))
SG2_CPU_LOOP_COPIES(ScaleBiasActGradUnits,
                    (Act kAct, bool kClamp, bool kAdd, typename T),
                    (kAct, kClamp, kAdd, T),
                    (const ScaleBiasActParams& p, const T* dy, const T* x,
                     const T* s, const T* a,
                     const typename AccType<T>::type* bias, T* dx,
                     typename AccType<T>::type* ds_parts,
                     typename AccType<T>::type* db_parts,
                     typename AccType<T>::type* da_parts, int64_t u0,
                     int64_t u1),
                    (p, dy, x, s, a, bias, dx, ds_parts, db_parts, da_parts,
                     u0, u1))

// Calls fn(ActTag<kAct>(), Flag<kClamp>(), Flag<kAdd>()) for p's activation,
// clamp and addend (compile-time inner loops).
template <bool kValue>
using Flag = std::integral_constant<bool, kValue>;

template <typename Fn>
void ScaleBiasActDispatch(const ScaleBiasActParams& p, bool add, Fn&& fn) {
  const bool clamp = p.clamp >= 0.f;
  DispatchAct(p.act, [&](auto act) {
    if (clamp && add) fn(act, Flag<true>(), Flag<true>());
    if (clamp && !add) fn(act, Flag<true>(), Flag<false>());
    if (!clamp && add) fn(act, Flag<false>(), Flag<true>());
    if (!clamp && !add) fn(act, Flag<false>(), Flag<false>());
  });
}

// The C values of b in the accumulation type (zeros where b is null: no bias).
template <typename T>
std::vector<typename AccType<T>::type> AccVector(int64_t C, const T* b) {
  using A = typename AccType<T>::type;
  std::vector<A> bias(static_cast<size_t>(C > 0 ? C : 1), A(0));
  if (b != nullptr) {
    for (int64_t c = 0; c < C; ++c) bias[c] = static_cast<A>(b[c]);
  }
  return bias;
}

}  // namespace internal

// y = bias_act(channel_scale(x, s, a), b) (see the top). a: [batch, inner] or
// null; b: [channels] or null. parallel_for: see ParallelForFn.
template <typename T, typename PF>
void ScaleBiasActCpu(const ScaleBiasActParams& p, const T* x, const T* s,
                     const T* a, const T* b, T* y, PF&& parallel_for) {
  const ChannelScaleParams& q = p.scale;
  if (q.batch == 0 || q.inner == 0 || q.channels == 0) return;
  const auto bias = internal::AccVector<T>(q.channels, b);
  const auto scale = internal::AccVector<T>(q.batch * q.channels, s);
  const auto* bp = bias.data();
  const auto* sp = scale.data();
  const int64_t per = (q.inner + kChannelScaleRows - 1) / kChannelScaleRows;
  internal::ScaleBiasActDispatch(p, a != nullptr, [&](auto act, auto clamp, auto add) {
    constexpr Act kAct = decltype(act)::value;
    constexpr bool kClamp = decltype(clamp)::value;
    constexpr bool kAdd = decltype(add)::value;
    parallel_for(q.batch * per,
                 kChannelScaleRows * q.channels * 2 *
                     internal::BiasActCost(kAct, false),
                 [&](int64_t b0, int64_t b1) {
                   internal::ScaleBiasActBlocksBest<kAct, kClamp, kAdd, T>(
                       p, x, sp, a, bp, y, b0, b1);
                 });
  });
}

// The gradient (see the top): dx [batch, inner, channels], ds [batch,
// channels], da [batch, inner] (when a is not null) and db [channels] (when b
// is not null).
template <typename T, typename PF>
void ScaleBiasActGradCpu(const ScaleBiasActParams& p, const T* dy, const T* x,
                         const T* s, const T* a, const T* b, T* dx, T* ds,
                         T* da, T* db, PF&& parallel_for) {
  using A = typename AccType<T>::type;
  const ChannelScaleParams& q = p.scale;
  const int64_t N = q.batch, C = q.channels, inner = q.inner, R = N * inner;
  if (R == 0 || C == 0) {
    for (int64_t i = 0; i < N * C; ++i) ds[i] = static_cast<T>(A(0));
    if (da != nullptr) {
      for (int64_t i = 0; i < R; ++i) da[i] = static_cast<T>(A(0));
    }
    if (db != nullptr) {
      for (int64_t c = 0; c < C; ++c) db[c] = static_cast<T>(A(0));
    }
    return;
  }
  if (!ScaleBiasActGradFuses(q)) {
    // The separate ops' functors, through temporaries.
    std::vector<T> t(static_cast<size_t>(R * C)), g(static_cast<size_t>(R * C));
    ChannelScaleCpu(q, x, s, a, t.data(), parallel_for);
    BiasActGradCpu(ScaleBiasActBiasParams(p, b != nullptr), dy, t.data(), b,
                   g.data(), parallel_for);
    if (db != nullptr) ChannelSumCpu(R, C, g.data(), db, parallel_for);
    ChannelScaleGradCpu(q, g.data(), x, s, dx, ds, da, parallel_for);
    return;
  }
  const int64_t tiles = (C + kChannelScaleTile - 1) / kChannelScaleTile;
  const int64_t per = (inner + kChannelScaleRows - 1) / kChannelScaleRows;
  const int64_t chunks = (R + kChannelScaleRows - 1) / kChannelScaleRows;
  const auto bias = internal::AccVector<T>(C, b);
  std::vector<A> ds_parts(static_cast<size_t>(N * per * C));
  std::vector<A> db_parts(static_cast<size_t>(chunks * C));
  std::vector<A> da_parts(a != nullptr ? static_cast<size_t>(tiles * R) : 0);
  const A* bp = bias.data();
  A* dsp = ds_parts.data();
  A* dbp = db_parts.data();
  A* dap = da_parts.data();
  internal::ScaleBiasActDispatch(p, a != nullptr, [&](auto act, auto clamp, auto add) {
    constexpr Act kAct = decltype(act)::value;
    constexpr bool kClamp = decltype(clamp)::value;
    constexpr bool kAdd = decltype(add)::value;
    parallel_for(chunks * tiles,
                 kChannelScaleRows * kChannelScaleTile *
                     (4 + internal::BiasActCost(kAct, true)),
                 [&](int64_t u0, int64_t u1) {
                   internal::ScaleBiasActGradUnitsBest<kAct, kClamp, kAdd, T>(
                       p, dy, x, s, a, bp, dx, dsp, dbp, dap, u0, u1);
                 });
  });
  // The partial sums in the separate ops' orders: ds by chunk of each sample,
  // db by chunk of all rows, da by tile.
  internal::SumPartialsInOrder(dsp, N, per, C, ds);
  if (db != nullptr) internal::SumPartialsInOrder(dbp, 1, chunks, C, db);
  if (da != nullptr) internal::SumPartialsInOrder(dap, 1, tiles, R, da);
}

// ---------------------------------------------------------------------------
// CUDA launchers (defined in scale_bias_act_kernels.cu.cc): the separate ops'
// launchers in sequence on one stream, through the temporaries t and g (each
// batch * inner * channels elements of T) and a float workspace of
// ScaleBiasActWorkspaceElems(p) (double for double). So both devices give the
// separate ops' bits. T in {float, double, Half16, BFloat16}. a and b may be
// null (no addend, no bias; da and db are then not written). Return 0 on
// success, else a cudaError_t code.
SG2_HD int64_t ScaleBiasActWorkspaceElems(const ScaleBiasActParams& p) {
  const int64_t a = ChannelScaleWorkspaceElems(p.scale);
  const int64_t b =
      ChannelSumWorkspaceElems(p.scale.batch * p.scale.inner, p.scale.channels);
  return a > b ? a : b;
}
template <typename T>
int LaunchScaleBiasActCuda(cudaStream_t stream, const ScaleBiasActParams& p,
                           const T* x, const T* s, const T* a, const T* b,
                           T* y, T* t);
template <typename T>
int LaunchScaleBiasActGradCuda(cudaStream_t stream, const ScaleBiasActParams& p,
                               const T* dy, const T* x, const T* s, const T* a,
                               const T* b, T* dx, T* ds, T* da, T* db, T* t,
                               T* g, typename AccType<T>::type* workspace);

}  // namespace sg2

#endif  // STYLEGAN2_TF_CUSTOM_OPS_KERNELS_SCALE_BIAS_ACT_H_
