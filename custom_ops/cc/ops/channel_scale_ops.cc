// Op registration for Sg2ChannelScale / Sg2ChannelScaleGrad / Sg2ChannelSum
// (see docs/custom_ops.md).
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/shape_inference.h"

namespace tensorflow {
namespace {

using shape_inference::DimensionHandle;
using shape_inference::InferenceContext;
using shape_inference::ShapeHandle;

// Checks s = [x.shape[0], x.shape[-1]] where known; x must have rank >= 2.
absl::Status CheckScale(InferenceContext* c, ShapeHandle x, int s_index) {
  ShapeHandle s, xr;
  TF_RETURN_IF_ERROR(c->WithRank(c->input(s_index), 2, &s));
  TF_RETURN_IF_ERROR(c->WithRankAtLeast(x, 2, &xr));
  if (!c->RankKnown(xr)) return absl::OkStatus();
  DimensionHandle unused;
  TF_RETURN_IF_ERROR(c->Merge(c->Dim(xr, 0), c->Dim(s, 0), &unused));
  TF_RETURN_IF_ERROR(c->Merge(c->Dim(xr, -1), c->Dim(s, 1), &unused));
  return absl::OkStatus();
}

}  // namespace

REGISTER_OP("Sg2ChannelScale")
    .Input("x: T")
    .Input("s: T")
    .Output("y: T")
    .Attr("T: {bfloat16, half, float, double}")
    .SetShapeFn([](InferenceContext* c) {
      TF_RETURN_IF_ERROR(CheckScale(c, c->input(0), 1));
      c->set_output(0, c->input(0));
      return absl::OkStatus();
    })
    .Doc(R"doc(
Per-sample channel scaling: y[n, ..., c] = x[n, ..., c] * s[n, c].

x has rank >= 2 (e.g. NHWC), s is [x.shape[0], x.shape[-1]]. bfloat16/half
are computed in float32 and rounded once.
)doc");

REGISTER_OP("Sg2ChannelScaleGrad")
    .Input("dy: T")
    .Input("x: T")
    .Input("s: T")
    .Output("dx: T")
    .Output("ds: T")
    .Attr("T: {bfloat16, half, float, double}")
    .SetShapeFn([](InferenceContext* c) {
      ShapeHandle xs;
      TF_RETURN_IF_ERROR(c->Merge(c->input(0), c->input(1), &xs));
      TF_RETURN_IF_ERROR(CheckScale(c, xs, 2));
      c->set_output(0, xs);
      c->set_output(1, c->input(2));
      return absl::OkStatus();
    })
    .Doc(R"doc(
Gradient of Sg2ChannelScale in one pass: dx = dy * s (broadcast over the
middle axes) and ds[n, c] = sum over the middle axes of dy * x, accumulated in
float32 for bfloat16/half (float64 for double) in a fixed order.
)doc");

REGISTER_OP("Sg2ChannelSum")
    .Input("x: T")
    .Output("sum: T")
    .Attr("T: {bfloat16, half, float, double}")
    .SetShapeFn([](InferenceContext* c) {
      ShapeHandle x;
      TF_RETURN_IF_ERROR(c->WithRankAtLeast(c->input(0), 1, &x));
      c->set_output(0, c->Vector(c->RankKnown(x) ? c->Dim(x, -1)
                                                 : c->UnknownDim()));
      return absl::OkStatus();
    })
    .Doc(R"doc(
Sum over every axis but the last (a bias gradient of NHWC activations):
sum[c] = sum over r of x[..., c], accumulated in float32 for bfloat16/half
(float64 for double) in a fixed order and rounded once.
)doc");

}  // namespace tensorflow
