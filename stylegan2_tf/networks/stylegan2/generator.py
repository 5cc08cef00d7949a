"""StyleGAN2 generator = mapping network + synthesis network (Keras model).

structure='fixed' (default) is StyleGAN2's synthesis (architectures 'orig', 'skip', 'resnet'); structure='growing'
selects a progressive-growing synthesis network with a `lod` variable (configs A-D of the StyleGAN2 paper):
architecture='orig' is the revised StyleGAN synthesis (G_main + G_synthesis_stylegan_revised, configs B-D) and
architecture='stylegan1' StyleGAN's G_style (AdaIN synthesis, StyleGAN1 mapping gains; config A).
"""
from __future__ import annotations

from typing import Optional, Sequence

import keras
import tensorflow as tf

from stylegan2_tf.networks.layers import as_float32
from stylegan2_tf.networks.mapping import MappingNetwork
from stylegan2_tf.networks.growing.revised import RevisedSynthesis
from stylegan2_tf.networks.growing.stylegan1 import StyleGAN1Synthesis
from stylegan2_tf.networks.stylegan2.synthesis import SynthesisNetwork

STRUCTURES = ("fixed", "growing")
GROWING_ARCHITECTURES = ("orig", "stylegan1")


def mix_styles(ws: tf.Tensor, ws2: tf.Tensor, cutoff) -> tf.Tensor:
    """Style-mixing crossover: layers < cutoff take ws, layers >= cutoff take ws2.

    ws, ws2: [N, num_ws, w_dim]; cutoff: int scalar (whole batch) or [N] (per sample); num_ws means no mixing.
    Returns [N, num_ws, w_dim]. The single crossover of the package (training, Generator.call, tools).
    """
    num_ws = tf.shape(ws)[1]
    cutoff = tf.cast(cutoff, tf.int32)
    if cutoff.shape.rank == 0:
        cutoff = tf.fill([tf.shape(ws)[0]], cutoff)
    take_first = tf.range(num_ws)[tf.newaxis, :] < cutoff[:, tf.newaxis]      # [N, num_ws]
    return tf.where(take_first[:, :, tf.newaxis], ws, ws2)


def style_mixing_cutoff(num_ws, prob, seed) -> tf.Tensor:
    """The official regularizer's random crossover, drawn statelessly from ``seed`` [2]: with probability ``prob``
    a layer uniform in [1, num_ws), else num_ws (no mixing). One draw (int32 scalar) for the whole batch."""
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 2)
    u = tf.random.stateless_uniform([], seed=seeds[0])
    cut = tf.random.stateless_uniform([], minval=1, maxval=num_ws, dtype=tf.int32, seed=seeds[1])
    return tf.where(u < prob, cut, tf.cast(num_ws, tf.int32))


@keras.saving.register_keras_serializable(package="stylegan2_tf")
class Generator(keras.Model):
    """G(z, c) -> images [N, H, W, C] (NHWC, raw values, about [-1, 1]).

    Sub-networks: `G.mapping(z, c=None, truncation_psi=1, truncation_cutoff=None)` -> ws [N, num_ws, w_dim] and
    `G.synthesis(ws, noise_mode='random')` -> images. Defaults are StyleGAN2 config F (fmap_base 16384, 'skip').
    `precision` / `num_fp16_res`: the synthesis blocks of the num_fp16_res highest resolutions compute in bfloat16
    or float16 (see networks/precision.py); the mapping network and the image stay float32.
    All variables are created in the constructor; `named_variables()` lists them by stable (official) names.
    """

    def __init__(self, z_dim: int = 512, c_dim: int = 0, w_dim: int = 512, img_resolution: int = 1024,
                 img_channels: int = 3, *, mapping_layers: int = 8, mapping_fmaps: Optional[int] = None,
                 mapping_lr_mul: float = 0.01, mapping_nonlinearity: str = "lrelu", normalize_latents: bool = True,
                 label_embed: str = "concat", label_fmaps: Optional[int] = None, w_avg_beta: Optional[float] = 0.995,
                 fmap_base: int = 16384, fmap_decay: float = 1.0, fmap_min: int = 1, fmap_max: int = 512,
                 fmap_const: Optional[int] = None, architecture: str = "skip", nonlinearity: str = "lrelu",
                 resample_kernel: Optional[Sequence[float]] = (1, 3, 3, 1), use_noise: bool = True,
                 conv_clamp: Optional[float] = None, fused_modconv="auto", structure: str = "fixed",
                 blur_filter: Optional[Sequence[float]] = (1, 2, 1), fused_scale="auto", impl: str = "auto",
                 precision: str = "fp32", num_fp16_res: int = 0, **kwargs):
        super().__init__(**kwargs)
        if structure not in STRUCTURES:
            raise ValueError(f"structure must be one of {STRUCTURES}, got {structure!r}")
        synthesis_args = dict(fmap_base=fmap_base, fmap_decay=fmap_decay, fmap_min=fmap_min, fmap_max=fmap_max,
                              nonlinearity=nonlinearity, resample_kernel=resample_kernel, use_noise=use_noise,
                              fused_modconv=fused_modconv, impl=impl, name="synthesis")
        if structure == "fixed":
            if architecture == "stylegan1":
                raise ValueError("architecture 'stylegan1' (StyleGAN's G_style) exists only with structure='growing'")
            self.synthesis = SynthesisNetwork(w_dim, img_resolution, img_channels, fmap_const=fmap_const,
                                              architecture=architecture, conv_clamp=conv_clamp, precision=precision,
                                              num_fp16_res=num_fp16_res, **synthesis_args)
        else:
            if precision != "fp32" or num_fp16_res:
                raise ValueError("precision / num_fp16_res (reduced-precision blocks) exist only with "
                                 f"structure='fixed', got precision={precision!r}, num_fp16_res={num_fp16_res}")
            if architecture not in GROWING_ARCHITECTURES:
                raise ValueError(f"structure='growing' supports architecture {GROWING_ARCHITECTURES} (the official "
                                 f"progressive-growing networks), got {architecture!r}")
            if fmap_const is not None:
                raise ValueError("fmap_const is not supported with structure='growing'")
            if architecture == "stylegan1":
                if conv_clamp is not None:
                    raise ValueError("conv_clamp is not supported by the StyleGAN1 synthesis network")
                self.synthesis = StyleGAN1Synthesis(w_dim, img_resolution, img_channels, blur_filter=blur_filter,
                                                    fused_scale=fused_scale, **synthesis_args)
            else:
                self.synthesis = RevisedSynthesis(w_dim, img_resolution, img_channels, conv_clamp=conv_clamp,
                                                  **synthesis_args)
        self.structure = structure
        self.mapping = MappingNetwork(
            z_dim, c_dim, w_dim, self.synthesis.num_ws, mapping_layers=mapping_layers, mapping_fmaps=mapping_fmaps,
            lr_mul=mapping_lr_mul, nonlinearity=mapping_nonlinearity, normalize_latents=normalize_latents,
            label_embed=label_embed, label_fmaps=label_fmaps, w_avg_beta=w_avg_beta,
            gain_in_weights=architecture == "stylegan1", impl=impl, name="mapping")
        self.z_dim, self.c_dim, self.w_dim = self.mapping.z_dim, self.mapping.c_dim, self.mapping.w_dim
        self.num_ws = self.synthesis.num_ws
        self.img_resolution, self.img_channels = self.synthesis.img_resolution, self.synthesis.img_channels
        self._config = dict(
            z_dim=self.z_dim, c_dim=self.c_dim, w_dim=self.w_dim, img_resolution=self.img_resolution,
            img_channels=self.img_channels, mapping_layers=self.mapping.mapping_layers,
            mapping_fmaps=self.mapping.mapping_fmaps, mapping_lr_mul=self.mapping.lr_mul,
            mapping_nonlinearity=self.mapping.nonlinearity, normalize_latents=self.mapping.normalize_latents,
            label_embed=self.mapping.label_embed, label_fmaps=self.mapping.label_fmaps,
            w_avg_beta=self.mapping.w_avg_beta, fmap_base=self.synthesis.fmap_base,
            fmap_decay=self.synthesis.fmap_decay, fmap_min=self.synthesis.fmap_min,
            fmap_max=self.synthesis.fmap_max, fmap_const=self.synthesis.fmap_const,
            architecture=self.synthesis.architecture, nonlinearity=self.synthesis.nonlinearity,
            resample_kernel=self.synthesis.resample_kernel, use_noise=self.synthesis.use_noise,
            conv_clamp=self.synthesis.conv_clamp, fused_modconv=self.synthesis.fused_modconv, impl=self.synthesis.impl)
        if structure == "growing":  # (fixed-structure configs stay as they were before growing existed)
            self._config["structure"] = structure
        if self.precision != "fp32" or self.num_fp16_res:  # (float32 configs stay as they were before precision)
            self._config.update({"precision": self.precision, "num_fp16_res": self.num_fp16_res})
        if architecture == "stylegan1":
            self._config["blur_filter"] = self.synthesis.blur_filter
            self._config["fused_scale"] = self.synthesis.fused_scale
        self.built = True

    @property
    def precision(self) -> str:
        return getattr(self.synthesis, "precision", "fp32")   # the growing networks compute in float32

    @property
    def num_fp16_res(self) -> int:
        return getattr(self.synthesis, "num_fp16_res", 0)

    @property
    def w_avg(self):
        return self.mapping.w_avg

    def active_style_layers(self):
        """Style layers in use at the synthesis network's current lod (num_ws without growing)."""
        return self.synthesis.active_style_layers() if self.structure == "growing" else self.num_ws

    def named_variables(self) -> dict:
        """Stable name -> variable, in the official scopes: mapping/..., synthesis/..., dlatent_avg."""
        out = {f"mapping/{k}": v for k, v in self.mapping.named_variables().items()}
        out.update({f"synthesis/{k}": v for k, v in self.synthesis.named_variables().items()})
        out["dlatent_avg"] = self.mapping.w_avg
        return out

    def call(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None, noise_mode: str = "random",
             style_mixing_prob: float = 0.0, fused_modconv=None, training=False, return_ws: bool = False):
        """z [N, z_dim], c [N, c_dim] or None -> images [N, H, W, C] (and ws if return_ws).

        style_mixing_prob > 0: with that probability per call, a second latent (fresh N(0, 1) z) drives the layers
        from a random crossover layer in [1, num_ws) on (the official training regularizer).
        """
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                          training=training)
        if not (isinstance(style_mixing_prob, (int, float)) and style_mixing_prob <= 0):
            z = as_float32(z)
            ws2 = self.mapping(tf.random.normal(tf.shape(z)), c, truncation_psi=truncation_psi,
                               truncation_cutoff=truncation_cutoff, training=training, update_w_avg=False)
            # A seed from the global (stateful) generator, so tf.random.set_seed makes calls reproducible.
            seed = tf.random.uniform([2], 0, 2 ** 31 - 1, dtype=tf.int32)
            # Growing: the crossover is drawn among the layers in use (official cur_layers).
            ws = mix_styles(ws, ws2, style_mixing_cutoff(self.active_style_layers(), style_mixing_prob, seed))
        img = self.synthesis(ws, noise_mode=noise_mode, fused_modconv=fused_modconv, training=training)
        return (img, ws) if return_ws else img

    def get_config(self):
        return dict(self._config, name=self.name)

    @classmethod
    def from_config(cls, config):
        return cls(**config)
