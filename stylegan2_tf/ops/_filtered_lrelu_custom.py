"""The compiled `Sg2FilteredLrelu` op behind `filtered_lrelu(impl='custom')`, and its gradient (every order).

The op (custom_ops/cc/kernels/filtered_lrelu.h) computes, per channel, u = correlate(upsample_pad(x + b), fu), then
v = act(u), then y = correlate(v, fd) keeping every down-th sample, without storing the upsampled grid u. Its filters
correlate, so `flip_filter=False` (convolution) passes them reversed. The up-filter's gain up**2 and the activation's
gain are one attribute: gain * lrelu(up**2 * u) = (gain * up**2) * lrelu(u), lrelu being positively homogeneous.

Forward ("compute" mode) also writes a sign record, 2 bits per element of the grid: u > 0, u <= 0 or clamped, i.e.
the derivative dv/du in {gain, gain * slope, 0} (nothing is written when slope == 1 and there is no clamp: then the
derivative is the constant gain). The gradient is the same op in "read" mode: it runs the transposed pass (up and
down swapped, fd and fu swapped and reversed, padding adjusted, the record read at a shifted position) and multiplies
by the recorded derivative instead of evaluating the activation. That pass is linear in its input, so its own
gradient is again a read-mode pass with the transposed configuration: every derivative order is supported (the
derivative of the activation's derivative is zero almost everywhere, as for the reference's lrelu and clip).
db = sum of dx over N, H, W (in float32 for the 16-bit types). No gradient flows to the filters (as upstream).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from stylegan2_tf.ops import _dtypes, _library

_EMPTY_SIGNS_SHAPE = [0, 0, 0]


def _taps(f: tf.Tensor):
    """(fw, fh) of a 1-D or 2-D filter tensor."""
    return (f.shape[0], f.shape[0]) if f.shape.rank == 1 else (f.shape[1], f.shape[0])


def _reverse(f: tf.Tensor) -> tf.Tensor:
    return tf.reverse(f, [0] if f.shape.rank == 1 else [0, 1])


def _f32(v: float) -> float:
    """The value as the op's float attribute will hold it."""
    return float(np.float32(v))


def _needs_signs(slope: float, clamp: float) -> bool:
    return slope != 1.0 or clamp >= 0.0


def _attr(op, name):
    v = op.get_attr(name)
    return v.decode() if isinstance(v, bytes) else v


_gradient_registered = False


def _register_gradient() -> None:
    global _gradient_registered
    if _gradient_registered:
        return

    @tf.RegisterGradient("Sg2FilteredLrelu")
    def _filtered_lrelu_grad(op, dy, _dsigns):
        x, fu, fd, b, si = op.inputs
        up, down = _attr(op, "up"), _attr(op, "down")
        px0, px1, py0, py1 = (_attr(op, k) for k in ("padx0", "padx1", "pady0", "pady1"))
        gain, slope, clamp = _attr(op, "gain"), _attr(op, "slope"), _attr(op, "clamp")
        read, sx, sy = _attr(op, "read_signs"), _attr(op, "sx"), _attr(op, "sy")
        data_format = _attr(op, "data_format")
        h_axis, w_axis = (1, 2) if data_format == "NHWC" else (2, 3)
        in_h, in_w = x.shape[h_axis], x.shape[w_axis]
        out_h, out_w = op.outputs[0].shape[h_axis], op.outputs[0].shape[w_axis]
        if None in (in_h, in_w, out_h, out_w):
            raise ValueError("the gradient of filtered_lrelu (impl='custom') needs static spatial sizes, got x "
                             f"{x.shape} -> y {op.outputs[0].shape}")
        fuw, fuh = _taps(fu)
        fdw, fdh = _taps(fd)
        if read:  # a gradient pass: differentiate it with the record it read
            signs, read_t = si, True
        elif _needs_signs(slope, clamp):  # the forward pass: its record
            signs, read_t = op.outputs[1], True
        else:  # slope 1 and no clamp: the derivative is the constant gain; compute mode is that linear map
            signs, read_t = tf.zeros(_EMPTY_SIGNS_SHAPE, tf.uint8), False
        if dy is None:
            dy = tf.zeros_like(op.outputs[0])
        # Transposed pass: grid index t' of the transposed op is t + (fu_taps - 1 - pad0) of this one.
        dx, _ = _library.get_library().sg2_filtered_lrelu(
            dy, _reverse(fd), _reverse(fu), tf.zeros([0], dy.dtype), signs,
            up=down, down=up,
            padx0=fdw - 1 + fuw - 1 - px0, padx1=in_w * up - out_w * down + px0 - (up - 1),
            pady0=fdh - 1 + fuh - 1 - py0, pady1=in_h * up - out_h * down + py0 - (up - 1),
            gain=gain, slope=slope, clamp=-1.0, read_signs=read_t,
            sx=sx + fuw - 1 - px0, sy=sy + fuh - 1 - py0, data_format=data_format)
        if b.shape.rank == 1 and b.shape[0] == 0:
            db = tf.zeros_like(b)
        else:
            axes = [0, 1, 2] if data_format == "NHWC" else [0, 2, 3]
            acc = _dtypes.compute_dtype(dx.dtype)  # half types: sum in float32
            db = tf.cast(tf.reduce_sum(tf.cast(dx, acc), axis=axes), b.dtype)
        return dx, None, None, db, None

    _gradient_registered = True


def filtered_lrelu_custom(x, fu, fd, b, up: int, down: int, padding, gain: float, slope: float, clamp,
                          flip_filter: bool, data_format: str) -> tf.Tensor:
    """filtered_lrelu through the compiled op. fu/fd: float32 tensors (1-D or 2-D) or None; padding: (x0, x1, y0, y1);
    b: [C] or None (cast to x's dtype; its gradient returns in b's own dtype)."""
    x = tf.convert_to_tensor(x)
    _dtypes.check_dtype(x, "filtered_lrelu")
    _register_gradient()
    lib = _library.get_library()
    px0, px1, py0, py1 = (int(p) for p in padding)
    one = tf.ones([1], tf.float32)
    fu = one if fu is None else tf.cast(fu, tf.float32)
    fd = one if fd is None else tf.cast(fd, tf.float32)
    if not flip_filter:  # the op correlates; a convolution correlates with the reversed filter
        fu, fd = _reverse(fu), _reverse(fd)
    b = tf.zeros([0], x.dtype) if b is None else _dtypes.cast_like(b, x.dtype, "bias")
    clamp_attr = -1.0 if clamp is None else float(clamp)
    y, _ = lib.sg2_filtered_lrelu(
        x, fu, fd, b, tf.zeros(_EMPTY_SIGNS_SHAPE, tf.uint8), up=int(up), down=int(down),
        padx0=px0, padx1=px1, pady0=py0, pady1=py1, gain=_f32(float(gain) * int(up) ** 2), slope=float(slope),
        clamp=clamp_attr, read_signs=False, sx=0, sy=0, data_format=data_format)
    return y
