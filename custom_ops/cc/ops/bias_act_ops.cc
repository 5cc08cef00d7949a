// Op registration for Sg2BiasAct / Sg2BiasActGrad (see docs/custom_ops.md).
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/shape_inference.h"

namespace tensorflow {
namespace {

using shape_inference::InferenceContext;
using shape_inference::ShapeHandle;

// Checks b (rank 1, length 0 or x.shape[axis] when both are known).
absl::Status CheckBias(InferenceContext* c, ShapeHandle x, int b_index) {
  ShapeHandle b;
  TF_RETURN_IF_ERROR(c->WithRank(c->input(b_index), 1, &b));
  int axis;
  TF_RETURN_IF_ERROR(c->GetAttr("axis", &axis));
  const auto blen = c->Dim(b, 0);
  if (!c->ValueKnown(blen) || c->Value(blen) == 0) return absl::OkStatus();
  if (!c->RankKnown(x)) return absl::OkStatus();
  if (axis >= c->Rank(x)) {
    return errors::InvalidArgument("Sg2BiasAct: axis ", axis,
                                   " is out of range for x of rank ",
                                   c->Rank(x));
  }
  const auto xdim = c->Dim(x, axis);
  if (c->ValueKnown(xdim) && c->Value(xdim) != c->Value(blen)) {
    return errors::InvalidArgument(
        "Sg2BiasAct: bias length ", c->Value(blen), " != x.shape[", axis,
        "] = ", c->Value(xdim));
  }
  return absl::OkStatus();
}

}  // namespace

REGISTER_OP("Sg2BiasAct")
    .Input("x: T")
    .Input("b: T")
    .Output("y: T")
    .Attr("T: {bfloat16, half, float, double}")
    .Attr("axis: int >= 0")
    .Attr(
        "act: {'linear', 'relu', 'lrelu', 'tanh', 'sigmoid', 'elu', 'selu', "
        "'softplus', 'swish'} = 'linear'")
    .Attr("alpha: float = 0.0")
    .Attr("gain: float = 1.0")
    .Attr("clamp: float = -1.0")
    .SetShapeFn([](InferenceContext* c) {
      TF_RETURN_IF_ERROR(CheckBias(c, c->input(0), 1));
      c->set_output(0, c->input(0));
      return absl::OkStatus();
    })
    .Doc(R"doc(
Fused bias + activation: y = clip(gain * act(x + b), -clamp, clamp).

b is rank 1 with length x.shape[axis] (broadcast along axis) or length 0 for
no bias. clamp < 0 disables clipping. bfloat16/half inputs are computed in float32
and rounded once on output.
)doc");

REGISTER_OP("Sg2BiasActGrad")
    .Input("dy: T")
    .Input("x: T")
    .Input("b: T")
    .Output("dx: T")
    .Attr("T: {bfloat16, half, float, double}")
    .Attr("axis: int >= 0")
    .Attr(
        "act: {'linear', 'relu', 'lrelu', 'tanh', 'sigmoid', 'elu', 'selu', "
        "'softplus', 'swish'} = 'linear'")
    .Attr("alpha: float = 0.0")
    .Attr("gain: float = 1.0")
    .Attr("clamp: float = -1.0")
    .Attr("order: int = 1")
    .SetShapeFn([](InferenceContext* c) {
      int order;
      TF_RETURN_IF_ERROR(c->GetAttr("order", &order));
      if (order != 1 && order != 2) {
        return errors::InvalidArgument("Sg2BiasActGrad: order must be 1 or 2, got ",
                                       order);
      }
      ShapeHandle s;
      TF_RETURN_IF_ERROR(c->Merge(c->input(0), c->input(1), &s));
      TF_RETURN_IF_ERROR(CheckBias(c, s, 2));
      c->set_output(0, s);
      return absl::OkStatus();
    })
    .Doc(R"doc(
dx = dy * gain * act^(order)(x + b) * mask, mask = 1 where clamp < 0 or
|gain * act(x + b)| <= clamp, else 0. order is 1 or 2.
)doc");

}  // namespace tensorflow
