// Bilinear samples, at affine positions, of an image reflect-padded to a
// margin and upsampled 2x with a FIR filter (the geometric core of ADA's
// augmentation), and the adjoint of that linear map: TensorFlow-free
// parameters, the index math shared by the CPU and CUDA kernels, CPU functors
// and CUDA launcher declarations.
//
// Definition (stylegan2_tf/ops/affine_resample.py states it in full), per axis
// of S input pixels, margins m0/m1 (each in [0, S - 1]) and T filter taps
// (T even):
//   P(q) = x[reflect(q)] for -m0 <= q <= S - 1 + m1, else 0;
//          reflect(q) = -q below 0, 2(S - 1) - q above S - 1
//   U(k) = 2 sum_q f[T/2 - 1 + k - 2q] P(q)     (upsample2d's 2x upsampling;
//          taps outside [0, T) are zero; index k = 2q holds pixel q)
//   y(o) = (1 - t) U(k0) + t U(k0 + 1),  k = theta @ (ox, oy, 1),
//          k0 = floor(k), t = k - k0; an index k outside [-2 m0, 2(S + m1) - 1]
//          contributes zero
// separably along x and y. The kernels never form U: the two bilinear taps'
// polyphase filter windows along an axis are merged into one window of
// T/2 + 1 input pixels q0 .. q0 + T/2 with weights
//   w[i] = a0 phase[p][0][i] + a1 phase[p][1][i]
// (a0 = 1 - t, a1 = t, zeroed for an index outside the valid range; p the
// parity of T/2 - 1 + k0), so an output sample costs (T/2 + 1)^2 multiply-adds
// per channel (49 for the 12-tap sym6 filter). Reflect and margin mask: the
// CUDA kernels map each window pixel through them (AffineReflect); the CPU
// loops stage each sample's padded image P once (AffineStage; its adjoint
// AffineFold maps back through the same reflection), so that every window is
// a contiguous run read as whole vectors.
//
// Layouts: x / dx [N, H, W, C], y / dy [N, OH, OW, C] (NHWC, float32),
// theta [N, 2, 3] float64 (output pixel (ox, oy) -> continuous upsampled index
// (kx, ky)), positions computed in float64.
#ifndef STYLEGAN2_TF_CUSTOM_OPS_KERNELS_AFFINE_RESAMPLE_H_
#define STYLEGAN2_TF_CUSTOM_OPS_KERNELS_AFFINE_RESAMPLE_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "custom_ops/cc/kernels/sg2_common.h"

namespace sg2 {

// Largest filter the kernels take (a window of 17 input pixels per axis).
constexpr int kAffineMaxTaps = 32;
constexpr int kAffineMaxWindow = kAffineMaxTaps / 2 + 1;

struct AffineResampleParams {
  int64_t batch = 0, channels = 0;  // N, C
  int64_t in_h = 0, in_w = 0;       // H, W of x (>= 2)
  int64_t out_h = 0, out_w = 0;     // OH, OW of y
  int taps = 0;                     // T: even, in [2, kAffineMaxTaps]
  int window = 0;                   // T / 2 + 1 input pixels per axis
  int margin_x0 = 0, margin_x1 = 0, margin_y0 = 0, margin_y1 = 0;
  // phase[p][b][i]: weight of window pixel i for bilinear tap b (0: floor(k),
  // 1: floor(k) + 1) when T/2 - 1 + floor(k) has parity p; zero beyond the
  // window. Filled by AffineResampleSetFilter.
  float phase[2][2][kAffineMaxWindow];
};

// Fills taps, window and the phase tables from the T filter taps f (host
// memory). Tap b of parity p meets window pixel i through filter tap
// j = p + T - 2 + b - 2i (the upsampled index minus twice the pixel index,
// plus T/2 - 1), with upsample2d's gain of 2 per axis.
inline void AffineResampleSetFilter(const float* f, int taps,
                                    AffineResampleParams* p) {
  p->taps = taps;
  p->window = taps / 2 + 1;
  for (int ph = 0; ph < 2; ++ph) {
    for (int b = 0; b < 2; ++b) {
      for (int i = 0; i < kAffineMaxWindow; ++i) {
        const int j = ph + taps - 2 + b - 2 * i;
        p->phase[ph][b][i] = (j >= 0 && j < taps) ? 2.0f * f[j] : 0.0f;
      }
    }
  }
}

// What one output sample reads along one axis: whether either bilinear index
// lies in the valid range [lo, hi] = [-2 m0, 2 (size + m1) - 1] (else the
// sample is 0), window pixels q0 .. q0 + T/2 (padded coordinates, before
// reflect and mask), the parity that picks the phase table, and the bilinear
// weights of upsampled indices floor(k) and floor(k) + 1 (0 for an index
// outside [lo, hi]).
struct AffineAxis {
  int32_t ok, q0, parity;
  float a0, a1;
};

// The axis taps for continuous upsampled index k (T/2 = half). Written with
// selects only, so that the CPU loops vectorize it across output samples; the
// CUDA kernels call the same function, so both pick the same windows. Indices
// fit int32: |lo|, |hi| <= 2^26 (sizes and margins are capped at 2^24).
SG2_HD AffineAxis AffineAxisTaps(double k, double lo, double hi, int half) {
  AffineAxis a;
  const bool ok = k > lo - 1.0 && k < hi + 1.0;  // false for NaN too
  const double kk = ok ? k : 0.0;
  const double fl = floor(kk);
  const float t = static_cast<float>(kk - fl);
  const int32_t s = static_cast<int32_t>(fl) + half - 1;  // T/2 - 1 + floor(k)
  a.ok = ok ? 1 : 0;
  a.a0 = fl >= lo ? 1.0f - t : 0.0f;
  a.a1 = fl + 1.0 <= hi ? t : 0.0f;
  a.parity = s & 1;                          // two's complement: also for s < 0
  a.q0 = (s - a.parity) / 2 - half + 1;      // floor(s / 2) - T/2 + 1 (exact)
  return a;
}

// Input pixel index of padded coordinate q (single reflection), or -1 when q
// lies beyond the margin (P = 0 there).
SG2_HD int64_t AffineReflect(int64_t q, int64_t size, int m0, int m1) {
  if (q < -static_cast<int64_t>(m0) || q > size - 1 + m1) return -1;
  if (q < 0) return -q;
  if (q > size - 1) return 2 * (size - 1) - q;
  return q;
}

// k = theta_row . (ox, oy, 1), summed left to right without contraction (the
// CUDA kernels use the same rounding, so both pick the same floor(k)).
SG2_HD double AffineIndex(const double* row, double ox, double oy) {
#if defined(__CUDA_ARCH__)
  return __dadd_rn(__dadd_rn(__dmul_rn(row[0], ox), __dmul_rn(row[1], oy)),
                   row[2]);
#else
  return row[0] * ox + row[1] * oy + row[2];
#endif
}

namespace internal {

// CPU layout. Each sample's input is staged reflect-padded and masked (the
// padded image P, not the upsampled one) in a per-worker buffer of
// (H + y0 + y1 + 2 slack) x (W + x0 + x1 + 2 slack) x C floats, slack = T/2
// pixels of zeros (enough for every window of a sample that reads anything),
// so every window is a contiguous run of rows; the adjoint scatters into such
// a buffer and folds it back onto dx through the same reflection. Along x a
// window is handled as `lanes` floats: window pixels x channels padded to a
// multiple of 8 (vector width), read or written as whole vectors (the lanes
// past the window carry weight 0; the buffer has `lanes` floats of tail).
struct AffineCpuPlan {
  int slack = 0;
  int64_t ph = 0, pw = 0;        // staged rows, columns
  int64_t row = 0;               // floats per staged row: pw C rounded up to 16
  int64_t lanes = 0, ylanes = 0;  // x lanes; y weights padded to 8
  std::vector<int64_t> rows, cols;  // staged row / column -> element offset in x, -1: zero
  // x phase tables expanded per lane, wx[(parity * 2 + b) * lanes + j C + c]
  // = phase[parity][b][j]; y phase tables, wy[(parity * 2 + b) * ylanes + i].
  std::vector<float> wx, wy;
  // Channel of each lane (0 past the window), for the adjoint's dy per lane.
  std::vector<int32_t> lane_channel;

  explicit AffineCpuPlan(const AffineResampleParams& p)
      : slack(p.taps / 2),
        ph(p.in_h + p.margin_y0 + p.margin_y1 + 2 * (p.taps / 2)),
        pw(p.in_w + p.margin_x0 + p.margin_x1 + 2 * (p.taps / 2)),
        row((pw * p.channels + 15) / 16 * 16),
        lanes((p.window * p.channels + 7) / 8 * 8),
        ylanes((p.window + 7) / 8 * 8),
        rows(ph), cols(pw),
        wx(static_cast<size_t>(4 * lanes), 0.0f),
        wy(static_cast<size_t>(4 * ylanes), 0.0f),
        lane_channel(static_cast<size_t>(lanes), 0) {
    const int64_t C = p.channels;
    for (int64_t l = 0; l < p.window * C; ++l) lane_channel[l] = static_cast<int32_t>(l % C);
    for (int64_t r = 0; r < ph; ++r) {
      const int64_t q = AffineReflect(r - p.margin_y0 - slack, p.in_h, p.margin_y0, p.margin_y1);
      rows[r] = q < 0 ? -1 : q * p.in_w * C;
    }
    for (int64_t c = 0; c < pw; ++c) {
      const int64_t q = AffineReflect(c - p.margin_x0 - slack, p.in_w, p.margin_x0, p.margin_x1);
      cols[c] = q < 0 ? -1 : q * C;
    }
    for (int pb = 0; pb < 4; ++pb) {
      for (int j = 0; j < p.window; ++j) {
        const float v = p.phase[pb / 2][pb % 2][j];
        wy[pb * ylanes + j] = v;
        for (int64_t c = 0; c < C; ++c) wx[pb * lanes + j * C + c] = v;
      }
    }
  }
  // Floats of one staging buffer.
  int64_t stage_size() const { return ph * row + lanes; }
};

// Stages sample xn [H, W, C] as P (zeros beyond the margins and in the slack).
inline void AffineStage(const AffineCpuPlan& plan, int64_t C, const float* xn,
                        float* stage) {
  const int64_t row = plan.row;
  for (int64_t r = 0; r < plan.ph; ++r) {
    float* d = stage + r * row;
    if (plan.rows[r] < 0) {
      std::memset(d, 0, sizeof(float) * row);
      continue;
    }
    const float* xr = xn + plan.rows[r];
    for (int64_t c = 0; c < plan.pw; ++c, d += C) {
      if (plan.cols[c] < 0) {
        for (int64_t k = 0; k < C; ++k) d[k] = 0.0f;
      } else {
        const float* e = xr + plan.cols[c];
        for (int64_t k = 0; k < C; ++k) d[k] = e[k];
      }
    }
    for (int64_t k = plan.pw * C; k < row; ++k) stage[r * row + k] = 0.0f;
  }
  std::memset(stage + plan.ph * row, 0, sizeof(float) * plan.lanes);  // tail
}

// The transpose of AffineStage: dxn [H, W, C] = sum of the staged values over
// the padded pixels that reflect onto each pixel (fixed order).
inline void AffineFold(const AffineCpuPlan& plan, int64_t C, int64_t hwc,
                       const float* stage, float* dxn) {
  std::memset(dxn, 0, sizeof(float) * hwc);
  const int64_t row = plan.row;
  for (int64_t r = 0; r < plan.ph; ++r) {
    if (plan.rows[r] < 0) continue;
    const float* s = stage + r * row;
    float* dr = dxn + plan.rows[r];
    for (int64_t c = 0; c < plan.pw; ++c, s += C) {
      if (plan.cols[c] < 0) continue;
      float* d = dr + plan.cols[c];
      for (int64_t k = 0; k < C; ++k) d[k] += s[k];
    }
  }
}

// Output samples set up together (the setup vectorizes across them).
constexpr int kAffineBlock = 16;

struct alignas(64) AffineBlock {
  int32_t ok[kAffineBlock], qx[kAffineBlock], qy[kAffineBlock];
  int32_t px[kAffineBlock], py[kAffineBlock];
  float ax0[kAffineBlock], ax1[kAffineBlock], ay0[kAffineBlock], ay1[kAffineBlock];
};

// Sets up output samples (ox0 + b, oy), b < kAffineBlock, of the sample whose
// theta is th; qx/qy are the windows' first staged column/row.
SG2_ALWAYS_INLINE void AffineSetupBlock(const AffineResampleParams& p,
                                        const AffineCpuPlan& plan,
                                        const double* th, int64_t oy,
                                        int64_t ox0, AffineBlock* b) {
  const int half = p.taps / 2;
  const double lox = -2.0 * p.margin_x0, hix = 2.0 * (p.in_w + p.margin_x1) - 1.0;
  const double loy = -2.0 * p.margin_y0, hiy = 2.0 * (p.in_h + p.margin_y1) - 1.0;
  const int32_t offx = p.margin_x0 + plan.slack, offy = p.margin_y0 + plan.slack;
  const double fy = static_cast<double>(oy), fx0 = static_cast<double>(ox0);
  const double r0[3] = {th[0], th[1], th[2]}, r1[3] = {th[3], th[4], th[5]};
  for (int i = 0; i < kAffineBlock; ++i) {
    const double fx = fx0 + static_cast<double>(i);
    const AffineAxis ax = AffineAxisTaps(AffineIndex(r0, fx, fy), lox, hix, half);
    const AffineAxis ay = AffineAxisTaps(AffineIndex(r1, fx, fy), loy, hiy, half);
    b->ok[i] = ax.ok & ay.ok;
    b->qx[i] = ax.q0 + offx;
    b->qy[i] = ay.q0 + offy;
    b->px[i] = ax.parity;
    b->py[i] = ay.parity;
    b->ax0[i] = ax.a0;
    b->ax1[i] = ax.a1;
    b->ay0[i] = ay.a0;
    b->ay1[i] = ay.a1;
  }
}

// Full unrolling of the short loops of the compile-time shapes (GCC).
#if defined(__GNUC__) && !defined(__CUDACC__)
#define SG2_AFFINE_UNROLL _Pragma("GCC unroll 8")
#else
#define SG2_AFFINE_UNROLL
#endif

#if SG2_CPU_DISPATCH
// Eight floats as one vector (GCC's vector extension) for the compile-time
// shapes: GCC does not keep the plain loops' accumulators in registers nor
// vectorize the adjoint's scatter. Element-wise operations only, so every copy
// of the loops gives the same bits.
typedef float AffineV8 __attribute__((vector_size(32)));
typedef float AffineV8Unaligned
    __attribute__((vector_size(32), aligned(4), may_alias));
#endif

// out[c] = sum_j a[j C + c] over j < win, summed pairwise in a fixed tree
// (depth ceil(log2 win), not a chain of win additions); a is overwritten.
SG2_ALWAYS_INLINE void AffineWindowSum(float* a, int win, int64_t C,
                                       float* out) {
  SG2_AFFINE_UNROLL
  for (int s = 1; s < win; s *= 2) {
    SG2_AFFINE_UNROLL
    for (int j = 0; j + s < win; j += 2 * s) {
      SG2_AFFINE_UNROLL
      for (int64_t c = 0; c < C; ++c) a[j * C + c] += a[(j + s) * C + c];
    }
  }
  SG2_AFFINE_UNROLL
  for (int64_t c = 0; c < C; ++c) out[c] = a[c];
}

// Shapes the loops are compiled for: kWin window pixels (T/2 + 1) and kC
// channels known at compile time, so the accumulators live in registers and
// every loop unrolls; kWin = kC = 0 takes both from p (any shape).
template <int kWin, int kC>
struct AffineShape {
  static constexpr int kLanes = (kWin > 0 && kC > 0) ? (kWin * kC + 7) / 8 * 8 : 0;
};

#if SG2_CPU_DISPATCH
SG2_ALWAYS_INLINE AffineV8 AffineLoad8(const float* p) {
  return *reinterpret_cast<const AffineV8Unaligned*>(p);
}
SG2_ALWAYS_INLINE void AffineStore8(float* p, AffineV8 v) {
  *reinterpret_cast<AffineV8Unaligned*>(p) = v;
}

// The weights of block entry i as vectors: x per lane (wx[v]), y per window
// row (wy, rows < 8: the compile-time shapes have windows of at most 8).
template <int kV>
SG2_ALWAYS_INLINE void AffineWeights8(const AffineCpuPlan& plan,
                                      const AffineBlock& b, int i,
                                      AffineV8* wx, AffineV8* wy) {
  const float* x0 = plan.wx.data() + b.px[i] * 2 * (8 * kV);
  const float ax0 = b.ax0[i], ax1 = b.ax1[i];
  SG2_AFFINE_UNROLL
  for (int v = 0; v < kV; ++v) {
    wx[v] = ax0 * AffineLoad8(x0 + 8 * v) + ax1 * AffineLoad8(x0 + 8 * (kV + v));
  }
  const float* y0 = plan.wy.data() + b.py[i] * 2 * 8;
  *wy = b.ay0[i] * AffineLoad8(y0) + b.ay1[i] * AffineLoad8(y0 + 8);
}

// One output sample of the forward loop for a compile-time shape, on vector
// registers (the same operations in the same order as the generic loop).
template <int kWin, int kC>
SG2_ALWAYS_INLINE void AffineForwardSample(const AffineCpuPlan& plan,
                                           const AffineBlock& b, int i,
                                           const float* base, int64_t row,
                                           float* yp) {
  constexpr int kV = AffineShape<kWin, kC>::kLanes / 8;
  static_assert(kWin <= 8, "y weights in one vector");
  AffineV8 wx[kV], wy;
  AffineWeights8<kV>(plan, b, i, wx, &wy);
  AffineV8 acc[kV];
  SG2_AFFINE_UNROLL
  for (int v = 0; v < kV; ++v) acc[v] = AffineV8{};
  SG2_AFFINE_UNROLL
  for (int r = 0; r < kWin; ++r) {
    const float w = wy[r];
    SG2_AFFINE_UNROLL
    for (int v = 0; v < kV; ++v) acc[v] += w * AffineLoad8(base + r * row + 8 * v);
  }
  float a[8 * kV];
  SG2_AFFINE_UNROLL
  for (int v = 0; v < kV; ++v) {
    const AffineV8 pv = acc[v] * wx[v];
    SG2_AFFINE_UNROLL
    for (int l = 0; l < 8; ++l) a[8 * v + l] = pv[l];
  }
  AffineWindowSum(a, kWin, kC, yp);
}

// One output sample of the adjoint loop for a compile-time shape.
template <int kWin, int kC>
SG2_ALWAYS_INLINE void AffineAdjointSample(const AffineCpuPlan& plan,
                                           const AffineBlock& b, int i,
                                           float* base, int64_t row,
                                           const float* dyp) {
  constexpr int kV = AffineShape<kWin, kC>::kLanes / 8;
  static_assert(kWin <= 8, "y weights in one vector");
  AffineV8 wx[kV], wy;
  AffineWeights8<kV>(plan, b, i, wx, &wy);
  AffineV8 t[kV];
  SG2_AFFINE_UNROLL
  for (int v = 0; v < kV; ++v) {
    AffineV8 g = AffineV8{};
    SG2_AFFINE_UNROLL
    for (int l = 0; l < 8; ++l) {
      // 0 past the window (not 0 * dy: dy may be inf).
      if (8 * v + l < kWin * kC) g[l] = dyp[(8 * v + l) % kC];
    }
    t[v] = wx[v] * g;
  }
  SG2_AFFINE_UNROLL
  for (int r = 0; r < kWin; ++r) {
    const float w = wy[r];
    SG2_AFFINE_UNROLL
    for (int v = 0; v < kV; ++v) {
      float* d = base + r * row + 8 * v;
      AffineStore8(d, AffineLoad8(d) + w * t[v]);
    }
  }
}
#endif

// The weights of block entry i: x per lane (wxe), y per window row (wyv).
template <int kLanes>
SG2_ALWAYS_INLINE void AffineWeights(const AffineCpuPlan& plan,
                                     const AffineBlock& b, int i,
                                     float* __restrict wxe,
                                     float* __restrict wyv) {
  const int64_t L = kLanes > 0 ? kLanes : plan.lanes, YL = plan.ylanes;
  const float* __restrict x0 = plan.wx.data() + b.px[i] * 2 * L;
  const float* __restrict x1 = x0 + L;
  const float ax0 = b.ax0[i], ax1 = b.ax1[i];
  for (int64_t v = 0; v < L; v += 8) {
    for (int l = 0; l < 8; ++l) wxe[v + l] = ax0 * x0[v + l] + ax1 * x1[v + l];
  }
  const float* __restrict y0 = plan.wy.data() + b.py[i] * 2 * YL;
  const float* __restrict y1 = y0 + YL;
  const float ay0 = b.ay0[i], ay1 = b.ay1[i];
  for (int64_t v = 0; v < YL; v += 8) {
    for (int l = 0; l < 8; ++l) wyv[v + l] = ay0 * y0[v + l] + ay1 * y1[v + l];
  }
}

// Forward: one work unit = one output row (n, oy); the worker stages each
// sample it meets. Per output sample and lane l (window pixel j, channel c):
// acc[l] = sum_i wy[i] P[row i, lane l] (i ascending), then
// y[c] = sum_j wx[j] acc[j C + c] (AffineWindowSum's tree). No contraction,
// no reordering: every copy of the loop gives the same bits.
// scratch: AffineScratch() floats.
template <int kWin, int kC>
SG2_ALWAYS_INLINE void AffineResampleRows(const AffineResampleParams& p,
                                          const AffineCpuPlan& plan,
                                          const double* theta, const float* x,
                                          float* y, float* scratch, int64_t u0,
                                          int64_t u1) {
  using S = AffineShape<kWin, kC>;
  const int win = kWin > 0 ? kWin : p.window;
  const int64_t C = kC > 0 ? kC : p.channels;
  const int64_t L = S::kLanes > 0 ? S::kLanes : plan.lanes;
  const int64_t OH = p.out_h, OW = p.out_w, row = plan.row;
  float* stage = scratch;
  float* __restrict wxe = stage + plan.stage_size();
  float* __restrict wyv = wxe + plan.lanes;
  float* __restrict accm = wyv + plan.ylanes;  // kLanes == 0 only
  int64_t staged = -1;
  AffineBlock b;
  for (int64_t u = u0; u < u1; ++u) {
    const int64_t n = u / OH, oy = u % OH;
    if (n != staged) {
      AffineStage(plan, C, x + n * p.in_h * p.in_w * C, stage);
      staged = n;
    }
    const double* th = theta + n * 6;
    for (int64_t ox0 = 0; ox0 < OW; ox0 += kAffineBlock) {
      AffineSetupBlock(p, plan, th, oy, ox0, &b);
      const int nb = static_cast<int>(std::min<int64_t>(kAffineBlock, OW - ox0));
      for (int i = 0; i < nb; ++i) {
        float* yp = y + (u * OW + ox0 + i) * C;
        if (!b.ok[i]) {
          for (int64_t c = 0; c < C; ++c) yp[c] = 0.0f;
          continue;
        }
        const float* base = stage + static_cast<int64_t>(b.qy[i]) * row +
                            static_cast<int64_t>(b.qx[i]) * C;
#if SG2_CPU_DISPATCH
        if constexpr (S::kLanes > 0) {
          AffineForwardSample<kWin, kC>(plan, b, i, base, row, yp);
          continue;
        }
#endif
        AffineWeights<S::kLanes>(plan, b, i, wxe, wyv);
        float* __restrict acc = accm;
        for (int64_t l = 0; l < L; ++l) acc[l] = 0.0f;
        for (int r = 0; r < win; ++r) {
          const float* __restrict src = base + r * row;
          const float w = wyv[r];
          for (int64_t v = 0; v < L; v += 8) {
            for (int l = 0; l < 8; ++l) acc[v + l] += w * src[v + l];
          }
        }
        for (int64_t v = 0; v < L; v += 8) {
          for (int l = 0; l < 8; ++l) acc[v + l] *= wxe[v + l];
        }
        AffineWindowSum(acc, win, C, yp);
      }
    }
  }
}

// Adjoint: one work unit = one sample n, which owns its dx slab, so the
// scatter needs no atomics and its order is fixed. Per output sample:
// t[l] = wx[j] dy[c] per lane (0 past the window), stage[row i, lane l] +=
// wy[i] t[l] (the exact transpose of the forward sum), then the staged sums
// are folded onto dx. scratch: AffineScratch() floats.
template <int kWin, int kC>
SG2_ALWAYS_INLINE void AffineResampleAdjointSamples(
    const AffineResampleParams& p, const AffineCpuPlan& plan,
    const double* theta, const float* dy, float* dx, float* scratch,
    int64_t u0, int64_t u1) {
  using S = AffineShape<kWin, kC>;
  const int win = kWin > 0 ? kWin : p.window;
  const int64_t C = kC > 0 ? kC : p.channels;
  const int64_t L = S::kLanes > 0 ? S::kLanes : plan.lanes;
  const int64_t OH = p.out_h, OW = p.out_w, row = plan.row, wc = win * C;
  const int64_t hwc = p.in_h * p.in_w * C;
  const int32_t* __restrict lane_channel = plan.lane_channel.data();
  float* stage = scratch;
  float* __restrict wxe = stage + plan.stage_size();
  float* __restrict wyv = wxe + plan.lanes;
  float* __restrict tm = wyv + plan.ylanes;  // kLanes == 0 only
  AffineBlock b;
  for (int64_t n = u0; n < u1; ++n) {
    std::memset(stage, 0, sizeof(float) * plan.stage_size());
    const double* th = theta + n * 6;
    for (int64_t oy = 0; oy < OH; ++oy) {
      for (int64_t ox0 = 0; ox0 < OW; ox0 += kAffineBlock) {
        AffineSetupBlock(p, plan, th, oy, ox0, &b);
        const int nb = static_cast<int>(std::min<int64_t>(kAffineBlock, OW - ox0));
        for (int i = 0; i < nb; ++i) {
          if (!b.ok[i]) continue;
          const float* dyp = dy + ((n * OH + oy) * OW + ox0 + i) * C;
          float* base = stage + static_cast<int64_t>(b.qy[i]) * row +
                        static_cast<int64_t>(b.qx[i]) * C;
#if SG2_CPU_DISPATCH
          if constexpr (S::kLanes > 0) {
            AffineAdjointSample<kWin, kC>(plan, b, i, base, row, dyp);
            continue;
          }
#endif
          AffineWeights<S::kLanes>(plan, b, i, wxe, wyv);
          float* __restrict t = tm;
          for (int64_t l = 0; l < L; ++l) {
            const float g = dyp[lane_channel[l]];
            t[l] = l < wc ? wxe[l] * g : 0.0f;  // 0, not 0 * g: g may be inf
          }
          for (int r = 0; r < win; ++r) {
            float* __restrict d = base + r * row;
            const float w = wyv[r];
            for (int64_t v = 0; v < L; v += 8) {
              for (int l = 0; l < 8; ++l) d[v + l] += w * t[v + l];
            }
          }
        }
      }
    }
    AffineFold(plan, C, hwc, stage, dx + n * hwc);
  }
}

SG2_CPU_LOOP_COPIES(AffineResampleRows, (int kWin, int kC), (kWin, kC),
                    (const AffineResampleParams& p, const AffineCpuPlan& plan,
                     const double* theta, const float* x, float* y,
                     float* scratch, int64_t u0, int64_t u1),
                    (p, plan, theta, x, y, scratch, u0, u1))
SG2_CPU_LOOP_COPIES(AffineResampleAdjointSamples, (int kWin, int kC), (kWin, kC),
                    (const AffineResampleParams& p, const AffineCpuPlan& plan,
                     const double* theta, const float* dy, float* dx,
                     float* scratch, int64_t u0, int64_t u1),
                    (p, plan, theta, dy, dx, scratch, u0, u1))

// Runs the loops compiled for the call's shape: 12-tap filters (sym6: 7
// window pixels) with 1-4 channels at compile time, anything else with the
// shape read at run time (the same arithmetic, slower).
template <bool kAdjoint>
void AffineDispatch(const AffineResampleParams& p, const AffineCpuPlan& plan,
                    const double* theta, const float* in, float* out,
                    float* scratch, int64_t u0, int64_t u1) {
#define SG2_AFFINE_RUN(W, C)                                                     \
  if (kAdjoint) {                                                                \
    AffineResampleAdjointSamplesBest<W, C>(p, plan, theta, in, out, scratch, u0, u1); \
  } else {                                                                       \
    AffineResampleRowsBest<W, C>(p, plan, theta, in, out, scratch, u0, u1);     \
  }                                                                              \
  return;
  if (p.window == 7) {
    switch (p.channels) {
      case 1: SG2_AFFINE_RUN(7, 1)
      case 2: SG2_AFFINE_RUN(7, 2)
      case 3: SG2_AFFINE_RUN(7, 3)
      case 4: SG2_AFFINE_RUN(7, 4)
      default: break;
    }
  }
  SG2_AFFINE_RUN(0, 0)
#undef SG2_AFFINE_RUN
}

// Rough cycles per output sample, for the thread pool's shard sizes.
inline int64_t AffineSampleCost(const AffineResampleParams& p,
                                const AffineCpuPlan& plan) {
  return 30 + (p.window + 3) * plan.lanes / 4;
}

inline int64_t AffineScratch(const AffineCpuPlan& plan) {
  return plan.stage_size() + 2 * plan.lanes + plan.ylanes;
}

}  // namespace internal

// y [N, OH, OW, C] = affine_resample(x [N, H, W, C]); p filled (sizes,
// margins validated to [0, size - 1], AffineResampleSetFilter called).
template <typename PF>
void AffineResampleCpu(const AffineResampleParams& p, const double* theta,
                       const float* x, float* y, PF&& parallel_for) {
  const internal::AffineCpuPlan plan(p);
  const int64_t cost = p.out_w * internal::AffineSampleCost(p, plan);
  parallel_for(p.batch * p.out_h, cost, [&](int64_t u0, int64_t u1) {
    std::vector<float> scratch(internal::AffineScratch(plan));
    internal::AffineDispatch<false>(p, plan, theta, x, y, scratch.data(), u0, u1);
  });
}

// dx [N, H, W, C] = adjoint(dy [N, OH, OW, C]): the transpose of
// AffineResampleCpu with the same p and theta. Parallel over samples.
template <typename PF>
void AffineResampleAdjointCpu(const AffineResampleParams& p,
                              const double* theta, const float* dy, float* dx,
                              PF&& parallel_for) {
  const internal::AffineCpuPlan plan(p);
  const int64_t cost = p.out_h * p.out_w * internal::AffineSampleCost(p, plan);
  parallel_for(p.batch, cost, [&](int64_t u0, int64_t u1) {
    std::vector<float> scratch(internal::AffineScratch(plan));
    internal::AffineDispatch<true>(p, plan, theta, dy, dx, scratch.data(), u0, u1);
  });
}

// CUDA launchers (defined in affine_resample_kernels.cu.cc). theta, x/dy and
// y/dx in device memory; p by value (its phase tables built on the host).
// The adjoint zeroes dx and accumulates with atomicAdd. Return 0 or a
// cudaError_t code.
int LaunchAffineResampleCuda(cudaStream_t stream,
                             const AffineResampleParams& p,
                             const double* theta, const float* x, float* y);
int LaunchAffineResampleAdjointCuda(cudaStream_t stream,
                                    const AffineResampleParams& p,
                                    const double* theta, const float* dy,
                                    float* dx);

}  // namespace sg2

#endif  // STYLEGAN2_TF_CUSTOM_OPS_KERNELS_AFFINE_RESAMPLE_H_
