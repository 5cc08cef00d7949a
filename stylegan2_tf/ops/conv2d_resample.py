"""Convolution fused with FIR up/downsampling, as the StyleGAN2 networks use it.

`conv2d_resample` is the entry point the layers call (plain, 2x up, 2x down, and the grouped 2x up of the fused
modulated conv). The fused forms keep the structure of the official layers, so imported weights give the same numbers:
  * `upsample_conv2d`: a stride-`up` transposed convolution followed by an FIR filter — equal to `upsample2d`
    followed by a convolution, with all padding applied once at the beginning.
  * `conv_downsample2d`: an FIR filter followed by a stride-`down` VALID convolution — equal to a convolution
    followed by `downsample2d`, with all padding applied once at the beginning.
Weights are [kh, kw, in, out] in the orientation of `tf.nn.conv2d` (cross-correlation) for both.
`full_conv2d` is the StyleGAN3 synthesis layers' unpadded-output ("full") convolution.

The plain 3x3 convolution runs as Winograd's F(4x4, 3x3) (`winograd.py`) where `winograd.preferred` says it is faster
(float32 on the CPU with the compiled ops, at least 64 channels in and out and 16x16 pixels); `impl='ref'` and every
other case use `tf.nn.conv2d`.

bfloat16/float16 inputs: the weights (and FIR filter) are cast to the input's dtype; the convolutions run in that
dtype as TensorFlow implements them (its CPU/oneDNN convolutions stay within one float32-accumulated rounding, as
tests/test_ops_resample.py checks), the FIR passes as `upfirdn2d` does. Outputs and gradients have the input's dtype.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from stylegan2_tf.ops import _dtypes, winograd
from stylegan2_tf.ops.upfirdn2d import _parse_padding, filter_size, upfirdn2d

_UNIT_FILTER = np.ones([1], np.float32)


def _check(x: tf.Tensor, w: tf.Tensor, data_format: str) -> None:
    if x.shape.rank != 4 or w.shape.rank != 4:
        raise ValueError(f"expected x of rank 4 and w [kh, kw, in, out], got {x.shape} and {w.shape}")
    if data_format not in ("NHWC", "NCHW"):
        raise ValueError(f"data_format must be 'NHWC' or 'NCHW', got {data_format!r}")
    channels = x.shape[3] if data_format == "NHWC" else x.shape[1]
    if channels is not None and w.shape[2] is not None and channels != w.shape[2]:
        raise ValueError(f"x has {channels} channels but w expects {w.shape[2]}")
    if w.shape[0] != w.shape[1]:
        raise ValueError(f"only square kernels are supported, got {w.shape[0]}x{w.shape[1]}")


def _prepare(x, w, f, factor, what: str, padding, data_format: str):
    """Shared argument handling: checks, NCHW -> NHWC. Returns (x NHWC, w, k, filter width, padding x0 x1 y0 y1)."""
    x = tf.convert_to_tensor(x)
    _dtypes.check_dtype(x, "upsample_conv2d" if what == "up" else "conv_downsample2d")
    w = _dtypes.cast_like(w, x.dtype, "w")
    _check(x, w, data_format)
    if int(factor) != factor or factor < 1:
        raise ValueError(f"{what} must be an integer >= 1, got {factor}")
    if data_format == "NCHW":
        x = tf.transpose(x, [0, 2, 3, 1])
    return x, w, w.shape[0], filter_size(f)[0], _parse_padding(padding)


def upsample_conv2d(x, w, f, up: int = 2, padding=0, flip_filter: bool = False, data_format: str = "NHWC",
                    impl: str = "auto") -> tf.Tensor:
    """Upsamples by `up` with FIR filter `f` and convolves with `w`: [N,H,W,Cin] -> [N,H*up,W*up,Cout].

    Args:
        x: [N, H, W, Cin] (or NCHW).
        w: [k, k, Cin, Cout], tf.nn.conv2d orientation.
        f: FIR filter (see `setup_filter`); it gets gain up**2.
        up: integer factor >= 1.
        padding: extra padding [x0, x1, y0, y1] (int or pair accepted), relative to the upsampled image.
    """
    x, w, k, fw, (px0, px1, py0, py1) = _prepare(x, w, f, up, "up", padding, data_format)
    shape = tf.shape(x)
    n, h, wd = shape[0], shape[1], shape[2]
    # conv2d_transpose scatters each input sample with the kernel as given (a true convolution of the zero-inserted
    # image), so flipping the kernel turns it into the correlation tf.nn.conv2d would compute.
    w_t = tf.transpose(w[::-1, ::-1], [0, 1, 3, 2])  # [k, k, Cout, Cin]
    y = tf.nn.conv2d_transpose(x, w_t, output_shape=tf.stack([n, (h - 1) * up + k, (wd - 1) * up + k, w.shape[3]]),
                               strides=up, padding="VALID")
    if x.shape[1] is not None and x.shape[2] is not None:
        y = tf.ensure_shape(y, [None, (x.shape[1] - 1) * up + k, (x.shape[2] - 1) * up + k, w.shape[3]])
    p = (fw - up) - (k - 1)
    p0, p1 = (p + 1) // 2 + up - 1, p // 2 + 1
    y = upfirdn2d(y, f, padding=[p0 + px0, p1 + px1, p0 + py0, p1 + py1], flip_filter=flip_filter,
                  gain=up * up, impl=impl)
    return y if data_format == "NHWC" else tf.transpose(y, [0, 3, 1, 2])


def conv_downsample2d(x, w, f, down: int = 2, padding=0, flip_filter: bool = False, data_format: str = "NHWC",
                      impl: str = "auto") -> tf.Tensor:
    """FIR-filters with `f`, then convolves with `w` at stride `down`: [N,H,W,Cin] -> [N,H/down,W/down,Cout]."""
    x, w, k, fw, (px0, px1, py0, py1) = _prepare(x, w, f, down, "down", padding, data_format)
    p = (fw - down) + (k - 1)
    p0, p1 = (p + 1) // 2, p // 2
    x = upfirdn2d(x, f, padding=[p0 + px0, p1 + px1, p0 + py0, p1 + py1], flip_filter=flip_filter, impl=impl)
    y = tf.nn.conv2d(x, w, strides=down, padding="VALID")
    return y if data_format == "NHWC" else tf.transpose(y, [0, 3, 1, 2])


def grouped_upsample_conv2d(x, w, f, impl: str = "auto") -> tf.Tensor:
    """`upsample_conv2d` (up=2, NHWC) for a grouped conv: x [N, H, W, G*Cin], w [k, k, Cin, G*Cout].

    tf.nn.conv2d_transpose has no groups; a stride-2 transposed conv equals zero insertion followed by a full-size
    correlation with w, so: zero-insert (upfirdn2d with a unit filter), pad by k-1, one grouped VALID conv, then
    FIR-filter exactly as `upsample_conv2d` does (padding once, gain 4).
    """
    x = tf.convert_to_tensor(x)
    _dtypes.check_dtype(x, "grouped_upsample_conv2d")
    w = _dtypes.cast_like(w, x.dtype, "w")
    if x.shape.rank != 4 or w.shape.rank != 4 or w.shape[0] != w.shape[1]:
        raise ValueError(f"expected x of rank 4 and a square w [k, k, in, out], got {x.shape} and {w.shape}")
    k = int(w.shape[0])
    z = upfirdn2d(x, _UNIT_FILTER, up=2, padding=[k - 1, k - 2, k - 1, k - 2], impl=impl)
    y = tf.nn.conv2d(z, w, strides=1, padding="VALID")       # [N, 2H + k - 2, 2W + k - 2, G*Cout]
    fw, _ = filter_size(f)
    p = (fw - 2) - (k - 1)
    p0, p1 = (p + 1) // 2 + 1, p // 2 + 1
    return upfirdn2d(y, f, padding=[p0, p1, p0, p1], gain=4, impl=impl)


def conv2d_resample(x, w, f=None, up: int = 1, down: int = 1, grouped: bool = False,
                    impl: str = "auto") -> tf.Tensor:
    """NHWC convolution with w [k, k, Cin, Cout] keeping the size ('SAME'), optionally fused with 2x FIR resampling.

    Args:
        x: [N, H, W, Cin] (grouped: [N, H, W, G*Cin]).
        w: [k, k, Cin, Cout] (grouped: [k, k, Cin, G*Cout]), tf.nn.conv2d orientation, odd square k.
        f: FIR filter (see `setup_filter`); needed for up/down.
        up, down: 1 or 2 (not both 2). Output [N, H*up/down, W*up/down, Cout].
        grouped: x may hold G groups of w's input channels (the fused modulated conv folds the batch into groups).
    """
    if up not in (1, 2) or down not in (1, 2) or (up == 2 and down == 2):
        raise ValueError(f"conv2d_resample supports up=2 or down=2 (or neither), got up={up}, down={down}")
    if (up != 1 or down != 1) and f is None:
        raise ValueError("conv2d_resample needs a FIR filter f to resample")
    if up == 2:
        if grouped:
            return grouped_upsample_conv2d(x, w, f, impl=impl)
        return upsample_conv2d(x, w, f, up=2, impl=impl)
    if down == 2:
        if grouped:
            raise ValueError("grouped conv2d_resample supports up=2 or no resampling, not down=2")
        return conv_downsample2d(x, w, f, down=2, impl=impl)
    x = tf.convert_to_tensor(x)
    _dtypes.check_dtype(x, "conv2d_resample")
    w = _dtypes.cast_like(w, x.dtype, "w")
    if winograd.preferred(x, w, impl):
        return winograd.winograd_conv2d(x, w, impl="custom")
    return tf.nn.conv2d(x, w, strides=1, padding="SAME")


def full_conv2d(x, w) -> tf.Tensor:
    """NHWC "full" convolution (zero padding k - 1 on every side), as StyleGAN3's synthesis layers use it.

    Args:
        x: [N, H, W, Cin].
        w: [k, k, Cin, Cout], tf.nn.conv2d orientation (cast to x's dtype).
    Returns:
        [N, H + k - 1, W + k - 1, Cout].

    Written as tf.pad + a VALID convolution rather than conv2d's explicit padding, which computes the same forward
    pass: TensorFlow has no oneDNN gradient kernels for explicit padding and falls back to Eigen's, 2-3x slower in
    float32 and ~70x in bfloat16, and in bfloat16 and float16 they are not one rounding from the exact result
    (bfloat16 gradients ~1-2% off on average; tests/test_ops_resample.py).
    """
    x = tf.convert_to_tensor(x)
    _dtypes.check_dtype(x, "full_conv2d")
    w = _dtypes.cast_like(w, x.dtype, "w")
    _check(x, w, "NHWC")
    k = w.shape[0]
    if k > 1:
        x = tf.pad(x, [[0, 0], [k - 1, k - 1], [k - 1, k - 1], [0, 0]])
    return tf.nn.conv2d(x, w, strides=1, padding="VALID")
