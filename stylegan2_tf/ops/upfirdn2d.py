"""upfirdn2d: upsample (zero insertion), pad, FIR filter, downsample — and the filters built on it.

Conventions (x = width, y = height):
  * `padding` is an int, [px, py] or [x0, x1, y0, y1], applied to the upsampled image; negative values crop.
  * `flip_filter=False` is a true convolution (the filter is flipped before the sliding dot product), as in signal
    processing; `flip_filter=True` is a correlation. Symmetric filters (all the usual ones) do not care.
  * A 1-D filter is separable: it runs along x, then along y. `gain` scales the output.

`impl='custom'` runs the compiled `Sg2UpFirDn2d` op (a 2-D filter) or `Sg2UpFirDn2dSeparable` (a 1-D filter: the x
pass and the y pass in one op, the same bits as two `Sg2UpFirDn2d` passes); the gradient of each is the same op
(flipped filter, up/down swapped, padding adjusted, and for the separable op the passes in the reverse order), so it is
differentiable to any order. `impl='ref'` uses standard TF ops.

bfloat16/float16 inputs: the filter is prepared (flip, gain) in float32 and rounded once to the input's type; each
pass accumulates in float32 and rounds its output once, in both implementations (the reference casts to float32
and back around each pass), so a separable filter rounds twice (after the x pass and after the y pass).
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

import numpy as np
import tensorflow as tf

from stylegan2_tf.ops import _dtypes, _library

IntOrPair = Union[int, Sequence[int]]
SUPPORTED_DTYPES = _dtypes.SUPPORTED_DTYPES
DATA_FORMATS = ("NHWC", "NCHW")


def _parse_scaling(value: IntOrPair, name: str) -> Tuple[int, int]:
    if isinstance(value, (int, np.integer)):
        sx = sy = int(value)
    else:
        value = list(value)
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or [{name}_x, {name}_y], got {value}")
        sx, sy = (int(v) for v in value)
    if sx < 1 or sy < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return sx, sy


def _parse_padding(padding) -> Tuple[int, int, int, int]:
    if isinstance(padding, (int, np.integer)):
        p = int(padding)
        return p, p, p, p
    padding = [int(v) for v in padding]
    if len(padding) == 2:
        px, py = padding
        return px, px, py, py
    if len(padding) == 4:
        return tuple(padding)  # type: ignore[return-value]
    raise ValueError(f"padding must be an int, [px, py] or [x0, x1, y0, y1], got {padding}")


def setup_filter(f=None, normalize: bool = True, flip_filter: bool = False, gain: float = 1,
                 separable: Optional[bool] = None) -> tf.Tensor:
    """Turns filter taps into a float32 filter tensor for upfirdn2d.

    Args:
        f: None (identity), a scalar, 1-D taps (e.g. [1, 3, 3, 1]) or a 2-D [fh, fw] filter.
        normalize: divide by the sum of the 2-D filter so it preserves the mean.
        flip_filter: flip it spatially.
        gain: overall gain of the 2-D filter (a separable 1-D filter gets sqrt(gain)).
        separable: keep a 1-D filter 1-D (default) or expand it to its 2-D outer product (False).
    Returns:
        float32 tensor [fw] (separable) or [fh, fw].
    """
    f = np.asarray(1.0 if f is None else f, dtype=np.float64)
    if f.ndim == 0:
        f = f[np.newaxis]
    if f.ndim not in (1, 2) or f.size == 0:
        raise ValueError(f"filter must be 1-D or 2-D and non-empty, got shape {f.shape}")
    if not np.all(np.isfinite(f)):
        raise ValueError("filter taps must be finite")
    if separable is None:
        separable = f.ndim == 1
    if f.ndim == 1 and not separable:
        f = np.outer(f, f)
    if separable and f.ndim != 1:
        raise ValueError("a 2-D filter cannot be made separable")
    if normalize:  # for a 1-D filter, dividing by its sum normalizes the 2-D outer product
        if f.sum() == 0:
            raise ValueError("cannot normalize a filter whose taps sum to zero")
        f = f / f.sum()
    if flip_filter:
        f = f[::-1] if f.ndim == 1 else f[::-1, ::-1]
    f = f * (gain ** (f.ndim / 2))
    return tf.constant(np.ascontiguousarray(f), dtype=tf.float32)


def _filter_tensor(f, dtype: tf.DType) -> tf.Tensor:
    if f is None:
        return tf.ones([1, 1], dtype=dtype)
    f = _dtypes.cast_like(f, dtype, "filter")
    if f.shape.rank not in (1, 2):
        raise ValueError(f"filter must be 1-D (separable) or 2-D, got shape {f.shape}")
    if any(d is None for d in f.shape):
        raise ValueError("filter shape must be static")
    if any(d == 0 for d in f.shape):
        raise ValueError(f"filter must be non-empty, got shape {f.shape}")
    return f


def filter_size(f) -> Tuple[int, int]:
    """(fw, fh) of a filter given as taps or tensor (None = 1x1)."""
    if f is None:
        return 1, 1
    shape = tf.convert_to_tensor(f).shape
    if shape.rank == 1:
        return shape[0], shape[0]
    if shape.rank == 2:
        return shape[1], shape[0]
    raise ValueError(f"filter must be 1-D or 2-D, got shape {shape}")


# ---------------------------------------------------------------------------------------------------------------------
# One 2-D pass with a correlation filter [fh, fw]; both implementations compute exactly this.

def _out_size(size: int, up: int, down: int, p0: int, p1: int, ftaps: int) -> int:
    return (size * up + p0 + p1 - ftaps) // down + 1


def _pass_ref(x, f, upx, upy, downx, downy, px0, px1, py0, py1, data_format):
    if x.dtype in _dtypes.HALF_DTYPES:  # float32 arithmetic and one rounding per pass, like the kernel
        y = _pass_ref(tf.cast(x, tf.float32), tf.cast(f, tf.float32), upx, upy, downx, downy, px0, px1, py0, py1,
                      data_format)
        return tf.cast(y, x.dtype)
    if data_format == "NCHW":
        x = tf.transpose(x, [0, 2, 3, 1])
    channels = x.shape[3]
    shape = tf.shape(x)
    n, h, w, c = shape[0], shape[1], shape[2], shape[3]
    if upx > 1 or upy > 1:  # zero insertion: each sample followed by up-1 zeros
        x = tf.reshape(x, [n, h, 1, w, 1, c])
        x = tf.pad(x, [[0, 0], [0, 0], [0, upy - 1], [0, 0], [0, upx - 1], [0, 0]])
        x = tf.reshape(x, [n, h * upy, w * upx, c])
    x = tf.pad(x, [[0, 0], [max(py0, 0), max(py1, 0)], [max(px0, 0), max(px1, 0)], [0, 0]])
    if min(px0, px1, py0, py1) < 0:
        hh, ww = tf.shape(x)[1], tf.shape(x)[2]
        x = x[:, max(-py0, 0): hh - max(-py1, 0), max(-px0, 0): ww - max(-px1, 0), :]
    fh, fw = f.shape
    if channels is not None:
        kernel = tf.tile(f[:, :, tf.newaxis, tf.newaxis], [1, 1, channels, 1])
        strides = [1, downy, downx, 1] if downx == downy else [1, 1, 1, 1]
        x = tf.nn.depthwise_conv2d(x, kernel, strides=strides, padding="VALID")
        if downx != downy:
            x = x[:, ::downy, ::downx, :]
    else:  # unknown channel count: move channels into the batch
        hh, ww = tf.shape(x)[1], tf.shape(x)[2]
        x = tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [n * c, hh, ww, 1])
        x = tf.nn.conv2d(x, f[:, :, tf.newaxis, tf.newaxis], strides=1, padding="VALID")[:, ::downy, ::downx, :]
        x = tf.transpose(tf.reshape(x, [n, c, tf.shape(x)[1], tf.shape(x)[2]]), [0, 2, 3, 1])
    if data_format == "NCHW":
        x = tf.transpose(x, [0, 3, 1, 2])
    return x


def _transposed_attrs(op, fh: int, fw: int) -> dict:
    """The attributes of the transposed operation of an upfirdn2d op (input x [.., h, w, ..], filter taps fh x fw):
    upsample by `down`, correlate with the flipped filter, downsample by `up`, pads that give back x's size."""
    get = op.get_attr
    upx, upy, downx, downy = get("upx"), get("upy"), get("downx"), get("downy")
    px0, px1, py0, py1 = get("padx0"), get("padx1"), get("pady0"), get("pady1")
    data_format = get("data_format")
    data_format = data_format.decode() if isinstance(data_format, bytes) else data_format
    h_axis, w_axis = (1, 2) if data_format == "NHWC" else (2, 3)
    h, w = op.inputs[0].shape[h_axis], op.inputs[0].shape[w_axis]
    if h is None or w is None:
        raise ValueError("the gradient of upfirdn2d needs static spatial input sizes")
    out_h, out_w = _out_size(h, upy, downy, py0, py1, fh), _out_size(w, upx, downx, px0, px1, fw)
    return dict(upx=downx, upy=downy, downx=upx, downy=upy, padx0=fw - px0 - 1, padx1=w * upx - out_w * downx + px0,
                pady0=fh - py0 - 1, pady1=h * upy - out_h * downy + py0, data_format=data_format)


_gradient_registered = False


def _register_gradient() -> None:
    global _gradient_registered
    if _gradient_registered:
        return

    @tf.RegisterGradient("Sg2UpFirDn2d")
    def _upfirdn2d_grad(op, dy):
        fh, fw = op.inputs[1].shape
        attrs = _transposed_attrs(op, fh, fw)
        return _library.get_library().sg2_up_fir_dn2d(dy, tf.reverse(op.inputs[1], [0, 1]), **attrs), None

    @tf.RegisterGradient("Sg2UpFirDn2dSeparable")
    def _upfirdn2d_separable_grad(op, dy):
        # The transposed passes in the reverse order: y = Py(Px(x)) gives dx = Px^T(Py^T(dy)), y pass first.
        _, fx, fy = op.inputs
        attrs = _transposed_attrs(op, fy.shape[0], fx.shape[0])
        dx = _library.get_library().sg2_up_fir_dn2d_separable(
            dy, tf.reverse(fx, [0]), tf.reverse(fy, [0]), y_first=not op.get_attr("y_first"), **attrs)
        return dx, None, None

    _gradient_registered = True


def _pass(x, f, upx, upy, downx, downy, px0, px1, py0, py1, data_format, impl):
    if impl == "ref":
        return _pass_ref(x, f, upx, upy, downx, downy, px0, px1, py0, py1, data_format)
    _register_gradient()
    return _library.get_library().sg2_up_fir_dn2d(
        x, f, upx=upx, upy=upy, downx=downx, downy=downy, padx0=px0, padx1=px1, pady0=py0, pady1=py1,
        data_format=data_format)


def upfirdn2d(x, f, up: IntOrPair = 1, down: IntOrPair = 1, padding=0, flip_filter: bool = False,
              gain: float = 1, data_format: str = "NHWC", impl: str = "auto") -> tf.Tensor:
    """Upsample by zero insertion, pad, FIR-filter and downsample a batch of images.

    Args:
        x: [N, H, W, C] (NHWC) or [N, C, H, W] (NCHW); bfloat16, float16, float32 or float64.
        f: None (identity), a 1-D separable filter [taps] or a 2-D filter [fh, fw] (see `setup_filter`), any float
            type: flipped and scaled by `gain` in float32 (half x) or x's dtype, then cast to x's dtype.
        up: upsampling factor, int or [up_x, up_y].
        down: downsampling factor, int or [down_x, down_y].
        padding: int, [px, py] or [x0, x1, y0, y1], relative to the upsampled image (negative crops).
        flip_filter: False = convolution, True = correlation.
        gain: output scale.
        data_format: 'NHWC' or 'NCHW'.
        impl: 'custom', 'ref' or 'auto'.
    Returns:
        [N, out_h, out_w, C] with out = (in * up + pad0 + pad1 - taps) // down + 1, dtype of x.
    """
    x = tf.convert_to_tensor(x)
    _dtypes.check_dtype(x, "upfirdn2d")
    if x.shape.rank != 4:
        raise ValueError(f"upfirdn2d expects a rank-4 image batch, got shape {x.shape}")
    if data_format not in DATA_FORMATS:
        raise ValueError(f"data_format must be 'NHWC' or 'NCHW', got {data_format!r}")
    upx, upy = _parse_scaling(up, "up")
    downx, downy = _parse_scaling(down, "down")
    px0, px1, py0, py1 = _parse_padding(padding)
    f = _filter_tensor(f, _dtypes.compute_dtype(x.dtype))
    fw, fh = (f.shape[0], f.shape[0]) if f.shape.rank == 1 else (f.shape[1], f.shape[0])
    h, w = (x.shape[1], x.shape[2]) if data_format == "NHWC" else (x.shape[2], x.shape[3])
    for size, u, d, p0, p1, taps, axis in ((w, upx, downx, px0, px1, fw, "width"),
                                           (h, upy, downy, py0, py1, fh, "height")):
        if size is not None and size * u + p0 + p1 < taps:
            raise ValueError(
                f"upfirdn2d: padding/cropping leaves nothing along {axis}: input {size}, up {u}, "
                f"padding ({p0}, {p1}), filter taps {taps}")
        if size is not None and size * u + min(p0, 0) + min(p1, 0) <= 0:
            raise ValueError(f"upfirdn2d: cropping ({p0}, {p1}) removes the whole {axis} ({size * u})")
    impl = _library.resolve_impl(impl)
    if not flip_filter:  # the passes correlate; a convolution correlates with the flipped filter
        f = tf.reverse(f, [0] if f.shape.rank == 1 else [0, 1])
    if f.shape.rank == 1:
        fx = tf.cast(f, x.dtype)
        fy = tf.cast(f * tf.constant(gain, f.dtype), x.dtype)
        if impl == "custom":  # both passes in one op: the same bits, without the intermediate image (NHWC CPU)
            _register_gradient()
            return _library.get_library().sg2_up_fir_dn2d_separable(
                x, fx, fy, upx=upx, upy=upy, downx=downx, downy=downy, padx0=px0, padx1=px1, pady0=py0, pady1=py1,
                data_format=data_format)
        x = _pass(x, tf.reshape(fx, [1, fw]), upx, 1, downx, 1, px0, px1, 0, 0, data_format, impl)
        return _pass(x, tf.reshape(fy, [fh, 1]), 1, upy, 1, downy, 0, 0, py0, py1, data_format, impl)
    if gain != 1:
        f = f * tf.constant(gain, f.dtype)
    return _pass(x, tf.cast(f, x.dtype), upx, upy, downx, downy, px0, px1, py0, py1, data_format, impl)


def filter2d(x, f, padding=0, flip_filter: bool = False, gain: float = 1, data_format: str = "NHWC",
             impl: str = "auto") -> tf.Tensor:
    """Filters each channel with `f`, keeping the size (centered padding) plus `padding`."""
    fw, fh = filter_size(f)
    px0, px1, py0, py1 = _parse_padding(padding)
    pad = [px0 + fw // 2, px1 + (fw - 1) // 2, py0 + fh // 2, py1 + (fh - 1) // 2]
    return upfirdn2d(x, f, padding=pad, flip_filter=flip_filter, gain=gain, data_format=data_format, impl=impl)


def upsample2d(x, f, up: IntOrPair = 2, padding=0, flip_filter: bool = False, gain: float = 1,
               data_format: str = "NHWC", impl: str = "auto") -> tf.Tensor:
    """Upsamples by `up` with FIR filter `f`: [N, H, W, C] -> [N, H*up, W*up, C] (plus `padding`).

    The filter gets gain up_x*up_y, so a normalized filter preserves the mean of the image.
    """
    upx, upy = _parse_scaling(up, "up")
    fw, fh = filter_size(f)
    px0, px1, py0, py1 = _parse_padding(padding)
    pad = [px0 + (fw + upx - 1) // 2, px1 + (fw - upx) // 2, py0 + (fh + upy - 1) // 2, py1 + (fh - upy) // 2]
    return upfirdn2d(x, f, up=(upx, upy), padding=pad, flip_filter=flip_filter, gain=gain * upx * upy,
                     data_format=data_format, impl=impl)


def downsample2d(x, f, down: IntOrPair = 2, padding=0, flip_filter: bool = False, gain: float = 1,
                 data_format: str = "NHWC", impl: str = "auto") -> tf.Tensor:
    """Filters with `f` and downsamples by `down`: [N, H, W, C] -> [N, H/down, W/down, C] (plus `padding`)."""
    downx, downy = _parse_scaling(down, "down")
    fw, fh = filter_size(f)
    px0, px1, py0, py1 = _parse_padding(padding)
    pad = [px0 + (fw - downx + 1) // 2, px1 + (fw - downx) // 2, py0 + (fh - downy + 1) // 2, py1 + (fh - downy) // 2]
    return upfirdn2d(x, f, down=(downx, downy), padding=pad, flip_filter=flip_filter, gain=gain,
                     data_format=data_format, impl=impl)
