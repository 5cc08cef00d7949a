"""The equivariance metrics (stylegan2_tf.metrics.equivariance): the image-space operators against their definitions,
and the whole metric on stand-in generators whose equivariance is known: a band-limited continuous image sampled
through the input transform (as StyleGAN3's Fourier features are) scores high, one that ignores the transform low.
The stand-ins are used because the property must be known exactly; StyleGAN3's own networks are measured in
docs/training.md."""
import math
import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

from stylegan2_tf.metrics import equivariance as eq  # noqa: E402
from stylegan2_tf.metrics.metric_main import MetricOptions, calc_metric  # noqa: E402


def _smooth(n, h, c=1, seed=0, max_freq=0.15):
    """Band-limited images: sums of cosines below max_freq cycles per pixel."""
    rng = np.random.default_rng(seed)
    yy, xx = np.meshgrid(np.arange(h), np.arange(h), indexing="ij")
    out = np.zeros([n, h, h, c])
    for _ in range(6):
        f = rng.uniform(-max_freq, max_freq, (n, 1, 1, c, 2))
        ph = rng.uniform(0, 2 * np.pi, (n, 1, 1, c))
        out += np.cos(2 * np.pi * (f[..., 0] * xx[None, :, :, None] + f[..., 1] * yy[None, :, :, None]) + ph) / 3
    return out.astype(np.float32)


def test_integer_translation():
    x = np.random.default_rng(0).standard_normal((2, 8, 8, 3)).astype(np.float32)
    z, m = eq.apply_integer_translation(x, 2 / 8, -1 / 8)
    want = np.zeros_like(x)
    want[:, :7, 2:] = x[:, 1:, :6]
    np.testing.assert_array_equal(z.numpy(), want)
    assert m.numpy().sum() == 2 * 7 * 6 * 3
    z, m = eq.apply_integer_translation(x, 1.0, 0.0)                 # shifted out entirely
    assert not z.numpy().any() and not m.numpy().any()


def test_fractional_translation_is_exact_at_integers_and_interpolates_between():
    x = _smooth(2, 16, 2)
    z, m = eq.apply_fractional_translation(x, 3 / 16, 2 / 16)
    zi, mi = eq.apply_integer_translation(x, 3 / 16, 2 / 16)
    inside = m.numpy() > 0
    np.testing.assert_allclose(z.numpy()[inside], zi.numpy()[inside], atol=1e-6)
    assert np.all(mi.numpy()[inside] > 0)
    # Mask: the shifted-in band (3 px) and a = 3 more px on the leading side; the trailing side loses b - shift px
    # only for shifts below b = a - 1 = 2 px.
    assert np.array_equal(np.where(m.numpy()[0, :, :, 0].any(0))[0], np.arange(3 + 3, 16))
    _, m = eq.apply_fractional_translation(x, 0.5 / 16, 0.0)
    assert np.array_equal(np.where(m.numpy()[0, :, :, 0].any(0))[0], np.arange(0 + 3, 16 - 2))
    # A half-pixel shift of a band-limited image is its value between the pixels.
    yy, xx = np.meshgrid(np.arange(16), np.arange(16), indexing="ij")
    f = lambda u, v: np.cos(2 * np.pi * (0.09 * u + 0.05 * v) + 0.3)   # noqa: E731
    img = f(xx, yy)[None, :, :, None].astype(np.float32)
    z, m = eq.apply_fractional_translation(img, 0.5 / 16, 0.0)
    inside = m.numpy()[0, :, :, 0] > 0
    np.testing.assert_allclose(z.numpy()[0, :, :, 0][inside], f(xx - 0.5, yy)[inside], atol=2e-2)


def test_bandlimit_filter_and_rotations():
    f = eq.construct_affine_bandlimit_filter(eq.rotation_matrix(0.3), a=3, amax=6, up=4)
    assert f.shape == (47, 47)
    # Each of the up x up phases sums to 1 / up^2 (the 1-pixel pad at the end belongs to the last phase).
    phases = np.pad(f, [(0, 1), (0, 1)]).reshape(12, 4, 12, 4).sum(axis=(0, 2))
    np.testing.assert_allclose(phases, np.full((4, 4), 1 / 16), rtol=1e-9)
    fp = eq.construct_affine_bandlimit_filter(eq.rotation_matrix(-0.3), a=3, amax=6, up=1)
    assert fp.shape == (11, 11) and abs(fp.sum() - 1) < 1e-9
    x = _smooth(2, 32, 1, max_freq=0.1)
    # Rotation by 0: the image again, inside the mask; by 90 degrees: np.rot90 (upstream's angle convention).
    z, m = eq.apply_fractional_rotation(x, 0.0)
    inside = m.numpy() > 0
    assert inside.mean() > 0.1
    np.testing.assert_allclose(z.numpy()[inside], x[inside], atol=0.03)
    z, m = eq.apply_fractional_rotation(x, math.pi / 2)
    inside = m.numpy() > 0
    rot = np.rot90(x, k=1, axes=(1, 2))
    other = np.rot90(x, k=3, axes=(1, 2))
    err, err_other = np.abs(z.numpy() - rot)[inside].max(), np.abs(z.numpy() - other)[inside].max()
    assert err < 0.05 < err_other, (err, err_other)
    y, mp = eq.apply_fractional_pseudo_rotation(x, 0.4)
    inside = mp.numpy() > 0
    np.testing.assert_allclose(y.numpy()[inside], x[inside], atol=0.03)   # smooth images pass the band limit


class _FourierStandIn:
    """A 'generator' drawing a band-limited continuous image through its input transform, as StyleGAN3's Fourier
    features do: pixel p (centred, in image widths) shows g(T p) with T = synthesis.input.transform. With
    equivariant=False it ignores T."""

    def __init__(self, res=32, equivariant=True, max_freq=4.0):
        self.z_dim, self.c_dim, self.img_resolution, self.img_channels = 8, 0, res, 1
        self.equivariant, self.max_freq = equivariant, max_freq
        self.synthesis = self
        self.input = self
        self.transform = tf.Variable(tf.eye(3))

    def mapping(self, z, c=None, **_):
        return tf.convert_to_tensor(z)

    def __call__(self, ws, **_):
        res = self.img_resolution
        p = (np.arange(res) + 0.5) / res - 0.5
        px, py = np.meshgrid(p, p)
        pts = tf.constant(np.stack([px.ravel(), py.ravel(), np.ones(px.size)]), tf.float32)     # [3, P]
        if self.equivariant:
            pts = self.transform @ pts
        ws = tf.convert_to_tensor(ws, tf.float32)
        freqs = tf.reshape(tf.tanh(ws[:, :6]) * self.max_freq, [-1, 3, 2])                        # cycles / image
        phases = ws[:, 6:8]
        img = 0.0
        for k in range(3):
            arg = freqs[:, k, 0:1] * pts[0] + freqs[:, k, 1:2] * pts[1] + phases[:, k % 2:k % 2 + 1]
            img += tf.cos(2 * np.pi * arg) / 3
        return tf.reshape(img, [-1, res, res, 1])


def test_metrics_separate_equivariant_from_fixed_generators():
    good, fixed = _FourierStandIn(), _FourierStandIn(equivariant=False)
    kw = dict(num_samples=16, eqt_int=True, eqt_frac=True, eqr=True)
    g = eq.compute_equivariance_metrics(good, **kw)
    f = eq.compute_equivariance_metrics(fixed, **kw)
    assert g['eqt_int'] > 60 and g['eqt_frac'] > 40 and g['eqr'] > 30, g
    assert all(f[k] < 20 for k in f), f
    np.testing.assert_array_equal(good.transform.numpy(), np.eye(3))       # restored
    # Through the registry, with the sample count overridden.
    res = calc_metric('eqt5k_int', MetricOptions(G=good, num_gen=8, progress=False))
    assert res['results']['eqt5k_int'] > 60
    with pytest.raises(ValueError, match='no input transform'):
        eq.compute_equivariance_metrics(object(), 4, eqr=True)
