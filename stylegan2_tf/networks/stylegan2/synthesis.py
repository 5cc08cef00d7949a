"""StyleGAN2 synthesis network (paper Fig. 7): ws -> image, architectures 'orig', 'skip', 'resnet'."""
from __future__ import annotations

from typing import Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from stylegan2_tf.networks.channels import (check_architecture, check_resample_kernel, nf, noise_resolution,
                                            resolution_log2)
from stylegan2_tf.networks.layers import (EqualizedConv2D, SynthesisLayer, ToRGB, as_float32, check_fused,
                                          check_impl, layer_variables)
from stylegan2_tf.networks.precision import block_dtype, cast, check_num_fp16_res, check_precision
from stylegan2_tf.ops import setup_filter, upsample2d

NOISE_MODES = ("random", "const", "none")


class SynthesisNetwork(keras.layers.Layer):
    """ws [N, num_ws, w_dim] -> images [N, img_resolution, img_resolution, img_channels] (raw, not clipped).

    Layer i of the official numbering (0 = the 4x4 conv, then Conv0_up/Conv1 per resolution) uses ws[:, i]; the
    toRGB at resolution 2**r uses ws[:, 2r-3]. num_ws = 2*log2(resolution) - 2. Constant noise buffers `noise{i}`
    [2**((i+5)//2)]^2 (one per conv layer, non-trainable) serve noise_mode='const'.

    Precision (see networks/precision.py): the blocks of the `num_fp16_res` highest resolutions (never 4x4) compute
    in the type `precision` names ('bf16', 'fp16'; 'fp32' = none); a block's input is cast to its type, its ToRGB
    output back to float32, so the image and its skip accumulation are float32. `block_dtypes` maps each
    resolution to its dtype.
    """

    def __init__(self, w_dim: int = 512, img_resolution: int = 1024, img_channels: int = 3, *,
                 fmap_base: int = 16384, fmap_decay: float = 1.0, fmap_min: int = 1, fmap_max: int = 512,
                 fmap_const: Optional[int] = None, architecture: str = "skip", nonlinearity: str = "lrelu",
                 resample_kernel: Optional[Sequence[float]] = (1, 3, 3, 1), use_noise: bool = True,
                 conv_clamp: Optional[float] = None, fused_modconv="auto", impl: str = "auto",
                 precision: str = "fp32", num_fp16_res: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.w_dim = int(w_dim)
        self.img_resolution = int(img_resolution)
        self.res_log2 = resolution_log2(self.img_resolution)
        if int(img_channels) <= 0:
            raise ValueError(f"img_channels must be positive, got {img_channels}")
        self.img_channels = int(img_channels)
        self.fmap_base, self.fmap_decay = int(fmap_base), float(fmap_decay)
        self.fmap_min, self.fmap_max = int(fmap_min), int(fmap_max)
        self.fmap_const = None if fmap_const is None else int(fmap_const)
        self.architecture = check_architecture(architecture)
        self.nonlinearity = nonlinearity
        self.resample_kernel = check_resample_kernel(resample_kernel)
        self.use_noise = bool(use_noise)
        self.conv_clamp = None if conv_clamp is None else float(conv_clamp)
        self.fused_modconv = check_fused(fused_modconv)
        self.impl = check_impl(impl)
        self.precision = check_precision(precision)
        self.num_fp16_res = check_num_fp16_res(num_fp16_res, self.precision)
        self.block_dtypes = {2 ** r: block_dtype(2 ** r, self.img_resolution, self.num_fp16_res, self.precision)
                             for r in range(2, self.res_log2 + 1)}
        self.num_ws = self.res_log2 * 2 - 2
        self.num_conv_layers = self.num_ws - 1
        self.filter = setup_filter(self.resample_kernel)

        common = dict(use_noise=self.use_noise, activation=self.nonlinearity, resample_kernel=self.resample_kernel,
                      conv_clamp=self.conv_clamp, fused_modconv=self.fused_modconv, impl=self.impl)
        rgb = dict(conv_clamp=self.conv_clamp, fused_modconv=self.fused_modconv, impl=self.impl)
        # name -> (layer, input channels); names are the official variable scopes.
        self.blocks = {}
        self.layer_inputs = {}
        c = self.nf(1)
        c_const = self.fmap_const if self.fmap_const is not None else c
        self.layer_inputs["4x4/Conv"] = c_const
        self.blocks["4x4/Conv"] = SynthesisLayer(c, self.w_dim, **common, name="b4_conv")
        if self.architecture == "skip" or self.res_log2 == 2:
            self.blocks["4x4/ToRGB"] = ToRGB(self.img_channels, self.w_dim, **rgb, name="b4_torgb")
            self.layer_inputs["4x4/ToRGB"] = c
        for res in range(3, self.res_log2 + 1):
            r = 2 ** res
            cout = self.nf(res - 1)
            self.blocks[f"{r}x{r}/Conv0_up"] = SynthesisLayer(cout, self.w_dim, up=True, **common, name=f"b{r}_conv0")
            self.layer_inputs[f"{r}x{r}/Conv0_up"] = c
            self.blocks[f"{r}x{r}/Conv1"] = SynthesisLayer(cout, self.w_dim, **common, name=f"b{r}_conv1")
            self.layer_inputs[f"{r}x{r}/Conv1"] = cout
            if self.architecture == "resnet":
                self.blocks[f"{r}x{r}/Skip"] = EqualizedConv2D(cout, 1, up=True, use_bias=False,
                                                               resample_kernel=self.resample_kernel,
                                                               impl=self.impl, name=f"b{r}_skip")
                self.layer_inputs[f"{r}x{r}/Skip"] = c
            if self.architecture == "skip" or res == self.res_log2:
                self.blocks[f"{r}x{r}/ToRGB"] = ToRGB(self.img_channels, self.w_dim, **rgb, name=f"b{r}_torgb")
                self.layer_inputs[f"{r}x{r}/ToRGB"] = cout
            c = cout
        self.build()

    def nf(self, stage: int) -> int:
        return nf(stage, self.fmap_base, self.fmap_decay, self.fmap_min, self.fmap_max)

    def build(self, input_shape=None):
        if self.built:
            return
        c_const = self.fmap_const if self.fmap_const is not None else self.nf(1)
        self.const = self.add_weight(name="const", shape=(4, 4, c_const),
                                     initializer=keras.initializers.RandomNormal(0.0, 1.0))
        for name, layer in self.blocks.items():
            layer.build((None, None, None, self.layer_inputs[name]))
        self.noise_const = []
        if self.use_noise:
            for i in range(self.num_conv_layers):
                size = noise_resolution(i)
                self.noise_const.append(self.add_weight(name=f"noise{i}", shape=(size, size), trainable=False,
                                                        initializer=keras.initializers.RandomNormal(0.0, 1.0)))
        super().build(input_shape)

    def named_variables(self) -> dict:
        """Official-name -> variable map (G_synthesis scope); const is [4, 4, C] and noise{i} [H, W] here (NHWC)."""
        out = {"4x4/Const/const": self.const}
        for name, layer in self.blocks.items():
            for var_name, var in layer_variables(layer).items():
                out[f"{name}/{var_name}"] = var
        for i, var in enumerate(self.noise_const):
            out[f"noise{i}"] = var
        return out

    @property
    def noise_shapes(self) -> list:
        """[(H, W)] of the per-pixel noise of each conv layer, in order ([] without noise inputs)."""
        if not self.use_noise:
            return []
        return [(noise_resolution(i), noise_resolution(i)) for i in range(self.num_conv_layers)]

    def call(self, ws, noise_mode: str = "random", fused_modconv=None, training=False, noise_inputs=None):
        """ws [N, num_ws, w_dim] -> images [N, R, R, C].

        noise_inputs: with noise_mode='random', optionally one tensor [N, H, W, 1] per entry of `noise_shapes`
        to use instead of fresh draws from TensorFlow's stateful RNG.
        """
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        if noise_inputs is not None and len(noise_inputs) != len(self.noise_shapes):
            raise ValueError(f"noise_inputs: expected {len(self.noise_shapes)} tensors (one per conv layer), "
                             f"got {len(noise_inputs)}")
        ws = as_float32(ws)
        if ws.shape.rank != 3 or ws.shape[1] != self.num_ws or (ws.shape[2] is not None and ws.shape[2] != self.w_dim):
            raise ValueError(f"ws must have shape [N, {self.num_ws}, {self.w_dim}], got {ws.shape}")
        kw = dict(fused_modconv=fused_modconv, training=training)

        def conv(name, x, idx):
            noise = self.noise_const[idx] if self.use_noise else None
            given = noise_inputs[idx] if noise_inputs is not None else None
            return self.blocks[name](x, ws[:, idx], noise_const=noise, noise_mode=noise_mode, noise=given, **kw)

        x = tf.tile(self.const[tf.newaxis], [tf.shape(ws)[0], 1, 1, 1])
        x = conv("4x4/Conv", x, 0)
        img = None
        if "4x4/ToRGB" in self.blocks:
            img = self.blocks["4x4/ToRGB"](x, ws[:, 1], **kw)
        for res in range(3, self.res_log2 + 1):
            r = 2 ** res
            x = cast(x, self.block_dtypes[r])
            t = x
            x = conv(f"{r}x{r}/Conv0_up", x, res * 2 - 5)
            x = conv(f"{r}x{r}/Conv1", x, res * 2 - 4)
            if self.architecture == "resnet":
                x = (x + self.blocks[f"{r}x{r}/Skip"](t)) * np.float32(1 / np.sqrt(2))
            if self.architecture == "skip":
                img = upsample2d(img, self.filter, impl=self.impl)
            if f"{r}x{r}/ToRGB" in self.blocks:
                y = self.blocks[f"{r}x{r}/ToRGB"](x, ws[:, res * 2 - 3], **kw)
                img = y if img is None else img + y
        return img

    def get_config(self):
        config = super().get_config()
        config.update(w_dim=self.w_dim, img_resolution=self.img_resolution, img_channels=self.img_channels,
                      fmap_base=self.fmap_base, fmap_decay=self.fmap_decay, fmap_min=self.fmap_min,
                      fmap_max=self.fmap_max, fmap_const=self.fmap_const, architecture=self.architecture,
                      nonlinearity=self.nonlinearity, resample_kernel=self.resample_kernel, use_noise=self.use_noise,
                      conv_clamp=self.conv_clamp, fused_modconv=self.fused_modconv, impl=self.impl,
                      precision=self.precision, num_fp16_res=self.num_fp16_res)
        return config
