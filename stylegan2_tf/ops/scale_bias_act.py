"""The tail of a synthesis layer in one op: demodulation, noise, bias, activation.

    scale_bias_act(x, s, a, b, act, ...) = bias_act(channel_scale(x, s, a), b, act, ...)

with exactly the numbers of the two ops, forward and backward. `impl='custom'` runs the compiled `Sg2ScaleBiasAct`
op, which reads x and writes y once (the two ops write the intermediate t = channel_scale(x, s, a) and read it back).
Its gradient `Sg2ScaleBiasActGrad` recomputes t and gives dx, ds, da and db in one pass over dy and x, summed in the
orders of `Sg2ChannelScaleGrad` and `Sg2ChannelSum` (the separate gradients write and read bias_act's gradient twice).
Its own gradient is composed of the separate ops' gradients, so R1 and path-length regularization differentiate
through it as through the two ops. `impl='ref'` is the composition of the two ops' references.
"""
from __future__ import annotations

from typing import Optional

import tensorflow as tf

from stylegan2_tf.ops import _dtypes, _library
from stylegan2_tf.ops.bias_act import (ACTIVATIONS, _bias_act_ref, _call_grad_op, _check_params, _Params,
                                      bias_act_grad_grad)
from stylegan2_tf.ops.bias_act import _library_with_gradients as _bias_act_library
from stylegan2_tf.ops.channel_scale import _channel_scale_ref, _check, channel_scale_grad_grad, has_addend
from stylegan2_tf.ops.channel_scale import _library_with_gradients as _channel_scale_library


def _attrs(op, rank: int) -> _Params:
    act = op.get_attr("act")
    return _Params(rank - 1, act.decode() if isinstance(act, bytes) else act, op.get_attr("alpha"),
                             op.get_attr("gain"), op.get_attr("clamp"))


def _op_attrs(p: _Params) -> dict:
    return dict(act=p.act, alpha=p.alpha, gain=p.gain, clamp=p.clamp)


def _has_bias(b: tf.Tensor) -> bool:
    return b.shape.rank != 1 or b.shape[0] != 0


def _register_gradients() -> None:
    """Registers the op gradients once (TF's registry is global and rejects duplicates)."""
    lib = _library.get_library()

    @tf.RegisterGradient("Sg2ScaleBiasAct")
    def _scale_bias_act_grad(op, dy):
        x, s, a, b = op.inputs
        return lib.sg2_scale_bias_act_grad(dy, x, s, a, b, **_op_attrs(_attrs(op, x.shape.rank)))

    @tf.RegisterGradient("Sg2ScaleBiasActGrad")
    def _scale_bias_act_grad_grad(op, g_dx, g_ds, g_da, g_db):
        # The op is (dx, ds, da) = Sg2ChannelScaleGrad(g, x, s, a) and db = Sg2ChannelSum(g) with
        # g = Sg2BiasActGrad(dy, t, b) and t = Sg2ChannelScale(x, s, a): backpropagate through that composition with
        # the separate ops' gradients, t and g recomputed.
        dy, x, s, a, b = op.inputs
        p = _attrs(op, x.shape.rank)
        t = lib.sg2_channel_scale(x, s, a)
        g = _call_grad_op(dy, t, b, p, order=1)
        g_g, g_x, g_s = channel_scale_grad_grad(g, x, s, a, g_dx, g_ds, g_da)
        if g_db is not None and _has_bias(b):
            g_g = g_g + tf.broadcast_to(g_db, tf.shape(g))
        g_dy, g_t, g_b = bias_act_grad_grad(dy, t, b, p, 1, g_g)
        g_a = None
        if ACTIVATIONS[p.act].has_second_derivative:
            g_x_t, g_s_t, g_a = lib.sg2_channel_scale_grad(g_t, x, s, a)
            g_x, g_s = g_x + g_x_t, g_s + g_s_t
        elif has_addend(a):
            g_a = tf.zeros_like(a)  # t's gradient is zero: so is a's, which the separate ops also pass on
        return g_dy, g_x, g_s, g_a, g_b


_gradients_registered = False


def _library_with_gradients():
    global _gradients_registered
    if not _gradients_registered:
        # The gradient's gradient runs the separate ops, whose gradients must be registered too.
        _bias_act_library()
        _channel_scale_library()
        _register_gradients()
        _gradients_registered = True
    return _library.get_library()


def scale_bias_act(x, s, a=None, b=None, act: str = "linear", alpha: Optional[float] = None,
                   gain: Optional[float] = None, clamp: Optional[float] = None, impl: str = "auto") -> tf.Tensor:
    """bias_act(channel_scale(x, s, a), b, act=act, alpha=alpha, gain=gain, clamp=clamp): one pass, same numbers.

    Args:
        x: [N, ..., C] of rank >= 2, channels last (NHWC activations: [N, H, W, C]); bfloat16, float16, float32 or
            float64.
        s: [N, C] per-sample channel scales (the demodulation coefficients), cast to x's dtype.
        a: optional [N, ..., 1] (x's shape with one channel), added after the scaling (the noise), cast to x's dtype.
        b: optional bias [C], cast to x's dtype.
        act, alpha, gain, clamp: as for `bias_act`.
        impl: 'custom' (compiled op), 'ref' (standard TF ops) or 'auto' (custom when available).
    Returns:
        [N, ..., C] in x's dtype; the gradients have the dtypes of x, s, a and b.
    """
    x = tf.convert_to_tensor(x)
    _dtypes.check_dtype(x, "scale_bias_act")
    s = _dtypes.cast_like(s, x.dtype, "s")
    if a is not None:
        a = _dtypes.cast_like(a, x.dtype, "a")
    _check(x, s, a)
    p = _check_params(x, b, -1, act, alpha, gain, clamp)
    if b is not None:
        b = _dtypes.cast_like(b, x.dtype, "bias")
        if b.shape.rank != 1 or not b.shape.is_compatible_with(x.shape[-1:]):
            raise ValueError(f"scale_bias_act: the bias must have shape [{x.shape[-1]}] (x's channels), "
                             f"got {b.shape}")
    if _library.resolve_impl(impl) == "ref":
        return _bias_act_ref(_channel_scale_ref(x, s, a), b, p)
    none = tf.zeros([0], x.dtype)
    return _library_with_gradients().sg2_scale_bias_act(x, s, none if a is None else a, none if b is None else b,
                                                        **_op_attrs(p))
