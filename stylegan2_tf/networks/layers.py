"""Equalized-learning-rate building blocks of StyleGAN2 (NHWC).

Weights are stored as N(0, 1/lr_mul) variables and scaled at run time by gain / sqrt(fan_in) * lr_mul
("equalized learning rate", Karras et al. 2018), so every layer learns at the same speed whatever its fan-in.
Variable layouts follow the official TensorFlow networks, so official weights load without reshaping:
dense weights [in, out], conv weights [kh, kw, in, out] (tf.nn.conv2d orientation), biases [out].
"""
from __future__ import annotations

import functools
import math
from typing import Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from stylegan2_tf.networks.channels import check_resample_kernel
from stylegan2_tf.networks.precision import as_compute, cast
from stylegan2_tf.ops import bias_act, channel_scale, conv2d_resample, scale_bias_act, setup_filter

IMPLS = ("auto", "ref", "custom")
FUSED_MODES = ("auto", True, False)


def as_float32(x) -> tf.Tensor:
    """numpy array / list / tensor of any float dtype -> float32 tensor (the networks compute in float32)."""
    if tf.is_tensor(x) or isinstance(x, tf.Variable):
        return x if x.dtype == tf.float32 else tf.cast(x, tf.float32)
    return tf.convert_to_tensor(np.asarray(x, dtype=np.float32))


def _no_autocast(kwargs: dict) -> dict:
    """Layer kwargs with Keras' input autocasting off: Keras would cast every floating input to the layer's
    (float32) compute dtype, and our layers compute in their input's dtype instead (reduced-precision blocks)."""
    return dict(kwargs, autocast=kwargs.get("autocast", False))


def check_impl(impl: str) -> str:
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
    return impl


def check_fused(fused) -> object:
    if fused not in FUSED_MODES or (fused is not True and fused is not False and fused != "auto"):
        raise ValueError(f"fused_modconv must be 'auto', True or False, got {fused!r}")
    return fused


@functools.lru_cache(maxsize=None)
def _gpu_available() -> bool:
    return bool(tf.config.list_logical_devices("GPU"))


def resolve_fused(fused, training: bool) -> bool:
    """'auto' -> grouped-conv (fused) form only for inference on a GPU.

    TF cannot differentiate grouped convolutions on CPU, and training needs gradients, so those cases use the
    non-fused form (identical numbers).
    """
    if fused == "auto":
        return (not training) and _gpu_available()
    return bool(fused)


class EqualizedDense(keras.layers.Layer):
    """Fully-connected layer with equalized learning rate, then bias + activation.

    x: [N, in] (higher ranks are flattened in their given memory order) -> [N, units].
    Variables: `weight` [in, units] ~ N(0, weight_init/lr_mul) (weight_init 0: zeros), `bias` [units] (init `bias_init`
    / lr_mul; bias_init a number or one value per unit, e.g. StyleGAN3's input affine [1, 0, 0, 0]).
    act_gain: gain after the activation (None = its conventional gain, sqrt(2) for lrelu). StyleGAN1 puts that
    gain into the weights instead (weight_gain=sqrt(2), act_gain=1), which differs once the bias is nonzero.
    """

    def __init__(self, units: int, *, lr_mul: float = 1.0, activation: str = "linear", use_bias: bool = True,
                 bias_init=0.0, weight_gain: float = 1.0, act_gain: Optional[float] = None,
                 impl: str = "auto", weight_init: float = 1.0, **kwargs):
        super().__init__(**_no_autocast(kwargs))
        if int(units) <= 0:
            raise ValueError(f"units must be positive, got {units}")
        self.units = int(units)
        self.lr_mul = float(lr_mul)
        self.activation = activation
        self.use_bias = bool(use_bias)
        if np.ndim(bias_init) == 0:
            self.bias_init = float(bias_init)
        else:
            self.bias_init = [float(v) for v in np.reshape(bias_init, [-1])]
            if len(self.bias_init) != self.units:
                raise ValueError(f"bias_init: expected a number or {self.units} values, got {len(self.bias_init)}")
        self.weight_init = float(weight_init)
        self.weight_gain = float(weight_gain)
        self.act_gain = None if act_gain is None else float(act_gain)
        self.impl = check_impl(impl)

    def build(self, input_shape):
        fan_in = int(np.prod(input_shape[1:]))
        self.fan_in = fan_in
        self.weight_coef = self.weight_gain / math.sqrt(fan_in) * self.lr_mul
        w_init = (keras.initializers.RandomNormal(0.0, self.weight_init / self.lr_mul) if self.weight_init else
                  "zeros")
        self.weight = self.add_weight(name="weight", shape=(fan_in, self.units), initializer=w_init)
        if self.use_bias:
            bias = np.broadcast_to(np.asarray(self.bias_init, np.float32) / self.lr_mul, [self.units])
            self.bias = self.add_weight(name="bias", shape=(self.units,),
                                        initializer=lambda shape, dtype=None: tf.constant(bias, tf.float32))
        else:
            self.bias = None
        super().build(input_shape)

    def call(self, x):
        x = as_compute(x)
        if x.shape.rank != 2:
            x = tf.reshape(x, [-1, self.fan_in])
        x = tf.matmul(x, cast(self.weight * self.weight_coef, x.dtype))
        b = None if self.bias is None else self.bias * self.lr_mul
        if b is None and self.activation == "linear" and self.act_gain is None:
            return x
        return bias_act(x, b, act=self.activation, gain=self.act_gain, impl=self.impl)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, lr_mul=self.lr_mul, activation=self.activation, use_bias=self.use_bias,
                      bias_init=self.bias_init, weight_gain=self.weight_gain, act_gain=self.act_gain, impl=self.impl,
                      weight_init=self.weight_init)
        return config


class EqualizedConv2D(keras.layers.Layer):
    """Conv layer (odd square kernel, 'same' size) with equalized learning rate, optional FIR up/down-sampling.

    x: [N, H, W, Cin] -> [N, H*2 (up) | H/2 (down) | H, ..., filters].
    up=True is the official fused "upsample then conv" (transposed conv + FIR), down=True the official
    "FIR then strided conv". Variables: `weight` [k, k, Cin, filters], `bias` [filters] if use_bias.
    weight_gain / act_gain: as in EqualizedDense (StyleGAN1 layers: sqrt(2) / 1).
    """

    def __init__(self, filters: int, kernel_size: int, *, up: bool = False, down: bool = False,
                 resample_kernel: Optional[Sequence[float]] = (1, 3, 3, 1), activation: str = "linear",
                 use_bias: bool = True, conv_clamp: Optional[float] = None, weight_gain: float = 1.0,
                 act_gain: Optional[float] = None, impl: str = "auto", **kwargs):
        super().__init__(**_no_autocast(kwargs))
        if up and down:
            raise ValueError("a conv layer cannot both up- and down-sample")
        if int(kernel_size) < 1 or int(kernel_size) % 2 != 1:
            raise ValueError(f"kernel_size must be a positive odd number, got {kernel_size}")
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.up = bool(up)
        self.down = bool(down)
        self.resample_kernel = check_resample_kernel(resample_kernel)
        self.activation = activation
        self.use_bias = bool(use_bias)
        self.conv_clamp = None if conv_clamp is None else float(conv_clamp)
        self.weight_gain = float(weight_gain)
        self.act_gain = None if act_gain is None else float(act_gain)
        self.impl = check_impl(impl)
        self.filter = setup_filter(self.resample_kernel)

    def build(self, input_shape):
        cin = int(input_shape[-1])
        k = self.kernel_size
        self.weight_coef = self.weight_gain / math.sqrt(k * k * cin)
        self.weight = self.add_weight(name="weight", shape=(k, k, cin, self.filters),
                                      initializer=keras.initializers.RandomNormal(0.0, 1.0))
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros") if self.use_bias else None
        super().build(input_shape)

    def call(self, x):
        """x [N, H, W, Cin] float32 or a reduced type: the layer computes in x's dtype (the clamp keeps float16
        finite)."""
        x = as_compute(x)
        w = self.weight * self.weight_coef
        x = conv2d_resample(x, w, self.filter, up=2 if self.up else 1, down=2 if self.down else 1, impl=self.impl)
        if self.bias is None and self.activation == "linear" and self.conv_clamp is None and self.act_gain is None:
            return x
        return bias_act(x, self.bias, act=self.activation, gain=self.act_gain, clamp=self.conv_clamp, impl=self.impl)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size, up=self.up, down=self.down,
                      resample_kernel=self.resample_kernel, activation=self.activation, use_bias=self.use_bias,
                      conv_clamp=self.conv_clamp, weight_gain=self.weight_gain, act_gain=self.act_gain,
                      impl=self.impl)
        return config


class ModulatedConv2D(keras.layers.Layer):
    """Modulated convolution (StyleGAN2 Sec. 2.2): style-scaled weights, optional demodulation (eps 1e-8).

    call(x [N, H, W, Cin], w [N, w_dim]) -> [N, H', W', filters], optionally followed by the noise add, bias and
    activation of the owning synthesis layer (see call).
    Variables: `weight` [k, k, Cin, filters] ~ N(0, 1); `mod_weight` [w_dim, Cin] and `mod_bias` [Cin]: the affine
    map from w to the style s = w @ mod_weight / sqrt(w_dim) + mod_bias + 1 (stored without the +1, as officially).

    fused=True computes per-sample weights and one grouped conv (batch folded into channels); fused=False scales the
    input activations by s, convolves with the shared weight, and scales the output by the demodulation
    coefficients. Both compute the same function.
    """

    def __init__(self, filters: int, kernel_size: int, w_dim: int, *, up: bool = False, demodulate: bool = True,
                 resample_kernel: Optional[Sequence[float]] = (1, 3, 3, 1), fused_modconv="auto",
                 impl: str = "auto", **kwargs):
        super().__init__(**_no_autocast(kwargs))
        if int(kernel_size) < 1 or int(kernel_size) % 2 != 1:
            raise ValueError(f"kernel_size must be a positive odd number, got {kernel_size}")
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.w_dim = int(w_dim)
        self.up = bool(up)
        self.demodulate = bool(demodulate)
        self.resample_kernel = check_resample_kernel(resample_kernel)
        self.fused_modconv = check_fused(fused_modconv)
        self.impl = check_impl(impl)
        self.filter = setup_filter(self.resample_kernel)

    def build(self, input_shape):
        cin = int(input_shape[-1])
        k = self.kernel_size
        self.in_channels = cin
        self.weight_coef = 1.0 / math.sqrt(k * k * cin)
        self.mod_coef = 1.0 / math.sqrt(self.w_dim)
        self.weight = self.add_weight(name="weight", shape=(k, k, cin, self.filters),
                                      initializer=keras.initializers.RandomNormal(0.0, 1.0))
        self.mod_weight = self.add_weight(name="mod_weight", shape=(self.w_dim, cin),
                                          initializer=keras.initializers.RandomNormal(0.0, 1.0))
        self.mod_bias = self.add_weight(name="mod_bias", shape=(cin,), initializer="zeros")
        super().build(input_shape)

    def styles(self, w: tf.Tensor) -> tf.Tensor:
        """[N, w_dim] -> [N, Cin] style s (the official affine transform, bias initially 1)."""
        return tf.matmul(w, self.mod_weight * self.mod_coef) + (self.mod_bias + 1.0)

    def call(self, x, w, fused_modconv=None, training=False, add=None, bias=None, activation=None, clamp=None):
        """x [N, H, W, Cin] in float32 or a reduced type (the convolution computes in x's dtype), w [N, w_dim].

        The styles s and the demodulation coefficients are computed in float32 from the float32 weights and cast to
        x's dtype where they meet the activations. add: optional [N, H', W', 1] in x's dtype, added to the output
        (the synthesis layer's noise). activation (with bias [filters] and clamp): when given, the output is then
        bias_act(y + add, bias, activation, clamp=clamp) (the synthesis layer's tail). The non-fused path with
        demodulation runs the demodulation, the add and bias_act as one op (`scale_bias_act`), which rounds exactly
        as the separate ops would.
        """
        x = as_compute(x)
        w = as_float32(w)
        fused = resolve_fused(self.fused_modconv if fused_modconv is None else check_fused(fused_modconv),
                              bool(training))
        s = self.styles(w)                                          # [N, Cin]
        weight = self.weight * self.weight_coef                     # [k, k, Cin, Cout]
        if x.dtype == tf.float16 and self.demodulate and not fused:
            # float16 overflows above 65504: x * s and the undemodulated conv output grow with |s| and |weight|.
            # Rescale the weight per output channel to a max-abs of 1/sqrt(fan_in) and s per sample to a max-abs of
            # 1 (StyleGAN2-ADA does the same); demodulation divides both factors out again, so up to its eps the
            # function is unchanged. bfloat16 has float32's range and needs none of this.
            weight = weight * (self.weight_coef / tf.reduce_max(tf.abs(weight), axis=[0, 1, 2], keepdims=True))
            s = s / tf.reduce_max(tf.abs(s), axis=1, keepdims=True)
        d = None
        if self.demodulate:
            # sum_{k,k,i} (w[k,k,i,o] * s[n,i])^2 = sum_i s[n,i]^2 * sum_{k,k} w[k,k,i,o]^2: the same demodulation
            # coefficients as the official per-sample-weight formula without materializing [N, k, k, Cin, Cout].
            wsq = tf.reduce_sum(tf.square(weight), axis=[0, 1])       # [Cin, Cout]
            d = tf.math.rsqrt(tf.matmul(tf.square(s), wsq) + 1e-8)   # [N, Cout]
        if fused:
            ww = weight[tf.newaxis] * s[:, tf.newaxis, tf.newaxis, :, tf.newaxis]   # [N, k, k, Cin, Cout]
            if d is not None:
                ww = ww * d[:, tf.newaxis, tf.newaxis, tf.newaxis, :]
            n = tf.shape(x)[0]
            h, wd = tf.shape(x)[1], tf.shape(x)[2]
            k = self.kernel_size
            # Fold the batch into channels: sample b's channels become group b of one grouped conv.
            xg = tf.reshape(tf.transpose(x, [1, 2, 0, 3]), [1, h, wd, -1])
            wg = tf.reshape(tf.transpose(ww, [1, 2, 3, 0, 4]), [k, k, self.in_channels, -1])
            # [1, H', W', N*Cout]; the batch may be unknown in a graph, so always take the grouped path.
            y = conv2d_resample(xg, wg, self.filter, up=2 if self.up else 1, grouped=True, impl=self.impl)
            ho, wo = tf.shape(y)[1], tf.shape(y)[2]
            y = tf.reshape(y, [ho, wo, n, self.filters])
            y = tf.transpose(y, [2, 0, 1, 3])
        else:
            # x * s and y * d (+ add) as one op each whose gradient reads dy and x once (the same numbers as
            # broadcasting Muls and an AddV2); with the activation, y * d (+ add) and bias_act are one op.
            x = channel_scale(x, cast(s, x.dtype), impl=self.impl)
            y = conv2d_resample(x, weight, self.filter, up=2 if self.up else 1, impl=self.impl)
            if d is not None and activation is not None:
                return scale_bias_act(y, cast(d, y.dtype), add, bias, act=activation, clamp=clamp, impl=self.impl)
            if d is not None:
                return channel_scale(y, cast(d, y.dtype), add, impl=self.impl)
        y = y if add is None else y + add
        return y if activation is None else bias_act(y, bias, act=activation, clamp=clamp, impl=self.impl)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size, w_dim=self.w_dim, up=self.up,
                      demodulate=self.demodulate, resample_kernel=self.resample_kernel,
                      fused_modconv=self.fused_modconv, impl=self.impl)
        return config


class SynthesisLayer(keras.layers.Layer):
    """One synthesis conv: modulated conv (+ optional 2x up), per-pixel noise * learned strength, bias, lrelu.

    call(x [N, H, W, Cin], w [N, w_dim], noise_const [H', W'] or None, noise_mode) -> [N, H', W', filters].
    Variables (official names): weight, mod_weight, mod_bias, noise_strength (scalar, if use_noise), bias.
    """

    def __init__(self, filters: int, w_dim: int, *, kernel_size: int = 3, up: bool = False, use_noise: bool = True,
                 activation: str = "lrelu", resample_kernel=(1, 3, 3, 1), conv_clamp: Optional[float] = None,
                 fused_modconv="auto", impl: str = "auto", **kwargs):
        super().__init__(**_no_autocast(kwargs))
        self.filters = int(filters)
        self.w_dim = int(w_dim)
        self.kernel_size = int(kernel_size)
        self.up = bool(up)
        self.use_noise = bool(use_noise)
        self.activation = activation
        self.resample_kernel = check_resample_kernel(resample_kernel)
        self.conv_clamp = None if conv_clamp is None else float(conv_clamp)
        self.fused_modconv = check_fused(fused_modconv)
        self.impl = check_impl(impl)
        self.conv = ModulatedConv2D(self.filters, self.kernel_size, self.w_dim, up=self.up, demodulate=True,
                                    resample_kernel=self.resample_kernel, fused_modconv=self.fused_modconv,
                                    impl=self.impl, name="modconv")

    def build(self, input_shape):
        self.conv.build(input_shape)
        # The modconv's variables are exposed under this layer's official names (weight, mod_weight, mod_bias).
        if self.use_noise:
            self.noise_strength = self.add_weight(name="noise_strength", shape=(), initializer="zeros")
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")
        super().build(input_shape)

    def named_variables(self) -> dict:
        out = {"weight": self.conv.weight, "mod_weight": self.conv.mod_weight, "mod_bias": self.conv.mod_bias}
        if self.use_noise:
            out["noise_strength"] = self.noise_strength
        out["bias"] = self.bias
        return out

    def call(self, x, w, noise_const=None, noise_mode="random", fused_modconv=None, training=False, noise=None):
        """noise: optional [N, H', W', 1] used instead of a fresh draw when noise_mode='random' (the training loop
        passes noise from stateless RNGs so that runs are reproducible and independent of the replica split).

        Computes in x's dtype. The noise (given, drawn or constant) is float32 whatever that dtype, so a run draws
        the same numbers in every precision; noise * strength is rounded to x's dtype once, where it is added (in
        the modulated conv's demodulation pass)."""
        x = as_compute(x)
        add = None
        if self.use_noise and noise_mode != "none":
            shape = tf.shape(x)
            scale = 2 if self.up else 1  # the conv's output is [N, H * up, W * up, filters]
            if noise_mode == "random" and noise is not None:
                noise = tf.cast(noise, tf.float32)
            elif noise_mode == "random":
                noise = tf.random.normal([shape[0], shape[1] * scale, shape[2] * scale, 1])
            elif noise_mode == "const":
                noise = noise_const[tf.newaxis, :, :, tf.newaxis]
            else:
                raise ValueError(f"noise_mode must be 'random', 'const' or 'none', got {noise_mode!r}")
            add = cast(noise * self.noise_strength, x.dtype)
            if noise_mode == "const":  # one map for every sample
                add = tf.broadcast_to(add, tf.stack([shape[0], tf.shape(add)[1], tf.shape(add)[2], 1]))
        return self.conv(x, w, fused_modconv=fused_modconv, training=training, add=add, bias=self.bias,
                         activation=self.activation, clamp=self.conv_clamp)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, w_dim=self.w_dim, kernel_size=self.kernel_size, up=self.up,
                      use_noise=self.use_noise, activation=self.activation, resample_kernel=self.resample_kernel,
                      conv_clamp=self.conv_clamp, fused_modconv=self.fused_modconv, impl=self.impl)
        return config


class ToRGB(keras.layers.Layer):
    """1x1 modulated conv without demodulation + bias (linear): features -> image channels.

    call(x [N, H, W, Cin], w [N, w_dim]) -> [N, H, W, img_channels] float32. Variables: weight [1, 1, Cin, C],
    mod_weight, mod_bias, bias.
    """

    def __init__(self, img_channels: int, w_dim: int, *, conv_clamp: Optional[float] = None, fused_modconv="auto",
                 impl: str = "auto", **kwargs):
        super().__init__(**_no_autocast(kwargs))
        self.img_channels = int(img_channels)
        self.w_dim = int(w_dim)
        self.conv_clamp = None if conv_clamp is None else float(conv_clamp)
        self.fused_modconv = check_fused(fused_modconv)
        self.impl = check_impl(impl)
        self.conv = ModulatedConv2D(self.img_channels, 1, self.w_dim, demodulate=False,
                                    fused_modconv=self.fused_modconv, impl=self.impl, name="modconv")

    def build(self, input_shape):
        self.conv.build(input_shape)
        self.bias = self.add_weight(name="bias", shape=(self.img_channels,), initializer="zeros")
        super().build(input_shape)

    def named_variables(self) -> dict:
        return {"weight": self.conv.weight, "mod_weight": self.conv.mod_weight, "mod_bias": self.conv.mod_bias,
                "bias": self.bias}

    def call(self, x, w, fused_modconv=None, training=False):
        """The 1x1 conv computes in x's dtype; its output is cast to float32 before the bias and clamp: the image
        is float32 in every precision."""
        x = cast(self.conv(x, w, fused_modconv=fused_modconv, training=training), tf.float32)
        return bias_act(x, self.bias, clamp=self.conv_clamp, impl=self.impl)

    def get_config(self):
        config = super().get_config()
        config.update(img_channels=self.img_channels, w_dim=self.w_dim, conv_clamp=self.conv_clamp,
                      fused_modconv=self.fused_modconv, impl=self.impl)
        return config


def layer_variables(layer: keras.layers.Layer) -> dict:
    """Official-name -> variable map of one building block."""
    if hasattr(layer, "named_variables"):
        return layer.named_variables()
    out = {"weight": layer.weight}
    if getattr(layer, "bias", None) is not None:
        out["bias"] = layer.bias
    return out
