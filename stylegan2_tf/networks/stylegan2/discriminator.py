"""StyleGAN2 discriminator (paper Fig. 7): architectures 'orig', 'skip', 'resnet' (default), minibatch stddev."""
from __future__ import annotations

from typing import Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from stylegan2_tf.networks.channels import check_architecture, check_resample_kernel, nf, resolution_log2
from stylegan2_tf.networks.layers import (EqualizedConv2D, EqualizedDense, as_float32, check_impl,
                                          layer_variables)
from stylegan2_tf.networks.mapping import normalize_2nd_moment
from stylegan2_tf.networks.precision import block_dtype, cast, check_num_fp16_res, check_precision
from stylegan2_tf.ops import downsample2d, setup_filter

LABEL_MAPPINGS = ("project", "embed")


def minibatch_stddev(x: tf.Tensor, group_size: Optional[int] = 4, num_features: int = 1) -> tf.Tensor:
    """Appends `num_features` minibatch-stddev channels: [N, H, W, C] -> [N, H, W, C + num_features].

    The batch is split into N/G groups of G = min(group_size, N) samples *strided* as officially (sample i belongs
    to group i mod (N/G)); channels split into num_features groups. Per group: std over the G samples (eps 1e-8),
    averaged over pixels and the channel group. group_size None = the whole batch. N must be divisible by G.
    """
    shape = tf.shape(x)
    n, h, w = shape[0], shape[1], shape[2]
    c = x.shape[-1]
    if c % num_features != 0:
        raise ValueError(f"{c} channels cannot be split into {num_features} stddev feature groups")
    if x.shape[0] is not None and group_size is not None and x.shape[0] > group_size and x.shape[0] % group_size:
        raise ValueError(f"minibatch size {x.shape[0]} must be divisible by the mbstd group size {group_size} "
                         "(or smaller than it)")
    g = n if group_size is None else tf.minimum(int(group_size), n)
    tf.debugging.assert_equal(n % g, 0, message="minibatch size must be divisible by the mbstd group size")
    y = tf.reshape(x, [g, -1, h, w, num_features, c // num_features])    # [G, M, H, W, F, c]
    y = y - tf.reduce_mean(y, axis=0)
    y = tf.sqrt(tf.reduce_mean(tf.square(y), axis=0) + 1e-8)            # [M, H, W, F, c]
    y = tf.reduce_mean(y, axis=[1, 2, 4])                               # [M, F]
    y = tf.tile(y[:, tf.newaxis, tf.newaxis, :], [g, h, w, 1])          # [N, H, W, F]
    return tf.concat([x, y], axis=-1)


@keras.saving.register_keras_serializable(package="stylegan2_tf")
class Discriminator(keras.Model):
    """D(img [N, H, W, C], c [N, c_dim] or None) -> logits [N, 1].

    Conditional models: label_mapping='project' (StyleGAN2: Output has c_dim units, logit = sum(out * c)) or 'embed'
    (StyleGAN2-ADA: c -> LabelEmbed (+ Mapping{i}) -> cmap, logit = sum(out * cmap) / sqrt(cmap_dim)).
    Defaults are StyleGAN2 config F ('resnet', fmap_base 16384, mbstd group 4 with 1 feature).

    Precision (see networks/precision.py): the blocks of the `num_fp16_res` highest resolutions compute in the type
    `precision` names (their FromRGB included; each block's input is cast to its type); the 4x4 epilogue (FromRGB
    at 4x4, minibatch stddev, conv, dense layers, label mapping) and the skip architecture's downsampled images stay
    float32, and so do the logits. `block_dtypes` maps each resolution to its dtype.
    """

    def __init__(self, c_dim: int = 0, img_resolution: int = 1024, img_channels: int = 3, *,
                 fmap_base: int = 16384, fmap_decay: float = 1.0, fmap_min: int = 1, fmap_max: int = 512,
                 architecture: str = "resnet", nonlinearity: str = "lrelu",
                 resample_kernel: Optional[Sequence[float]] = (1, 3, 3, 1), mbstd_group_size: Optional[int] = 4,
                 mbstd_num_features: int = 1, conv_clamp: Optional[float] = None, label_mapping: str = "project",
                 mapping_layers: int = 0, mapping_fmaps: Optional[int] = None, mapping_lr_mul: float = 0.1,
                 impl: str = "auto", precision: str = "fp32", num_fp16_res: int = 0, **kwargs):
        super().__init__(**kwargs)
        if int(c_dim) < 0:
            raise ValueError(f"c_dim must be >= 0, got {c_dim}")
        if int(img_channels) <= 0:
            raise ValueError(f"img_channels must be positive, got {img_channels}")
        if label_mapping not in LABEL_MAPPINGS:
            raise ValueError(f"label_mapping must be one of {LABEL_MAPPINGS}, got {label_mapping!r}")
        if mbstd_group_size is not None and int(mbstd_group_size) < 1:
            raise ValueError(f"mbstd_group_size must be >= 1 or None, got {mbstd_group_size}")
        if int(mbstd_num_features) < 0:
            raise ValueError(f"mbstd_num_features must be >= 0, got {mbstd_num_features}")
        self.c_dim = int(c_dim)
        self.img_resolution = int(img_resolution)
        self.res_log2 = resolution_log2(self.img_resolution)
        self.img_channels = int(img_channels)
        self.fmap_base, self.fmap_decay = int(fmap_base), float(fmap_decay)
        self.fmap_min, self.fmap_max = int(fmap_min), int(fmap_max)
        self.architecture = check_architecture(architecture)
        self.nonlinearity = nonlinearity
        self.resample_kernel = check_resample_kernel(resample_kernel)
        self.mbstd_group_size = None if mbstd_group_size is None else int(mbstd_group_size)
        self.mbstd_num_features = int(mbstd_num_features)
        self.conv_clamp = None if conv_clamp is None else float(conv_clamp)
        self.label_mapping = label_mapping
        self.mapping_layers = int(mapping_layers)
        self.mapping_fmaps = int(mapping_fmaps) if mapping_fmaps is not None else self.nf(0)
        self.mapping_lr_mul = float(mapping_lr_mul)
        self.impl = check_impl(impl)
        self.precision = check_precision(precision)
        self.num_fp16_res = check_num_fp16_res(num_fp16_res, self.precision)
        self.block_dtypes = {2 ** r: block_dtype(2 ** r, self.img_resolution, self.num_fp16_res, self.precision)
                             for r in range(2, self.res_log2 + 1)}
        self.filter = setup_filter(self.resample_kernel)

        act = dict(activation=self.nonlinearity, conv_clamp=self.conv_clamp, impl=self.impl)
        down = dict(down=True, resample_kernel=self.resample_kernel)
        self.blocks = {}
        inputs = {}
        c = None
        for res in range(self.res_log2, 2, -1):
            r = 2 ** res
            if self.architecture == "skip" or res == self.res_log2:
                self.blocks[f"{r}x{r}/FromRGB"] = EqualizedConv2D(self.nf(res - 1), 1, **act, name=f"b{r}_fromrgb")
                inputs[f"{r}x{r}/FromRGB"] = self.img_channels
                c = self.nf(res - 1)
            self.blocks[f"{r}x{r}/Conv0"] = EqualizedConv2D(self.nf(res - 1), 3, **act, name=f"b{r}_conv0")
            inputs[f"{r}x{r}/Conv0"] = c
            self.blocks[f"{r}x{r}/Conv1_down"] = EqualizedConv2D(self.nf(res - 2), 3, **down, **act,
                                                                 name=f"b{r}_conv1")
            inputs[f"{r}x{r}/Conv1_down"] = self.nf(res - 1)
            if self.architecture == "resnet":
                self.blocks[f"{r}x{r}/Skip"] = EqualizedConv2D(self.nf(res - 2), 1, **down, use_bias=False,
                                                               impl=self.impl, name=f"b{r}_skip")
                inputs[f"{r}x{r}/Skip"] = c
            c = self.nf(res - 2)
        if self.architecture == "skip" or self.res_log2 == 2:
            self.blocks["4x4/FromRGB"] = EqualizedConv2D(self.nf(1), 1, **act, name="b4_fromrgb")
            inputs["4x4/FromRGB"] = self.img_channels
            c = self.nf(1)
        self.blocks["4x4/Conv"] = EqualizedConv2D(self.nf(1), 3, **act, name="b4_conv")
        inputs["4x4/Conv"] = c + self.mbstd_num_features
        self.blocks["4x4/Dense0"] = EqualizedDense(self.nf(0), activation=self.nonlinearity, impl=self.impl,
                                                   name="b4_dense0")
        inputs["4x4/Dense0"] = self.nf(1) * 16
        if self.c_dim > 0 and self.label_mapping == "embed":
            self.blocks["LabelEmbed"] = EqualizedDense(self.mapping_fmaps, impl=self.impl, name="label_embed")
            inputs["LabelEmbed"] = self.c_dim
            for i in range(self.mapping_layers):
                self.blocks[f"Mapping{i}"] = EqualizedDense(self.mapping_fmaps, lr_mul=self.mapping_lr_mul,
                                                            activation=self.nonlinearity, impl=self.impl,
                                                            name=f"label_mapping{i}")
                inputs[f"Mapping{i}"] = self.mapping_fmaps
            out_units = self.mapping_fmaps
        else:
            out_units = max(self.c_dim, 1)
        self.blocks["Output"] = EqualizedDense(out_units, impl=self.impl, name="output")
        inputs["Output"] = self.nf(0)
        for name, layer in self.blocks.items():
            layer.build((None, inputs[name]) if isinstance(layer, EqualizedDense) else (None, None, None, inputs[name]))
        self._config = dict(
            c_dim=self.c_dim, img_resolution=self.img_resolution, img_channels=self.img_channels,
            fmap_base=self.fmap_base, fmap_decay=self.fmap_decay, fmap_min=self.fmap_min, fmap_max=self.fmap_max,
            architecture=self.architecture, nonlinearity=self.nonlinearity, resample_kernel=self.resample_kernel,
            mbstd_group_size=self.mbstd_group_size, mbstd_num_features=self.mbstd_num_features,
            conv_clamp=self.conv_clamp, label_mapping=self.label_mapping, mapping_layers=self.mapping_layers,
            mapping_fmaps=self.mapping_fmaps, mapping_lr_mul=self.mapping_lr_mul, impl=self.impl)
        if self.precision != "fp32" or self.num_fp16_res:  # (float32 configs stay as they were before precision)
            self._config.update({"precision": self.precision, "num_fp16_res": self.num_fp16_res})
        self.built = True

    def nf(self, stage: int) -> int:
        return nf(stage, self.fmap_base, self.fmap_decay, self.fmap_min, self.fmap_max)

    def block_layers(self) -> list:
        """The layers of the blocks above 4x4, in stylegan2-ada-pytorch's freeze-D order: from the highest resolution
        down, per block FromRGB (when it has one), Conv0, Conv1, Skip. The 4x4 epilogue and the label mapping are not
        among them."""
        return [layer for name, layer in self.blocks.items() if "x" in name and not name.startswith("4x4/")]

    def freeze_layers(self, num_layers: int) -> None:
        """Freeze-D (Mo et al. 2020, as stylegan2-ada-pytorch's --freezed): the first `num_layers` of
        `block_layers()` become non-trainable (no gradient, no optimizer update; still in every forward pass); the
        others trainable."""
        layers = self.block_layers()
        if not 0 <= int(num_layers) <= len(layers):
            raise ValueError(f"--freezed={num_layers}: this discriminator has {len(layers)} layers above 4x4 "
                             f"(0 to {len(layers)} can be frozen)")
        for i, layer in enumerate(layers):
            layer.trainable = i >= int(num_layers)

    def named_variables(self) -> dict:
        """Stable (official) name -> variable."""
        out = {}
        for name, layer in self.blocks.items():
            for var_name, var in layer_variables(layer).items():
                out[f"{name}/{var_name}"] = var
        return out

    def call(self, img, c=None, training=False):
        img = as_float32(img)
        r = self.img_resolution
        if img.shape.rank != 4 or tuple(img.shape[1:]) != (r, r, self.img_channels):
            raise ValueError(f"images must have shape [N, {r}, {r}, {self.img_channels}] (NHWC), got {img.shape}")
        cmap = None
        if self.c_dim > 0:
            if c is None:
                raise ValueError(f"this discriminator is conditional: pass c with shape [N, {self.c_dim}]")
            cmap = as_float32(c)
            if cmap.shape.rank != 2 or cmap.shape[1] != self.c_dim:
                raise ValueError(f"c must have shape [N, {self.c_dim}], got {cmap.shape}")
            if self.label_mapping == "embed":
                cmap = normalize_2nd_moment(self.blocks["LabelEmbed"](cmap))
                for i in range(self.mapping_layers):
                    cmap = self.blocks[f"Mapping{i}"](cmap)

        x, y = None, img
        for res in range(self.res_log2, 2, -1):
            r = 2 ** res
            dtype = self.block_dtypes[r]
            if f"{r}x{r}/FromRGB" in self.blocks:
                t = self.blocks[f"{r}x{r}/FromRGB"](cast(y, dtype))
                x = t if x is None else cast(x, dtype) + t
            x = cast(x, dtype)
            t = x
            x = self.blocks[f"{r}x{r}/Conv0"](x)
            x = self.blocks[f"{r}x{r}/Conv1_down"](x)
            if self.architecture == "resnet":
                x = (x + self.blocks[f"{r}x{r}/Skip"](t)) * np.float32(1 / np.sqrt(2))
            if self.architecture == "skip":
                y = downsample2d(y, self.filter, impl=self.impl)
        if "4x4/FromRGB" in self.blocks:
            t = self.blocks["4x4/FromRGB"](y)
            x = t if x is None else cast(x, t.dtype) + t
        x = cast(x, tf.float32)
        if self.mbstd_num_features > 0:
            x = minibatch_stddev(x, self.mbstd_group_size, self.mbstd_num_features)
        x = self.blocks["4x4/Conv"](x)
        # The official Dense0 weight expects the NCHW flattening order (c*16 + h*4 + w).
        x = tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [-1, self.nf(1) * 16])
        x = self.blocks["4x4/Dense0"](x)
        x = self.blocks["Output"](x)
        if cmap is not None:
            x = tf.reduce_sum(x * cmap, axis=1, keepdims=True)
            if self.label_mapping == "embed":
                x = x * np.float32(1 / np.sqrt(self.mapping_fmaps))
        return x

    def get_config(self):
        return dict(self._config, name=self.name)

    @classmethod
    def from_config(cls, config):
        return cls(**config)
