"""Progressive growing (the paper's configs A-D, as in NVIDIA's StyleGAN/StyleGAN2 training loops).

Training starts at ``lod_initial_resolution`` and doubles the resolution in phases of ``lod_training_kimg`` (stable)
plus ``lod_transition_kimg`` (fade-in) thousand images. The level of detail ``lod`` counts the halvings from the
full resolution: lod = log2(R) - log2(R0) - phase - max(phase_kimg - training_kimg, 0) / transition_kimg, clipped at
0; the networks blend the two neighbouring resolutions by its fraction. The minibatch size and the learning rates
depend on the current resolution 2^(log2(R) - floor(lod)) through per-resolution overrides; Adam's state is reset
whenever floor(lod) or ceil(lod) changes (a fade starts or ends); the schedule is re-evaluated every
``minibatch_repeats`` minibatches. Real images are shown at the current level of detail: box-downsampled to the
current resolution (rounded to the uint8 grid, as the official per-resolution TFRecords store them), cross-faded
with their 2x2 box average by the fraction of lod, and upscaled (nearest) back to the full resolution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Optional

import tensorflow as tf

from stylegan2_tf.networks.growing.base import box_downsample, nearest_upsample
from stylegan2_tf.training.config import TrainConfig, parse_resolution_dict


@dataclass(frozen=True)
class GrowingConfig:
    """The growing schedule's settings (official ``training_schedule`` arguments)."""
    initial_resolution: int                      # lod_initial_resolution
    training_kimg: float = 600.0                 # stable phase per resolution
    transition_kimg: float = 600.0               # fade-in phase per resolution
    batch_dict: Mapping[int, int] = field(default_factory=dict)      # resolution -> global minibatch
    g_lr_dict: Mapping[int, float] = field(default_factory=dict)     # resolution -> G learning rate
    d_lr_dict: Mapping[int, float] = field(default_factory=dict)     # resolution -> D learning rate
    minibatch_repeats: int = 4                   # minibatches between schedule evaluations
    reset_optimizer: bool = True                 # reset Adam when a fade starts or ends

    def validate(self, resolution: int) -> None:
        r0 = self.initial_resolution
        if r0 < 4 or r0 & (r0 - 1) or r0 > resolution:
            raise ValueError(f'--lod_initial_resolution must be a power of two in [4, {resolution}] (the dataset '
                             f'resolution), got {r0}')
        if self.training_kimg < 0 or self.transition_kimg < 0:
            raise ValueError('--lod_training_kimg and --lod_transition_kimg must be >= 0')
        if self.minibatch_repeats < 1:
            raise ValueError(f'--minibatch_repeats must be >= 1, got {self.minibatch_repeats}')


def growing_config(cfg: TrainConfig) -> Optional[GrowingConfig]:
    """The growing settings of a TrainConfig; None when it does not grow (lod_initial_resolution 0)."""
    if not cfg.lod_initial_resolution:
        return None
    return GrowingConfig(
        initial_resolution=cfg.lod_initial_resolution, training_kimg=cfg.lod_training_kimg,
        transition_kimg=cfg.lod_transition_kimg, batch_dict=parse_resolution_dict(cfg.batch_dict, int, '--batch_dict'),
        g_lr_dict=parse_resolution_dict(cfg.g_lr_dict, float, '--g_lr_dict'),
        d_lr_dict=parse_resolution_dict(cfg.d_lr_dict, float, '--d_lr_dict'),
        minibatch_repeats=cfg.minibatch_repeats, reset_optimizer=cfg.reset_opt_for_new_lod)


@dataclass(frozen=True)
class Schedule:
    """The training parameters at one point of a run."""
    kimg: float
    lod: float
    resolution: int
    batch: int
    g_lr: float
    d_lr: float


def training_schedule(cur_nimg: int, resolution: int, batch: int, g_lr: float, d_lr: float,
                      growing: Optional[GrowingConfig]) -> Schedule:
    """The schedule at ``cur_nimg`` images for a dataset of ``resolution`` (batch/lr: the base values).

    Without growing: lod 0 and the base values throughout.
    """
    kimg = cur_nimg / 1000.0
    if growing is None:
        return Schedule(kimg, 0.0, resolution, batch, g_lr, d_lr)
    res_log2 = int(round(math.log2(resolution)))
    phase_dur = growing.training_kimg + growing.transition_kimg
    phase_idx = int(math.floor(kimg / phase_dur)) if phase_dur > 0 else 0
    phase_kimg = kimg - phase_idx * phase_dur
    lod = float(res_log2 - int(math.floor(math.log2(growing.initial_resolution))) - phase_idx)
    if growing.transition_kimg > 0:
        lod -= max(phase_kimg - growing.training_kimg, 0.0) / growing.transition_kimg
    lod = max(lod, 0.0)
    cur_res = 2 ** (res_log2 - int(math.floor(lod)))
    return Schedule(kimg, lod, cur_res, int(growing.batch_dict.get(cur_res, batch)),
                    float(growing.g_lr_dict.get(cur_res, g_lr)), float(growing.d_lr_dict.get(cur_res, d_lr)))


def lod_changed(prev_lod: Optional[float], lod: float) -> bool:
    """The official optimizer-reset condition: floor or ceil of lod changed (a fade started or ended)."""
    if prev_lod is None:
        return True
    return math.floor(lod) != math.floor(prev_lod) or math.ceil(lod) != math.ceil(prev_lod)


def process_reals(reals_u8: tf.Tensor, lod) -> tf.Tensor:
    """uint8 reals [N, R, R, C] -> float32 [-1, 1] at level of detail ``lod`` (scalar tensor), full size.

    lod 0 is the plain conversion x / 127.5 - 1.
    """
    lod = tf.convert_to_tensor(lod, tf.float32)
    level = tf.cast(tf.floor(lod), tf.int32)
    factor = tf.bitwise.left_shift(1, level)
    x = tf.cast(reals_u8, tf.float32)
    # The image at the current resolution, on the uint8 grid like the official lower-resolution TFRecords.
    x = tf.round(box_downsample(x, factor)) / 127.5 - 1.0
    # Fade towards the next lower resolution by the fraction of lod, then back to full size.
    x = x + (nearest_upsample(box_downsample(x, 2), 2) - x) * (lod - tf.floor(lod))
    return tf.ensure_shape(nearest_upsample(x, factor), reals_u8.shape)  # the lod-dependent reshapes lose it
