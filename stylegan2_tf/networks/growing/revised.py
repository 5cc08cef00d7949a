"""The "revised" StyleGAN synthesis network of the StyleGAN2 paper (Fig. 2d; configs B-D): NVIDIA's
`networks_stylegan2.G_synthesis_stylegan_revised`.

It is the StyleGAN2 'orig' architecture (modulated/demodulated convs, noise after the conv, bias, lrelu; the same
layer and noise indexing as `SynthesisNetwork`) with progressive growing: a ToRGB at every resolution (official
scopes `ToRGB_lod{k}`, toRGB at 2**r uses ws[:, 2r-3]) blended by `lod` as in `growing.py`. The layers are the
project's SynthesisLayer / ToRGB.
"""
from __future__ import annotations

from typing import Optional, Sequence

import keras
import tensorflow as tf

from stylegan2_tf.networks.channels import check_resample_kernel, noise_resolution
from stylegan2_tf.networks.growing.base import GrowingSynthesisBase, grow_images
from stylegan2_tf.networks.layers import SynthesisLayer, ToRGB, check_fused, layer_variables


class RevisedSynthesis(GrowingSynthesisBase):
    """ws [N, num_ws, w_dim] -> images [N, R, R, C] at the current `lod` (G_synthesis_stylegan_revised).

    Variables (official names): `4x4/Const/const` [4, 4, C], `4x4/Conv/*`, `{R}x{R}/{Conv0_up,Conv1}/{weight,
    mod_weight,mod_bias,noise_strength,bias}`, `ToRGB_lod{k}/{weight,mod_weight,mod_bias,bias}`, `noise{i}` [H, W]
    (i < num_ws - 1), `lod`.
    """
    architecture = "orig"

    def __init__(self, w_dim: int = 512, img_resolution: int = 1024, img_channels: int = 3, *,
                 fmap_base: int = 16384, fmap_decay: float = 1.0, fmap_min: int = 1, fmap_max: int = 512,
                 nonlinearity: str = "lrelu", resample_kernel: Optional[Sequence[float]] = (1, 3, 3, 1),
                 use_noise: bool = True, conv_clamp: Optional[float] = None, fused_modconv="auto",
                 impl: str = "auto", **kwargs):
        super().__init__(w_dim, img_resolution, img_channels, fmap_base=fmap_base, fmap_decay=fmap_decay,
                         fmap_min=fmap_min, fmap_max=fmap_max, use_noise=use_noise, nonlinearity=nonlinearity,
                         impl=impl, **kwargs)
        self.resample_kernel = check_resample_kernel(resample_kernel)
        self.conv_clamp = None if conv_clamp is None else float(conv_clamp)
        self.fused_modconv = check_fused(fused_modconv)
        self.fmap_const = None
        common = dict(use_noise=self.use_noise, activation=self.nonlinearity, resample_kernel=self.resample_kernel,
                      conv_clamp=self.conv_clamp, fused_modconv=self.fused_modconv, impl=self.impl)
        self.blocks = {}
        self.layer_inputs = {}
        self.blocks["4x4/Conv"] = SynthesisLayer(self.nf(1), self.w_dim, **common, name="b4_conv")
        self.layer_inputs["4x4/Conv"] = self.nf(1)
        for res in range(3, self.res_log2 + 1):
            r = 2 ** res
            self.blocks[f"{r}x{r}/Conv0_up"] = SynthesisLayer(self.nf(res - 1), self.w_dim, up=True, **common,
                                                              name=f"b{r}_conv0")
            self.layer_inputs[f"{r}x{r}/Conv0_up"] = self.nf(res - 2)
            self.blocks[f"{r}x{r}/Conv1"] = SynthesisLayer(self.nf(res - 1), self.w_dim, **common, name=f"b{r}_conv1")
            self.layer_inputs[f"{r}x{r}/Conv1"] = self.nf(res - 1)
        self.torgb = {res: ToRGB(self.img_channels, self.w_dim, conv_clamp=self.conv_clamp,
                                 fused_modconv=self.fused_modconv, impl=self.impl,
                                 name=f"torgb_lod{self.res_log2 - res}")
                      for res in range(2, self.res_log2 + 1)}
        self.build()

    def _noise_sizes(self):
        return [noise_resolution(i) for i in range(self.num_ws - 1)]

    def build(self, input_shape=None):
        if self.built:
            return
        self.const = self.add_weight(name="const", shape=(4, 4, self.nf(1)),
                                     initializer=keras.initializers.RandomNormal(0.0, 1.0))
        for name, layer in self.blocks.items():
            layer.build((None, None, None, self.layer_inputs[name]))
        for res, layer in self.torgb.items():
            layer.build((None, None, None, self.nf(res - 1)))
        self._build_buffers()
        super().build(input_shape)

    def named_variables(self) -> dict:
        out = {"lod": self.lod, "4x4/Const/const": self.const}
        for name, layer in self.blocks.items():
            out.update({f"{name}/{k}": v for k, v in layer_variables(layer).items()})
        for res, layer in self.torgb.items():
            out.update({f"ToRGB_lod{self.res_log2 - res}/{k}": v for k, v in layer_variables(layer).items()})
        for i, var in enumerate(self.noise_const):
            out[f"noise{i}"] = var
        return out

    def call(self, ws, noise_mode: str = "random", fused_modconv=None, training=False, noise_inputs=None,
             lod_level=None):
        """ws [N, num_ws, w_dim] -> images [N, R, R, C]; arguments as SynthesisNetwork.call.
        lod_level: the static floor(lod) of a training step (see growing.grow_images); None: any lod."""
        ws = self._check_call(ws, noise_mode, noise_inputs)
        lod = tf.convert_to_tensor(self.lod)
        kw = dict(fused_modconv=fused_modconv, training=training)

        def layer(name, x, idx):
            return self.blocks[name](x, ws[:, idx], **self._noise_args(idx, noise_mode, noise_inputs), **kw)

        def block(res, x):
            r = 2 ** res
            x = layer(f"{r}x{r}/Conv0_up", x, res * 2 - 5)
            return layer(f"{r}x{r}/Conv1", x, res * 2 - 4)

        x = tf.tile(self.const[tf.newaxis], [tf.shape(ws)[0], 1, 1, 1])
        x = layer("4x4/Conv", x, 0)
        return grow_images(x, lod, self.res_log2, block, lambda res, x: self.torgb[res](x, ws[:, res * 2 - 3], **kw),
                           lod_level=lod_level)

    def get_config(self):
        config = self.base_config()
        config.update(resample_kernel=self.resample_kernel, conv_clamp=self.conv_clamp,
                      fused_modconv=self.fused_modconv)
        return config
