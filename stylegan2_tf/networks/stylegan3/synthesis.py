"""StyleGAN3's synthesis network (NHWC): the Fourier-feature input, the 14 alias-free layers and the final ToRGB.

What each piece computes (NVlabs/stylegan3, training/networks_stylegan3.py, restated):

* `SynthesisInput` (ws[:, 0]): an affine t = (c, s, tx, ty) of w, normalised by |(c, s)|, gives each sample a rotation
  and translation; with the user `transform` T_u, T = M_r M_t T_u where M_r = [[c, -s, 0], [s, c, 0], [0, 0, 1]] and
  M_t = [[1, 0, -tx], [0, 1, -ty], [0, 0, 1]]. The C frequencies f [C, 2] and phases p [C] become f' = f T[:2, :2]
  (row vectors) and p' = p + f T[:2, 2]; amplitudes fade out what passes the bandwidth:
  a = clip(1 - (|f'| - bandwidth) / (sampling_rate/2 - bandwidth), 0, 1). On the pixel-centre grid
  x_j = (j + 0.5 - size/2) / sampling_rate (likewise y), the features are sin(2 pi (x f'_x + y f'_y + p')) a,
  mixed by a 1x1 channel matrix (weight / sqrt(C), no bias).
* `SynthesisLayer` (ws[:, i + 1]): styles = affine(w) (bias initialised to 1; ToRGB: * 1/sqrt(in k^2)); the weight
  [k, k, I, O] ~ N(0, 1) is used without an equalized-lr gain. Except for ToRGB the weight is pre-normalised per
  output channel (w * rsqrt(mean w^2)) and the styles over the whole batch (s * rsqrt(mean s^2)), then modulated
  and demodulated (rsqrt(sum (w s)^2 + 1e-8)); the input gain rsqrt(magnitude_ema) multiplies the weights. The
  convolution is "full" (padding k - 1), then `filtered_lrelu` with the layer's filters, padding, gain sqrt(2)
  (ToRGB 1), slope 0.2 (ToRGB 1: linear) and clamp conv_clamp. The magnitude EMA (a scalar buffer, initially 1)
  becomes lerp(mean(x^2), ema, beta) of the layer input, only in calls with update_emas=True.
* `SynthesisNetwork`: the input, then the layers in order; the ToRGB output times output_scale (0.25).

The modulated convolution is computed in its non-fused form (x * s * gain, a convolution with the shared weight,
then * the demodulation coefficients), which equals upstream's per-sample grouped convolution and has gradients on
every device.

Precision: a layer computes in the reduced type (`precision` 'bf16' or 'fp16') when its output sampling rate *
2**num_fp16_res > img_resolution (upstream's float16 rule); the Fourier input, the styles, the demodulation
coefficients and the image stay float32, as do all variables.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from stylegan2_tf.networks.layers import EqualizedDense, _no_autocast, as_float32, check_impl
from stylegan2_tf.networks.precision import (as_compute, cast, check_num_fp16_res, check_precision,
                                             reduced_dtype)
from stylegan2_tf.networks.stylegan3.schedule import InputSpec, LayerSpec, synthesis_schedule
from stylegan2_tf.ops import channel_scale, filtered_lrelu, full_conv2d

NOISE_MODES = ("random", "const", "none")


def _fourier_freqs(channels: int, bandwidth: float):
    """Initializer of `freqs` [C, 2]: uniform in the disc of radius `bandwidth` (a normal sample's direction times
    bandwidth * exp(-r^2/4), whose radius has the CDF r^2 of a uniform disc), as upstream draws them."""
    def init(shape, dtype=None):
        f = tf.random.normal([channels, 2], dtype=tf.float32)
        r = tf.norm(f, axis=1, keepdims=True)
        return f / (r * tf.exp(tf.square(r)) ** 0.25) * bandwidth
    return init


def _uniform_phases(shape, dtype=None):
    """Initializer of `phases` [C]: U(-0.5, 0.5)."""
    return tf.random.uniform(shape, dtype=tf.float32) - 0.5


def _identity3(shape, dtype=None):
    return tf.eye(3, dtype=tf.float32)


class SynthesisInput(keras.layers.Layer):
    """Fourier features: w [N, w_dim] -> [N, size, size, channels] float32.

    Variables: `weight` [C, C] (the channel mix, [in, out]: upstream's weight transposed), `affine/weight` [w_dim, 4]
    (init 0) and `affine/bias` [4] (init [1, 0, 0, 0]); non-trainable `freqs` [C, 2] (x, y), `phases` [C] and
    `transform` [3, 3] (identity).

    `transform` is upstream's user-specified *inverse* transform of the output image: to translate the image by t
    (in image widths) set transform[:2, 2] = -t; to show the image transformed by a matrix M, set it to inv(M).
    Assign it with `layer.transform = m` (checked to be 3x3) or `layer.transform.assign(m)`.
    """

    def __init__(self, w_dim: int, channels: int, size: int, sampling_rate: float, bandwidth: float,
                 impl: str = "auto", **kwargs):
        super().__init__(**_no_autocast(kwargs))
        self.w_dim, self.channels, self.size = int(w_dim), int(channels), int(size)
        self.sampling_rate, self.bandwidth = float(sampling_rate), float(bandwidth)
        if not 0 < self.bandwidth < self.sampling_rate / 2:
            raise ValueError(f"bandwidth must lie in (0, sampling_rate/2), got {bandwidth} at rate {sampling_rate}")
        self.impl = check_impl(impl)
        self.affine = EqualizedDense(4, weight_init=0.0, bias_init=[1.0, 0.0, 0.0, 0.0], impl=self.impl,
                                     name="affine")
        # Pixel centres in units of the image width (affine_grid with align_corners=False).
        self._grid = ((np.arange(self.size) + 0.5 - self.size / 2) / self.sampling_rate).astype(np.float32)

    def build(self, input_shape=None):
        if self.built:
            return
        c = self.channels
        self.weight = self.add_weight(name="weight", shape=(c, c),
                                      initializer=keras.initializers.RandomNormal(0.0, 1.0))
        self.affine.build((None, self.w_dim))
        self.freqs = self.add_weight(name="freqs", shape=(c, 2), trainable=False,
                                     initializer=_fourier_freqs(c, self.bandwidth))
        self.phases = self.add_weight(name="phases", shape=(c,), trainable=False, initializer=_uniform_phases)
        self._transform = self.add_weight(name="transform", shape=(3, 3), trainable=False, initializer=_identity3)
        super().build(input_shape)

    @property
    def transform(self) -> tf.Variable:
        """The user transform [3, 3] (a float32 tf.Variable)."""
        return self._transform

    @transform.setter
    def transform(self, value) -> None:
        self.set_transform(value)

    def set_transform(self, value) -> None:
        """Assigns the user transform; ValueError unless it is a 3x3 matrix."""
        shape = tuple(value.shape) if hasattr(value, "shape") else np.shape(value)
        if tuple(shape) != (3, 3):
            raise ValueError(f"the input transform must be a 3x3 matrix (the inverse transform of the output image, "
                             f"homogeneous 2-D coordinates), got shape {tuple(shape)}")
        self._transform.assign(tf.cast(value, tf.float32))

    def named_variables(self) -> dict:
        return {"weight": self.weight, "affine/weight": self.affine.weight, "affine/bias": self.affine.bias,
                "freqs": self.freqs, "phases": self.phases, "transform": self._transform}

    def fourier_parameters(self, w):
        """w [N, w_dim] -> (freqs [N, C, 2], phases [N, C], amplitudes [N, C]) after the learned and user
        transforms (float32)."""
        w = as_float32(w)
        t = self.affine(w)                                               # [N, 4] = (c, s, tx, ty)
        t = t / tf.norm(t[:, :2], axis=1, keepdims=True)
        c, s, tx, ty = tf.unstack(t, axis=1)
        zero, one = tf.zeros_like(c), tf.ones_like(c)
        # M_r @ M_t: rotate the resulting image, then translate it (both as inverse transforms).
        m = tf.stack([tf.stack([c, -s, -c * tx + s * ty], axis=1),
                      tf.stack([s, c, -s * tx - c * ty], axis=1),
                      tf.stack([zero, zero, one], axis=1)], axis=1)      # [N, 3, 3]
        transforms = tf.matmul(m, tf.broadcast_to(self._transform, tf.shape(m)))
        phases = self.phases[tf.newaxis] + tf.matmul(transforms[:, :2, 2][:, tf.newaxis, :],
                                                     self.freqs, transpose_b=True)[:, 0, :]   # [N, C]
        freqs = tf.matmul(tf.broadcast_to(self.freqs, [tf.shape(w)[0], self.channels, 2]),
                          transforms[:, :2, :2])                          # [N, C, 2]
        amplitudes = tf.clip_by_value(
            1 - (tf.norm(freqs, axis=2) - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth), 0.0, 1.0)
        return freqs, phases, amplitudes

    def features(self, w) -> tf.Tensor:
        """The Fourier features before the channel mix: [N, size, size, C] float32."""
        freqs, phases, amplitudes = self.fourier_parameters(w)
        g = tf.constant(self._grid)
        x = (g[tf.newaxis, tf.newaxis, :, tf.newaxis] * freqs[:, tf.newaxis, tf.newaxis, :, 0]
             + g[tf.newaxis, :, tf.newaxis, tf.newaxis] * freqs[:, tf.newaxis, tf.newaxis, :, 1]
             + phases[:, tf.newaxis, tf.newaxis, :])
        return tf.sin(x * np.float32(2 * np.pi)) * amplitudes[:, tf.newaxis, tf.newaxis, :]

    def call(self, w):
        x = self.features(w)
        weight = self.weight * np.float32(1 / math.sqrt(self.channels))
        return tf.einsum("nhwc,cd->nhwd", x, weight)

    def get_config(self):
        config = super().get_config()
        config.update(w_dim=self.w_dim, channels=self.channels, size=self.size, sampling_rate=self.sampling_rate,
                      bandwidth=self.bandwidth, impl=self.impl)
        return config


class SynthesisLayer(keras.layers.Layer):
    """One alias-free layer (or the final ToRGB): x [N, in_size, in_size, I], w [N, w_dim] ->
    [N, out_size, out_size, O] in x's dtype.

    Variables: `weight` [k, k, I, O] ~ N(0, 1) (upstream's [O, I, k, k] as tf.nn.conv2d's correlation filter),
    `affine/weight` [w_dim, I], `affine/bias` [I] (init 1), `bias` [O] and the non-trainable scalar `magnitude_ema`
    (init 1). The up/down filters are constants designed from `spec` (see schedule.py / filters.py).
    """

    def __init__(self, spec: LayerSpec, w_dim: int, conv_clamp: Optional[float] = 256,
                 magnitude_ema_beta: float = 0.999, impl: str = "auto", **kwargs):
        super().__init__(**_no_autocast(kwargs))
        self.spec = spec
        self.w_dim = int(w_dim)
        self.conv_clamp = None if conv_clamp is None else float(conv_clamp)
        self.magnitude_ema_beta = float(magnitude_ema_beta)
        self.impl = check_impl(impl)
        self.affine = EqualizedDense(spec.in_channels, bias_init=1.0, impl=self.impl, name="affine")
        up, down = spec.up_filter(), spec.down_filter()
        self.up_filter = None if up is None else tf.constant(up)
        self.down_filter = None if down is None else tf.constant(down)
        self.gain = 1.0 if spec.is_torgb else math.sqrt(2)
        self.slope = 1.0 if spec.is_torgb else 0.2

    def build(self, input_shape=None):
        if self.built:
            return
        s, k = self.spec, self.spec.conv_kernel
        self.affine.build((None, self.w_dim))
        self.weight = self.add_weight(name="weight", shape=(k, k, s.in_channels, s.out_channels),
                                      initializer=keras.initializers.RandomNormal(0.0, 1.0))
        self.bias = self.add_weight(name="bias", shape=(s.out_channels,), initializer="zeros")
        # MEAN aggregation: under tf.distribute each replica updates it from its own batch and the results are
        # averaged (as w_avg).
        self.magnitude_ema = self.add_weight(name="magnitude_ema", shape=(), initializer="ones", trainable=False,
                                             aggregation="mean")
        super().build(input_shape)

    def named_variables(self) -> dict:
        return {"weight": self.weight, "affine/weight": self.affine.weight, "affine/bias": self.affine.bias,
                "bias": self.bias, "magnitude_ema": self.magnitude_ema}

    def call(self, x, w, update_emas: bool = False):
        s = self.spec
        x = as_compute(x)
        w = as_float32(w)
        if update_emas:
            cur = tf.reduce_mean(tf.square(tf.cast(tf.stop_gradient(x), tf.float32)))
            self.magnitude_ema.assign(cur + (self.magnitude_ema - cur) * self.magnitude_ema_beta)
        input_gain = tf.math.rsqrt(tf.convert_to_tensor(self.magnitude_ema))

        styles = self.affine(w)                                          # [N, I] float32
        weight = tf.convert_to_tensor(self.weight)                       # [k, k, I, O]
        k = s.conv_kernel
        dcoefs = None
        if s.is_torgb:
            styles = styles * np.float32(1 / math.sqrt(s.in_channels * k * k))
        else:
            # Pre-normalisation (upstream's float16 safeguard; cancels in the demodulation up to its eps), then the
            # demodulation coefficients of w * s: sum_{k,k,i} (w s_i)^2 = sum_i s_i^2 sum_{k,k} w^2.
            weight = weight * tf.math.rsqrt(tf.reduce_mean(tf.square(weight), axis=[0, 1, 2], keepdims=True))
            styles = styles * tf.math.rsqrt(tf.reduce_mean(tf.square(styles)))
            wsq = tf.reduce_sum(tf.square(weight), axis=[0, 1])          # [I, O]
            dcoefs = tf.math.rsqrt(tf.matmul(tf.square(styles), wsq) + 1e-8)   # [N, O]
        x = channel_scale(x, cast(styles * input_gain, x.dtype), impl=self.impl)
        x = full_conv2d(x, weight)                       # padding k - 1 on every side; w cast to x.dtype
        if dcoefs is not None:
            x = channel_scale(x, cast(dcoefs, x.dtype), impl=self.impl)
        return filtered_lrelu(x, fu=self.up_filter, fd=self.down_filter, b=self.bias, up=s.up_factor,
                              down=s.down_factor, padding=list(s.padding), gain=self.gain, slope=self.slope,
                              clamp=self.conv_clamp, impl=self.impl)


class SynthesisNetwork(keras.layers.Layer):
    """ws [N, num_ws, w_dim] -> images [N, img_resolution, img_resolution, img_channels] (float32, raw).

    `input` is the SynthesisInput (ws[:, 0]); `blocks` maps upstream's names `L{i}_{size}_{channels}` to the
    SynthesisLayers (ws[:, i + 1]); `layer_dtypes` maps them to the dtypes they compute in; `schedule` holds the
    whole layer schedule. There are no noise inputs: `noise_shapes` is [] and noise_mode is accepted and ignored.
    """

    def __init__(self, w_dim: int = 512, img_resolution: int = 1024, img_channels: int = 3, *,
                 channel_base: int = 32768, channel_max: int = 512, num_layers: int = 14, num_critical: int = 2,
                 first_cutoff: float = 2.0, first_stopband: float = 2 ** 2.1, last_stopband_rel: float = 2 ** 0.3,
                 margin_size: int = 10, output_scale: float = 0.25, conv_kernel: int = 3, filter_size: int = 6,
                 lrelu_upsampling: int = 2, use_radial_filters: bool = False, conv_clamp: Optional[float] = 256,
                 magnitude_ema_beta: float = 0.999, impl: str = "auto", precision: str = "fp32",
                 num_fp16_res: int = 4, **kwargs):
        super().__init__(**kwargs)
        self.w_dim = int(w_dim)
        self.schedule = synthesis_schedule(
            img_resolution, img_channels, channel_base=channel_base, channel_max=channel_max, num_layers=num_layers,
            num_critical=num_critical, first_cutoff=first_cutoff, first_stopband=first_stopband,
            last_stopband_rel=last_stopband_rel, margin_size=margin_size, conv_kernel=conv_kernel,
            filter_size=filter_size, lrelu_upsampling=lrelu_upsampling, use_radial_filters=use_radial_filters)
        self.img_resolution, self.img_channels = self.schedule.img_resolution, int(img_channels)
        self.num_layers, self.num_ws = int(num_layers), int(num_layers) + 2
        self.output_scale = float(output_scale)
        self.conv_clamp = None if conv_clamp is None else float(conv_clamp)
        self.magnitude_ema_beta = float(magnitude_ema_beta)
        self.impl = check_impl(impl)
        self.precision = check_precision(precision)
        self.num_fp16_res = check_num_fp16_res(num_fp16_res, self.precision)
        inp: InputSpec = self.schedule.input
        self._input = SynthesisInput(self.w_dim, inp.channels, inp.size, inp.sampling_rate, inp.bandwidth,
                                     impl=self.impl, name="input")
        self.layer_names = list(self.schedule.layer_names)
        self.blocks = {}
        self.layer_dtypes = {}
        for spec in self.schedule.layers:
            self.blocks[spec.name] = SynthesisLayer(spec, self.w_dim, conv_clamp=self.conv_clamp,
                                                    magnitude_ema_beta=self.magnitude_ema_beta, impl=self.impl,
                                                    name=spec.name)
            reduced = self.precision != "fp32" and spec.reduced(self.img_resolution, self.num_fp16_res)
            self.layer_dtypes[spec.name] = reduced_dtype(self.precision) if reduced else tf.float32
        self.build()

    def build(self, input_shape=None):
        if self.built:
            return
        self.input.build()
        for layer in self.blocks.values():
            layer.build()
        super().build(input_shape)

    @property
    def input(self) -> SynthesisInput:
        """The Fourier-feature input (upstream's `synthesis.input`); its `transform` is the user transform."""
        return self._input

    @property
    def noise_shapes(self) -> list:
        """StyleGAN3 has no per-pixel noise inputs."""
        return []

    @property
    def noise_const(self) -> list:
        """No constant noise buffers either (the StyleGAN2 synthesis network's `noise_const`, for the projector)."""
        return []

    def named_variables(self) -> dict:
        """Stable name -> variable: `input/...` and `L{i}_{size}_{channels}/...` (upstream's module names)."""
        out = {f"input/{k}": v for k, v in self.input.named_variables().items()}
        for name, layer in self.blocks.items():
            out.update({f"{name}/{k}": v for k, v in layer.named_variables().items()})
        return out

    def call(self, ws, noise_mode: str = "random", fused_modconv=None, training=False, update_emas: bool = False,
             noise_inputs: Optional[Sequence] = None):
        """ws [N, num_ws, w_dim] -> images [N, R, R, C] float32. update_emas=True updates every layer's magnitude
        EMA from this batch (upstream does it in the G evaluation of D's training phase). noise_mode, fused_modconv
        and training change nothing; noise_inputs must be None or empty."""
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        if noise_inputs is not None and len(noise_inputs) != 0:
            raise ValueError(f"StyleGAN3 has no noise inputs (noise_shapes is []), got {len(noise_inputs)} tensors")
        ws = as_float32(ws)
        if ws.shape.rank != 3 or ws.shape[1] != self.num_ws or (ws.shape[2] is not None and ws.shape[2] != self.w_dim):
            raise ValueError(f"ws must have shape [N, {self.num_ws}, {self.w_dim}], got {ws.shape}")
        x = self.input(ws[:, 0])
        for i, name in enumerate(self.layer_names):
            x = cast(x, self.layer_dtypes[name])
            x = self.blocks[name](x, ws[:, i + 1], update_emas=bool(update_emas))
        return cast(x, tf.float32) * np.float32(self.output_scale)
