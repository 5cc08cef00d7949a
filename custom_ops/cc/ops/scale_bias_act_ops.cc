// Op registration for Sg2ScaleBiasAct / Sg2ScaleBiasActGrad (see
// docs/custom_ops.md).
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/shape_inference.h"

namespace tensorflow {
namespace {

using shape_inference::DimensionHandle;
using shape_inference::InferenceContext;
using shape_inference::ShapeHandle;

// Checks s = [x.shape[0], x.shape[-1]], the addend a (none: [0]; else x's
// shape with one channel) and the bias b (none: [0]; else [x.shape[-1]])
// where known.
absl::Status CheckInputs(InferenceContext* c, ShapeHandle x, int s_index) {
  ShapeHandle s, xr, b;
  TF_RETURN_IF_ERROR(c->WithRank(c->input(s_index), 2, &s));
  TF_RETURN_IF_ERROR(c->WithRankAtLeast(x, 2, &xr));
  TF_RETURN_IF_ERROR(c->WithRank(c->input(s_index + 2), 1, &b));
  if (!c->RankKnown(xr)) return absl::OkStatus();
  DimensionHandle unused;
  TF_RETURN_IF_ERROR(c->Merge(c->Dim(xr, 0), c->Dim(s, 0), &unused));
  TF_RETURN_IF_ERROR(c->Merge(c->Dim(xr, -1), c->Dim(s, 1), &unused));
  const DimensionHandle blen = c->Dim(b, 0);
  if (!(c->ValueKnown(blen) && c->Value(blen) == 0)) {
    TF_RETURN_IF_ERROR(c->Merge(c->Dim(xr, -1), blen, &unused));
  }
  ShapeHandle a = c->input(s_index + 1);
  if (!c->RankKnown(a)) return absl::OkStatus();
  if (c->Rank(a) == 1 && c->ValueKnown(c->Dim(a, 0)) &&
      c->Value(c->Dim(a, 0)) == 0) {
    return absl::OkStatus();
  }
  ShapeHandle xa, merged;
  TF_RETURN_IF_ERROR(c->ReplaceDim(xr, -1, c->MakeDim(1), &xa));
  TF_RETURN_IF_ERROR(c->Merge(a, xa, &merged));
  return absl::OkStatus();
}

}  // namespace

REGISTER_OP("Sg2ScaleBiasAct")
    .Input("x: T")
    .Input("s: T")
    .Input("a: T")
    .Input("b: T")
    .Output("y: T")
    .Attr("T: {bfloat16, half, float, double}")
    .Attr(
        "act: {'linear', 'relu', 'lrelu', 'tanh', 'sigmoid', 'elu', 'selu', "
        "'softplus', 'swish'} = 'linear'")
    .Attr("alpha: float = 0.0")
    .Attr("gain: float = 1.0")
    .Attr("clamp: float = -1.0")
    .SetShapeFn([](InferenceContext* c) {
      TF_RETURN_IF_ERROR(CheckInputs(c, c->input(0), 1));
      c->set_output(0, c->input(0));
      return absl::OkStatus();
    })
    .Doc(R"doc(
Sg2BiasAct(Sg2ChannelScale(x, s, a), b) in one pass, with the same numbers:
t = T(T(x * s[n, c]) + a[n, ..., 0]), y = clip(gain * act(t + b), -clamp,
clamp). x is [N, ..., C] (rank >= 2, channels last), s [N, C], a x's shape
with one channel or [0] for none, b [C] or [0] for none.
)doc");

REGISTER_OP("Sg2ScaleBiasActGrad")
    .Input("dy: T")
    .Input("x: T")
    .Input("s: T")
    .Input("a: T")
    .Input("b: T")
    .Output("dx: T")
    .Output("ds: T")
    .Output("da: T")
    .Output("db: T")
    .Attr("T: {bfloat16, half, float, double}")
    .Attr(
        "act: {'linear', 'relu', 'lrelu', 'tanh', 'sigmoid', 'elu', 'selu', "
        "'softplus', 'swish'} = 'linear'")
    .Attr("alpha: float = 0.0")
    .Attr("gain: float = 1.0")
    .Attr("clamp: float = -1.0")
    .SetShapeFn([](InferenceContext* c) {
      ShapeHandle xs;
      TF_RETURN_IF_ERROR(c->Merge(c->input(0), c->input(1), &xs));
      TF_RETURN_IF_ERROR(CheckInputs(c, xs, 2));
      c->set_output(0, xs);
      c->set_output(1, c->input(2));
      c->set_output(2, c->input(3));
      c->set_output(3, c->input(4));
      return absl::OkStatus();
    })
    .Doc(R"doc(
Gradient of Sg2ScaleBiasAct: with g = Sg2BiasActGrad(dy, t, b) (t recomputed
from x, s and a), dx = g * s, ds = sum over the middle axes of g * x, da = sum
over the channels of g and db = sum over all but the channels of g: the bits
of Sg2ChannelScaleGrad(g, x, s, a) and Sg2ChannelSum(g). da and db are empty
where a and b are.
)doc");

}  // namespace tensorflow
