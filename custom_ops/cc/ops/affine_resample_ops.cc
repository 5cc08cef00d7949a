// Op registration for Sg2AffineResample and its adjoint (see
// docs/custom_ops.md and stylegan2_tf/ops/affine_resample.py).
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/shape_inference.h"

namespace tensorflow {

using shape_inference::DimensionHandle;
using shape_inference::InferenceContext;
using shape_inference::ShapeHandle;

namespace {

// Checks the inputs shared by both ops (input 0 [N, *, *, C], f [T],
// theta [N, 2, 3], margin [4]) and sets output 0 to [N, h, w, C].
absl::Status AffineShape(InferenceContext* c, const char* h_attr,
                         const char* w_attr) {
  ShapeHandle x, f, theta, margin;
  TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 4, &x));
  TF_RETURN_IF_ERROR(c->WithRank(c->input(1), 1, &f));
  TF_RETURN_IF_ERROR(c->WithRank(c->input(2), 3, &theta));
  TF_RETURN_IF_ERROR(c->WithRank(c->input(3), 1, &margin));
  DimensionHandle unused, n;
  TF_RETURN_IF_ERROR(c->WithValue(c->Dim(theta, 1), 2, &unused));
  TF_RETURN_IF_ERROR(c->WithValue(c->Dim(theta, 2), 3, &unused));
  TF_RETURN_IF_ERROR(c->WithValue(c->Dim(margin, 0), 4, &unused));
  TF_RETURN_IF_ERROR(c->Merge(c->Dim(x, 0), c->Dim(theta, 0), &n));
  int h, w;
  TF_RETURN_IF_ERROR(c->GetAttr(h_attr, &h));
  TF_RETURN_IF_ERROR(c->GetAttr(w_attr, &w));
  c->set_output(0, c->MakeShape({n, h, w, c->Dim(x, 3)}));
  return absl::OkStatus();
}

}  // namespace

REGISTER_OP("Sg2AffineResample")
    .Input("x: float")
    .Input("f: float")
    .Input("theta: double")
    .Input("margin: int32")
    .Output("y: float")
    .Attr("out_h: int >= 1")
    .Attr("out_w: int >= 1")
    .SetShapeFn([](InferenceContext* c) {
      return AffineShape(c, "out_h", "out_w");
    })
    .Doc(R"doc(
Bilinear samples at theta[n] @ (ox, oy, 1) of x [N, H, W, C] reflect-padded by
margin [x0, x1, y0, y1] (zeros beyond) and upsampled 2x with the even-length
FIR f [T] (upsample2d's), zeros outside the padded upsampled image.
)doc");

REGISTER_OP("Sg2AffineResampleAdjoint")
    .Input("dy: float")
    .Input("f: float")
    .Input("theta: double")
    .Input("margin: int32")
    .Output("dx: float")
    .Attr("in_h: int >= 2")
    .Attr("in_w: int >= 2")
    .SetShapeFn([](InferenceContext* c) {
      return AffineShape(c, "in_h", "in_w");
    })
    .Doc(R"doc(
The adjoint (transpose) of Sg2AffineResample for an input of in_h x in_w:
dy [N, OH, OW, C] -> dx [N, in_h, in_w, C].
)doc");

}  // namespace tensorflow
