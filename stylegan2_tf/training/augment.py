"""The augmentation pipeline of StyleGAN2-ADA ("Training Generative Adversarial Networks with Limited Data", Karras et
al. 2020), with stylegan2-ada-pytorch's keyword names, defaults, order and probability rules.

Every image D sees, real or fake, goes through ``AugmentPipe``; the overall strength ``p`` (a variable, set by the ADA
controller in ``ada.py`` or fixed) scales the probability of each transform. Stages, in order:

1. geometric: xflip, rotate90, xint (integer translation), scale, pre-rotation, aniso, post-rotation, xfrac
   (fractional translation), composed into one inverse 3x3 matrix per sample (output pixel -> input pixel, origin at
   the image centre) and executed as one resampling: reflect padding, 2x upsampling with the sym6 wavelet low-pass,
   bilinear sampling (zeros outside), 2x downsampling with the same filter (flipped: analysis after synthesis, so an
   identity transform reproduces the image);
2. colour: brightness, contrast, lumaflip, hue, saturation, composed into one 4x4 matrix acting on RGB (on one
   channel: the mean of its three colour rows; hue and saturation need colour);
3. imgfilter: amplify or attenuate four frequency bands (a filter bank built from the sym2 wavelet);
4. noise: additive Gaussian noise with a per-sample sigma;
5. cutout: zero a square.

Probabilities: transform t happens to a sample when a per-sample coin U(0, 1) < multiplier_t * p falls (xflip and
lumaflip then pick "flip" with probability 1/2, rotate90 one of four rotations); the two rotations each happen with
p_rot = 1 - sqrt(1 - rotate * p), so that at least one does with probability rotate * p; imgfilter has one coin per
band (multiplier * p * band strength). A sample no transform touched is returned bit for bit (so p = 0 returns the
input exactly; upstream resamples such samples too, to within 2e-6).

The geometric stage pads by the largest margin upstream can choose (W - 1, H - 1) so that shapes are static, and
zeroes what lies beyond the margin upstream computes for the batch, so that the result equals upstream's.
All randomness is stateless: ``pipe(images, seed)`` is a pure function of the images, ``p`` and the seed; without a
seed one is drawn from TensorFlow's global generator (repeatable under ``tf.random.set_seed``). The pipeline computes
in float32 whatever the networks' precision, and is differentiable with respect to the images to any order (R1 takes
the gradient with respect to the un-augmented reals through it).
"""

from __future__ import annotations

import math
from typing import Dict, Optional

import numpy as np
import tensorflow as tf

from stylegan2_tf.ops import affine_resample, downsample2d, setup_filter

# Wavelet low-pass (decomposition) filters: published Daubechies / symlet coefficients.
SYM2 = (-0.12940952255092145, 0.22414386804185735, 0.836516303737469, 0.48296291314469025)
SYM6 = (0.015404109327027373, 0.0034907120842174702, -0.11799011114819057, -0.048311742585633, 0.4910559419267466,
        0.787641141030194, 0.3379294217276218, -0.07263752278646252, -0.021060292512300564, 0.04472490177066578,
        0.0017677118642428036, -0.007800708325034148)
GEOM_PAD = len(SYM6) // 4  # 3: input pixels of filter support kept around the image while resampling

# ada-pytorch's AugmentPipe keywords and defaults (every probability multiplier 0 = off).
DEFAULTS = dict(
    xflip=0.0, rotate90=0.0, xint=0.0, xint_max=0.125,
    scale=0.0, rotate=0.0, aniso=0.0, xfrac=0.0, scale_std=0.2, rotate_max=1.0, aniso_std=0.2, xfrac_std=0.125,
    brightness=0.0, contrast=0.0, lumaflip=0.0, hue=0.0, saturation=0.0, brightness_std=0.2, contrast_std=0.5,
    hue_max=1.0, saturation_std=1.0,
    imgfilter=0.0, imgfilter_bands=(1.0, 1.0, 1.0, 1.0), imgfilter_std=1.0,
    noise=0.0, cutout=0.0, noise_std=0.1, cutout_size=0.5,
)
GEOMETRIC = ('xflip', 'rotate90', 'xint', 'scale', 'rotate', 'aniso', 'xfrac')
COLOR = ('brightness', 'contrast', 'lumaflip', 'hue', 'saturation')

_BLIT = dict(xflip=1, rotate90=1, xint=1)
_GEOM = dict(scale=1, rotate=1, aniso=1, xfrac=1)
_COLOR = dict(brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1)
# ada-pytorch's --augpipe presets (train.py); bgc is its default.
AUGPIPE_SPECS: Dict[str, dict] = {
    'blit': dict(_BLIT),
    'geom': dict(_GEOM),
    'color': dict(_COLOR),
    'filter': dict(imgfilter=1),
    'noise': dict(noise=1),
    'cutout': dict(cutout=1),
    'bg': dict(_BLIT, **_GEOM),
    'bgc': dict(_BLIT, **_GEOM, **_COLOR),
    'bgcf': dict(_BLIT, **_GEOM, **_COLOR, imgfilter=1),
    'bgcfn': dict(_BLIT, **_GEOM, **_COLOR, imgfilter=1, noise=1),
    'bgcfnc': dict(_BLIT, **_GEOM, **_COLOR, imgfilter=1, noise=1, cutout=1),
}

# Stream ids of the stateless draws: each random quantity has its own, so enabling one transform never changes the
# numbers another one draws.
_S = {name: i for i, name in enumerate((
    'xflip', 'xflip_coin', 'rotate90', 'rotate90_coin', 'xint', 'xint_coin', 'scale', 'scale_coin', 'rotate_pre',
    'rotate_pre_coin', 'aniso', 'aniso_coin', 'rotate_post', 'rotate_post_coin', 'xfrac', 'xfrac_coin',
    'brightness', 'brightness_coin', 'contrast', 'contrast_coin', 'lumaflip', 'lumaflip_coin', 'hue', 'hue_coin',
    'saturation', 'saturation_coin', 'noise_sigma', 'noise_coin', 'noise', 'cutout_center', 'cutout_coin'), 1)}
_S_IMGFILTER = 100  # + 2 * band (gain), + 2 * band + 1 (coin)


def filter_bank() -> np.ndarray:
    """The 4 x 43 image-space filter bank (float64): row 0 a low-pass, rows 1-3 successive octave band-passes
    built from the sym2 wavelet; the rows sum to a unit impulse (unit gains leave an image unchanged)."""
    lo = np.asarray(SYM2)
    hi = lo * (-1.0) ** np.arange(lo.size)           # H(-z)
    lo2 = np.convolve(lo, lo[::-1]) / 2              # H(z) H(1/z) / 2
    hi2 = np.convolve(hi, hi[::-1]) / 2              # H(-z) H(-1/z) / 2
    bank = np.zeros([4, 1])
    bank[0, 0] = 1.0
    for band in range(1, 4):
        stretched = np.zeros([4, 2 * bank.shape[1] - 1])  # dyadic upsampling of every row: a zero between taps
        stretched[:, ::2] = bank
        bank = np.stack([np.convolve(row, lo2) for row in stretched])
        start = (bank.shape[1] - hi2.size) // 2
        bank[band, start:start + hi2.size] += hi2
    return bank


_EXPECTED_POWER = np.array([10.0, 1.0, 1.0, 1.0]) / 13.0  # per band, of natural images (1/f spectrum)


def _exp2(x: tf.Tensor) -> tf.Tensor:
    return tf.pow(tf.constant(2.0, x.dtype), x)


def _matrix(rows) -> tf.Tensor:
    """[[a, b, ...], ...] of [N] tensors or numbers (at least one tensor) -> [N, R, C] float64."""
    ref = next(v for row in rows for v in row if tf.is_tensor(v))
    ones = tf.ones_like(ref, tf.float64)
    cols = [[tf.cast(v, tf.float64) if tf.is_tensor(v) else ones * float(v) for v in row] for row in rows]
    return tf.stack([tf.stack(row, axis=-1) for row in cols], axis=-2)


def _translate2d(tx, ty):
    return _matrix([[1, 0, tx], [0, 1, ty], [0, 0, 1]])


def _scale2d(sx, sy):
    return _matrix([[sx, 0, 0], [0, sy, 0], [0, 0, 1]])


def _rotate2d(theta):
    theta = tf.cast(theta, tf.float64)
    c, s = tf.cos(theta), tf.sin(theta)
    return _matrix([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def _translate3d(t):
    return _matrix([[1, 0, 0, t], [0, 1, 0, t], [0, 0, 1, t], [0, 0, 0, 1]])


def _scale3d(s):
    return _matrix([[s, 0, 0, 0], [0, s, 0, 0], [0, 0, s, 0], [0, 0, 0, 1]])


def _rotate_about_luma(theta):
    """Rotation by theta [N] about the luma axis v = (1, 1, 1) / sqrt(3) (Rodrigues' formula), homogeneous 4x4."""
    v = 1 / math.sqrt(3)
    c, s = tf.cos(theta), tf.sin(theta)
    d = v * v * (1 - c)      # every v_i v_j (1 - cos) term
    return _matrix([[d + c, d - v * s, d + v * s, 0],
                    [d + v * s, d + c, d - v * s, 0],
                    [d - v * s, d + v * s, d + c, 0],
                    [0, 0, 0, 1]])


class _Draws:
    """Per-sample stateless random numbers of one call: stream k of seed s is fold_in(s, k)."""

    def __init__(self, seed: tf.Tensor, n):
        self.seed, self.n = seed, n

    def _seed(self, stream: int) -> tf.Tensor:
        return tf.random.experimental.stateless_fold_in(self.seed, stream)

    def uniform(self, stream: int, *shape) -> tf.Tensor:
        return tf.random.stateless_uniform([self.n, *shape], self._seed(stream), dtype=tf.float32)

    def normal(self, stream: int, *shape) -> tf.Tensor:
        return tf.random.stateless_normal([self.n, *shape], self._seed(stream), dtype=tf.float32)

    def coin(self, stream: int, prob, *shape) -> tf.Tensor:
        return self.uniform(stream, *shape) < prob

    def gated(self, name: str, value: tf.Tensor, prob, identity) -> tf.Tensor:
        """value [n] or [n, k] where the sample's coin U(0, 1) < prob falls, else identity (one coin per sample,
        drawn from the stream '<name>_coin')."""
        coin = self.coin(_S[name + '_coin'], prob, *([1] if value.shape.rank == 2 else []))
        return tf.where(coin, value, identity)


def _check_kwargs(kwargs: dict) -> dict:
    unknown = sorted(set(kwargs) - set(DEFAULTS))
    if unknown:
        raise ValueError(f'unknown augmentation keyword(s) {unknown}; AugmentPipe takes {", ".join(DEFAULTS)}')
    out = dict(DEFAULTS)
    for key, value in kwargs.items():
        if key == 'imgfilter_bands':
            try:
                bands = tuple(float(b) for b in value)
            except TypeError:
                raise ValueError(f'imgfilter_bands must be a list of 4 numbers, got {value!r}') from None
            if len(bands) != 4 or any(b < 0 for b in bands):
                raise ValueError(f'imgfilter_bands must be 4 numbers >= 0, got {value!r}')
            out[key] = bands
            continue
        try:
            out[key] = float(value)
        except (TypeError, ValueError):
            raise ValueError(f'augmentation keyword {key}={value!r} must be a number') from None
        if not math.isfinite(out[key]) or out[key] < 0:
            raise ValueError(f'augmentation keyword {key}={value!r} must be a finite number >= 0')
    return out


class AugmentPipe(tf.Module):
    """``pipe(images [N, H, W, C] float32 in [-1, 1], seed=None) -> images`` (same shape), ada-pytorch's AugmentPipe.

    Keywords (all as ada-pytorch; probability multipliers default 0 = off): xflip, rotate90, xint, xint_max=0.125;
    scale, rotate, aniso, xfrac, scale_std=0.2, rotate_max=1, aniso_std=0.2, xfrac_std=0.125; brightness, contrast,
    lumaflip, hue, saturation, brightness_std=0.2, contrast_std=0.5, hue_max=1, saturation_std=1; imgfilter,
    imgfilter_bands=[1, 1, 1, 1], imgfilter_std=1; noise, cutout, noise_std=0.1, cutout_size=0.5.
    ``p`` is a scalar float32 ``tf.Variable`` (the overall strength, 1 initially as upstream; assign to change it).
    ``impl``: the ops' implementation ('auto', 'custom' compiled, 'ref' pure TF), as everywhere in the package.
    Colour transforms need 1 or 3 channels; imgfilter needs images of at least 22 pixels (its reflect padding).
    """

    def __init__(self, name: str = 'augment_pipe', impl: str = 'auto', **kwargs):
        super().__init__(name=name)
        if impl not in ('auto', 'custom', 'ref'):
            raise ValueError(f"impl must be 'auto', 'custom' or 'ref', got {impl!r}")
        self.impl = impl
        self.kwargs = _check_kwargs(kwargs)
        for key, value in self.kwargs.items():
            setattr(self, key, value)
        with self.name_scope:
            self.p = tf.Variable(1.0, dtype=tf.float32, trainable=False, name='p')
        self._geom_filter = setup_filter(SYM6)
        self._fbank = tf.constant(filter_bank(), tf.float32)

    @classmethod
    def from_spec(cls, augpipe: str, **overrides) -> 'AugmentPipe':
        """The pipe of an ada-pytorch --augpipe preset (AUGPIPE_SPECS), keywords overriding the preset's."""
        if augpipe not in AUGPIPE_SPECS:
            raise ValueError(f'unknown augmentation preset {augpipe!r}; choose from {", ".join(AUGPIPE_SPECS)}')
        return cls(**dict(AUGPIPE_SPECS[augpipe], **overrides))

    def get_config(self) -> dict:
        """The constructor keywords (JSON-serializable): ``AugmentPipe(**config)`` rebuilds the pipe (without p)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.kwargs.items()}

    @property
    def enabled(self) -> tuple:
        """Names of the transforms whose multiplier is > 0."""
        return tuple(k for k in (*GEOMETRIC, *COLOR, 'imgfilter', 'noise', 'cutout') if self.kwargs[k] > 0)

    # ------------------------------------------------------------------------------------------------
    def __call__(self, images, seed=None) -> tf.Tensor:
        images = tf.convert_to_tensor(images)
        if images.shape.rank != 4 or images.shape[1] is None or images.shape[2] is None or images.shape[3] is None:
            raise ValueError(f'AugmentPipe expects images [N, H, W, C] with static H, W, C, got {images.shape}')
        if seed is None:
            seed = tf.random.uniform([2], 0, 2 ** 31 - 1, dtype=tf.int64)
        seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
        params = self.sample_parameters(tf.shape(images)[0], images.shape[1], images.shape[2], images.shape[3],
                                        seed)
        return self.apply(images, params)

    def sample_parameters(self, n, height: int, width: int, channels: int, seed) -> Dict[str, tf.Tensor]:
        """The random parameters of one call for a batch of n images [height, width, channels]: a dict of
        'geom' [n, 3, 3] float64 (inverse transform in pixels, origin at the centre), 'color' [n, 4, 4] float64,
        'filter_gain' [n, 4] float32, 'noise_sigma' [n] float32, 'cutout_size' [n] and 'cutout_center' [n, 2]
        float32, and 'noise_seed' [2]; only the keys of enabled stages are present."""
        self._check_image(height, width, channels)
        rnd = _Draws(tf.cast(seed, tf.int64), n)
        p = tf.convert_to_tensor(self.p)
        out = {}
        if any(self.kwargs[k] > 0 for k in GEOMETRIC):
            out['geom'] = self._geometric_matrix(rnd, p, height, width)
        if self._color_active(channels):
            out['color'] = self._color_matrix(rnd, p, channels)
        if self.imgfilter > 0:
            out['filter_gain'] = self._filter_gains(rnd, p)
        if self.noise > 0:
            sigma = tf.abs(rnd.normal(_S['noise_sigma'])) * self.noise_std
            out['noise_sigma'] = tf.where(rnd.coin(_S['noise_coin'], self.noise * p), sigma, 0.0)
            out['noise_seed'] = rnd._seed(_S['noise'])
        if self.cutout > 0:
            out['cutout_size'] = tf.where(rnd.coin(_S['cutout_coin'], self.cutout * p), self.cutout_size, 0.0)
            out['cutout_center'] = rnd.uniform(_S['cutout_center'], 2)
        return out

    def apply(self, images, params: Dict[str, tf.Tensor]) -> tf.Tensor:
        """Executes the stages on images [N, H, W, C] (any float type; computed and returned in float32)."""
        x = tf.cast(images, tf.float32)
        if 'geom' in params:
            x = self._apply_geometric(x, params['geom'])
        if 'color' in params:
            x = self._apply_color(x, params['color'])
        if 'filter_gain' in params:
            x = self._apply_filter(x, params['filter_gain'])
        if 'noise_sigma' in params:
            noise = tf.random.stateless_normal(tf.shape(x), params['noise_seed'], dtype=tf.float32)
            x = x + noise * params['noise_sigma'][:, None, None, None]
        if 'cutout_size' in params:
            x = x * self._cutout_mask(x.shape[1], x.shape[2], params['cutout_size'], params['cutout_center'])
        return x

    # ------------------------------------------------------------------------------------------------
    def _check_image(self, height: int, width: int, channels: int) -> None:
        if self._color_active(3) and channels not in (1, 3):
            raise ValueError(f'colour augmentations ({", ".join(k for k in COLOR if self.kwargs[k] > 0)}) need '
                             f'1 or 3 channels, got {channels}')
        reach = (len(filter_bank()[0]) - 1) // 2
        if self.imgfilter > 0 and min(height, width) <= reach:
            raise ValueError(f'imgfilter needs images larger than {reach} pixels (its reflect padding), got '
                             f'{height}x{width}')
        if any(self.kwargs[k] > 0 for k in GEOMETRIC) and min(height, width) < 2:
            raise ValueError(f'geometric augmentations need images of at least 2x2 pixels, got {height}x{width}')

    def _color_active(self, channels: int) -> bool:
        return any(self.kwargs[k] > 0 for k in ('brightness', 'contrast', 'lumaflip')) or \
            (channels > 1 and (self.hue > 0 or self.saturation > 0))

    def _geometric_matrix(self, rnd: _Draws, p, height: int, width: int) -> tf.Tensor:
        """G_inv [n, 3, 3]: output pixel -> input pixel; each transform right-multiplies its inverse, so the
        transforms act on the image in the listed order."""
        n = rnd.n
        G = tf.eye(3, batch_shape=[n], dtype=tf.float64)
        zeros, ones = tf.zeros([n], tf.float32), tf.ones([n], tf.float32)

        if self.xflip > 0:
            i = rnd.gated('xflip', tf.floor(rnd.uniform(_S['xflip']) * 2), self.xflip * p, zeros)
            G = G @ _scale2d(1 - 2 * i, 1)                                   # its own inverse
        if self.rotate90 > 0:
            i = rnd.gated('rotate90', tf.floor(rnd.uniform(_S['rotate90']) * 4), self.rotate90 * p, zeros)
            G = G @ _rotate2d(tf.cast(i, tf.float64) * (math.pi / 2))        # inverse of a rotation by -i * 90 deg
        if self.xint > 0:
            t = (rnd.uniform(_S['xint'], 2) * 2 - 1) * self.xint_max
            t = rnd.gated('xint', t, self.xint * p, tf.zeros([n, 2]))
            G = G @ _translate2d(-tf.round(t[:, 0] * width), -tf.round(t[:, 1] * height))
        if self.scale > 0:
            s = rnd.gated('scale', _exp2(rnd.normal(_S['scale']) * self.scale_std), self.scale * p, ones)
            G = G @ _scale2d(1 / s, 1 / s)
        # Both rotations with p_rot: P(pre or post) = 1 - (1 - p_rot)^2 = rotate * p.
        p_rot = 1 - tf.sqrt(tf.clip_by_value(1 - self.rotate * p, 0.0, 1.0))
        if self.rotate > 0:
            theta = (rnd.uniform(_S['rotate_pre']) * 2 - 1) * math.pi * self.rotate_max
            theta = rnd.gated('rotate_pre', theta, p_rot, zeros)
            G = G @ _rotate2d(theta)                                         # inverse of a rotation by -theta
        if self.aniso > 0:
            s = rnd.gated('aniso', _exp2(rnd.normal(_S['aniso']) * self.aniso_std), self.aniso * p, ones)
            G = G @ _scale2d(1 / s, s)
        if self.rotate > 0:
            theta = (rnd.uniform(_S['rotate_post']) * 2 - 1) * math.pi * self.rotate_max
            theta = rnd.gated('rotate_post', theta, p_rot, zeros)
            G = G @ _rotate2d(theta)
        if self.xfrac > 0:
            t = rnd.gated('xfrac', rnd.normal(_S['xfrac'], 2) * self.xfrac_std, self.xfrac * p, tf.zeros([n, 2]))
            G = G @ _translate2d(-t[:, 0] * width, -t[:, 1] * height)
        return G

    def _color_matrix(self, rnd: _Draws, p, channels: int) -> tf.Tensor:
        """C [n, 4, 4] acting on homogeneous RGB; each transform left-multiplies, acting in the listed order."""
        n = rnd.n
        C = tf.eye(4, batch_shape=[n], dtype=tf.float64)
        zeros, ones = tf.zeros([n], tf.float32), tf.ones([n], tf.float32)
        v = np.array([1, 1, 1, 0], np.float64) / math.sqrt(3)
        vv = tf.constant(np.outer(v, v))
        eye = tf.eye(4, dtype=tf.float64)

        if self.brightness > 0:
            b = rnd.normal(_S['brightness']) * self.brightness_std
            b = rnd.gated('brightness', b, self.brightness * p, zeros)
            C = _translate3d(b) @ C
        if self.contrast > 0:
            c = _exp2(rnd.normal(_S['contrast']) * self.contrast_std)
            c = rnd.gated('contrast', c, self.contrast * p, ones)
            C = _scale3d(c) @ C
        if self.lumaflip > 0:
            i = rnd.gated('lumaflip', tf.floor(rnd.uniform(_S['lumaflip']) * 2), self.lumaflip * p, zeros)
            C = (eye - 2 * vv * tf.cast(i, tf.float64)[:, None, None]) @ C   # Householder reflection of the luma
        if self.hue > 0 and channels > 1:
            theta = rnd.gated('hue', (rnd.uniform(_S['hue']) * 2 - 1) * math.pi * self.hue_max, self.hue * p, zeros)
            C = _rotate_about_luma(tf.cast(theta, tf.float64)) @ C
        if self.saturation > 0 and channels > 1:
            s = _exp2(rnd.normal(_S['saturation']) * self.saturation_std)
            s = rnd.gated('saturation', s, self.saturation * p, ones)
            C = (vv + (eye - vv) * tf.cast(s, tf.float64)[:, None, None]) @ C
        return C

    def _filter_gains(self, rnd: _Draws, p) -> tf.Tensor:
        """g [n, 4]: per band, with its coin, a gain 2^N(0, imgfilter_std), the gain vector renormalised to the
        expected power each time; all coins failing gives g = 1."""
        n = rnd.n
        power = tf.constant(_EXPECTED_POWER, tf.float32)
        g = tf.ones([n, 4])
        for band, strength in enumerate(self.imgfilter_bands):
            gain = _exp2(rnd.normal(_S_IMGFILTER + 2 * band) * self.imgfilter_std)
            gain = tf.where(rnd.coin(_S_IMGFILTER + 2 * band + 1, self.imgfilter * p * strength), gain, 1.0)
            t = tf.where(tf.range(4)[None, :] == band, gain[:, None], 1.0)     # [n, 4]: ones but this band
            g = g * t / tf.sqrt(tf.reduce_sum(power * tf.square(t), axis=1, keepdims=True))
        return g

    # ------------------------------------------------------------------------------------------------
    def _apply_geometric(self, x: tf.Tensor, G: tf.Tensor) -> tf.Tensor:
        """Resamples each image through its G_inv [N, 3, 3] (see the module docstring)."""
        _, height, width, _ = x.shape
        G = tf.stop_gradient(tf.cast(G, tf.float64))
        cx, cy = (width - 1) / 2, (height - 1) / 2
        # Upstream's margin: how far the image corners reach past the image through G_inv, over the whole batch,
        # plus the filter support, clamped to [0, size - 1] and rounded up; per side.
        corners = tf.constant([[-cx, -cy, 1], [cx, -cy, 1], [cx, cy, 1], [-cx, cy, 1]], tf.float64)
        reach = tf.einsum('nij,kj->nki', G, corners)[..., :2]                        # [N, 4, xy]
        centre = tf.constant([cx, cy], tf.float64)
        limit = tf.constant([width - 1, height - 1], tf.float64)
        lo = tf.math.ceil(tf.clip_by_value(tf.reduce_max(-reach, axis=[0, 1]) + 2 * GEOM_PAD - centre, 0, limit))
        hi = tf.math.ceil(tf.clip_by_value(tf.reduce_max(reach, axis=[0, 1]) + 2 * GEOM_PAD - centre, 0, limit))
        margin = tf.cast(tf.stack([lo[0], hi[0], lo[1], hi[1]]), tf.int32)
        # Output grid: 2x the image plus GEOM_PAD input pixels per side; output pixel o sits at (o + 1) / 2 - size / 2
        # in centred input pixels (upstream's chain of affine_grid and the upsampling's half-pixel conjugation), and
        # centred input pixel p at upsampled index 2 (p + c). So theta = 2 * (G_inv rows) composed with o -> o / 2 + b.
        bx, by = 0.5 - (width + 2 * GEOM_PAD) / 2, 0.5 - (height + 2 * GEOM_PAD) / 2
        offset = G[:, :2, 0] * bx + G[:, :2, 1] * by + G[:, :2, 2] + centre                 # [N, 2]
        theta = tf.concat([G[:, :2, :2], 2 * offset[:, :, None]], axis=2)                  # [N, 2, 3]
        out_size = (2 * (height + 2 * GEOM_PAD), 2 * (width + 2 * GEOM_PAD))
        y = affine_resample(x, self._geom_filter, theta, margin, out_size, impl=self.impl)
        # Downsampling channels-first: upfirdn2d is several times faster there for the few channels images have.
        y = downsample2d(tf.transpose(y, [0, 3, 1, 2]), self._geom_filter, down=2, padding=-2 * GEOM_PAD,
                         flip_filter=True, data_format='NCHW', impl=self.impl)
        y = tf.transpose(y, [0, 2, 3, 1])
        active = tf.reduce_any(tf.not_equal(G, tf.eye(3, dtype=tf.float64)), axis=[1, 2])
        return tf.where(active[:, None, None, None], y, x)

    @staticmethod
    def _apply_color(x: tf.Tensor, C: tf.Tensor) -> tf.Tensor:
        C32 = tf.cast(tf.stop_gradient(C), tf.float32)
        if x.shape[3] == 3:
            y = tf.einsum('nhwc,ndc->nhwd', x, C32[:, :3, :3]) + C32[:, None, None, :3, 3]
        else:  # one channel: the mean of the three colour rows
            rows = tf.reduce_mean(C32[:, :3, :], axis=1)                              # [N, 4]
            y = x * tf.reduce_sum(rows[:, :3], axis=1)[:, None, None, None] + rows[:, 3][:, None, None, None]
        active = tf.reduce_any(tf.not_equal(C, tf.eye(4, dtype=tf.float64)), axis=[1, 2])
        return tf.where(active[:, None, None, None], y, x)

    def _apply_filter(self, x: tf.Tensor, gain: tf.Tensor) -> tf.Tensor:
        """Separable per-sample filtering with gain @ filter_bank after reflect padding (one grouped conv per axis,
        the batch folded into the channels)."""
        _, height, width, channels = x.shape
        taps = tf.stop_gradient(gain @ self._fbank)                                  # [N, 43]
        pad = (self._fbank.shape[1] - 1) // 2
        y = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode='REFLECT')
        y = tf.transpose(y, [1, 2, 0, 3])                                           # [H, W, N, C]
        y = tf.reshape(y, [1, height + 2 * pad, width + 2 * pad, -1])                 # [1, H, W, N*C]
        per_channel = tf.reshape(tf.repeat(taps, channels, axis=0), [-1, taps.shape[1]])    # [N*C, 43]
        kernel = tf.transpose(per_channel)[:, :, None]                              # [43, N*C, 1]
        y = tf.nn.depthwise_conv2d(y, kernel[None], [1, 1, 1, 1], 'VALID')          # along x
        y = tf.nn.depthwise_conv2d(y, kernel[:, None], [1, 1, 1, 1], 'VALID')       # along y
        y = tf.transpose(tf.reshape(y, [height, width, -1, channels]), [2, 0, 1, 3])
        active = tf.reduce_any(tf.not_equal(gain, 1.0), axis=1)
        return tf.where(active[:, None, None, None], y, x)

    @staticmethod
    def _cutout_mask(height: int, width: int, size: tf.Tensor, centre: tf.Tensor) -> tf.Tensor:
        """[N, H, W, 1]: 0 inside the square of side size * (W, H) around centre * (W, H), else 1."""
        px = (tf.range(width, dtype=tf.float32) + 0.5) / width
        py = (tf.range(height, dtype=tf.float32) + 0.5) / height
        outside_x = tf.abs(px[None, :] - centre[:, 0:1]) >= size[:, None] / 2            # [N, W]
        outside_y = tf.abs(py[None, :] - centre[:, 1:2]) >= size[:, None] / 2            # [N, H]
        keep = outside_y[:, :, None] | outside_x[:, None, :]
        return tf.cast(keep, tf.float32)[..., None]
