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

// Checks the addend: no elements (none), or x's shape with a last dim of 1.
absl::Status CheckAddend(InferenceContext* c, ShapeHandle x, int a_index) {
  ShapeHandle a = c->input(a_index);
  if (!c->RankKnown(a) || !c->RankKnown(x)) return absl::OkStatus();
  if (c->Rank(a) == 1 && c->ValueKnown(c->Dim(a, 0)) &&
      c->Value(c->Dim(a, 0)) == 0) {
    return absl::OkStatus();
  }
  ShapeHandle unused, xa;
  TF_RETURN_IF_ERROR(c->ReplaceDim(x, -1, c->MakeDim(1), &xa));
  TF_RETURN_IF_ERROR(c->Merge(a, xa, &unused));
  return absl::OkStatus();
}

}  // namespace

REGISTER_OP("Sg2ChannelScale")
    .Input("x: T")
    .Input("s: T")
    .Input("a: T")
    .Output("y: T")
    .Attr("T: {bfloat16, half, float, double}")
    .SetShapeFn([](InferenceContext* c) {
      TF_RETURN_IF_ERROR(CheckScale(c, c->input(0), 1));
      TF_RETURN_IF_ERROR(CheckAddend(c, c->input(0), 2));
      c->set_output(0, c->input(0));
      return absl::OkStatus();
    })
    .Doc(R"doc(
Per-sample channel scaling: y[n, ..., c] = x[n, ..., c] * s[n, c], plus an
optional per-position addend a[n, ..., 0] broadcast over the channels.

x has rank >= 2 (e.g. NHWC), s is [x.shape[0], x.shape[-1]], a is x's shape
with a last dimension of 1, or empty ([0]) for none. bfloat16/half are
computed in float32 and rounded once per operation: with an addend the product
is rounded to T before the add (TensorFlow's Mul then AddV2).
)doc");

REGISTER_OP("Sg2ChannelScaleGrad")
    .Input("dy: T")
    .Input("x: T")
    .Input("s: T")
    .Input("a: T")
    .Output("dx: T")
    .Output("ds: T")
    .Output("da: T")
    .Attr("T: {bfloat16, half, float, double}")
    .SetShapeFn([](InferenceContext* c) {
      ShapeHandle xs;
      TF_RETURN_IF_ERROR(c->Merge(c->input(0), c->input(1), &xs));
      TF_RETURN_IF_ERROR(CheckScale(c, xs, 2));
      TF_RETURN_IF_ERROR(CheckAddend(c, xs, 3));
      c->set_output(0, xs);
      c->set_output(1, c->input(2));
      c->set_output(2, c->input(3));
      return absl::OkStatus();
    })
    .Doc(R"doc(
Gradient of Sg2ChannelScale in one pass: dx = dy * s (broadcast over the
middle axes) and ds[n, c] = sum over the middle axes of dy * x, accumulated in
float32 for bfloat16/half (float64 for double) in a fixed order; and, when a
is not empty, da = sum over the channels of dy (a's shape). a's values are not
read.
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
