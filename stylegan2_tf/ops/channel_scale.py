"""Per-channel ops: the modulation and demodulation of a non-fused modulated convolution, and bias gradients.

    channel_scale(x, s)      y[n, ..., c] = x[n, ..., c] * s[n, c]
    channel_scale(x, s, a)   y[n, ..., c] = x[n, ..., c] * s[n, c] + a[n, ..., 0]   (the product rounded first)
    channel_sum(x)           sum[c] = sum of x[..., c] over every other axis (the bias gradient of NHWC activations)

`impl='custom'` runs the compiled `Sg2ChannelScale` op; its gradient is `Sg2ChannelScaleGrad`, which computes
dx = dy * s and ds = sum over the middle axes of dy * x in one pass over dy and x (TensorFlow's broadcasting Mul
gradient takes two Muls and a Sum and writes dy * x to memory in between). The op's derivatives are again these two
ops, so R1 and path-length regularization can differentiate through it any number of times. `impl='ref'` composes
standard TensorFlow ops and defines the same numbers: y and dx exactly, ds up to the order of its sum.

The addend `a` (x's shape with one channel) is the synthesis layer's noise, added after the demodulation: in one
pass instead of TensorFlow's broadcasting AddV2, and its gradient (da = sum over the channels of dy) in the same pass
as dx and ds instead of a Sum over dy. The product is rounded to x's dtype before the add, so y has exactly the
numbers of a Mul followed by an AddV2.

`channel_sum` replaces a Cast to float32 and a Sum (the bias gradient of `bias_act`) by one pass.

bfloat16 and float16 are computed in float32 by both implementations and rounded once (ds and the channel sums are
summed in float32); see `_dtypes`. The compiled ops sum in a fixed order that depends only on the shape (rows in
chunks of 1024, in order, then the chunk sums in order), so the result does not depend on the number of threads.
"""
from __future__ import annotations

from typing import Optional

import tensorflow as tf

from stylegan2_tf.ops import _dtypes, _library


def _check(x: tf.Tensor, s: tf.Tensor, a: Optional[tf.Tensor]) -> None:
    if x.shape.rank is None or x.shape.rank < 2:
        raise ValueError(f"channel_scale needs x of rank >= 2 ([N, ..., C]), got shape {x.shape}")
    if s.shape.rank != 2:
        raise ValueError(f"channel_scale needs s of shape [N, C], got shape {s.shape}")
    for m, b, what in ((x.shape[0], s.shape[0], "batch"), (x.shape[-1], s.shape[1], "channels")):
        if m is not None and b is not None and m != b:
            raise ValueError(f"channel_scale: x has {m} {what} but s has {b} (x {x.shape}, s {s.shape})")
    if a is not None and not a.shape.is_compatible_with(x.shape[:-1].concatenate([1])):
        raise ValueError(f"channel_scale: the addend a must have x's shape with one channel "
                         f"({x.shape[:-1].concatenate([1])}), got {a.shape}")


def _broadcast(s: tf.Tensor, rank: int) -> tf.Tensor:
    """[N, C] -> [N, 1, ..., 1, C] for an x of `rank`."""
    return tf.reshape(s, tf.concat([tf.shape(s)[:1], tf.ones([rank - 2], tf.int32), tf.shape(s)[1:]], 0))


def _channel_scale_ref(x: tf.Tensor, s: tf.Tensor, a: Optional[tf.Tensor]) -> tf.Tensor:
    acc = _dtypes.compute_dtype(x.dtype)  # float32 arithmetic (and sums in the gradient) for the half types
    y = tf.cast(tf.cast(x, acc) * _broadcast(tf.cast(s, acc), x.shape.rank), x.dtype)
    if a is not None:
        y = tf.cast(tf.cast(y, acc) + tf.cast(a, acc), x.dtype)
    return y


def _channel_sum_ref(x: tf.Tensor) -> tf.Tensor:
    acc = _dtypes.compute_dtype(x.dtype)
    return tf.cast(tf.reduce_sum(tf.cast(x, acc), axis=list(range(x.shape.rank - 1))), x.dtype)


_gradients_registered = False


def _library_with_gradients():
    global _gradients_registered
    if not _gradients_registered:
        _register_gradients()
        _gradients_registered = True
    return _library.get_library()


def _register_gradients() -> None:
    """Registers the op gradients once (TF's registry is global and rejects duplicates)."""
    lib = _library.get_library()

    @tf.RegisterGradient("Sg2ChannelScale")
    def _channel_scale_grad(op, dy):
        x, s, a = op.inputs
        return lib.sg2_channel_scale_grad(dy, x, s, a)

    @tf.RegisterGradient("Sg2ChannelScaleGrad")
    def _channel_scale_grad_grad(op, g_dx, g_ds, g_da):
        dy, x, s, a = op.inputs
        return (*channel_scale_grad_grad(dy, x, s, a, g_dx, g_ds, g_da), None)

    @tf.RegisterGradient("Sg2ChannelSum")
    def _channel_sum_grad(op, g):
        x = op.inputs[0]
        return tf.broadcast_to(g, tf.shape(x))


def _no_addend(dtype) -> tf.Tensor:
    return tf.zeros([0], dtype)


def has_addend(a: tf.Tensor) -> bool:
    """Whether an op's addend input is a real addend (not the empty [0] that stands for none)."""
    return a.shape.rank != 1 or a.shape[0] != 0


def channel_scale_grad_grad(dy, x, s, a, g_dx, g_ds, g_da):
    """Backpropagates (g_dx, g_ds, g_da) through (dx, ds, da) = Sg2ChannelScaleGrad(dy, x, s, a): returns
    (g_dy, g_x, g_s) (a's values are not read, so it gets none).

    dx = dy * s, ds = <dy, x>_rows and da = sum_c dy, so
      d/d(dy) = g_dx * s + g_ds * x + g_da,   d/dx = g_ds * dy,   d/ds = <g_dx, dy>_rows,
    and (g_dx * s, <g_dx, dy>_rows) is one Sg2ChannelScaleGrad call.
    """
    lib = _library.get_library()
    none = _no_addend(dy.dtype)
    g_dy, g_s, _ = lib.sg2_channel_scale_grad(g_dx, dy, s, none)
    g_dy = g_dy + lib.sg2_channel_scale(x, g_ds, g_da if has_addend(a) and g_da is not None else none)
    g_x = lib.sg2_channel_scale(dy, g_ds, none)
    return g_dy, g_x, g_s


def channel_scale(x, s, a=None, impl: str = "auto") -> tf.Tensor:
    """Scales each sample's channels, then optionally adds a per-position term: y = x * s[n, c] (+ a[n, ..., 0]).

    Args:
        x: [N, ..., C] of rank >= 2 (NHWC activations: [N, H, W, C]); bfloat16, float16, float32 or float64.
        s: [N, C], cast to x's dtype.
        a: optional [N, ..., 1] (x's shape with one channel), cast to x's dtype and broadcast over the channels.
            The product is rounded to x's dtype before the add: y = T(T(x * s) + a), the numbers of a Mul followed
            by an AddV2.
        impl: 'custom' (compiled op), 'ref' (standard TF ops) or 'auto' (custom when available).
    Returns:
        [N, ..., C] in x's dtype; the gradients have the dtypes of x, s and a (a's: the sum over the channels of
        dy, summed in float32 for the half types).
    """
    x = tf.convert_to_tensor(x)
    _dtypes.check_dtype(x, "channel_scale")
    s = _dtypes.cast_like(s, x.dtype, "s")
    if a is not None:
        a = _dtypes.cast_like(a, x.dtype, "a")
    _check(x, s, a)
    if _library.resolve_impl(impl) == "ref":
        return _channel_scale_ref(x, s, a)
    return _library_with_gradients().sg2_channel_scale(x, s, _no_addend(x.dtype) if a is None else a)


def channel_sum(x, impl: str = "auto") -> tf.Tensor:
    """Sums over every axis but the last: [..., C] -> [C] in x's dtype (summed in float32 for the half types).

    The bias gradient of activations whose channels are the last axis (NHWC [N, H, W, C], dense [N, C]).
    """
    x = tf.convert_to_tensor(x)
    _dtypes.check_dtype(x, "channel_sum")
    if x.shape.rank is None or x.shape.rank < 1:
        raise ValueError(f"channel_sum needs x of rank >= 1, got shape {x.shape}")
    if _library.resolve_impl(impl) == "ref":
        return _channel_sum_ref(x)
    return _library_with_gradients().sg2_channel_sum(x)
