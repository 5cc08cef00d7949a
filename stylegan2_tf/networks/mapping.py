"""StyleGAN2 mapping network: z (+ optional label c) -> w, broadcast to num_ws, truncation, w_avg tracking."""
from __future__ import annotations

from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from stylegan2_tf.networks.layers import EqualizedDense, as_float32, check_impl

LABEL_EMBEDS = ("concat", "embed")


def normalize_2nd_moment(x: tf.Tensor, eps: float = 1e-8) -> tf.Tensor:
    """x * rsqrt(mean(x^2 over the last axis) + eps)."""
    return x * tf.math.rsqrt(tf.reduce_mean(tf.square(x), axis=-1, keepdims=True) + eps)


def _check_batch_input(value, dim: int, what: str) -> tf.Tensor:
    x = as_float32(value)
    if x.shape.rank != 2 or (x.shape[1] is not None and x.shape[1] != dim):
        raise ValueError(f"{what} must have shape [N, {dim}], got {x.shape}")
    return x


class MappingNetwork(keras.layers.Layer):
    """z [N, z_dim] (and c [N, c_dim] for conditional models) -> ws [N, num_ws, w_dim].

    Layers (official names): `Dense{i}` (equalized lr with lr_mul, lrelu) for i < mapping_layers; labels are
    embedded either as in StyleGAN2 (`LabelConcat/weight` [c_dim, z_dim], raw matmul, concatenated before the
    normalization; label_embed='concat') or as in StyleGAN2-ADA (`LabelEmbed` dense + bias, normalized separately
    and concatenated after normalizing z; label_embed='embed'). `w_avg` [w_dim] (non-trainable) tracks the mean of w:
    w_avg <- lerp(batch_mean(w), w_avg, w_avg_beta) on every training call (update_w_avg_in_training=True, StyleGAN2's
    G_main) or only where a call asks with update_w_avg=True (False: StyleGAN3's update_emas).

    gain_in_weights=True is StyleGAN1's G_mapping: each Dense layer computes act(sqrt(2) * W x + b) (He gain in the
    weights, plain activation) where StyleGAN2's computes sqrt(2) * act(W x + b); everything else is identical.
    """

    def __init__(self, z_dim: int = 512, c_dim: int = 0, w_dim: int = 512, num_ws: int = 18, *,
                 mapping_layers: int = 8, mapping_fmaps: Optional[int] = None, lr_mul: float = 0.01,
                 nonlinearity: str = "lrelu", normalize_latents: bool = True, label_embed: str = "concat",
                 label_fmaps: Optional[int] = None, w_avg_beta: Optional[float] = 0.995,
                 gain_in_weights: bool = False, impl: str = "auto", update_w_avg_in_training: bool = True, **kwargs):
        super().__init__(**kwargs)
        for key, val in (("z_dim", z_dim), ("w_dim", w_dim), ("num_ws", num_ws), ("mapping_layers", mapping_layers)):
            if int(val) <= 0:
                raise ValueError(f"{key} must be positive, got {val}")
        if int(c_dim) < 0:
            raise ValueError(f"c_dim must be >= 0, got {c_dim}")
        if label_embed not in LABEL_EMBEDS:
            raise ValueError(f"label_embed must be one of {LABEL_EMBEDS}, got {label_embed!r}")
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = int(z_dim), int(c_dim), int(w_dim), int(num_ws)
        self.mapping_layers = int(mapping_layers)
        self.mapping_fmaps = int(mapping_fmaps) if mapping_fmaps is not None else self.w_dim
        self.lr_mul = float(lr_mul)
        self.nonlinearity = nonlinearity
        self.normalize_latents = bool(normalize_latents)
        self.label_embed = label_embed
        self.label_fmaps = int(label_fmaps) if label_fmaps is not None else self.z_dim
        self.w_avg_beta = None if w_avg_beta is None else float(w_avg_beta)
        self.gain_in_weights = bool(gain_in_weights)
        self.update_w_avg_in_training = bool(update_w_avg_in_training)
        self.impl = check_impl(impl)
        gains = {}
        if self.gain_in_weights:
            if self.nonlinearity not in ("lrelu", "relu"):
                raise ValueError(f"gain_in_weights (StyleGAN1) supports 'lrelu' and 'relu', got {self.nonlinearity!r}")
            gains = dict(weight_gain=float(np.sqrt(2.0)), act_gain=1.0)

        self.embed = None
        if self.c_dim > 0 and self.label_embed == "embed":
            self.embed = EqualizedDense(self.label_fmaps, impl=self.impl, name="LabelEmbed")
        self.dense = [EqualizedDense(self.w_dim if i == self.mapping_layers - 1 else self.mapping_fmaps,
                                     lr_mul=self.lr_mul, activation=self.nonlinearity, impl=self.impl,
                                     name=f"Dense{i}", **gains)
                      for i in range(self.mapping_layers)]
        self.build()

    def build(self, input_shape=None):
        if self.built:
            return
        in_features = self.z_dim
        self.label_weight = None
        if self.c_dim > 0:
            if self.label_embed == "concat":
                self.label_weight = self.add_weight(name="weight", shape=(self.c_dim, self.z_dim),
                                                    initializer=keras.initializers.RandomNormal(0.0, 1.0))
                in_features += self.z_dim
            else:
                self.embed.build((None, self.c_dim))
                in_features += self.label_fmaps
        for layer in self.dense:
            layer.build((None, in_features))
            in_features = layer.units
        # MEAN aggregation: under a tf.distribute strategy every replica updates w_avg from its own batch and the
        # replicas' results are averaged, which for equal replica batches is the update from the global batch.
        self.w_avg = self.add_weight(name="w_avg", shape=(self.w_dim,), initializer="zeros", trainable=False,
                                     aggregation="mean")
        super().build(input_shape)

    def named_variables(self) -> dict:
        """Official-name -> variable (G_mapping scope); `w_avg` is exposed by the Generator as `dlatent_avg`."""
        out = {}
        if self.label_weight is not None:
            out["LabelConcat/weight"] = self.label_weight
        if self.embed is not None:
            out["LabelEmbed/weight"] = self.embed.weight
            out["LabelEmbed/bias"] = self.embed.bias
        for i, layer in enumerate(self.dense):
            out[f"Dense{i}/weight"] = layer.weight
            out[f"Dense{i}/bias"] = layer.bias
        return out

    def call(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None, training=False, update_w_avg=None):
        z = _check_batch_input(z, self.z_dim, "z")
        x = z
        if self.c_dim > 0:
            if c is None:
                raise ValueError(f"this mapping network is conditional: pass c with shape [N, {self.c_dim}]")
            c = _check_batch_input(c, self.c_dim, "c")
            if self.label_embed == "concat":
                x = tf.concat([x, tf.matmul(c, self.label_weight)], axis=1)
                if self.normalize_latents:
                    x = normalize_2nd_moment(x)
            else:
                if self.normalize_latents:
                    x = normalize_2nd_moment(x)
                x = tf.concat([x, normalize_2nd_moment(self.embed(c))], axis=1)
        elif self.normalize_latents:
            x = normalize_2nd_moment(x)
        for layer in self.dense:
            x = layer(x)

        if update_w_avg is None:
            update = bool(training) and self.update_w_avg_in_training
        else:
            update = bool(update_w_avg)
        if update and self.w_avg_beta is not None:
            batch_mean = tf.reduce_mean(x, axis=0)
            self.w_avg.assign(batch_mean + (self.w_avg - batch_mean) * self.w_avg_beta)

        ws = tf.tile(x[:, tf.newaxis, :], [1, self.num_ws, 1])
        return self.truncate(ws, truncation_psi, truncation_cutoff)

    def truncate(self, ws: tf.Tensor, truncation_psi=1.0, truncation_cutoff=None) -> tf.Tensor:
        """ws <- w_avg + psi * (ws - w_avg) for layers < truncation_cutoff (all layers when None)."""
        if not tf.is_tensor(truncation_psi) and float(truncation_psi) == 1.0:
            return ws  # psi = 1 is exactly the identity, whatever the cutoff (as officially)
        psi = tf.cast(truncation_psi, tf.float32)
        truncated = self.w_avg + (ws - self.w_avg) * psi
        if truncation_cutoff is None:
            return truncated
        # Layers at or past the cutoff keep their w exactly.
        use = tf.range(self.num_ws) < tf.cast(truncation_cutoff, tf.int32)
        return tf.where(use[tf.newaxis, :, tf.newaxis], truncated, ws)

    def get_config(self):
        config = super().get_config()
        config.update(z_dim=self.z_dim, c_dim=self.c_dim, w_dim=self.w_dim, num_ws=self.num_ws,
                      mapping_layers=self.mapping_layers, mapping_fmaps=self.mapping_fmaps, lr_mul=self.lr_mul,
                      nonlinearity=self.nonlinearity, normalize_latents=self.normalize_latents,
                      label_embed=self.label_embed, label_fmaps=self.label_fmaps, w_avg_beta=self.w_avg_beta,
                      gain_in_weights=self.gain_in_weights, impl=self.impl,
                      update_w_avg_in_training=self.update_w_avg_in_training)
        return config
