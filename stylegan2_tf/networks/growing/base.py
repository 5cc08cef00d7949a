"""Progressive growing (Karras et al. 2018), as the networks of the StyleGAN2 paper's configs A-D use it.

The level of detail `lod` is a non-trainable float32 scalar variable in the synthesis network and in the
discriminator (the official `G_synthesis/lod` and `D/lod`); the training schedule assigns it. lod = 0 is full
resolution 2**L; at an integer lod k the networks work at 2**(L-k) (the generator's image is upsampled by 2**k with
nearest neighbours, the discriminator's input is box-downsampled by 2**k); at a fractional lod the output of the
finer resolution fades in (the official 'linear' structure):

    G: img_r = lerp_clip(torgb_r, upsample2(img_{r-1}), lod - (L - r))       r = 3..L, img_2 = torgb_2
    D: x_{r-1} = lerp_clip(block_r(x_r), fromrgb_{r-1}(downsample2(img_r)), lod - (L - r))

with lerp_clip(a, b, t) = a + (b - a) * clip(t, 0, 1). We evaluate it the way the official 'recursive' structure
does (nested tf.cond on lod), which computes the same function but only the resolutions the current lod needs, so
the low-resolution phases of a growing run are cheap. Resampling of images here is the official naive kind
(nearest-neighbour upsampling, box downsampling), not the FIR filters of the layers.
"""
from __future__ import annotations

from typing import Callable, List, Optional, Tuple

import keras
import numpy as np
import tensorflow as tf

from stylegan2_tf.networks.channels import nf, resolution_log2
from stylegan2_tf.networks.layers import as_float32, check_impl

NOISE_MODES = ("random", "const", "none")


def active_style_layers(num_ws: int, lod):
    """Number of style layers (leading ws) the networks use at `lod`: num_ws - 2 * floor(lod).

    The official growing generators (G_style, G_main) draw the style-mixing crossover below this number (and
    'no mixing' means crossover = this number). Works with python numbers (-> int) and tensors (-> int32 tensor).
    """
    if tf.is_tensor(lod) or isinstance(lod, tf.Variable):
        lod = tf.maximum(tf.cast(lod, tf.float32), 0.0)
        return tf.cast(num_ws, tf.int32) - 2 * tf.cast(tf.floor(lod), tf.int32)
    return int(num_ws) - 2 * int(np.floor(max(float(lod), 0.0)))


def nearest_upsample(x: tf.Tensor, factor) -> tf.Tensor:
    """[N, H, W, C] -> [N, H*f, W*f, C], every pixel repeated f x f times (official upscale2d / naive_upsample_2d).

    factor: int, or an int32 scalar tensor (the training loop's reals at a level of detail known only at run time).
    """
    static = isinstance(factor, (int, np.integer))
    if static and factor == 1:
        return x
    shape = tf.shape(x)
    c = x.shape[-1]
    y = tf.reshape(x, [shape[0], shape[1], 1, shape[2], 1, c])
    y = tf.tile(y, [1, 1, factor, 1, factor, 1])
    y = tf.reshape(y, [shape[0], shape[1] * factor, shape[2] * factor, c])
    if static and x.shape[1] is not None and x.shape[2] is not None:
        y = tf.ensure_shape(y, [None, x.shape[1] * factor, x.shape[2] * factor, c])
    return y


def box_downsample(x: tf.Tensor, factor) -> tf.Tensor:
    """[N, H, W, C] -> [N, H/f, W/f, C], the mean of each f x f block (official downscale2d / naive_downsample_2d).

    factor: int, or an int32 scalar tensor.
    """
    static = isinstance(factor, (int, np.integer))
    if static and factor == 1:
        return x
    shape = tf.shape(x)
    c = x.shape[-1]
    y = tf.reshape(x, [shape[0], shape[1] // factor, factor, shape[2] // factor, factor, c])
    y = tf.reduce_mean(y, axis=[2, 4])
    if static and x.shape[1] is not None and x.shape[2] is not None:
        y = tf.ensure_shape(y, [None, x.shape[1] // factor, x.shape[2] // factor, c])
    return y


def lerp_clip(a: tf.Tensor, b: tf.Tensor, t) -> tf.Tensor:
    """a + (b - a) * clip(t, 0, 1) (official tflib.lerp_clip)."""
    return a + (b - a) * tf.clip_by_value(tf.cast(t, a.dtype), 0.0, 1.0)


def check_lod_level(lod_level, res_log2: int) -> Optional[int]:
    """None, or the static level floor(lod) in [0, res_log2 - 2] a caller promises (see grow_images)."""
    if lod_level is None:
        return None
    if not isinstance(lod_level, (int, np.integer)) or not 0 <= lod_level <= res_log2 - 2:
        raise ValueError(f"lod_level must be an int in [0, {res_log2 - 2}] (floor of lod), got {lod_level!r}")
    return int(lod_level)


def grow_images(x: tf.Tensor, lod: tf.Tensor, res_log2: int, block: Callable, torgb: Callable,
                lod_level: Optional[int] = None) -> tf.Tensor:
    """The generator's output at `lod` (see the module docstring).

    x: the 4x4 features; block(res, x) -> features at 2**res from those at 2**(res-1) (res >= 3);
    torgb(res, x) -> image at 2**res. Returns the image at 2**res_log2.
    lod_level: None evaluates any lod with nested tf.cond; an int L (the caller guarantees L <= lod < L + 1, as the
    training step does: it is traced per resolution anyway) builds only level L's graph, without tf.cond. The
    training step needs this: TensorFlow cannot take second-order gradients (R1, path length) through nested conds.
    """
    if res_log2 == 2:
        return torgb(2, x)
    level = check_lod_level(lod_level, res_log2)
    if level is not None:
        fine = res_log2 - level
        for res in range(3, fine):
            x = block(res, x)
        if fine == 2:
            return nearest_upsample(torgb(2, x), 2 ** level)
        y = block(fine, x)
        # lod - level is 0 at the level's start (the finer image alone) and -> 1 at the end of its fade.
        img = lerp_clip(torgb(fine, y), nearest_upsample(torgb(fine - 1, x), 2), lod - level)
        return nearest_upsample(img, 2 ** level)

    def grow(x, res, level):  # level = the lod at which resolution 2**res is the finest one used
        y = block(res, x)

        def full():
            return nearest_upsample(torgb(res, y), 2 ** level)

        def blend():  # 2**res fading in over 2**(res-1)
            coarse = nearest_upsample(torgb(res - 1, x), 2)
            return nearest_upsample(lerp_clip(torgb(res, y), coarse, lod - level), 2 ** level)

        def here():
            return tf.cond(lod > level, blend, full)
        if level > 0:
            return tf.cond(lod < level, lambda: grow(y, res + 1, level - 1), here)
        return here()
    return grow(x, 3, res_log2 - 3)


def grow_features(img: tf.Tensor, lod: tf.Tensor, res_log2: int, fromrgb: Callable, block: Callable,
                  lod_level: Optional[int] = None) -> tf.Tensor:
    """The discriminator's 4x4 features at `lod` (see the module docstring).

    img: [N, 2**res_log2, 2**res_log2, C]; fromrgb(res, image at 2**res) -> features at 2**res;
    block(res, x) -> features at 2**(res-1) (res >= 3). lod_level: as in :func:`grow_images`.
    """
    if res_log2 == 2:
        return fromrgb(2, img)
    level = check_lod_level(lod_level, res_log2)
    if level is not None:
        fine = res_log2 - level
        x = fromrgb(fine, box_downsample(img, 2 ** level))
        if fine > 2:
            x = lerp_clip(block(fine, x), fromrgb(fine - 1, box_downsample(img, 2 ** (level + 1))), lod - level)
        for res in range(fine - 1, 2, -1):
            x = block(res, x)
        return x

    def grow(res, level):
        def direct():
            return fromrgb(res, box_downsample(img, 2 ** level))
        x = tf.cond(lod < level, lambda: grow(res + 1, level - 1), direct) if level > 0 else direct()
        x = block(res, x)

        def blend():  # 2**res fading in over 2**(res-1)
            return lerp_clip(x, fromrgb(res - 1, box_downsample(img, 2 ** (level + 1))), lod - level)
        return tf.cond(lod > level, blend, lambda: x)
    return grow(3, res_log2 - 3)


def add_lod_variable(layer: keras.layers.Layer):
    """The non-trainable float32 scalar `lod` (initial 0 = full resolution) of a growing network."""
    return layer.add_weight(name="lod", shape=(), initializer="zeros", trainable=False)


def layer_noise(x: tf.Tensor, noise_mode: str, noise_const=None, noise: Optional[tf.Tensor] = None):
    """The per-pixel noise [N, H, W, 1] a synthesis layer adds to x [N, H, W, C] (None for noise_mode='none'):
    the given `noise` or a fresh N(0, 1) draw ('random'), or the stored buffer noise_const [H, W] ('const')."""
    if noise_mode == "none":
        return None
    if noise_mode == "random":
        if noise is not None:
            return tf.cast(noise, x.dtype)
        shape = tf.shape(x)
        return tf.random.normal([shape[0], shape[1], shape[2], 1], dtype=x.dtype)
    if noise_mode == "const":
        return tf.cast(noise_const, x.dtype)[tf.newaxis, :, :, tf.newaxis]
    raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")


class GrowingSynthesisBase(keras.layers.Layer):
    """What the growing synthesis networks share: sizes, channel formula, `lod`, the constant noise buffers and the
    checks of the call arguments. Subclasses create their layers and implement `call`.

    Attributes: w_dim, img_resolution, img_channels, res_log2, num_ws = 2 * res_log2 - 2, noise_const (list of
    [H, W] non-trainable buffers), lod.
    """

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, *, fmap_base: int, fmap_decay: float,
                 fmap_min: int, fmap_max: int, use_noise: bool, nonlinearity: str, impl: str, **kwargs):
        super().__init__(**kwargs)
        if int(w_dim) <= 0:
            raise ValueError(f"w_dim must be positive, got {w_dim}")
        if int(img_channels) <= 0:
            raise ValueError(f"img_channels must be positive, got {img_channels}")
        self.w_dim = int(w_dim)
        self.img_resolution = int(img_resolution)
        self.res_log2 = resolution_log2(self.img_resolution)
        self.img_channels = int(img_channels)
        self.fmap_base, self.fmap_decay = int(fmap_base), float(fmap_decay)
        self.fmap_min, self.fmap_max = int(fmap_min), int(fmap_max)
        self.use_noise = bool(use_noise)
        self.nonlinearity = nonlinearity
        self.impl = check_impl(impl)
        self.num_ws = self.res_log2 * 2 - 2

    def nf(self, stage: int) -> int:
        return nf(stage, self.fmap_base, self.fmap_decay, self.fmap_min, self.fmap_max)

    def _noise_sizes(self) -> List[int]:
        raise NotImplementedError

    def _build_buffers(self):
        """Creates `lod` and the noise buffers (after the subclass's layers, as the official variable order has
        them first; the order of Keras variables only matters for G/G_ema pairing, which both sides share)."""
        self.lod = add_lod_variable(self)
        self.noise_const = []
        if self.use_noise:
            for i, size in enumerate(self._noise_sizes()):
                self.noise_const.append(self.add_weight(name=f"noise{i}", shape=(size, size), trainable=False,
                                                        initializer=keras.initializers.RandomNormal(0.0, 1.0)))

    @property
    def noise_shapes(self) -> List[Tuple[int, int]]:
        """[(H, W)] of the per-pixel noise of each layer, in order ([] without noise inputs)."""
        return [(s, s) for s in self._noise_sizes()] if self.use_noise else []

    def _check_call(self, ws, noise_mode: str, noise_inputs) -> tf.Tensor:
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        if noise_inputs is not None and len(noise_inputs) != len(self.noise_shapes):
            raise ValueError(f"noise_inputs: expected {len(self.noise_shapes)} tensors (one per layer), "
                             f"got {len(noise_inputs)}")
        ws = as_float32(ws)
        if ws.shape.rank != 3 or ws.shape[1] != self.num_ws or (ws.shape[2] is not None and ws.shape[2] != self.w_dim):
            raise ValueError(f"ws must have shape [N, {self.num_ws}, {self.w_dim}], got {ws.shape}")
        return ws

    def _noise_args(self, idx: int, noise_mode: str, noise_inputs) -> dict:
        """Keyword arguments of layer idx's noise: its buffer, the mode and the given per-call noise."""
        return dict(noise_const=self.noise_const[idx] if self.use_noise else None, noise_mode=noise_mode,
                    noise=noise_inputs[idx] if noise_inputs is not None else None)

    def active_style_layers(self, lod=None):
        """active_style_layers(num_ws, lod) at the given lod (default: the current value of the variable)."""
        return active_style_layers(self.num_ws, self.lod if lod is None else lod)

    def base_config(self) -> dict:
        config = super().get_config()
        config.update(w_dim=self.w_dim, img_resolution=self.img_resolution, img_channels=self.img_channels,
                      fmap_base=self.fmap_base, fmap_decay=self.fmap_decay, fmap_min=self.fmap_min,
                      fmap_max=self.fmap_max, use_noise=self.use_noise, nonlinearity=self.nonlinearity,
                      impl=self.impl)
        return config
