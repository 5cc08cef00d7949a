// Op registration for Sg2FilteredLrelu (see docs/custom_ops.md and
// custom_ops/cc/kernels/filtered_lrelu.h).
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/shape_inference.h"

namespace tensorflow {

using shape_inference::DimensionHandle;
using shape_inference::InferenceContext;
using shape_inference::ShapeHandle;

namespace {

// Taps of filter input `index` along x and y (1-D: the same), or -1 unknown.
absl::Status FilterTaps(InferenceContext* c, int index, int64_t* fw,
                        int64_t* fh) {
  ShapeHandle f = c->input(index);
  *fw = *fh = -1;
  if (!c->RankKnown(f)) return absl::OkStatus();
  const int rank = c->Rank(f);
  if (rank != 1 && rank != 2) {
    return errors::InvalidArgument(
        "Sg2FilteredLrelu: filters must be 1-D (separable) or 2-D [fh, fw], "
        "got rank ", rank);
  }
  const DimensionHandle w = c->Dim(f, rank - 1), h = c->Dim(f, 0);
  if (c->ValueKnown(w)) *fw = c->Value(w);
  if (c->ValueKnown(h)) *fh = c->Value(h);
  return absl::OkStatus();
}

// Output length along one axis (unknown when an input is).
absl::Status OutDim(InferenceContext* c, DimensionHandle in, int64_t fu,
                    int64_t fd, int up, int down, int pad0, int pad1,
                    const char* axis, DimensionHandle* out, int64_t* tmp) {
  *tmp = -1;
  if (!c->ValueKnown(in) || fu < 0 || fd < 0) {
    *out = c->UnknownDim();
    return absl::OkStatus();
  }
  const int64_t num = c->Value(in) * up + pad0 + pad1 - (fu - 1) - fd;
  int64_t q = num / down;
  if (num % down != 0 && num < 0) --q;
  const int64_t n = q + 1;
  if (n < 1) {
    return errors::InvalidArgument(
        "Sg2FilteredLrelu: output ", axis, " would be ", n, " (< 1): input ",
        c->Value(in), ", up ", up, ", pads ", pad0, "/", pad1, ", fu ", fu,
        " taps, fd ", fd, " taps, down ", down);
  }
  *out = c->MakeDim(n);
  *tmp = (n - 1) * down + fd;
  return absl::OkStatus();
}

}  // namespace

REGISTER_OP("Sg2FilteredLrelu")
    .Input("x: T")
    .Input("fu: float")
    .Input("fd: float")
    .Input("b: T")
    .Input("si: uint8")
    .Output("y: T")
    .Output("so: uint8")
    .Attr("T: {bfloat16, half, float, double}")
    .Attr("up: int >= 1 = 1")
    .Attr("down: int >= 1 = 1")
    .Attr("padx0: int = 0")
    .Attr("padx1: int = 0")
    .Attr("pady0: int = 0")
    .Attr("pady1: int = 0")
    .Attr("gain: float = 1.0")
    .Attr("slope: float = 0.2")
    .Attr("clamp: float = -1.0")
    .Attr("read_signs: bool = false")
    .Attr("sx: int = 0")
    .Attr("sy: int = 0")
    .Attr("data_format: {'NHWC', 'NCHW'} = 'NHWC'")
    .SetShapeFn([](InferenceContext* c) {
      ShapeHandle x;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 4, &x));
      ShapeHandle b;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(3), 1, &b));
      int up, down, padx0, padx1, pady0, pady1;
      float slope, clamp;
      bool read_signs;
      std::string fmt;
      TF_RETURN_IF_ERROR(c->GetAttr("up", &up));
      TF_RETURN_IF_ERROR(c->GetAttr("down", &down));
      TF_RETURN_IF_ERROR(c->GetAttr("padx0", &padx0));
      TF_RETURN_IF_ERROR(c->GetAttr("padx1", &padx1));
      TF_RETURN_IF_ERROR(c->GetAttr("pady0", &pady0));
      TF_RETURN_IF_ERROR(c->GetAttr("pady1", &pady1));
      TF_RETURN_IF_ERROR(c->GetAttr("slope", &slope));
      TF_RETURN_IF_ERROR(c->GetAttr("clamp", &clamp));
      TF_RETURN_IF_ERROR(c->GetAttr("read_signs", &read_signs));
      TF_RETURN_IF_ERROR(c->GetAttr("data_format", &fmt));
      int64_t fuw, fuh, fdw, fdh;
      TF_RETURN_IF_ERROR(FilterTaps(c, 1, &fuw, &fuh));
      TF_RETURN_IF_ERROR(FilterTaps(c, 2, &fdw, &fdh));
      const bool nchw = fmt == "NCHW";
      const int hax = nchw ? 2 : 1, wax = nchw ? 3 : 2, cax = nchw ? 1 : 3;
      DimensionHandle oh, ow;
      int64_t th, tw;
      TF_RETURN_IF_ERROR(OutDim(c, c->Dim(x, hax), fuh, fdh, up, down, pady0,
                                pady1, "height", &oh, &th));
      TF_RETURN_IF_ERROR(OutDim(c, c->Dim(x, wax), fuw, fdw, up, down, padx0,
                                padx1, "width", &ow, &tw));
      const DimensionHandle n = c->Dim(x, 0), ch = c->Dim(x, cax);
      if (c->ValueKnown(c->Dim(b, 0)) && c->Value(c->Dim(b, 0)) != 0 &&
          c->ValueKnown(ch) && c->Value(c->Dim(b, 0)) != c->Value(ch)) {
        return errors::InvalidArgument("Sg2FilteredLrelu: bias length ",
                                       c->Value(c->Dim(b, 0)),
                                       " != channels ", c->Value(ch));
      }
      c->set_output(0, nchw ? c->MakeShape({n, ch, oh, ow})
                            : c->MakeShape({n, oh, ow, ch}));
      // The sign record [planes, tmp_h, row_bytes] (see filtered_lrelu.h), or
      // empty when nothing is written.
      const bool writes = !read_signs && (slope != 1.f || clamp >= 0.f);
      if (!writes) {
        c->set_output(1, c->MakeShape({0, 0, 0}));
        return absl::OkStatus();
      }
      DimensionHandle planes = c->UnknownDim(), rows = c->UnknownDim(),
                      bytes = c->UnknownDim();
      const bool lanes_known = nchw || c->ValueKnown(ch);
      const int64_t lanes = nchw ? 1 : (lanes_known ? c->Value(ch) : -1);
      if (nchw) {
        TF_RETURN_IF_ERROR(c->Multiply(n, ch, &planes));
      } else {
        planes = n;
      }
      if (th >= 0) rows = c->MakeDim(th);
      if (tw >= 0 && lanes_known) {
        bytes = c->MakeDim(lanes == 1 ? (tw + 3) / 4 : tw * ((lanes + 3) / 4));
      }
      c->set_output(1, c->MakeShape({planes, rows, bytes}));
      return absl::OkStatus();
    })
    .Doc(R"doc(
StyleGAN3's filtered leaky ReLU, fused: add b, upsample by zero insertion,
pad (negative = crop), correlate with fu, activation, correlate with fd and
keep every down-th sample. Filters are float32, 1-D (separable) or 2-D.
Compute mode: act(u) = clip(gain * lrelu_slope(u), -clamp, clamp) (clamp < 0:
none); so receives 2-bit derivative codes of the pre-activation grid when
slope != 1 or clamp >= 0 (else it is empty). read_signs: act(u) = u times the
derivative coded in si at [ty - sy, tx - sx] (the gradient pass).
bfloat16/half are computed in float32 and rounded once on output.
)doc");

}  // namespace tensorflow
