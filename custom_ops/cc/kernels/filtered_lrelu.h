// filtered_lrelu (StyleGAN3's nonlinearity), fused: TensorFlow-free
// parameters, CPU functor and CUDA launcher declaration.
//
// Per image plane (NHWC: one image, all C channels as lanes; NCHW: one
// channel of one image, 1 lane), with x + b the biased input:
//
//   u[ty, tx] = sum_{ky, kx} fu[ky, kx] * xp[ty + ky, tx + kx]         (1)
//   v[ty, tx] = act(u[ty, tx])                                          (2)
//   y[oy, ox] = sum_{ky, kx} fd[ky, kx] * v[oy*down + ky, ox*down + kx] (3)
//
// xp is x + b upsampled by zero insertion (sample [i, j] at [i*up, j*up]) and
// padded by pady0/pady1 rows, padx0/padx1 columns (negative pads crop). Both
// filters CORRELATE (no flip); a 1-D filter (fu_2d / fd_2d false) is the
// separable outer product f[ky] * f[kx]. The pre-activation grid u/v is only
// computed where (3) reads it, [tmp_h, tmp_w] = [(out_h-1)*down + fdh,
// (out_w-1)*down + fdw], and never stored whole: the CPU functor and the CUDA
// kernel both walk it in tiles.
//
// act, "compute" mode (read_signs false):
//   v = clip(gain * (u > 0 ? u : slope * u), -clamp, clamp)   (clamp < 0: none)
// and, when write_signs, a 2-bit code per element of the grid goes to the
// sign record: 0 = u > 0, 1 = u <= 0, 2 = clamped (|gain * lrelu(u)| > clamp,
// or NaN), i.e. exactly the derivative dv/du = {gain, gain*slope, 0}.
// act, "read" mode (read_signs true): v = u * {gain, gain*slope, 0}[code],
// the code read from the record at [ty - sy, tx - sx] (0 outside it). That is
// the transpose (gradient) pass: it is linear in its input, so its own
// transpose is again a read-mode pass, and every derivative order is the same
// op (the Python gradient chooses up/down, filters, pads and sx/sy).
//
// Sign record layout (uint8 [planes, sign_h, row_bytes], 4 codes per byte,
// code j of a byte at bits 2j..2j+1): with one lane (NCHW, or NHWC with C = 1)
// byte tx/4 of a row holds columns tx..tx+3 (row_bytes = ceil(tmp_w/4)); with
// L > 1 lanes byte tx*ceil(L/4) + c/4 holds channels c..c+3 of pixel tx
// (row_bytes = tmp_w * ceil(L/4)). Unused code slots are 0.
#ifndef STYLEGAN2_TF_CUSTOM_OPS_KERNELS_FILTERED_LRELU_H_
#define STYLEGAN2_TF_CUSTOM_OPS_KERNELS_FILTERED_LRELU_H_

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "custom_ops/cc/kernels/sg2_common.h"
#include "custom_ops/cc/kernels/upfirdn2d.h"

namespace sg2 {

struct FilteredLreluParams {
  int64_t batch = 0, channels = 0;  // N, C
  int64_t in_h = 0, in_w = 0;       // H, W of x
  int64_t out_h = 0, out_w = 0;     // see FilteredLreluFinalize
  int64_t tmp_h = 0, tmp_w = 0;     // computed pre-activation grid
  int up = 1, down = 1;
  int padx0 = 0, padx1 = 0, pady0 = 0, pady1 = 0;
  int fuw = 1, fuh = 1, fdw = 1, fdh = 1;  // taps (1-D filters: fw == fh)
  bool fu_2d = false, fd_2d = false;        // false: 1-D taps, separable
  float gain = 1.f, slope = 1.f, clamp = -1.f;  // clamp < 0: no clamp
  bool has_bias = false;
  bool nchw = false;
  bool read_signs = false;   // read mode (see above)
  bool write_signs = false;  // compute mode: write the sign record
  int sx = 0, sy = 0;        // read mode: record index = grid index - s
  int64_t sign_h = 0, sign_row_bytes = 0;  // record geometry (both modes)
};

// Output length along one axis (may be < 1: invalid).
inline int64_t FilteredLreluOutSize(int64_t in, int up, int pad0, int pad1,
                                    int fu, int fd, int down) {
  return FloorDiv(in * up + pad0 + pad1 - (fu - 1) - fd, down) + 1;
}

// Lanes per pixel and planes, as described above.
inline int64_t FilteredLreluLanes(const FilteredLreluParams& p) {
  return p.nchw ? 1 : p.channels;
}
inline int64_t FilteredLreluPlanes(const FilteredLreluParams& p) {
  return p.nchw ? p.batch * p.channels : p.batch;
}

// Bytes per sign-record row for a grid `tw` wide with `lanes` lanes.
SG2_HD int64_t SignRowBytes(int64_t tw, int64_t lanes) {
  return lanes == 1 ? (tw + 3) / 4 : tw * ((lanes + 3) / 4);
}
// Grid columns a record row of `row_bytes` covers (inverse of SignRowBytes up
// to the padding of the last byte for one lane).
SG2_HD int64_t SignCols(int64_t row_bytes, int64_t lanes) {
  return lanes == 1 ? row_bytes * 4 : row_bytes / ((lanes + 3) / 4);
}

// Whether grid row/column t feeds an output (some tap of fd reads it): always
// unless fd has fewer taps than down. The record holds code 0 for the others.
SG2_HD bool FilteredLreluUsed(int64_t t, int fd_taps, int down) {
  return fd_taps >= down || t % down < fd_taps;
}

// Fills out_h/out_w/tmp_h/tmp_w (and, unless reading, the record geometry)
// from the other fields; false if the output would be empty (< 1).
inline bool FilteredLreluFinalize(FilteredLreluParams* p) {
  p->out_h = FilteredLreluOutSize(p->in_h, p->up, p->pady0, p->pady1, p->fuh,
                                  p->fdh, p->down);
  p->out_w = FilteredLreluOutSize(p->in_w, p->up, p->padx0, p->padx1, p->fuw,
                                  p->fdw, p->down);
  if (p->out_h < 1 || p->out_w < 1) return false;
  p->tmp_h = (p->out_h - 1) * p->down + p->fdh;
  p->tmp_w = (p->out_w - 1) * p->down + p->fdw;
  if (!p->read_signs) {
    p->sign_h = p->write_signs ? p->tmp_h : 0;
    p->sign_row_bytes =
        p->write_signs ? SignRowBytes(p->tmp_w, FilteredLreluLanes(*p)) : 0;
  }
  return true;
}

// Whether compute mode needs a sign record for the gradient at all (with
// slope 1 and no clamp the derivative is the constant gain).
inline bool FilteredLreluNeedsSigns(float slope, float clamp) {
  return slope != 1.f || clamp >= 0.f;
}

// The gradient pass of a finalized pass p (as the Python gradient builds it):
// input dy [out], output dx [in]; filters fd and fu swapped and REVERSED by
// the caller (1-D: taps; 2-D: both axes); the sign record of p (written by p
// in compute mode, or the one p read) read at a shifted position; clamp off.
// When p needs no record (slope 1, no clamp) the pass is compute mode with
// slope 1, i.e. the linear map times gain. The result is finalized; its
// out_h/out_w equal p.in_h/p.in_w. sign_h/sign_row_bytes stay those of p's
// record.
inline FilteredLreluParams FilteredLreluTransposed(const FilteredLreluParams& p) {
  FilteredLreluParams t = p;
  t.in_h = p.out_h;
  t.in_w = p.out_w;
  t.up = p.down;
  t.down = p.up;
  t.fuw = p.fdw;
  t.fuh = p.fdh;
  t.fu_2d = p.fd_2d;
  t.fdw = p.fuw;
  t.fdh = p.fuh;
  t.fd_2d = p.fu_2d;
  t.padx0 = p.fdw - 1 + p.fuw - 1 - p.padx0;
  t.padx1 = static_cast<int>(p.in_w * p.up - p.out_w * p.down + p.padx0 - (p.up - 1));
  t.pady0 = p.fdh - 1 + p.fuh - 1 - p.pady0;
  t.pady1 = static_cast<int>(p.in_h * p.up - p.out_h * p.down + p.pady0 - (p.up - 1));
  t.sx = p.sx + p.fuw - 1 - p.padx0;
  t.sy = p.sy + p.fuh - 1 - p.pady0;
  t.clamp = -1.f;
  t.has_bias = false;
  t.read_signs = p.read_signs || p.write_signs;
  t.write_signs = false;
  const int64_t sign_h = p.sign_h, sign_row_bytes = p.sign_row_bytes;
  FilteredLreluFinalize(&t);
  t.sign_h = sign_h;
  t.sign_row_bytes = sign_row_bytes;
  return t;
}

namespace internal {

// Precomputed per call: up-stage tap tables, filters in the accumulation
// type, the tiling of the output plane, and scratch sizes.
template <typename A>
struct FlPlan {
  TapTable rows, cols;       // grid row/col -> (filter tap, input index)
  std::vector<A> fu, fd;     // [taps] (1-D) or [fh * fw] (2-D)
  int64_t oth = 1, otw = 1;  // output tile (band height, tile width)
  int64_t nty = 1, ntx = 1;  // tiles per plane along y, x
  int64_t ring_rows = 1;     // prepared input rows kept (max taps per row)
  int64_t max_tw = 1;        // widest grid tile
  int64_t max_in_cols = 1;   // most input columns a tile reads

  template <typename F>
  FlPlan(const FilteredLreluParams& p, const F* fu_in, const F* fd_in) {
    const int64_t L = FilteredLreluLanes(p);
    BuildTapTable(p.tmp_h, p.in_h, p.up, 1, p.pady0, p.fuh, &rows);
    BuildTapTable(p.tmp_w, p.in_w, p.up, 1, p.padx0, p.fuw, &cols);
    const int64_t nu = p.fu_2d ? int64_t(p.fuh) * p.fuw : p.fuw;
    const int64_t nd = p.fd_2d ? int64_t(p.fdh) * p.fdw : p.fdw;
    fu.resize(nu);
    fd.resize(nd);
    for (int64_t i = 0; i < nu; ++i) fu[i] = static_cast<A>(fu_in[i]);
    for (int64_t i = 0; i < nd; ++i) fd[i] = static_cast<A>(fd_in[i]);
    // Tile width: a grid row of the tile about <= 4096 values (16 KB), so the
    // rings of rows a tile keeps stay in L2; a multiple of 4 so that tiles own
    // whole sign-record bytes.
    const int64_t cap_tw = std::max<int64_t>(4096 / std::max<int64_t>(L, 1), 1);
    int64_t otw = (cap_tw - p.fdw) / p.down + 1;
    otw = std::max<int64_t>(4, otw / 4 * 4);
    if (otw >= p.out_w) otw = p.out_w;
    // Band height: tiles overlap by fdh - down grid rows (recomputed); keep
    // that below ~25% of the rows a band computes.
    int64_t oth = std::max<int64_t>(
        8, (4 * std::max(0, p.fdh - p.down) + p.down - 1) / p.down);
    if (oth >= p.out_h) oth = p.out_h;
    this->otw = otw;
    this->oth = oth;
    ntx = (p.out_w + otw - 1) / otw;
    nty = (p.out_h + oth - 1) / oth;
    max_tw = (otw - 1) * p.down + p.fdw;
    ring_rows = 1;
    for (int64_t t = 0; t < p.tmp_h; ++t)
      ring_rows = std::max<int64_t>(ring_rows, rows.count[t]);
    max_in_cols = 1;
    for (int64_t bx = 0; bx < ntx; ++bx) {
      int64_t lo, hi;
      InputCols(p, bx, &lo, &hi);
      max_in_cols = std::max<int64_t>(max_in_cols, hi - lo + 1);
    }
  }

  // Input columns [lo, hi] that grid columns of tile bx read (hi < lo: none).
  void InputCols(const FilteredLreluParams& p, int64_t bx, int64_t* lo,
                 int64_t* hi) const {
    const int64_t ox0 = bx * otw, ox1 = std::min(p.out_w, ox0 + otw);
    const int64_t tx0 = ox0 * p.down, tx1 = (ox1 - 1) * p.down + p.fdw;
    *lo = INT64_MAX;
    *hi = -1;
    for (int64_t t = tx0; t < tx1; ++t) {
      const int32_t n = cols.count[t];
      if (n == 0) continue;
      const int32_t s = cols.start[t];
      *lo = std::min<int64_t>(*lo, cols.i[s]);
      *hi = std::max<int64_t>(*hi, cols.i[s + n - 1]);
    }
  }
};

// Per-thread scratch, sized from the plan.
template <typename A>
struct FlScratch {
  std::vector<A> bias;    // L
  std::vector<A> xrow;    // converted input row (separable fu), in_cols * L
  std::vector<A> in_ring;  // ring_rows x row_len
  std::vector<A> v_ring;   // fdh (2-D fd) or 1 rows of max_tw * L
  std::vector<A> d_ring;   // separable fd: fdh rows of otw * L
  std::vector<A> acc;      // otw * L
  std::vector<uint8_t> codes;  // max_tw * L
  int64_t in_row_len = 0, v_row_len = 0, d_row_len = 0;

  FlScratch(const FilteredLreluParams& p, const FlPlan<A>& plan) {
    const int64_t L = FilteredLreluLanes(p);
    bias.assign(L, A(0));
    in_row_len = (p.fu_2d ? plan.max_in_cols : plan.max_tw) * L;
    if (!p.fu_2d) xrow.resize(plan.max_in_cols * L);
    in_ring.resize(plan.ring_rows * in_row_len);
    v_row_len = plan.max_tw * L;
    v_ring.resize((p.fd_2d ? p.fdh : 1) * v_row_len);
    d_row_len = plan.otw * L;
    if (!p.fd_2d) d_ring.resize(p.fdh * d_row_len);
    acc.resize(plan.otw * L);
    codes.resize(plan.max_tw * L);
  }
};

// dst[j] += w * src[j], j < n (vectorizes).
template <typename A>
SG2_ALWAYS_INLINE void FlAxpy(A* __restrict dst, const A* __restrict src, A w,
                              int64_t n) {
  for (int64_t j = 0; j < n; ++j) dst[j] += w * src[j];
}

// Input row `src` (the row's first column), biased and widened, columns
// [ix_lo, ix_lo + ni) into `dst` (ni * L values).
template <typename T, typename A>
SG2_ALWAYS_INLINE void FlConvertRow(const T* __restrict src,
                                    const A* __restrict bias, int64_t L,
                                    int64_t ix_lo, int64_t ni,
                                    A* __restrict dst) {
  src += ix_lo * L;
  if (L == 1) {
    const A b0 = bias[0];
    for (int64_t j = 0; j < ni; ++j) dst[j] = static_cast<A>(src[j]) + b0;
  } else {
    for (int64_t i = 0; i < ni; ++i) {
      A* __restrict d = dst + i * L;
      const T* __restrict sp = src + i * L;
      for (int64_t c = 0; c < L; ++c) d[c] = static_cast<A>(sp[c]) + bias[c];
    }
  }
}

// A prepared input row into ring slot `dst`: for a separable fu the row
// filtered along x onto the tile's grid columns [tx0, tx0 + tw) (tw * L
// values, via the scratch row `xr`); for a 2-D fu the converted row itself.
template <typename T, typename A>
SG2_ALWAYS_INLINE void FlPrepareRow(const FilteredLreluParams& p,
                                    const FlPlan<A>& plan, const T* src,
                                    const A* bias, int64_t ix_lo, int64_t ni,
                                    int64_t tx0, int64_t tw, A* __restrict xr,
                                    A* __restrict dst) {
  const int64_t L = FilteredLreluLanes(p);
  if (p.fu_2d) {
    FlConvertRow(src, bias, L, ix_lo, ni, dst);
    return;
  }
  FlConvertRow(src, bias, L, ix_lo, ni, xr);
  const A* __restrict f = plan.fu.data();
  for (int64_t t = 0; t < tw; ++t) {
    A* __restrict d = dst + t * L;
    for (int64_t c = 0; c < L; ++c) d[c] = A(0);
    const int32_t q0 = plan.cols.start[tx0 + t];
    const int32_t q1 = q0 + plan.cols.count[tx0 + t];
    for (int32_t q = q0; q < q1; ++q) {
      const A w = f[plan.cols.k[q]];
      const A* __restrict sp = xr + (plan.cols.i[q] - ix_lo) * L;
      for (int64_t c = 0; c < L; ++c) d[c] += w * sp[c];
    }
  }
}

// The output tiles [u0, u1) of the flattened (plane, tile y, tile x) index.
template <typename T>
SG2_ALWAYS_INLINE void FilteredLreluUnits(
    const FilteredLreluParams& p, const FlPlan<typename AccType<T>::type>& plan,
    const T* x, const T* b, const uint8_t* si, T* y, uint8_t* so,
    FlScratch<typename AccType<T>::type>* s, int64_t u0, int64_t u1) {
  using A = typename AccType<T>::type;
  const int64_t L = FilteredLreluLanes(p);
  const int64_t H = p.in_h, W = p.in_w, OH = p.out_h, OW = p.out_w;
  const int64_t TH = p.tmp_h, TW = p.tmp_w;
  const int64_t down = p.down, fdh = p.fdh, fdw = p.fdw, fuw = p.fuw;
  const int64_t LB = (L + 3) / 4;  // record bytes per pixel (L > 1)
  const A gain = A(p.gain), slope = A(p.slope), clamp = A(p.clamp);
  const bool clamp_on = p.clamp >= 0.f;
  const int64_t sign_cols =
      p.read_signs ? SignCols(p.sign_row_bytes, L) : 0;
  const int64_t per_plane = plan.nty * plan.ntx;
  A* __restrict bias = s->bias.data();
  uint8_t* __restrict codes = s->codes.data();
  for (int64_t u = u0; u < u1; ++u) {
    const int64_t plane = u / per_plane, rem = u % per_plane;
    const int64_t by = rem / plan.ntx, bx = rem % plan.ntx;
    const int64_t oy0 = by * plan.oth, oy1 = std::min(OH, oy0 + plan.oth);
    const int64_t ox0 = bx * plan.otw, ox1 = std::min(OW, ox0 + plan.otw);
    const int64_t ty0 = oy0 * down, ty1 = (oy1 - 1) * down + fdh;
    const int64_t tx0 = ox0 * down, tx1 = (ox1 - 1) * down + fdw;
    const int64_t tw = tx1 - tx0, ow = ox1 - ox0, row_len = tw * L;
    // The record slice this tile writes: the grid rows/columns no earlier
    // tile computes (disjoint across tiles; they cover every grid position
    // that feeds an output, all of them unless fd has fewer taps than down).
    const int64_t own_y0 = ty0;
    const int64_t own_y1 = std::min(ty1, oy1 == OH ? TH : oy1 * down);
    const int64_t own_x0 = tx0;
    const int64_t own_x1 = std::min(tx1, ox1 == OW ? TW : ox1 * down);
    const T* xp = x + plane * H * W * L;
    T* yp = y + plane * OH * OW * L;
    if (p.has_bias) {
      if (L == 1) {
        bias[0] = static_cast<A>(b[plane % p.channels]);
      } else {
        for (int64_t c = 0; c < L; ++c) bias[c] = static_cast<A>(b[c]);
      }
    }
    int64_t ix_lo, ix_hi;
    plan.InputCols(p, bx, &ix_lo, &ix_hi);
    const int64_t ni = ix_hi >= ix_lo ? ix_hi - ix_lo + 1 : 0;

    int64_t next_iy = -1;  // prepared input rows so far: [.., next_iy)
    const int64_t ring = plan.ring_rows;
    for (int64_t ty = ty0; ty < ty1; ++ty) {
      // (1) up-filter: grid row ty of the tile.
      A* __restrict v = s->v_ring.data() +
                        (p.fd_2d ? ((ty - ty0) % fdh) * s->v_row_len : 0);
      for (int64_t j = 0; j < row_len; ++j) v[j] = A(0);
      const int32_t r0 = plan.rows.start[ty], rn = plan.rows.count[ty];
      if (rn > 0 && ni > 0) {
        const int64_t first = plan.rows.i[r0], last = plan.rows.i[r0 + rn - 1];
        if (next_iy < first) next_iy = first;
        for (; next_iy <= last; ++next_iy)
          FlPrepareRow<T>(p, plan, xp + next_iy * W * L, bias, ix_lo, ni, tx0,
                          tw, s->xrow.data(),
                          s->in_ring.data() + (next_iy % ring) * s->in_row_len);
        for (int32_t r = r0; r < r0 + rn; ++r) {
          const int64_t ky = plan.rows.k[r];
          const A* __restrict src =
              s->in_ring.data() + (plan.rows.i[r] % ring) * s->in_row_len;
          if (!p.fu_2d) {
            FlAxpy(v, src, plan.fu[ky], row_len);
          } else {
            const A* __restrict f = plan.fu.data() + ky * fuw;
            for (int64_t t = 0; t < tw; ++t) {
              A* __restrict d = v + t * L;
              const int32_t q0 = plan.cols.start[tx0 + t];
              const int32_t q1 = q0 + plan.cols.count[tx0 + t];
              for (int32_t q = q0; q < q1; ++q) {
                const A w = f[plan.cols.k[q]];
                const A* __restrict sp = src + (plan.cols.i[q] - ix_lo) * L;
                for (int64_t c = 0; c < L; ++c) d[c] += w * sp[c];
              }
            }
          }
        }
      }
      // (2) activation.
      if (p.read_signs) {
        const int64_t ry = ty - p.sy;
        const uint8_t* rec =
            (ry >= 0 && ry < p.sign_h)
                ? si + (plane * p.sign_h + ry) * p.sign_row_bytes
                : nullptr;
        for (int64_t t = 0; t < tw; ++t) {
          const int64_t rx = tx0 + t - p.sx;
          uint8_t* cd = codes + t * L;
          if (rec == nullptr || rx < 0 || rx >= sign_cols) {
            for (int64_t c = 0; c < L; ++c) cd[c] = 0;
          } else if (L == 1) {
            cd[0] = (rec[rx >> 2] >> (2 * (rx & 3))) & 3;
          } else {
            const uint8_t* rb = rec + rx * LB;
            for (int64_t c = 0; c < L; ++c)
              cd[c] = (rb[c >> 2] >> (2 * (c & 3))) & 3;
          }
        }
        const A gneg = gain * slope;
        for (int64_t j = 0; j < row_len; ++j) {
          const uint8_t cd = codes[j];
          const A f = cd == 0 ? gain : gneg;
          v[j] = cd >= 2 ? A(0) : v[j] * f;
        }
      } else if (p.write_signs) {
        for (int64_t j = 0; j < row_len; ++j) {
          const A z = v[j];
          const bool neg = !(z > A(0));
          const A a = (neg ? z * slope : z) * gain;
          const bool cl = clamp_on && !(Abs(a) <= clamp);
          v[j] = clamp_on ? (a > clamp ? clamp : (a < -clamp ? -clamp : a)) : a;
          codes[j] = cl ? uint8_t(2) : uint8_t(neg ? 1 : 0);
        }
        if (ty >= own_y0 && ty < own_y1 && FilteredLreluUsed(ty, fdh, down)) {
          uint8_t* rec = so + (plane * p.sign_h + ty) * p.sign_row_bytes;
          if (L == 1) {
            // own_x0 is a multiple of 4 (tile widths are), so whole bytes.
            for (int64_t gx = own_x0; gx < own_x1; gx += 4) {
              unsigned byte = 0;
              for (int k = 0; k < 4; ++k) {
                const int64_t tx = gx + k;
                if (tx < own_x1 && FilteredLreluUsed(tx, fdw, down))
                  byte |= unsigned(codes[tx - tx0]) << (2 * k);
              }
              rec[gx >> 2] = static_cast<uint8_t>(byte);
            }
          } else {
            for (int64_t tx = own_x0; tx < own_x1; ++tx) {
              if (!FilteredLreluUsed(tx, fdw, down)) continue;  // stays 0
              const uint8_t* cd = codes + (tx - tx0) * L;
              uint8_t* rb = rec + tx * LB;
              for (int64_t g = 0; g < LB; ++g) {
                unsigned byte = 0;
                for (int k = 0; k < 4; ++k) {
                  const int64_t c = 4 * g + k;
                  if (c < L) byte |= unsigned(cd[c]) << (2 * k);
                }
                rb[g] = static_cast<uint8_t>(byte);
              }
            }
          }
        }
      } else {
        for (int64_t j = 0; j < row_len; ++j) {
          const A z = v[j];
          A a = (z > A(0) ? z : z * slope) * gain;
          if (clamp_on) a = a > clamp ? clamp : (a < -clamp ? -clamp : a);
          v[j] = a;
        }
      }
      // (3) down-filter; an output row is complete once its last grid row is.
      const int64_t r = ty - ty0 - (fdh - 1);
      const bool emit = r >= 0 && r % down == 0;
      A* __restrict acc = s->acc.data();
      const int64_t out_len = ow * L;
      if (!p.fd_2d) {
        A* __restrict dr = s->d_ring.data() + ((ty - ty0) % fdh) * s->d_row_len;
        const A* __restrict f = plan.fd.data();
        for (int64_t o = 0; o < ow; ++o) {
          A* __restrict d = dr + o * L;
          const A* __restrict base = v + o * down * L;
          for (int64_t c = 0; c < L; ++c) d[c] = A(0);
          for (int64_t kx = 0; kx < fdw; ++kx) {
            const A w = f[kx];
            const A* __restrict sp = base + kx * L;
            for (int64_t c = 0; c < L; ++c) d[c] += w * sp[c];
          }
        }
        if (!emit) continue;
        const int64_t oy = oy0 + r / down;
        for (int64_t j = 0; j < out_len; ++j) acc[j] = A(0);
        for (int64_t ky = 0; ky < fdh; ++ky) {
          const A* __restrict src =
              s->d_ring.data() + ((oy * down + ky - ty0) % fdh) * s->d_row_len;
          FlAxpy(acc, src, f[ky], out_len);
        }
        T* __restrict dst = yp + (oy * OW + ox0) * L;
        StoreNarrowed(acc, dst, out_len);
      } else {
        if (!emit) continue;
        const int64_t oy = oy0 + r / down;
        for (int64_t j = 0; j < out_len; ++j) acc[j] = A(0);
        for (int64_t ky = 0; ky < fdh; ++ky) {
          const A* __restrict row =
              s->v_ring.data() + ((oy * down + ky - ty0) % fdh) * s->v_row_len;
          const A* __restrict f = plan.fd.data() + ky * fdw;
          for (int64_t o = 0; o < ow; ++o) {
            A* __restrict d = acc + o * L;
            const A* __restrict base = row + o * down * L;
            for (int64_t kx = 0; kx < fdw; ++kx) {
              const A w = f[kx];
              const A* __restrict sp = base + kx * L;
              for (int64_t c = 0; c < L; ++c) d[c] += w * sp[c];
            }
          }
        }
        T* __restrict dst = yp + (oy * OW + ox0) * L;
        StoreNarrowed(acc, dst, out_len);
      }
    }
  }
}

// Copies for wider vectors; *Best runs the one this CPU supports (see
// SG2_CPU_DISPATCH).
SG2_CPU_LOOP_COPIES(FilteredLreluUnits, (typename T), (T),
                    (const FilteredLreluParams& p,
                     const FlPlan<typename AccType<T>::type>& plan, const T* x,
                     const T* b, const uint8_t* si, T* y, uint8_t* so,
                     FlScratch<typename AccType<T>::type>* s, int64_t u0,
                     int64_t u1),
                    (p, plan, x, b, si, y, so, s, u0, u1))

}  // namespace internal

// y (and, in compute mode with write_signs, the sign record `so`) from x,
// filters fu/fd (float or double, host memory), bias b (null when
// !has_bias) and, in read mode, the record `si`. p must be finalized
// (FilteredLreluFinalize). T: float, double or a 16-bit type convertible
// to/from float with static_cast, computed in float and rounded once.
template <typename T, typename F, typename PF>
void FilteredLreluCpu(const FilteredLreluParams& p, const T* x, const F* fu,
                      const F* fd, const T* b, const uint8_t* si, T* y,
                      uint8_t* so, PF&& parallel_for) {
  using A = typename AccType<T>::type;
  const internal::FlPlan<A> plan(p, fu, fd);
  const int64_t L = FilteredLreluLanes(p);
  const int64_t units = FilteredLreluPlanes(p) * plan.nty * plan.ntx;
  const int64_t taps_u =
      p.fu_2d ? int64_t(p.fuh) * p.fuw / (p.up * p.up) + 1
              : int64_t(p.fuh + p.fuw) / p.up + 1;
  const int64_t taps_d = p.fd_2d ? int64_t(p.fdh) * p.fdw / p.down + 1
                                 : p.fdw + p.fdh / p.down + 1;
  const int64_t cost = ((plan.oth - 1) * p.down + p.fdh) * plan.max_tw * L *
                       (taps_u + taps_d + 4);
  if (p.write_signs && (p.fdw < p.down || p.fdh < p.down)) {
    // Grid positions no output reads: code 0 (not all of them are computed).
    std::fill(so, so + FilteredLreluPlanes(p) * p.sign_h * p.sign_row_bytes,
              uint8_t(0));
  }
  parallel_for(units, cost, [&](int64_t u0, int64_t u1) {
    internal::FlScratch<A> scratch(p, plan);
    internal::FilteredLreluUnitsBest<T>(p, plan, x, b, si, y, so, &scratch, u0,
                                        u1);
  });
}

// CUDA launcher (defined in filtered_lrelu_kernels.cu.cc). T in {float,
// double, Half16, BFloat16}; fu/fd (float), b, si, so in device memory (b,
// si, so may be null when unused). Returns 0 or a cudaError_t code
// (cudaErrorInvalidValue when no tile of the filters fits in shared memory).
template <typename T>
int LaunchFilteredLreluCuda(cudaStream_t stream, const FilteredLreluParams& p,
                            const T* x, const float* fu, const float* fd,
                            const T* b, const uint8_t* si, T* y, uint8_t* so);

// The CUDA kernel's tile code run on the host, one block after another with
// one thread each (defined next to the launcher, so built by nvcc only; host
// memory). For the harness: checks the kernel's index math, tiling and record
// writes on machines without a GPU. first_tile > 0 forces smaller tiles.
template <typename T>
int EmulateFilteredLreluCudaOnHost(const FilteredLreluParams& p,
                                   int first_tile, const T* x, const float* fu,
                                   const float* fd, const T* b,
                                   const uint8_t* si, T* y, uint8_t* so);

}  // namespace sg2

#endif  // STYLEGAN2_TF_CUSTOM_OPS_KERNELS_FILTERED_LRELU_H_
