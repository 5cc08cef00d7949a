"""The training loop around a :class:`~stylegan2_tf.training.trainer.Trainer`: ticks, grids, snapshots,
checkpoints and logs.

``training_loop(trainer)`` restores (or starts) the run, then steps until ``total_kimg`` (or ``max_steps`` in this
process). Every ``kimg_per_tick`` it logs a progress line, stats.jsonl and TensorBoard scalars; every ``ckpt_ticks``
ticks it writes a checkpoint (atomically: see checkpoint.py); every ``snap`` ticks a fake grid and a network
snapshot. Only the chief writes files; every worker takes part in checkpointing.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Dict, Optional, Tuple

import numpy as np
import tensorflow as tf

from stylegan2_tf.atomic_io import atomic_write_text
from stylegan2_tf.data.images import make_grid, save_png, to_uint8
from stylegan2_tf.training.run_log import RunLogger, format_time, peak_memory, quiet_framework_logs
from stylegan2_tf.training.trainer import Trainer, TrainingDivergedError  # noqa: F401  (re-exported)


def official_grid_size(resolution: int) -> Tuple[int, int]:
    """(cols, rows) of the official snapshot grid: about 1920x1080 pixels, 7-32 x 4-32 images."""
    cols = int(np.clip(1920 // resolution, 7, 32))
    rows = int(np.clip(1080 // resolution, 4, 32))
    return cols, rows


class SnapshotGrid:
    """The fixed latents, labels and reals of the run's image grids (fakes_init.png, fakesKIMG.png)."""

    def __init__(self, trainer: Trainer):
        cfg, G, ds = trainer.cfg, trainer.G, trainer.dataset
        self.cols, self.rows = cfg.grid or official_grid_size(G.img_resolution)
        n = self.cols * self.rows
        reals, labels = [], []
        for x, y in ds.iterate(max(n, 1), max_images=n):
            reals.append(x)
            labels.append(y)
        reals, labels = np.concatenate(reals), np.concatenate(labels)
        if len(reals) < n:  # small dataset: repeat
            reps = int(np.ceil(n / len(reals)))
            reals, labels = np.tile(reals, [reps, 1, 1, 1])[:n], np.tile(labels, [reps, 1])[:n]
        self.reals = reals
        self.z = np.random.RandomState(cfg.seed).randn(n, G.z_dim).astype(np.float32)
        self.c = labels if G.c_dim else None

    def real_image(self) -> np.ndarray:
        return make_grid(self.reals, (self.rows, self.cols))

    def fake_image(self, G) -> np.ndarray:
        """uint8 grid from the fixed latents (noise_mode='const', psi 1)."""
        out = []
        for i in range(0, len(self.z), 64):
            c = None if self.c is None else tf.constant(self.c[i:i + 64])
            ws = G.mapping(tf.constant(self.z[i:i + 64]), c)
            out.append(G.synthesis(ws, noise_mode='const').numpy())
        return make_grid(to_uint8(np.concatenate(out)), (self.rows, self.cols))


def _fmt(stats, key):
    return f'{stats[key]:<7.4f}' if key in stats else '-      '


def training_loop(trainer: Trainer, resume: str = 'auto', log: bool = True) -> Dict[str, float]:
    """Train until total_kimg (or max_steps in this process). Returns the last tick's stats.

    resume: 'auto' (latest checkpoint in the run directory if any), 'none' (fresh; error if there are
    checkpoints) or a checkpoint path. log=False writes no images or logs (checkpoints and snapshots still).
    """
    with quiet_framework_logs():
        return _training_loop(trainer, resume, log)


def _training_loop(trainer: Trainer, resume: str, log: bool) -> Dict[str, float]:
    cfg, outdir, chief = trainer.cfg, trainer.outdir, trainer.is_chief
    restored = trainer.restore(resume)
    lg = RunLogger(outdir, enabled=chief and log)
    if chief:
        os.makedirs(outdir, exist_ok=True)
        atomic_write_text(os.path.join(outdir, 'training_options.json'),
                          json.dumps(dict(trainer.run_options, **dataclasses.asdict(cfg)), indent=2, default=str))
    grid = SnapshotGrid(trainer)
    if chief and log:
        save_png(os.path.join(outdir, 'reals.png'), grid.real_image())
        if restored is None:
            lg.image('reals', grid.real_image(), 0)
    lg.print(f'{"resumed from " + restored if restored else "starting fresh"}: step {int(trainer.step.numpy())}, '
             f'kimg {int(trainer.nimg.numpy()) / 1000:.1f}; {trainer.num_replicas} replica(s) on '
             f'{trainer.num_workers} worker(s), batch {cfg.batch}; phases '
             + ', '.join(f'{p.name}/{p.interval}' for p in trainer.phases))
    trainer.schedule()  # sets the level of detail (growing), so that fakes_init shows it
    if restored is None and chief and log:
        save_png(os.path.join(outdir, 'fakes_init.png'), grid.fake_image(trainer.G_ema))
    total_nimg = int(cfg.total_kimg * 1000)
    tick_nimg = int(cfg.kimg_per_tick * 1000)
    start_time = tick_start_time = time.time()
    tick_start_nimg = int(trainer.nimg.numpy())
    cur_tick = tick_start_nimg // tick_nimg
    acc: Dict[str, list] = {}
    steps_here = 0
    last: Dict[str, float] = {}
    while True:
        nimg = int(trainer.nimg.numpy())
        if nimg >= total_nimg or (cfg.max_steps is not None and steps_here >= cfg.max_steps):
            break
        stats = trainer.train_step()
        steps_here += 1
        for k, v in stats.items():
            acc.setdefault(k, []).append(v)
        nimg = int(trainer.nimg.numpy())
        done = nimg >= total_nimg
        if nimg // tick_nimg == cur_tick and not done:
            continue
        # ---- end of tick -------------------------------------------------------------------
        cur_tick = nimg // tick_nimg
        now = time.time()
        dt = now - tick_start_time
        n_tick = nimg - tick_start_nimg
        tick_stats = {k: float(np.mean(v)) for k, v in acc.items()}
        for k in acc:  # running counts and the loss scales: the value at the end of the tick, not a mean
            if k in ('Progress/bad_steps', 'Progress/augment') or \
                    k.startswith(('Progress/skipped_phases/', 'Progress/loss_scale/')):
                tick_stats[k] = acc[k][-1]
        tick_stats.update({'Timing/sec_per_tick': dt, 'Timing/sec_per_kimg': dt / max(n_tick / 1000, 1e-9),
                           'Timing/img_per_sec': n_tick / max(dt, 1e-9), 'Progress/kimg': nimg / 1000,
                           'Progress/tick': cur_tick, 'Timing/total_sec': now - start_time})
        tick_stats.update(peak_memory())
        acc = {}
        snap_now = done or (cfg.snap > 0 and cur_tick % cfg.snap == 0)
        ckpt_now = done or (cfg.ckpt_ticks > 0 and cur_tick % cfg.ckpt_ticks == 0)
        m0 = time.time()
        if ckpt_now:
            trainer.save_checkpoint()
        if snap_now and chief:
            kimg_i = nimg // 1000
            if log:
                g = grid.fake_image(trainer.G_ema)
                save_png(os.path.join(outdir, f'fakes{kimg_i:06d}.png'), g)
                if cfg.image_summaries:
                    lg.image('fakes', g, nimg)
            if trainer.save_snapshot is not None:
                trainer.save_snapshot(os.path.join(outdir, f'network-snapshot-{kimg_i:06d}'),
                                      trainer.G, trainer.D, trainer.G_ema, trainer.snapshot_metadata())
        maint = time.time() - m0
        tick_stats['Timing/maintenance_sec'] = maint
        lg.scalars(tick_stats, nimg / 1000, {'tick': cur_tick, 'step': int(trainer.step.numpy())})
        bad = tick_stats['Progress/bad_steps']
        lg.print(
            f'tick {cur_tick:<5d} kimg {nimg / 1000:<8.1f} '
            + (f'lod {stats["Progress/lod"]:<5.2f} minibatch {int(stats["Progress/minibatch"]):<4d} '
               if 'Progress/lod' in stats else '')
            + f'time {format_time(now - start_time):<9s} '
            f'sec/tick {dt:<7.1f} sec/kimg {tick_stats["Timing/sec_per_kimg"]:<7.2f} '
            f'img/s {tick_stats["Timing/img_per_sec"]:<7.1f} maint {maint:<5.1f} '
            f'G {_fmt(tick_stats, "Loss/G/loss")} D {_fmt(tick_stats, "Loss/D/loss")} '
            f'r1 {_fmt(tick_stats, "Loss/r1_penalty")} pl_mean {_fmt(tick_stats, "Progress/pl_mean")} '
            + (f'augment {tick_stats["Progress/augment"]:<6.3f} ' if 'Progress/augment' in tick_stats else '')
            + f'mem {tick_stats.get("Resources/peak_gpu_mem_gb", tick_stats["Resources/peak_host_mem_gb"]):.2f}GB'
            + (f' bad_steps {int(bad)}' if bad else '')
            + ''.join(f' scale_{net} {tick_stats[f"Progress/loss_scale/{net}"]:g} (skipped '
                      f'{int(tick_stats[f"Progress/skipped_phases/{net}"])})'
                      for net in ('G', 'D') if f'Progress/loss_scale/{net}' in tick_stats))
        last = tick_stats
        tick_start_time = time.time()
        tick_start_nimg = nimg
    if acc:  # stopped mid-tick by max_steps
        last = {k: float(np.mean(v)) for k, v in acc.items()}
    lg.close()
    return last
