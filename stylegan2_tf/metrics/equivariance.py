"""Equivariance metrics of StyleGAN3 ("Alias-Free Generative Adversarial Networks", Karras et al. 2021, appendix E):
EQ-T (integer translation), EQ-T_frac (fractional translation) and EQ-R (rotation), as NVlabs/stylegan3 computes them.

For each batch: w from random z (no truncation), the reference image with the identity input transform, then the
image generated with the input transform set to the inverse of a random translation t ~ U(-0.125, 0.125)^2 (image
widths; rounded to pixels for EQ-T) or rotation angle ~ U(-pi, pi). The reference is transformed in image space
(an integer shift with zero fill; a windowed-sinc shift, a = 3; a band-limited rotation: 4x upsampling with an
oriented Lanczos-windowed sinc filter, bilinear sampling) and compared with the generated image (for EQ-R after the
same band limit without the rotation) inside the valid mask. The squared error and the mask are summed over every
pixel of every sample in float64, and PSNR = 20 log10(2) - 10 log10(sum err / sum mask) (images span [-1, 1]).
One translation / angle is drawn per batch (batches of 4, as upstream).

Images are NHWC here; the filters are built in numpy (float64).
"""
from __future__ import annotations

import math
from typing import Dict, Tuple

import numpy as np
import tensorflow as tf

from stylegan2_tf.ops import filter2d, upsample2d

__all__ = ["apply_integer_translation", "apply_fractional_translation", "construct_affine_bandlimit_filter",
           "apply_affine_transformation", "apply_fractional_rotation", "apply_fractional_pseudo_rotation",
           "rotation_matrix", "compute_equivariance_metrics", "input_transform"]


def _sinc(x: np.ndarray) -> np.ndarray:
    return np.sinc(x)   # sin(pi x) / (pi x), 1 at 0


def _lanczos_window(x: np.ndarray, a: float) -> np.ndarray:
    x = np.abs(x) / a
    return np.where(x < 1, _sinc(x), 0.0)


def rotation_matrix(angle: float) -> np.ndarray:
    """Upstream's 3x3 rotation: [[cos, sin, 0], [-sin, cos, 0], [0, 0, 1]] (float64)."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])


# ---------------------------------------------------------------------------------------------------------------------
# Image-space operators (E.1-E.3). x: NHWC float32 tensor or array; each returns (image, mask) of x's shape.

def apply_integer_translation(x, tx: float, ty: float) -> Tuple[tf.Tensor, tf.Tensor]:
    """Shift by (round(tx W), round(ty H)) pixels with zero fill; the mask marks the shifted-in image."""
    x = tf.convert_to_tensor(x, tf.float32)
    _, h, w, _ = x.shape
    ix, iy = int(np.round(tx * w)), int(np.round(ty * h))
    z, m = np.zeros(x.shape, np.float32), np.zeros(x.shape, np.float32)
    if abs(ix) < w and abs(iy) < h:
        src = x[:, max(-iy, 0):h + min(-iy, 0), max(-ix, 0):w + min(-ix, 0)].numpy()
        z[:, max(iy, 0):h + min(iy, 0), max(ix, 0):w + min(ix, 0)] = src
        m[:, max(iy, 0):h + min(iy, 0), max(ix, 0):w + min(ix, 0)] = 1
    return tf.constant(z), tf.constant(m)


def apply_fractional_translation(x, tx: float, ty: float, a: int = 3, impl: str = "auto"):
    """Shift by (tx W, ty H) pixels with a separable Lanczos-windowed sinc (2a taps); the mask excludes the shifted-in
    band and the filter's support (a pixels on the leading side, a - 1 on the trailing side)."""
    x = tf.convert_to_tensor(x, tf.float32)
    _, h, w, _ = x.shape
    ix, iy = math.floor(tx * w), math.floor(ty * h)
    fx, fy = tx * w - ix, ty * h - iy
    b = a - 1
    z = np.zeros(x.shape, np.float32)
    zx0, zy0 = max(ix - b, 0), max(iy - b, 0)
    zx1, zy1 = min(ix + a, 0) + w, min(iy + a, 0) + h
    if zx0 < zx1 and zy0 < zy1:
        taps = np.arange(a * 2) - b
        filter_x = (_sinc(taps - fx) * _sinc((taps - fx) / a))[None, :]
        filter_y = (_sinc(taps - fy) * _sinc((taps - fy) / a))[:, None]
        y = filter2d(x, filter_x / filter_x.sum(), padding=[b, a, 0, 0], impl=impl)
        y = filter2d(y, filter_y / filter_y.sum(), padding=[0, 0, b, a], impl=impl).numpy()
        y = y[:, max(b - iy, 0):h + b + a + min(-iy - a, 0), max(b - ix, 0):w + b + a + min(-ix - a, 0)]
        z[:, zy0:zy1, zx0:zx1] = y
    m = np.zeros(x.shape, np.float32)
    mx0, my0 = max(ix + a, 0), max(iy + a, 0)
    mx1, my1 = min(ix - b, 0) + w, min(iy - b, 0) + h
    if mx0 < mx1 and my0 < my1:
        m[:, my0:my1, mx0:mx1] = 1
    return tf.constant(z), tf.constant(m)


def construct_affine_bandlimit_filter(mat, a: int = 3, amax: int = 16, aflt: int = 64, up: int = 4,
                                      cutoff_in: float = 1, cutoff_out: float = 1) -> np.ndarray:
    """The oriented low-pass of appendix E.3: the convolution of the input- and output-aligned sinc filters (through
    the 2x2 part of ``mat``), windowed by the convolution of the two Lanczos windows (a lobes), built on a grid of
    aflt input pixels at ``up`` samples each and cut to amax pixels; its up x up phases each sum to 1 / up^2.
    Returns [amax * 2 * up - 1] x same (float64)."""
    if not a <= amax < aflt:
        raise ValueError(f"need a <= amax < aflt, got {a}, {amax}, {aflt}")
    mat = np.asarray(mat, np.float64)
    taps = np.roll((np.arange(aflt * up * 2 - 1) + 1) / up - aflt, 1 - aflt * up)
    yi, xi = np.meshgrid(taps, taps, indexing="ij")
    xo = xi * mat[0, 0] + yi * mat[0, 1]
    yo = xi * mat[1, 0] + yi * mat[1, 1]
    fi = _sinc(xi * cutoff_in) * _sinc(yi * cutoff_in)
    fo = _sinc(xo * cutoff_out) * _sinc(yo * cutoff_out)
    f = np.fft.ifftn(np.fft.fftn(fi) * np.fft.fftn(fo)).real
    wi = _lanczos_window(xi, a) * _lanczos_window(yi, a)
    wo = _lanczos_window(xo, a) * _lanczos_window(yo, a)
    wgt = np.fft.ifftn(np.fft.fftn(wi) * np.fft.fftn(wo)).real
    f = f * wgt
    c = (aflt - amax) * up
    f = np.roll(f, [aflt * up - 1] * 2, axis=(0, 1))[c:-c, c:-c]
    f = np.pad(f, [(0, 1), (0, 1)]).reshape(amax * 2, up, amax * 2, up)
    f = f / f.sum(axis=(0, 2), keepdims=True) / (up ** 2)
    return f.reshape(amax * 2 * up, amax * 2 * up)[:-1, :-1]


def _grid_sample(x: tf.Tensor, gx: tf.Tensor, gy: tf.Tensor, nearest: bool) -> tf.Tensor:
    """torch's grid_sample(align_corners=False, padding_mode='zeros') of x [N, H, W, C] at normalised coordinates
    gx, gy [N, Ho, Wo] (float64): bilinear, or nearest (round half to even)."""
    n, h, w, c = x.shape
    ix = ((gx + 1) * w - 1) / 2
    iy = ((gy + 1) * h - 1) / 2
    flat = tf.reshape(x, [n, h * w, c])

    def tap(xi, yi, weight):
        ok = (xi >= 0) & (xi <= w - 1) & (yi >= 0) & (yi <= h - 1)
        idx = tf.cast(tf.clip_by_value(yi, 0, h - 1) * w + tf.clip_by_value(xi, 0, w - 1), tf.int32)
        vals = tf.gather(flat, tf.reshape(idx, [n, -1]), batch_dims=1)
        vals = tf.reshape(vals, [n, *idx.shape[1:], c])
        return vals * tf.cast(tf.where(ok, weight, 0.0), tf.float32)[..., None]

    if nearest:
        return tap(tf.round(ix), tf.round(iy), tf.ones_like(ix))
    x0, y0 = tf.floor(ix), tf.floor(iy)
    out = 0.0
    for dy in (0, 1):
        for dx in (0, 1):
            xi, yi = x0 + dx, y0 + dy
            out += tap(xi, yi, (1 - tf.abs(ix - xi)) * (1 - tf.abs(iy - yi)))
    return out


def apply_affine_transformation(x, mat, up: int = 4, impl: str = "auto", **filter_kwargs):
    """Resample x through the 2-D affine ``mat`` (output pixel -> input pixel in normalised units, upstream's
    convention): upsample ``up``x with the band-limit filter, then bilinear sampling; the mask is the interior of the
    filtered image (beyond the filter's reach of the border), sampled nearest."""
    x = tf.convert_to_tensor(x, tf.float32)
    n, h, w, _ = x.shape
    f = construct_affine_bandlimit_filter(mat, up=up, **filter_kwargs)
    p = f.shape[0] // 2
    theta = np.linalg.inv(np.asarray(mat, np.float64))
    theta[:2, 2] *= 2
    theta[0, 2] += 1 / up / w
    theta[1, 2] += 1 / up / h
    theta[0, :] *= w / (w + p / up * 2)
    theta[1, :] *= h / (h + p / up * 2)
    # affine_grid(align_corners=False): output pixel centres at (2i + 1) / size - 1.
    bx = (2 * np.arange(w) + 1) / w - 1
    by = (2 * np.arange(h) + 1) / h - 1
    BX, BY = np.meshgrid(bx, by)
    gx = tf.constant(np.broadcast_to(theta[0, 0] * BX + theta[0, 1] * BY + theta[0, 2], (n, h, w)).copy())
    gy = tf.constant(np.broadcast_to(theta[1, 0] * BX + theta[1, 1] * BY + theta[1, 2], (n, h, w)).copy())
    y = upsample2d(x, f, up=up, padding=p, impl=impl)
    z = _grid_sample(y, gx, gy, nearest=False)
    m = np.zeros(y.shape, np.float32)
    c = p * 2 + 1
    m[:, c:-c, c:-c] = 1
    m = _grid_sample(tf.constant(m), gx, gy, nearest=True)
    return z, m


def apply_fractional_rotation(x, angle: float, a: int = 3, impl: str = "auto", **filter_kwargs):
    """R_alpha of appendix E.3: the band-limited rotation by ``angle`` (radians)."""
    return apply_affine_transformation(x, rotation_matrix(angle), a=a, amax=a * 2, impl=impl, **filter_kwargs)


def apply_fractional_pseudo_rotation(x, angle: float, a: int = 3, impl: str = "auto", **filter_kwargs):
    """R*_alpha: the band limit a rotation by ``angle`` would apply, without rotating."""
    x = tf.convert_to_tensor(x, tf.float32)
    f = construct_affine_bandlimit_filter(rotation_matrix(-angle), a=a, amax=a * 2, up=1, **filter_kwargs)
    y = filter2d(x, f, impl=impl)
    m = np.zeros(y.shape, np.float32)
    c = f.shape[0] // 2
    m[:, c:-c, c:-c] = 1
    return y, tf.constant(m)


# ---------------------------------------------------------------------------------------------------------------------
# The metrics.

def input_transform(G) -> tf.Variable:
    """The generator's user transform of its Fourier-feature input (StyleGAN3); ValueError for other generators."""
    transform = getattr(getattr(getattr(G, "synthesis", None), "input", None), "transform", None)
    if transform is None:
        raise ValueError("cannot compute equivariance metrics: the generator has no input transform "
                         "(G.synthesis.input.transform, StyleGAN3's Fourier features)")
    return transform


def compute_equivariance_metrics(G, num_samples: int, batch_size: int = 4, translate_max: float = 0.125,
                                 rotate_max: float = 1.0, eqt_int: bool = False, eqt_frac: bool = False,
                                 eqr: bool = False, seed: int = 0, label_sampler=None, G_kwargs=None,
                                 impl: str = "auto", progress=None) -> Dict[str, float]:
    """PSNRs {'eqt_int', 'eqt_frac', 'eqr'} (those asked for) over num_samples generated images.

    label_sampler(rng, n) -> labels [n, c_dim] for conditional generators; G_kwargs go to G.synthesis (default
    noise_mode='const'). The transform variable is restored to the identity afterwards.
    """
    if not (eqt_int or eqt_frac or eqr):
        raise ValueError("ask for at least one of eqt_int, eqt_frac, eqr")
    transform = input_transform(G)
    identity = np.eye(3, dtype=np.float32)
    saved = transform.numpy()
    kwargs = dict(dict(noise_mode="const"), **(G_kwargs or {}))
    synthesis = tf.function(lambda ws: G.synthesis(ws, **kwargs))
    rng = np.random.default_rng(seed)
    names = [name for name, on in (("eqt_int", eqt_int), ("eqt_frac", eqt_frac), ("eqr", eqr)) if on]
    sums = np.zeros([len(names), 2])
    res = G.img_resolution

    def squared(ref, img, mask):
        return (float(tf.reduce_sum(tf.cast(tf.square(ref - img) * mask, tf.float64))),
                float(tf.reduce_sum(tf.cast(mask, tf.float64))))
    try:
        for start in range(0, num_samples, batch_size):
            n = batch_size
            z = rng.standard_normal([n, G.z_dim]).astype(np.float32)
            c = label_sampler(rng, n) if (label_sampler is not None and G.c_dim) else None
            ws = G.mapping(z, c)
            transform.assign(identity)
            orig = synthesis(ws)
            row = []
            if eqt_int:
                t = (rng.uniform(size=2) * 2 - 1) * translate_max
                t = np.round(t * res) / res
                m = identity.copy()
                m[:2, 2] = -t
                transform.assign(m)
                ref, mask = apply_integer_translation(orig, t[0], t[1])
                row.append(squared(ref, synthesis(ws), mask))
            if eqt_frac:
                t = (rng.uniform(size=2) * 2 - 1) * translate_max
                m = identity.copy()
                m[:2, 2] = -t
                transform.assign(m)
                ref, mask = apply_fractional_translation(orig, t[0], t[1], impl=impl)
                row.append(squared(ref, synthesis(ws), mask))
            if eqr:
                angle = (rng.uniform() * 2 - 1) * (rotate_max * np.pi)
                transform.assign(rotation_matrix(-angle).astype(np.float32))
                ref, ref_mask = apply_fractional_rotation(orig, angle, impl=impl)
                pseudo, pseudo_mask = apply_fractional_pseudo_rotation(synthesis(ws), angle, impl=impl)
                row.append(squared(ref, pseudo, ref_mask * pseudo_mask))
            sums += np.array(row)
            if progress is not None:
                progress(min(start + n, num_samples), num_samples)
    finally:
        transform.assign(saved)
    mses = sums[:, 0] / sums[:, 1]
    with np.errstate(divide="ignore"):   # a perfectly equivariant generator: MSE 0, PSNR inf
        return {name: float(20 * np.log10(2) - 10 * np.log10(mse)) for name, mse in zip(names, mses)}
