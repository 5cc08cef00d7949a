"""affine_resample: bilinear samples, at affine positions, of an image reflect-padded and 2x upsampled with a FIR.

This is the geometric core of the ADA augmentation pipeline (training/augment.py; stylegan2-ada-pytorch pads the
image by reflection, upsamples it 2x with the sym6 wavelet filter and grid-samples it). Definitions (x = width):

* padding: input pixel q of an axis of size S lies in the padded image when -m0 <= q <= S - 1 + m1 (``margin``
  [x0, x1, y0, y1], each in [0, S - 1]); there P(q) = x[reflect(q)] with reflect(q) = -q below 0 and 2(S - 1) - q
  above S - 1 (a mirror without repeating the edge, TF's 'REFLECT'); elsewhere P = 0.
* upsampling: U(k) at integer upsampled index k is upsample2d's (zero insertion, FIR f as a convolution, gain 2 per
  axis, padding [(T + 1) // 2, (T - 2) // 2] for T taps): U(k) = 2 * sum_q f[T - 1 - (T + 1) // 2 + k - 2q] P(q) per
  axis (taps outside [0, T) count as zero), separably along x and y. Upsampled index k = 2q holds input pixel q.
* sampling: output pixel (ox, oy) reads U at (kx, ky) = theta[n] @ (ox, oy, 1) bilinearly: the two integer indices
  around each of kx, ky with weights 1 - |k - i|; a tap outside the upsampled padded image, i.e. outside
  [-2 m0, 2 (S + m1) - 1], counts as zero (torch's grid_sample with zeros outside).

The op is linear in x; its gradient with respect to x is the adjoint (a scatter), whose own gradient is the op again,
so any order of derivative is available (R1 through the augmentation needs the second). No gradient flows to theta,
f or margin. ``impl='ref'`` composes standard TF ops: a static reflect padding by S - 1, the margin as a mask,
upsample2d and gathers. ``impl='custom'`` runs the compiled ``Sg2AffineResample`` op (no upsampled image in memory).
"""
from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np
import tensorflow as tf

from stylegan2_tf.ops import _library
from stylegan2_tf.ops.upfirdn2d import upsample2d


def _check(x, f, theta, margin, out_size) -> Tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, Tuple[int, int]]:
    x = tf.convert_to_tensor(x)
    if x.dtype != tf.float32:
        raise ValueError(f"affine_resample computes in float32, got {x.dtype.name}")
    if x.shape.rank != 4 or None in x.shape[1:]:
        raise ValueError(f"affine_resample expects x [N, H, W, C] with static H, W, C, got {x.shape}")
    if x.shape[1] < 2 or x.shape[2] < 2:
        raise ValueError(f"affine_resample needs images of at least 2x2 pixels (reflect padding), got {x.shape}")
    f = tf.convert_to_tensor(f, tf.float32)
    if f.shape.rank != 1 or f.shape[0] is None or f.shape[0] < 2 or f.shape[0] % 2:
        raise ValueError(f"affine_resample expects an even number of 1-D filter taps, got shape {f.shape}")
    theta = tf.convert_to_tensor(theta, tf.float64)
    if theta.shape.rank != 3 or tuple(theta.shape[1:]) != (2, 3):
        raise ValueError(f"theta must be [N, 2, 3], got {theta.shape}")
    margin = tf.convert_to_tensor(margin, tf.int32)
    if margin.shape != (4,):
        raise ValueError(f"margin must be [x0, x1, y0, y1], got shape {margin.shape}")
    out_h, out_w = (int(v) for v in out_size)
    if out_h < 1 or out_w < 1:
        raise ValueError(f"out_size must be positive, got {out_size}")
    return x, f, theta, margin, (out_h, out_w)


def affine_resample(x, f, theta, margin, out_size: Sequence[int], impl: str = "auto") -> tf.Tensor:
    """x [N, H, W, C] float32 -> [N, out_h, out_w, C]: see the module docstring.

    f: filter taps [T] (T even; normalised to sum 1, e.g. setup_filter(SYM6)); theta [N, 2, 3] (float64; output
    pixel -> upsampled index); margin int32 [x0, x1, y0, y1] (each in [0, size - 1]); out_size (out_h, out_w).
    """
    x, f, theta, margin, out_size = _check(x, f, theta, margin, out_size)
    requested, impl = impl, _library.resolve_impl(impl)
    if impl == "custom" and not hasattr(_library.get_library(), "sg2_affine_resample"):
        if requested == "custom":
            raise RuntimeError("the compiled op library has no Sg2AffineResample (built from older sources?); "
                               "rebuild it with `python custom_ops/build.py --force`")
        impl = "ref"
    if impl == "ref":
        return _affine_resample_ref(x, f, theta, margin, out_size)
    _register_gradients()
    return _library.get_library().sg2_affine_resample(x, f, theta, margin, out_h=out_size[0], out_w=out_size[1])


_gradients_registered = False


def _register_gradients() -> None:
    global _gradients_registered
    if _gradients_registered:
        return

    @tf.RegisterGradient("Sg2AffineResample")
    def _resample_grad(op, dy):
        x, f, theta, margin = op.inputs
        dx = _library.get_library().sg2_affine_resample_adjoint(dy, f, theta, margin, in_h=x.shape[1],
                                                                 in_w=x.shape[2])
        return dx, None, None, None

    @tf.RegisterGradient("Sg2AffineResampleAdjoint")
    def _adjoint_grad(op, ddx):
        dy, f, theta, margin = op.inputs
        return (_library.get_library().sg2_affine_resample(ddx, f, theta, margin, out_h=dy.shape[1],
                                                            out_w=dy.shape[2]), None, None, None)

    _gradients_registered = True


# ---------------------------------------------------------------------------------------------------------------------
# Reference: standard TF ops.

def _affine_resample_ref(x, f, theta, margin, out_size) -> tf.Tensor:
    """Channels-first internally: upfirdn2d is several times faster there for the few channels images have."""
    _, height, width, channels = x.shape
    mx, my = width - 1, height - 1                    # the largest margin: a static padding, masked down to `margin`
    margin64 = tf.cast(margin, tf.float64)
    y = tf.transpose(x, [0, 3, 1, 2])                                             # [N, C, H, W]
    y = tf.pad(y, [[0, 0], [0, 0], [my, my], [mx, mx]], mode="REFLECT")
    keep_x = _range_mask(width + 2 * mx, mx - margin64[0], mx + width - 1 + margin64[1])
    keep_y = _range_mask(height + 2 * my, my - margin64[2], my + height - 1 + margin64[3])
    y = y * tf.cast(keep_y[:, None] & keep_x[None, :], tf.float32)
    y = upsample2d(y, f, up=2, data_format="NCHW", impl="ref")                     # [N, C, 2Hp, 2Wp]
    out_h, out_w = out_size
    oy, ox = np.meshgrid(np.arange(out_h, dtype=np.float64), np.arange(out_w, dtype=np.float64), indexing="ij")
    grid = tf.constant(np.stack([ox.ravel(), oy.ravel(), np.ones(ox.size)], axis=0))    # [3, P]
    k = theta @ grid                                                                 # [N, 2, P]
    kx, ky = k[:, 0] + 2 * mx, k[:, 1] + 2 * my                                     # indices into the padded array
    valid_x = (2 * (mx - margin64[0]), 2 * (mx + width + margin64[1]) - 1)
    valid_y = (2 * (my - margin64[2]), 2 * (my + height + margin64[3]) - 1)
    y = _bilinear(y, kx, ky, valid_x, valid_y)                                      # [N, C, P]
    return tf.transpose(tf.reshape(y, [-1, channels, out_h, out_w]), [0, 2, 3, 1])


def _range_mask(size: int, first, last) -> tf.Tensor:
    idx = tf.range(size, dtype=tf.float64)
    return (idx >= first) & (idx <= last)


def _bilinear(x: tf.Tensor, kx: tf.Tensor, ky: tf.Tensor, valid_x, valid_y) -> tf.Tensor:
    """Bilinear samples of x [N, C, Hu, Wu] at continuous indices kx, ky [N, P] (float64); a tap outside
    [valid[0], valid[1]] counts as zero. Returns [N, C, P]."""
    c, hu, wu = x.shape[1], x.shape[2], x.shape[3]
    flat = tf.reshape(x, [-1, c, hu * wu])
    x0, y0 = tf.floor(kx), tf.floor(ky)
    fx, fy = tf.cast(kx - x0, tf.float32), tf.cast(ky - y0, tf.float32)
    out = 0.0
    for dy, wy in ((0, 1 - fy), (1, fy)):
        yi = y0 + dy
        ok_y = (yi >= valid_y[0]) & (yi <= valid_y[1])
        for dx, wx in ((0, 1 - fx), (1, fx)):
            xi = x0 + dx
            ok = ok_y & (xi >= valid_x[0]) & (xi <= valid_x[1])
            index = tf.cast(tf.clip_by_value(yi, 0, hu - 1) * wu + tf.clip_by_value(xi, 0, wu - 1), tf.int32)
            weight = tf.where(ok, wx * wy, 0.0)
            out += tf.gather(flat, index, axis=2, batch_dims=1) * weight[:, None, :]
    return out
