// Op registration for Sg2UpFirDn2d (see docs/custom_ops.md).
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/shape_inference.h"

namespace tensorflow {

using shape_inference::DimensionHandle;
using shape_inference::InferenceContext;
using shape_inference::ShapeHandle;

namespace {

// Output length along one axis, or unknown when the input length is unknown.
absl::Status OutDim(InferenceContext* c, DimensionHandle in, DimensionHandle f,
              int up, int pad0, int pad1, int down, const char* axis,
              DimensionHandle* out) {
  if (!c->ValueKnown(in) || !c->ValueKnown(f)) {
    *out = c->UnknownDim();
    return absl::OkStatus();
  }
  const int64_t num = c->Value(in) * up + pad0 + pad1 - c->Value(f);
  int64_t q = num / down;
  if (num % down != 0 && num < 0) --q;
  const int64_t n = q + 1;
  if (n < 1) {
    return errors::InvalidArgument(
        "Sg2UpFirDn2d: output ", axis, " would be ", n, " (< 1): input ",
        c->Value(in), ", up ", up, ", pads ", pad0, "/", pad1, ", filter ",
        c->Value(f), ", down ", down);
  }
  *out = c->MakeDim(n);
  return absl::OkStatus();
}

// Output shape of both ops: f0/f1 are the filter's height and width dims.
absl::Status UpFirDn2dShape(InferenceContext* c, DimensionHandle fh,
                            DimensionHandle fw, ShapeHandle x) {
  int upx, upy, downx, downy, padx0, padx1, pady0, pady1;
  std::string fmt;
  TF_RETURN_IF_ERROR(c->GetAttr("upx", &upx));
  TF_RETURN_IF_ERROR(c->GetAttr("upy", &upy));
  TF_RETURN_IF_ERROR(c->GetAttr("downx", &downx));
  TF_RETURN_IF_ERROR(c->GetAttr("downy", &downy));
  TF_RETURN_IF_ERROR(c->GetAttr("padx0", &padx0));
  TF_RETURN_IF_ERROR(c->GetAttr("padx1", &padx1));
  TF_RETURN_IF_ERROR(c->GetAttr("pady0", &pady0));
  TF_RETURN_IF_ERROR(c->GetAttr("pady1", &pady1));
  TF_RETURN_IF_ERROR(c->GetAttr("data_format", &fmt));
  const bool nchw = fmt == "NCHW";
  const int hax = nchw ? 2 : 1, wax = nchw ? 3 : 2;
  DimensionHandle oh, ow;
  TF_RETURN_IF_ERROR(OutDim(c, c->Dim(x, hax), fh, upy, pady0, pady1, downy,
                            "height", &oh));
  TF_RETURN_IF_ERROR(OutDim(c, c->Dim(x, wax), fw, upx, padx0, padx1, downx,
                            "width", &ow));
  if (nchw) {
    c->set_output(0, c->MakeShape({c->Dim(x, 0), c->Dim(x, 1), oh, ow}));
  } else {
    c->set_output(0, c->MakeShape({c->Dim(x, 0), oh, ow, c->Dim(x, 3)}));
  }
  return absl::OkStatus();
}

}  // namespace

REGISTER_OP("Sg2UpFirDn2d")
    .Input("x: T")
    .Input("f: T")
    .Output("y: T")
    .Attr("T: {bfloat16, half, float, double}")
    .Attr("upx: int >= 1 = 1")
    .Attr("upy: int >= 1 = 1")
    .Attr("downx: int >= 1 = 1")
    .Attr("downy: int >= 1 = 1")
    .Attr("padx0: int = 0")
    .Attr("padx1: int = 0")
    .Attr("pady0: int = 0")
    .Attr("pady1: int = 0")
    .Attr("data_format: {'NHWC', 'NCHW'} = 'NHWC'")
    .SetShapeFn([](InferenceContext* c) {
      ShapeHandle x, f;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 4, &x));
      TF_RETURN_IF_ERROR(c->WithRank(c->input(1), 2, &f));
      return UpFirDn2dShape(c, c->Dim(f, 0), c->Dim(f, 1), x);
    })
    .Doc(R"doc(
Upsample by zero insertion, pad (negative = crop), correlate with the 2-D FIR
filter f [fh, fw] (no flip) and downsample, in one pass.
)doc");

REGISTER_OP("Sg2UpFirDn2dSeparable")
    .Input("x: T")
    .Input("fx: T")
    .Input("fy: T")
    .Output("y: T")
    .Attr("T: {bfloat16, half, float, double}")
    .Attr("upx: int >= 1 = 1")
    .Attr("upy: int >= 1 = 1")
    .Attr("downx: int >= 1 = 1")
    .Attr("downy: int >= 1 = 1")
    .Attr("padx0: int = 0")
    .Attr("padx1: int = 0")
    .Attr("pady0: int = 0")
    .Attr("pady1: int = 0")
    .Attr("data_format: {'NHWC', 'NCHW'} = 'NHWC'")
    .Attr("y_first: bool = false")
    .SetShapeFn([](InferenceContext* c) {
      ShapeHandle x, fx, fy;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 4, &x));
      TF_RETURN_IF_ERROR(c->WithRank(c->input(1), 1, &fx));
      TF_RETURN_IF_ERROR(c->WithRank(c->input(2), 1, &fy));
      return UpFirDn2dShape(c, c->Dim(fy, 0), c->Dim(fx, 0), x);
    })
    .Doc(R"doc(
Separable upfirdn2d: the x pass (upx, 1-D filter fx, downx, padx0/padx1), its
output rounded to T, then the y pass (upy, fy, downy, pady0/pady1); with
y_first the y pass runs first. The same bits as two Sg2UpFirDn2d ops with the
filters [1, fw] and [fh, 1], without the intermediate image on NHWC CPU.
)doc");

}  // namespace tensorflow
