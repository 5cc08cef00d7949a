"""filtered_lrelu: bias, upsampling FIR, leaky ReLU, clamp and downsampling FIR in one op (StyleGAN3's nonlinearity).

For each channel, in this order (NVlabs/stylegan3's definition):

1. add the bias b[c] (before upsampling);
2. upsample by `up` (zero insertion), pad by `padding` (negative crops), FIR-filter with `fu` at gain up**2 (a
   1-D filter runs along x, then y; None is the 1x1 identity, which still multiplies by up**2);
3. leaky ReLU with `slope` (1 = linear), times `gain`, clipped to [-clamp, clamp];
4. FIR-filter with `fd` (gain 1) and keep every `down`-th sample from index 0.

Output size per axis: (in * up + p0 + p1 - (fu_taps - 1) - (fd_taps - 1) + (down - 1)) // down.
`flip_filter=False` filters by convolution (the filters of the networks are symmetric, so this matters only for
tests); True by correlation. Gradients flow to x and b.

``impl='ref'`` composes bias_act and upfirdn2d (and so keeps the whole upsampled tensor);
``impl='custom'`` runs the compiled ``Sg2FilteredLrelu`` op when the library has it: one pass over tiles, keeping only
a 2-bit sign record of the upsampled pre-activation for the gradient, which is the same op run transposed (so every
derivative order works; see docs/custom_ops.md).
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

import numpy as np
import tensorflow as tf

from stylegan2_tf.ops import _library
from stylegan2_tf.ops.bias_act import bias_act
from stylegan2_tf.ops.upfirdn2d import _parse_padding, _parse_scaling, filter_size, upfirdn2d

DATA_FORMATS = ("NHWC", "NCHW")


def _filter(f, name: str) -> Optional[tf.Tensor]:
    if f is None:
        return None
    f = tf.convert_to_tensor(np.asarray(f, np.float32) if not tf.is_tensor(f) else f)
    if f.shape.rank not in (1, 2) or any(d is None or d < 1 for d in f.shape):
        raise ValueError(f"filtered_lrelu: {name} must be 1-D taps or a 2-D [fh, fw] filter with static, non-empty "
                         f"shape, got {f.shape}")
    return tf.cast(f, tf.float32)


def output_size(in_h: int, in_w: int, fu, fd, up: int, down: int, padding) -> Tuple[int, int]:
    """(out_h, out_w) of filtered_lrelu for an input of in_h x in_w."""
    px0, px1, py0, py1 = _parse_padding(padding)
    fuw, fuh = filter_size(fu)
    fdw, fdh = filter_size(fd)
    out_w = (in_w * up + px0 + px1 - (fuw - 1) - (fdw - 1) + (down - 1)) // down
    out_h = (in_h * up + py0 + py1 - (fuh - 1) - (fdh - 1) + (down - 1)) // down
    return out_h, out_w


def _check(x, fu, fd, b, up, down, padding, gain, slope, clamp, data_format):
    if data_format not in DATA_FORMATS:
        raise ValueError(f"filtered_lrelu: data_format must be 'NHWC' or 'NCHW', got {data_format!r}")
    x = tf.convert_to_tensor(x)
    if x.shape.rank != 4:
        raise ValueError(f"filtered_lrelu expects a rank-4 image batch, got shape {x.shape}")
    up_x, up_y = _parse_scaling(up, "up")
    down_x, down_y = _parse_scaling(down, "down")
    if up_x != up_y or down_x != down_y:
        raise ValueError(f"filtered_lrelu: up and down must be the same along x and y, got up={up}, down={down}")
    try:
        padding = _parse_padding(padding)
    except (TypeError, ValueError):
        raise ValueError(f"filtered_lrelu: padding must be an int, [px, py] or [x0, x1, y0, y1], got {padding!r}") \
            from None
    fu, fd = _filter(fu, "fu"), _filter(fd, "fd")
    c_axis = 3 if data_format == "NHWC" else 1
    if b is not None:
        b = tf.convert_to_tensor(b)
        if b.shape.rank != 1 or (x.shape[c_axis] is not None and b.shape[0] != x.shape[c_axis]):
            raise ValueError(f"filtered_lrelu: b must be [{x.shape[c_axis]}] (one per channel), got {b.shape}")
    if not (math.isfinite(gain) and math.isfinite(slope)):
        raise ValueError(f"filtered_lrelu: gain and slope must be finite, got {gain}, {slope}")
    if clamp is not None and not clamp >= 0:
        raise ValueError(f"filtered_lrelu: clamp must be >= 0 or None, got {clamp}")
    h_axis, w_axis = (1, 2) if data_format == "NHWC" else (2, 3)
    h, w = x.shape[h_axis], x.shape[w_axis]
    if h is not None and w is not None:
        fuw, fuh = filter_size(fu)
        fdw, fdh = filter_size(fd)
        px0, px1, py0, py1 = padding
        for axis, size, p0, p1, ftu, ftd in (("width", w, px0, px1, fuw, fdw), ("height", h, py0, py1, fuh, fdh)):
            upsampled = size * up_x + p0 + p1
            if upsampled < max(ftu, ftd) or upsampled - (ftu - 1) < ftd:
                raise ValueError(f"filtered_lrelu: along {axis}, the padded upsampled input ({size} * {up_x} + "
                                 f"{p0} + {p1} = {upsampled}) is smaller than the filters (fu {ftu} taps, fd {ftd} "
                                 "taps)")
    return x, fu, fd, b, up_x, down_x, padding


def filtered_lrelu(x, fu=None, fd=None, b=None, up: int = 1, down: int = 1, padding=0, gain: float = math.sqrt(2),
                   slope: float = 0.2, clamp: Optional[float] = None, flip_filter: bool = False,
                   data_format: str = "NHWC", impl: str = "auto") -> tf.Tensor:
    """StyleGAN3's filtered leaky ReLU on x [N, H, W, C] (or NCHW): see the module docstring.

    fu, fd: None, 1-D taps [t] (separable) or 2-D [fh, fw] (numpy or tensors, used as float32); b: [C] or None;
    up, down: integer factors (the same along x and y); padding: int, [px, py] or [x0, x1, y0, y1] in upsampled
    pixels; gain, slope, clamp: of the activation. Returns the dtype of x.
    """
    x, fu, fd, b, up, down, padding = _check(x, fu, fd, b, up, down, padding, gain, slope, clamp, data_format)
    requested, impl = impl, _library.resolve_impl(impl)
    if impl == "custom" and not hasattr(_library.get_library(), "sg2_filtered_lrelu"):
        if requested == "custom":
            raise RuntimeError("the compiled op library has no Sg2FilteredLrelu (built from older sources?); rebuild "
                               "it with `python custom_ops/build.py --force`")
        impl = "ref"
    if impl == "ref":
        return _filtered_lrelu_ref(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter, data_format)
    from stylegan2_tf.ops._filtered_lrelu_custom import filtered_lrelu_custom  # the compiled op and its gradient
    return filtered_lrelu_custom(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter, data_format)


def _filtered_lrelu_ref(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter, data_format):
    c_axis = -1 if data_format == "NHWC" else 1
    if b is not None:
        x = bias_act(x, b, axis=c_axis, impl="ref")
    x = upfirdn2d(x, fu, up=up, padding=padding, gain=up ** 2, flip_filter=flip_filter, data_format=data_format,
                  impl="ref")
    x = bias_act(x, None, axis=c_axis, act="lrelu", alpha=slope, gain=gain, clamp=clamp, impl="ref")
    return upfirdn2d(x, fd, down=down, flip_filter=flip_filter, data_format=data_format, impl="ref")
