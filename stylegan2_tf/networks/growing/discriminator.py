"""Discriminators with progressive growing: StyleGAN's D_basic (config A) and the StyleGAN2 paper's D_stylegan
(configs B-D).

Both: a FromRGB (1x1 conv + activation) per level of detail (`FromRGB_lod{k}`), blocks `{R}x{R}/Conv0` (3x3) and
`{R}x{R}/Conv1_down` (3x3 with 2x downsampling) from the input resolution down to 8x8, the input blended by `lod`
(`growing.grow_features`), then at 4x4 minibatch stddev, `4x4/Conv`, `4x4/Dense0` and a linear output layer with
max(c_dim, 1) units; conditional models project it on the label (sum(out * c)).

  * architecture='stylegan1' (NVlabs/stylegan networks_stylegan.D_basic): He gain sqrt(2) in the weights, plain
    activation; Conv1_down blurs with [1,2,1] first, then convolves and box-downsamples (the official fused
    downscale-conv at >= 128 px computes the same function: its 4x4 kernel is the 3x3 kernel averaged over 2x2
    shifts); the output layer is `4x4/Dense1`.
  * architecture='orig' (NVlabs/stylegan2 networks_stylegan2.D_stylegan): StyleGAN2 layers (FIR [1,3,3,1]
    conv-downsampling, gain in the activation), output layer `Output`.
"""
from __future__ import annotations

from typing import Optional, Sequence

import keras
import tensorflow as tf

from stylegan2_tf.networks.channels import check_resample_kernel, nf, resolution_log2
from stylegan2_tf.networks.stylegan2.discriminator import minibatch_stddev
from stylegan2_tf.networks.growing.base import add_lod_variable, grow_features
from stylegan2_tf.networks.layers import EqualizedConv2D, EqualizedDense, as_float32, check_impl, layer_variables
from stylegan2_tf.networks.growing.stylegan1 import BOX, HE_GAIN, blur, check_blur_filter, check_v1_nonlinearity
from stylegan2_tf.ops import setup_filter

GROWING_D_ARCHITECTURES = ("stylegan1", "orig")


@keras.saving.register_keras_serializable(package="stylegan2_tf")
class GrowingDiscriminator(keras.Model):
    """D(img [N, H, W, C], c [N, c_dim] or None) -> logits [N, 1], at the current `lod` (non-trainable scalar).

    Defaults are those of the paper's configs A-D (fmap_base 8192, mbstd group 4 with 1 feature). mbstd_group_size:
    int >= 1 or None (whole batch); mbstd_num_features=0 disables the layer (the official D skips it for group sizes
    <= 1). blur_filter applies to 'stylegan1', resample_kernel to 'orig'.
    """

    def __init__(self, c_dim: int = 0, img_resolution: int = 1024, img_channels: int = 3, *,
                 architecture: str = "orig", fmap_base: int = 8192, fmap_decay: float = 1.0, fmap_min: int = 1,
                 fmap_max: int = 512, nonlinearity: str = "lrelu",
                 resample_kernel: Optional[Sequence[float]] = (1, 3, 3, 1),
                 blur_filter: Optional[Sequence[float]] = (1, 2, 1), mbstd_group_size: Optional[int] = 4,
                 mbstd_num_features: int = 1, impl: str = "auto", **kwargs):
        super().__init__(**kwargs)
        if architecture not in GROWING_D_ARCHITECTURES:
            raise ValueError(f"architecture must be one of {GROWING_D_ARCHITECTURES}, got {architecture!r}")
        if int(c_dim) < 0:
            raise ValueError(f"c_dim must be >= 0, got {c_dim}")
        if int(img_channels) <= 0:
            raise ValueError(f"img_channels must be positive, got {img_channels}")
        if mbstd_group_size is not None and int(mbstd_group_size) < 1:
            raise ValueError(f"mbstd_group_size must be >= 1 or None, got {mbstd_group_size}")
        if int(mbstd_num_features) < 0:
            raise ValueError(f"mbstd_num_features must be >= 0, got {mbstd_num_features}")
        self.architecture = architecture
        self.c_dim = int(c_dim)
        self.img_resolution = int(img_resolution)
        self.res_log2 = resolution_log2(self.img_resolution)
        self.img_channels = int(img_channels)
        self.fmap_base, self.fmap_decay = int(fmap_base), float(fmap_decay)
        self.fmap_min, self.fmap_max = int(fmap_min), int(fmap_max)
        v1 = architecture == "stylegan1"
        self.nonlinearity = check_v1_nonlinearity(nonlinearity) if v1 else nonlinearity
        self.resample_kernel = check_resample_kernel(resample_kernel)
        self.blur_filter = check_blur_filter(blur_filter)
        self.mbstd_group_size = None if mbstd_group_size is None else int(mbstd_group_size)
        self.mbstd_num_features = int(mbstd_num_features)
        self.impl = check_impl(impl)
        self.blur_taps = None if self.blur_filter is None else setup_filter(self.blur_filter)
        self.lod = add_lod_variable(self)

        # StyleGAN1: gain in the weights, activation without gain; 'orig': the StyleGAN2 layers' defaults.
        act = dict(activation=self.nonlinearity, impl=self.impl)
        if v1:
            act.update(weight_gain=HE_GAIN, act_gain=1.0)
        down = dict(down=True, resample_kernel=BOX if v1 else self.resample_kernel)
        self.fromrgb = {}
        self.blocks = {}
        inputs = {}
        for res in range(self.res_log2, 1, -1):
            self.fromrgb[res] = EqualizedConv2D(self.nf(res - 1), 1, **act, name=f"fromrgb_lod{self.res_log2 - res}")
            self.fromrgb[res].build((None, None, None, self.img_channels))
            if res >= 3:
                r = 2 ** res
                self.blocks[f"{r}x{r}/Conv0"] = EqualizedConv2D(self.nf(res - 1), 3, **act, name=f"b{r}_conv0")
                inputs[f"{r}x{r}/Conv0"] = self.nf(res - 1)
                self.blocks[f"{r}x{r}/Conv1_down"] = EqualizedConv2D(self.nf(res - 2), 3, **down, **act,
                                                                     name=f"b{r}_conv1")
                inputs[f"{r}x{r}/Conv1_down"] = self.nf(res - 1)
        self.blocks["4x4/Conv"] = EqualizedConv2D(self.nf(1), 3, **act, name="b4_conv")
        inputs["4x4/Conv"] = self.nf(1) + self.mbstd_num_features
        self.blocks["4x4/Dense0"] = EqualizedDense(self.nf(0), **act, name="b4_dense0")
        inputs["4x4/Dense0"] = self.nf(1) * 16
        self.output_name = "4x4/Dense1" if v1 else "Output"
        self.blocks[self.output_name] = EqualizedDense(max(self.c_dim, 1), impl=self.impl, name="output")
        inputs[self.output_name] = self.nf(0)
        for name, layer in self.blocks.items():
            layer.build((None, inputs[name]) if isinstance(layer, EqualizedDense) else (None, None, None, inputs[name]))
        self._config = dict(
            c_dim=self.c_dim, img_resolution=self.img_resolution, img_channels=self.img_channels,
            architecture=self.architecture, fmap_base=self.fmap_base, fmap_decay=self.fmap_decay,
            fmap_min=self.fmap_min, fmap_max=self.fmap_max, nonlinearity=self.nonlinearity,
            resample_kernel=self.resample_kernel, blur_filter=self.blur_filter,
            mbstd_group_size=self.mbstd_group_size, mbstd_num_features=self.mbstd_num_features, impl=self.impl)
        self.built = True

    def nf(self, stage: int) -> int:
        return nf(stage, self.fmap_base, self.fmap_decay, self.fmap_min, self.fmap_max)

    def named_variables(self) -> dict:
        """Stable (official) name -> variable: lod, FromRGB_lod{k}/*, {R}x{R}/{Conv0,Conv1_down}/*, 4x4/*, output."""
        out = {"lod": self.lod}
        for res, layer in self.fromrgb.items():
            out.update({f"FromRGB_lod{self.res_log2 - res}/{k}": v for k, v in layer_variables(layer).items()})
        for name, layer in self.blocks.items():
            out.update({f"{name}/{k}": v for k, v in layer_variables(layer).items()})
        return out

    def call(self, img, c=None, training=False, lod_level=None):
        """img [N, R, R, C], c [N, c_dim] or None -> logits [N, 1] at the current `lod`; lod_level: the static
        floor(lod) of a training step (see growing.grow_features), None for any lod."""
        img = as_float32(img)
        r = self.img_resolution
        if img.shape.rank != 4 or tuple(img.shape[1:]) != (r, r, self.img_channels):
            raise ValueError(f"images must have shape [N, {r}, {r}, {self.img_channels}] (NHWC), got {img.shape}")
        if self.c_dim > 0:
            if c is None:
                raise ValueError(f"this discriminator is conditional: pass c with shape [N, {self.c_dim}]")
            c = as_float32(c)
            if c.shape.rank != 2 or c.shape[1] != self.c_dim:
                raise ValueError(f"c must have shape [N, {self.c_dim}], got {c.shape}")

        def block(res, x):
            r = 2 ** res
            x = self.blocks[f"{r}x{r}/Conv0"](x)
            if self.architecture == "stylegan1":
                x = blur(x, self.blur_taps, self.impl)
            return self.blocks[f"{r}x{r}/Conv1_down"](x)

        x = grow_features(img, tf.convert_to_tensor(self.lod), self.res_log2,
                          lambda res, y: self.fromrgb[res](y), block, lod_level=lod_level)
        if self.mbstd_num_features > 0:
            x = minibatch_stddev(x, self.mbstd_group_size, self.mbstd_num_features)
        x = self.blocks["4x4/Conv"](x)
        # Dense0's official weight expects the NCHW flattening order (c*16 + h*4 + w).
        x = tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [-1, self.nf(1) * 16])
        x = self.blocks["4x4/Dense0"](x)
        x = self.blocks[self.output_name](x)
        if self.c_dim > 0:
            x = tf.reduce_sum(x * c, axis=1, keepdims=True)
        return x

    def get_config(self):
        return dict(self._config, name=self.name)

    @classmethod
    def from_config(cls, config):
        return cls(**config)
