"""StyleGAN3 generator (configs T and R) = the shared mapping network + the alias-free synthesis network.

Config T is the default; config R is `conv_kernel=1, use_radial_filters=True` with channel_base and channel_max
doubled (NVlabs/stylegan3's train.py doubles them; this class takes the values it is given).
"""
from __future__ import annotations

from typing import Optional

import keras
import tensorflow as tf

from stylegan2_tf.networks.layers import as_float32
from stylegan2_tf.networks.mapping import MappingNetwork
from stylegan2_tf.networks.stylegan2.generator import mix_styles, style_mixing_cutoff
from stylegan2_tf.networks.stylegan3.synthesis import SynthesisNetwork


def stylegan3_kwargs(cfg: str, channel_base: int = 32768, channel_max: int = 512) -> dict:
    """The synthesis kwargs of NVlabs/stylegan3's configs: 'stylegan3-t' (or 't') as given, 'stylegan3-r' (or 'r')
    with conv_kernel 1, radial filters and channel_base / channel_max doubled, as train.py sets them."""
    cfg = cfg.lower().replace("stylegan3-", "")
    if cfg == "t":
        return dict(channel_base=int(channel_base), channel_max=int(channel_max))
    if cfg == "r":
        return dict(channel_base=2 * int(channel_base), channel_max=2 * int(channel_max), conv_kernel=1,
                    use_radial_filters=True)
    raise ValueError(f"cfg must be 'stylegan3-t' or 'stylegan3-r', got {cfg!r}")


@keras.saving.register_keras_serializable(package="stylegan2_tf")
class StyleGAN3Generator(keras.Model):
    """G(z, c) -> images [N, H, W, C] (NHWC, float32, raw values about [-1, 1]): StyleGAN3 ("Alias-Free GAN").

    `G.mapping(z, c=None, truncation_psi=1, truncation_cutoff=None, training=False, update_w_avg=None)` -> ws
    [N, num_ws, w_dim] (num_ws = num_layers + 2 = 16) and `G.synthesis(ws, noise_mode='random', training=False,
    update_emas=False, fused_modconv=None, noise_inputs=None)` -> images. The mapping network has 2 layers
    (lr multiplier 0.01), tracks w_avg with beta 0.998 and embeds labels as stylegan2-ada / StyleGAN3 do
    (label_embed='embed'); w_avg changes only in calls that pass update_w_avg=True (G: update_emas=True), as the
    magnitude EMAs of the synthesis layers change only with update_emas=True: upstream updates both in the G
    evaluation of D's training phase (`updates_emas_in_d_phase_only`).

    `precision` ('fp32', 'bf16', 'fp16') and `num_fp16_res` (default 4): a synthesis layer computes in the reduced
    type when its sampling rate * 2**num_fp16_res > img_resolution; the Fourier input, the mapping network and the
    image stay float32. All variables are created in the constructor; `named_variables()` lists them by stable
    names (upstream's module paths with '/').
    """

    # The trainer updates w_avg and the magnitude EMAs only in the G pass of D's phase (NVlabs/stylegan3's loss).
    updates_emas_in_d_phase_only = True

    def __init__(self, z_dim: int = 512, c_dim: int = 0, w_dim: int = 512, img_resolution: int = 1024,
                 img_channels: int = 3, *, mapping_layers: int = 2, mapping_lr_mul: float = 0.01,
                 w_avg_beta: float = 0.998, channel_base: int = 32768, channel_max: int = 512, num_layers: int = 14,
                 num_critical: int = 2, first_cutoff: float = 2.0, first_stopband: float = 2 ** 2.1,
                 last_stopband_rel: float = 2 ** 0.3, margin_size: int = 10, output_scale: float = 0.25,
                 conv_kernel: int = 3, filter_size: int = 6, lrelu_upsampling: int = 2,
                 use_radial_filters: bool = False, conv_clamp: Optional[float] = 256,
                 magnitude_ema_beta: float = 0.999, impl: str = "auto", precision: str = "fp32",
                 num_fp16_res: int = 4, fused_modconv="auto", **kwargs):
        super().__init__(**kwargs)
        del fused_modconv  # no fused/non-fused choice here: accepted for the StyleGAN2 Generator's call conventions
        self.synthesis = SynthesisNetwork(
            w_dim, img_resolution, img_channels, channel_base=channel_base, channel_max=channel_max,
            num_layers=num_layers, num_critical=num_critical, first_cutoff=first_cutoff,
            first_stopband=first_stopband, last_stopband_rel=last_stopband_rel, margin_size=margin_size,
            output_scale=output_scale, conv_kernel=conv_kernel, filter_size=filter_size,
            lrelu_upsampling=lrelu_upsampling, use_radial_filters=use_radial_filters, conv_clamp=conv_clamp,
            magnitude_ema_beta=magnitude_ema_beta, impl=impl, precision=precision, num_fp16_res=num_fp16_res,
            name="synthesis")
        if w_avg_beta is None:
            raise ValueError("w_avg_beta must be a number (StyleGAN3 always tracks w_avg)")
        self.mapping = MappingNetwork(
            z_dim, c_dim, w_dim, self.synthesis.num_ws, mapping_layers=mapping_layers, lr_mul=mapping_lr_mul,
            nonlinearity="lrelu", normalize_latents=True, label_embed="embed", label_fmaps=w_dim,
            w_avg_beta=w_avg_beta, impl=impl, update_w_avg_in_training=False, name="mapping")
        self.z_dim, self.c_dim, self.w_dim = self.mapping.z_dim, self.mapping.c_dim, self.mapping.w_dim
        self.num_ws = self.synthesis.num_ws
        self.img_resolution, self.img_channels = self.synthesis.img_resolution, self.synthesis.img_channels
        syn = self.synthesis
        self._config = dict(
            z_dim=self.z_dim, c_dim=self.c_dim, w_dim=self.w_dim, img_resolution=self.img_resolution,
            img_channels=self.img_channels, mapping_layers=self.mapping.mapping_layers,
            mapping_lr_mul=self.mapping.lr_mul, w_avg_beta=self.mapping.w_avg_beta, channel_base=int(channel_base),
            channel_max=int(channel_max), num_layers=syn.num_layers, num_critical=int(num_critical),
            first_cutoff=float(first_cutoff), first_stopband=float(first_stopband),
            last_stopband_rel=float(last_stopband_rel), margin_size=int(margin_size), output_scale=syn.output_scale,
            conv_kernel=int(conv_kernel), filter_size=int(filter_size), lrelu_upsampling=int(lrelu_upsampling),
            use_radial_filters=bool(use_radial_filters), conv_clamp=syn.conv_clamp,
            magnitude_ema_beta=syn.magnitude_ema_beta, impl=syn.impl, precision=syn.precision,
            num_fp16_res=syn.num_fp16_res)
        self.built = True

    @property
    def precision(self) -> str:
        return self.synthesis.precision

    @property
    def num_fp16_res(self) -> int:
        return self.synthesis.num_fp16_res

    @property
    def w_avg(self):
        return self.mapping.w_avg

    def active_style_layers(self):
        """All num_ws style layers are in use (no progressive growing)."""
        return self.num_ws

    def named_variables(self) -> dict:
        """Stable name -> variable: mapping/Dense{i}/{weight,bias}, mapping/LabelEmbed/* (conditional),
        mapping/w_avg, synthesis/input/{weight,affine/*,freqs,phases,transform} and
        synthesis/L{i}_{size}_{channels}/{weight,affine/*,bias,magnitude_ema}."""
        out = {f"mapping/{k}": v for k, v in self.mapping.named_variables().items()}
        out["mapping/w_avg"] = self.mapping.w_avg
        out.update({f"synthesis/{k}": v for k, v in self.synthesis.named_variables().items()})
        return out

    def call(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None, noise_mode: str = "random",
             style_mixing_prob: float = 0.0, fused_modconv=None, training=False, return_ws: bool = False,
             update_emas: bool = False):
        """z [N, z_dim], c [N, c_dim] or None -> images [N, H, W, C] (and ws if return_ws).

        update_emas=True updates w_avg and the layers' magnitude EMAs from this batch. style_mixing_prob > 0 mixes
        in a second latent as the StyleGAN2 Generator does (StyleGAN3's configs train without it).
        """
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                          training=training, update_w_avg=bool(update_emas))
        if not (isinstance(style_mixing_prob, (int, float)) and style_mixing_prob <= 0):
            z = as_float32(z)
            ws2 = self.mapping(tf.random.normal(tf.shape(z)), c, truncation_psi=truncation_psi,
                               truncation_cutoff=truncation_cutoff, training=training, update_w_avg=False)
            seed = tf.random.uniform([2], 0, 2 ** 31 - 1, dtype=tf.int32)
            ws = mix_styles(ws, ws2, style_mixing_cutoff(self.num_ws, style_mixing_prob, seed))
        img = self.synthesis(ws, noise_mode=noise_mode, training=training, update_emas=bool(update_emas))
        return (img, ws) if return_ws else img

    def get_config(self):
        return dict(self._config, name=self.name)

    @classmethod
    def from_config(cls, config):
        return cls(**config)
