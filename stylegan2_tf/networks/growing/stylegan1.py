"""The StyleGAN (v1) synthesis network of NVIDIA's `networks_stylegan.G_synthesis` (config A of the StyleGAN2 paper):
AdaIN layers on a learned constant, progressive growing with a ToRGB per level of detail.

Official facts restated here (Karras et al., CVPR 2019; NVlabs/stylegan training/networks_stylegan.py):
  * Layers use equalized learning rate with the He gain in the weights: conv/dense weights are scaled by
    gain / sqrt(fan_in) (gain sqrt(2) before lrelu/relu, 1 for ToRGB and StyleMod), the activation itself has gain 1.
  * Every layer ends with the epilogue (AdaIN): per-pixel noise times a learned per-channel strength
    (`Noise/weight` [C]), bias, activation, instance normalization (eps 1e-8), then the style modulation
    `StyleMod` (dense w -> 2C, gain 1): x * (style[:C] + 1) + style[C:].
  * The 4x4 constant (`4x4/Const/const`, initialised to ones) gets the epilogue with ws[:, 0]; `4x4/Conv` uses
    ws[:, 1]; at resolution 2**r `Conv0_up` uses ws[:, 2r-4] and `Conv1` ws[:, 2r-3]. noise{i} is
    [2**(i//2+2)]^2 for i < num_ws (the const layer has noise too).
  * Conv0_up upsamples 2x with nearest neighbours, convolves, then blurs with [1,2,1] (normalized). At output
    resolutions >= 128 (fused_scale='auto') the official code fuses upsampling and conv into one transposed conv with
    the 3x3 kernel summed over 2x2 shifts and NOT flipped, i.e. it convolves (rather than correlates) the upsampled
    image with the weight; we compute that exactly by flipping the input and output spatially around our conv.
  * ToRGB_lod{k} (1x1 conv, gain 1, bias) at every resolution 2**(L-k); growing as in `growing.py`.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import keras
import tensorflow as tf

from stylegan2_tf.networks.channels import check_resample_kernel
from stylegan2_tf.networks.growing.base import GrowingSynthesisBase, grow_images, layer_noise
from stylegan2_tf.networks.layers import EqualizedConv2D, EqualizedDense, as_float32, check_fused, check_impl
from stylegan2_tf.ops import bias_act, filter2d, setup_filter

V1_NONLINEARITIES = ("lrelu", "relu")
HE_GAIN = math.sqrt(2.0)  # the gain of the layers before relu/lrelu (in the weights, in StyleGAN1)
BOX = (1.0, 1.0)          # nearest-neighbour up / box down as the FIR of our fused resampling convs
FUSED_SCALES = ("auto", True, False)


def check_blur_filter(taps) -> Optional[list]:
    """None (no blur) or odd-length symmetric taps, e.g. [1, 2, 1] (normalized when applied).

    The official blur is a 'SAME' depthwise correlation; for odd symmetric filters that is our centered filter2d.
    """
    if taps is None:
        return None
    values = check_resample_kernel(taps)
    if len(values) % 2 != 1 or values != values[::-1]:
        raise ValueError(f"blur_filter must be None or odd-length and symmetric (e.g. [1, 2, 1]), got {taps!r}")
    return values


def check_fused_scale(value):
    if value not in FUSED_SCALES or (value is not True and value is not False and value != "auto"):
        raise ValueError(f"fused_scale must be 'auto', True or False, got {value!r}")
    return value


def check_v1_nonlinearity(nonlinearity: str) -> str:
    if nonlinearity not in V1_NONLINEARITIES:
        raise ValueError(f"StyleGAN1 networks support nonlinearity {V1_NONLINEARITIES}, got {nonlinearity!r}")
    return nonlinearity


def blur(x: tf.Tensor, blur_filter, impl: str) -> tf.Tensor:
    """The official blur2d: depthwise filter with the normalized outer product of the taps, same size."""
    return x if blur_filter is None else filter2d(x, blur_filter, impl=impl)


def instance_norm(x: tf.Tensor, eps: float = 1e-8) -> tf.Tensor:
    """Per sample and channel: subtract the mean over H, W and divide by the RMS over H, W (plus eps): NHWC."""
    x = x - tf.reduce_mean(x, axis=[1, 2], keepdims=True)
    return x * tf.math.rsqrt(tf.reduce_mean(tf.square(x), axis=[1, 2], keepdims=True) + eps)


class AdaIN(keras.layers.Layer):
    """The StyleGAN1 layer epilogue: noise, bias, activation, instance norm, style modulation (AdaIN).

    call(x [N, H, W, C], w [N, w_dim], noise_const [H, W] or None, noise_mode, noise [N, H, W, 1] or None)
    -> [N, H, W, C]. Variables (official names): `Noise/weight` [C] (if use_noise), `bias` [C], `StyleMod/weight`
    [w_dim, 2C], `StyleMod/bias` [2C].
    """

    def __init__(self, channels: int, w_dim: int, *, use_noise: bool = True, activation: str = "lrelu",
                 impl: str = "auto", **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)
        self.w_dim = int(w_dim)
        self.use_noise = bool(use_noise)
        self.activation = check_v1_nonlinearity(activation)
        self.impl = check_impl(impl)
        self.style = EqualizedDense(2 * self.channels, impl=self.impl, name="StyleMod")

    def build(self, input_shape=None):
        if self.use_noise:
            self.noise_weight = self.add_weight(name="noise_weight", shape=(self.channels,), initializer="zeros")
        self.bias = self.add_weight(name="bias", shape=(self.channels,), initializer="zeros")
        self.style.build((None, self.w_dim))
        super().build(input_shape)

    def named_variables(self) -> dict:
        out = {"Noise/weight": self.noise_weight} if self.use_noise else {}
        out.update({"bias": self.bias, "StyleMod/weight": self.style.weight, "StyleMod/bias": self.style.bias})
        return out

    def call(self, x, w, noise_const=None, noise_mode="random", noise=None):
        x = as_float32(x)
        if self.use_noise:
            n = layer_noise(x, noise_mode, noise_const, noise)
            if n is not None:
                x = x + n * self.noise_weight
        x = bias_act(x, self.bias, act=self.activation, gain=1.0, impl=self.impl)
        x = instance_norm(x)
        style = self.style(as_float32(w))                                  # [N, 2C]: scale, then shift
        scale = style[:, tf.newaxis, tf.newaxis, :self.channels]
        shift = style[:, tf.newaxis, tf.newaxis, self.channels:]
        return x * (scale + 1.0) + shift

    def get_config(self):
        config = super().get_config()
        config.update(channels=self.channels, w_dim=self.w_dim, use_noise=self.use_noise,
                      activation=self.activation, impl=self.impl)
        return config


class StyleGAN1Layer(keras.layers.Layer):
    """A 3x3 conv of G_style's synthesis (optionally 2x upsampling first, then the blur), then the AdaIN epilogue.

    call(x [N, H, W, Cin], w [N, w_dim], noise_const, noise_mode, noise) -> [N, H', W', filters].
    Variables (official names): `weight` [3, 3, Cin, filters] and the epilogue's.
    fused_up: the official fused upscale-conv (a true convolution with the weight, see the module docstring).
    """

    def __init__(self, filters: int, w_dim: int, *, up: bool = False, fused_up: bool = False,
                 blur_filter: Optional[Sequence[float]] = (1, 2, 1), use_noise: bool = True,
                 activation: str = "lrelu", impl: str = "auto", **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.w_dim = int(w_dim)
        self.up = bool(up)
        self.fused_up = bool(fused_up) and self.up
        self.blur_filter = check_blur_filter(blur_filter)
        self.use_noise = bool(use_noise)
        self.activation = check_v1_nonlinearity(activation)
        self.impl = check_impl(impl)
        self.blur_taps = None if self.blur_filter is None else setup_filter(self.blur_filter)
        # A box FIR turns our fused up-conv into "nearest 2x, then 3x3 conv" (zero tails: same borders as separate).
        self.conv = EqualizedConv2D(self.filters, 3, up=self.up, resample_kernel=BOX, use_bias=False,
                                    weight_gain=HE_GAIN, impl=self.impl, name="conv")
        self.epilogue = AdaIN(self.filters, self.w_dim, use_noise=self.use_noise, activation=self.activation,
                              impl=self.impl, name="epilogue")

    def build(self, input_shape):
        self.conv.build(input_shape)
        self.epilogue.build()
        super().build(input_shape)

    def named_variables(self) -> dict:
        return dict({"weight": self.conv.weight}, **self.epilogue.named_variables())

    def call(self, x, w, noise_const=None, noise_mode="random", noise=None):
        x = as_float32(x)
        if self.fused_up:  # convolution = correlation of the flipped image, flipped back
            x = tf.reverse(self.conv(tf.reverse(x, [1, 2])), [1, 2])
        else:
            x = self.conv(x)
        if self.up:
            x = blur(x, self.blur_taps, self.impl)
        return self.epilogue(x, w, noise_const=noise_const, noise_mode=noise_mode, noise=noise)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, w_dim=self.w_dim, up=self.up, fused_up=self.fused_up,
                      blur_filter=self.blur_filter, use_noise=self.use_noise, activation=self.activation,
                      impl=self.impl)
        return config


class StyleGAN1Synthesis(GrowingSynthesisBase):
    """G_style's synthesis network: ws [N, num_ws, w_dim] -> images [N, R, R, C] at the current `lod`.

    Defaults are the official ones (fmap_base 8192, [1,2,1] blur, fused_scale 'auto'). Variables (official names):
    `4x4/Const/const` [4, 4, C] (NHWC; official [1, C, 4, 4]), `4x4/Const/{Noise/weight,bias,StyleMod/*}`,
    `4x4/Conv/*`, `{R}x{R}/{Conv0_up,Conv1}/*`, `ToRGB_lod{k}/{weight,bias}`, `noise{i}` [H, W], `lod`.
    """
    architecture = "stylegan1"

    def __init__(self, w_dim: int = 512, img_resolution: int = 1024, img_channels: int = 3, *,
                 fmap_base: int = 8192, fmap_decay: float = 1.0, fmap_min: int = 1, fmap_max: int = 512,
                 nonlinearity: str = "lrelu", use_noise: bool = True,
                 blur_filter: Optional[Sequence[float]] = (1, 2, 1), fused_scale="auto",
                 resample_kernel: Optional[Sequence[float]] = (1, 3, 3, 1), fused_modconv="auto",
                 impl: str = "auto", **kwargs):
        super().__init__(w_dim, img_resolution, img_channels, fmap_base=fmap_base, fmap_decay=fmap_decay,
                         fmap_min=fmap_min, fmap_max=fmap_max, use_noise=use_noise,
                         nonlinearity=check_v1_nonlinearity(nonlinearity), impl=impl, **kwargs)
        self.blur_filter = check_blur_filter(blur_filter)
        self.fused_scale = check_fused_scale(fused_scale)
        # Not used by StyleGAN1 layers; kept so a Generator's config reads the same for every synthesis network.
        self.resample_kernel = check_resample_kernel(resample_kernel)
        self.fused_modconv = check_fused(fused_modconv)
        self.fmap_const = None
        self.conv_clamp = None
        layer = dict(w_dim=self.w_dim, blur_filter=self.blur_filter, use_noise=self.use_noise,
                     activation=self.nonlinearity, impl=self.impl)
        self.blocks = {}
        self.layer_inputs = {}
        self.blocks["4x4/Const"] = AdaIN(self.nf(1), self.w_dim, use_noise=self.use_noise,
                                         activation=self.nonlinearity, impl=self.impl, name="b4_const")
        self.blocks["4x4/Conv"] = StyleGAN1Layer(self.nf(1), **layer, name="b4_conv")
        self.layer_inputs["4x4/Conv"] = self.nf(1)
        for res in range(3, self.res_log2 + 1):
            r = 2 ** res
            fused = (r >= 128) if self.fused_scale == "auto" else self.fused_scale
            self.blocks[f"{r}x{r}/Conv0_up"] = StyleGAN1Layer(self.nf(res - 1), up=True, fused_up=fused, **layer,
                                                              name=f"b{r}_conv0")
            self.layer_inputs[f"{r}x{r}/Conv0_up"] = self.nf(res - 2)
            self.blocks[f"{r}x{r}/Conv1"] = StyleGAN1Layer(self.nf(res - 1), **layer, name=f"b{r}_conv1")
            self.layer_inputs[f"{r}x{r}/Conv1"] = self.nf(res - 1)
        self.torgb = {res: EqualizedConv2D(self.img_channels, 1, impl=self.impl, name=f"torgb_lod{self.res_log2 - res}")
                      for res in range(2, self.res_log2 + 1)}
        self.build()

    def _noise_sizes(self):
        return [2 ** (i // 2 + 2) for i in range(self.num_ws)]

    def build(self, input_shape=None):
        if self.built:
            return
        self.const = self.add_weight(name="const", shape=(4, 4, self.nf(1)), initializer="ones")
        for name, layer in self.blocks.items():
            if name in self.layer_inputs:
                layer.build((None, None, None, self.layer_inputs[name]))
            else:
                layer.build()
        for res, layer in self.torgb.items():
            layer.build((None, None, None, self.nf(res - 1)))
        self._build_buffers()
        super().build(input_shape)

    def named_variables(self) -> dict:
        out = {"lod": self.lod, "4x4/Const/const": self.const}
        for name, layer in self.blocks.items():
            out.update({f"{name}/{k}": v for k, v in layer.named_variables().items()})
        for res, layer in self.torgb.items():
            out[f"ToRGB_lod{self.res_log2 - res}/weight"] = layer.weight
            out[f"ToRGB_lod{self.res_log2 - res}/bias"] = layer.bias
        for i, var in enumerate(self.noise_const):
            out[f"noise{i}"] = var
        return out

    def call(self, ws, noise_mode: str = "random", fused_modconv=None, training=False, noise_inputs=None,
             lod_level=None):
        """ws [N, num_ws, w_dim] -> images [N, R, R, C]; noise_inputs as in SynthesisNetwork (one per layer).
        fused_modconv and training do not change anything here (no modulated convs, no training-only parts).
        lod_level: the static floor(lod) of a training step (see growing.grow_images); None: any lod."""
        ws = self._check_call(ws, noise_mode, noise_inputs)
        lod = tf.convert_to_tensor(self.lod)

        def layer(name, x, idx):
            return self.blocks[name](x, ws[:, idx], **self._noise_args(idx, noise_mode, noise_inputs))

        def block(res, x):
            r = 2 ** res
            x = layer(f"{r}x{r}/Conv0_up", x, res * 2 - 4)
            return layer(f"{r}x{r}/Conv1", x, res * 2 - 3)

        x = tf.tile(self.const[tf.newaxis], [tf.shape(ws)[0], 1, 1, 1])
        x = layer("4x4/Const", x, 0)
        x = layer("4x4/Conv", x, 1)
        return grow_images(x, lod, self.res_log2, block, lambda res, x: self.torgb[res](x), lod_level=lod_level)

    def get_config(self):
        config = self.base_config()
        config.update(blur_filter=self.blur_filter, fused_scale=self.fused_scale,
                      resample_kernel=self.resample_kernel, fused_modconv=self.fused_modconv)
        return config
