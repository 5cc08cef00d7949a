"""Fused bias + activation + gain + clamp.

    y = clip(gain * act(x + b), -clamp, clamp)

`impl='custom'` runs the compiled `Sg2BiasAct` op (one pass over memory, multithreaded); its gradient is the
`Sg2BiasActGrad` op, whose own gradient is again `Sg2BiasActGrad` (one derivative order higher), so R1 and path-length
regularization can differentiate twice. `impl='ref'` composes standard TensorFlow ops and defines the same numbers.

bfloat16 and float16 inputs are computed in float32 by both implementations (the reference casts to float32 and back)
and rounded once to the input's type, so the two agree to within that rounding; see `_dtypes`.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Optional

import numpy as np
import tensorflow as tf

from stylegan2_tf.ops import _dtypes, _library
from stylegan2_tf.ops.channel_scale import channel_sum

SELU_SCALE = 1.0507009873554805
SELU_ALPHA = 1.6732632423543772


class ActivationSpec(NamedTuple):
    """Defaults of an activation: `alpha` (negative slope / elu scale, unused by most) and `gain`."""
    def_alpha: float
    def_gain: float
    has_second_derivative: bool  # False where act'' is zero almost everywhere (piecewise linear)


ACTIVATIONS = {
    "linear": ActivationSpec(0.0, 1.0, False),
    "relu": ActivationSpec(0.0, math.sqrt(2), False),
    "lrelu": ActivationSpec(0.2, math.sqrt(2), False),
    "tanh": ActivationSpec(0.0, 1.0, True),
    "sigmoid": ActivationSpec(0.0, 1.0, True),
    "elu": ActivationSpec(1.0, 1.0, True),
    "selu": ActivationSpec(0.0, 1.0, True),
    "softplus": ActivationSpec(0.0, 1.0, True),
    "swish": ActivationSpec(0.0, math.sqrt(2), True),
}


class _Params(NamedTuple):
    axis: int
    act: str
    alpha: float
    gain: float
    clamp: float  # negative: no clamp


def _check_params(x: tf.Tensor, b, axis: int, act: str, alpha, gain, clamp) -> _Params:
    if act not in ACTIVATIONS:
        raise ValueError(f"unknown activation {act!r}; expected one of {sorted(ACTIVATIONS)}")
    rank = x.shape.rank
    if rank is None:
        raise ValueError("bias_act needs an input of known rank")
    if rank == 0:
        raise ValueError("bias_act needs an input of rank >= 1, got a scalar")
    if not -rank <= axis < rank:
        raise ValueError(f"axis {axis} is out of range for an input of rank {rank}")
    axis = axis % rank
    spec = ACTIVATIONS[act]
    alpha = float(spec.def_alpha if alpha is None else alpha)
    gain = float(spec.def_gain if gain is None else gain)
    if clamp is None:
        clamp = -1.0
    else:
        clamp = float(clamp)
        if not clamp >= 0:
            raise ValueError(f"clamp must be >= 0 (or None), got {clamp}")
    if not math.isfinite(alpha) or not math.isfinite(gain):
        raise ValueError(f"alpha and gain must be finite, got alpha={alpha}, gain={gain}")
    # The compiled op takes these as TF float attributes (32-bit); both implementations use the same rounded values
    # so they agree to the last bit in float64 too.
    alpha, gain, clamp = (float(np.float32(v)) for v in (alpha, gain, clamp))
    return _Params(axis, act, alpha, gain, clamp)


def _bias_shape(x: tf.Tensor, axis: int) -> list:
    shape = [1] * x.shape.rank
    shape[axis] = -1
    return shape


# ---------------------------------------------------------------------------------------------------------------------
# Reference implementation (standard TensorFlow ops; autodiff gives every derivative order).

def _act_ref(z: tf.Tensor, act: str, alpha: float) -> tf.Tensor:
    if act == "linear":
        return z
    if act == "relu":
        return tf.nn.relu(z)
    if act == "lrelu":
        return tf.where(z > 0, z, z * tf.constant(alpha, z.dtype))
    if act == "tanh":
        return tf.math.tanh(z)
    if act == "sigmoid":
        return tf.math.sigmoid(z)
    if act == "elu":
        # minimum() keeps expm1 finite on the unused branch, so its gradient stays finite too.
        return tf.where(z > 0, z, tf.constant(alpha, z.dtype) * tf.math.expm1(tf.minimum(z, 0)))
    if act == "selu":
        neg = tf.constant(SELU_ALPHA, z.dtype) * tf.math.expm1(tf.minimum(z, 0))
        return tf.constant(SELU_SCALE, z.dtype) * tf.where(z > 0, z, neg)
    if act == "softplus":
        return tf.math.softplus(z)
    if act == "swish":
        return z * tf.math.sigmoid(z)
    raise ValueError(f"unknown activation {act!r}")


def _act_derivative_ref(z: tf.Tensor, act: str, alpha: float, order: int) -> tf.Tensor:
    """d^order act / dz^order as standard TF ops (order 1..3), matching the kernels' branch at z == 0."""
    one = tf.ones_like(z)
    zero = tf.zeros_like(z)
    pos = z > 0
    c = lambda v: tf.constant(v, z.dtype)  # noqa: E731
    if act == "linear":
        return one if order == 1 else zero
    if act == "relu":
        return tf.where(pos, one, zero) if order == 1 else zero
    if act == "lrelu":
        return tf.where(pos, one, one * c(alpha)) if order == 1 else zero
    if act in ("elu", "selu"):
        a, scale = (alpha, 1.0) if act == "elu" else (SELU_ALPHA, SELU_SCALE)
        e = c(a * scale) * tf.math.exp(tf.minimum(z, 0))
        return tf.where(pos, one * c(scale) if order == 1 else zero, e)
    if act == "tanh":
        t = tf.math.tanh(z)
        p = 1 - t * t
        return [p, -2 * t * p, -2 * p * (1 - 3 * t * t)][order - 1]
    s = tf.math.sigmoid(z)
    q = s * (1 - s)
    if act == "sigmoid":
        return [q, q * (1 - 2 * s), q * (1 - 6 * s + 6 * s * s)][order - 1]
    if act == "softplus":
        return [s, q, q * (1 - 2 * s)][order - 1]
    if act == "swish":
        return [s * (1 + z * (1 - s)),
                q * (2 + z * (1 - 2 * s)),
                3 * q * (1 - 2 * s) + z * q * (1 - 6 * s + 6 * s * s)][order - 1]
    raise ValueError(f"unknown activation {act!r}")


def _add_bias(x: tf.Tensor, b: Optional[tf.Tensor], axis: int) -> tf.Tensor:
    if b is None or (b.shape.rank == 1 and b.shape[0] == 0):
        return x
    return x + tf.reshape(b, _bias_shape(x, axis))


def _bias_act_ref(x: tf.Tensor, b: Optional[tf.Tensor], p: _Params) -> tf.Tensor:
    if x.dtype in _dtypes.HALF_DTYPES:  # float32 arithmetic and one rounding, like the kernels
        b32 = None if b is None else tf.cast(b, tf.float32)
        return tf.cast(_bias_act_ref(tf.cast(x, tf.float32), b32, p), x.dtype)
    y = _act_ref(_add_bias(x, b, p.axis), p.act, p.alpha)
    if p.gain != 1:
        y = y * tf.constant(p.gain, y.dtype)
    if p.clamp >= 0:
        y = tf.clip_by_value(y, -tf.constant(p.clamp, y.dtype), tf.constant(p.clamp, y.dtype))
    return y


# ---------------------------------------------------------------------------------------------------------------------
# Custom op and its gradients.

def _attrs(op) -> _Params:
    return _Params(op.get_attr("axis"), op.get_attr("act").decode() if isinstance(op.get_attr("act"), bytes)
                   else op.get_attr("act"), op.get_attr("alpha"), op.get_attr("gain"), op.get_attr("clamp"))


def _call_grad_op(dy, x, b, p: _Params, order: int) -> tf.Tensor:
    lib = _library.get_library()
    return lib.sg2_bias_act_grad(dy, x, b, axis=p.axis, act=p.act, alpha=p.alpha, gain=p.gain, clamp=p.clamp,
                                 order=order)


def _reduce_to_bias(t: tf.Tensor, b: tf.Tensor, axis: int) -> tf.Tensor:
    if b.shape.rank == 1 and b.shape[0] == 0:
        return tf.zeros_like(b)
    if axis == t.shape.rank - 1:  # channels last: one pass of the compiled sum instead of Cast + Sum
        return tf.cast(channel_sum(t, impl="custom"), b.dtype)
    axes = [i for i in range(t.shape.rank) if i != axis]
    # Half types: sum in float32 (as the kernels accumulate) whatever the device's reduction does.
    acc = _dtypes.compute_dtype(t.dtype)
    return tf.cast(tf.reduce_sum(tf.cast(t, acc), axis=axes), b.dtype)


def _register_gradients() -> None:
    """Registers the op gradients once (TF's registry is global and rejects duplicates)."""

    @tf.RegisterGradient("Sg2BiasAct")
    def _bias_act_grad(op, dy):
        x, b = op.inputs
        p = _attrs(op)
        dx = _call_grad_op(dy, x, b, p, order=1)
        return dx, _reduce_to_bias(dx, b, p.axis)

    @tf.RegisterGradient("Sg2BiasActGrad")
    def _bias_act_grad_grad(op, g):
        dy, x, b = op.inputs
        return bias_act_grad_grad(dy, x, b, _attrs(op), op.get_attr("order"), g)


def bias_act_grad_grad(dy, x, b, p: _Params, order: int, g):
    """Backpropagates g through out = Sg2BiasActGrad(dy, x, b, order): returns (g_dy, g_x, g_b).

    out = dy * h_k(x + b), h_k = gain * act^(k) * mask (mask is piecewise constant), so g_x is zeros for the
    piecewise-linear activations.
    """
    g_dy = _call_grad_op(g, x, b, p, order=order)
    if not ACTIVATIONS[p.act].has_second_derivative:
        g_x = tf.zeros_like(x)
    elif order == 1:
        g_x = _call_grad_op(g * dy, x, b, p, order=2)
    else:  # third order: rare, expressed with standard ops (which are differentiable again)
        acc = _dtypes.compute_dtype(x.dtype)  # float32 for the half types, like the kernels
        z = _add_bias(tf.cast(x, acc), tf.cast(b, acc), p.axis)
        h3 = _act_derivative_ref(z, p.act, p.alpha, 3) * tf.constant(p.gain, acc)
        if p.clamp >= 0:
            y = _act_ref(z, p.act, p.alpha) * tf.constant(p.gain, acc)
            h3 = tf.where(tf.abs(y) <= tf.constant(p.clamp, acc), h3, tf.zeros_like(h3))
        g_x = tf.cast(tf.cast(g, acc) * tf.cast(dy, acc) * h3, x.dtype)
    return g_dy, g_x, _reduce_to_bias(g_x, b, p.axis)


_gradients_registered = False


def _library_with_gradients():
    global _gradients_registered
    if not _gradients_registered:
        _register_gradients()
        _gradients_registered = True
    return _library.get_library()


def _bias_act_custom(x: tf.Tensor, b: Optional[tf.Tensor], p: _Params) -> tf.Tensor:
    lib = _library_with_gradients()
    if b is None:
        b = tf.zeros([0], dtype=x.dtype)
    return lib.sg2_bias_act(x, b, axis=p.axis, act=p.act, alpha=p.alpha, gain=p.gain, clamp=p.clamp)


SUPPORTED_DTYPES = _dtypes.SUPPORTED_DTYPES


def bias_act(x, b=None, axis: int = -1, act: str = "linear", alpha: Optional[float] = None,
             gain: Optional[float] = None, clamp: Optional[float] = None, impl: str = "auto") -> tf.Tensor:
    """Adds a bias along `axis`, applies an activation, scales by `gain` and clips to [-clamp, clamp].

    Args:
        x: tensor of any rank >= 1, e.g. [N, H, W, C] (NHWC, axis=-1) or [N, C] for dense layers;
            bfloat16, float16, float32 or float64. The half types are computed in float32 and rounded once.
        b: optional bias [x.shape[axis]]; cast to x's dtype (e.g. a float32 bias with a bfloat16 x).
        axis: the axis `b` runs along.
        act: one of `ACTIVATIONS` (linear, relu, lrelu, tanh, sigmoid, elu, selu, softplus, swish).
        alpha: lrelu negative slope (default 0.2) or elu scale (default 1); ignored by the others.
        gain: output scale (default: the activation's conventional gain, sqrt(2) for relu/lrelu/swish, else 1).
        clamp: clip the output to [-clamp, clamp]; None disables it. Applied in the compute type (float32 for the
            half types) before the output rounding, so |y| is at most clamp rounded to x's dtype.
        impl: 'custom' (compiled op), 'ref' (standard TF ops) or 'auto' (custom when available).
    Returns:
        Tensor with the shape and dtype of x; its gradients have the dtypes of x and b.
    """
    x = tf.convert_to_tensor(x)
    _dtypes.check_dtype(x, "bias_act")
    p = _check_params(x, b, axis, act, alpha, gain, clamp)
    if b is not None:
        b = _dtypes.cast_like(b, x.dtype, "bias")
        if b.shape.rank != 1:
            raise ValueError(f"bias must be rank 1, got shape {b.shape}")
        n = x.shape[p.axis]
        if n is not None and b.shape[0] is not None and b.shape[0] != n:
            raise ValueError(f"bias has {b.shape[0]} elements but x has {n} along axis {p.axis}")
    if _library.resolve_impl(impl) == "ref":
        return _bias_act_ref(x, b, p)
    return _bias_act_custom(x, b, p)
