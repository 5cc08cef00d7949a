"""The StyleGAN2 training loop: distributed steps with lazy regularization, EMA, checkpoints, snapshots, logs.

One *step* (minibatch) runs the phases of the official training loop in order:

  Gmain  non-saturating loss on fakes (style mixing), Adam step on G;
  Greg   every ``g_reg_interval`` steps: path-length penalty * pl_weight * interval on a batch shrunk by
         ``pl_batch_shrink``, Adam step on G (same optimizer);
  Dmain  logistic loss on reals and fakes, Adam step on D;
  Dreg   every ``d_reg_interval`` steps: R1 * gamma/2 * interval on the reals, Adam step on D;

then G_ema <- G + (G_ema - G) * beta and ``w_avg``/``pl_mean`` updates. Losses are summed per replica and
divided by the global batch, so the all-reduced (summed) gradients are those of the global-batch mean.

Randomness: every latent, style-mixing draw and path-length noise comes from stateless RNGs keyed by
(seed, step, phase) and drawn for the *global* batch, each replica taking its rows; so the same global batch
gets the same numbers on one device or on many. The per-pixel noise inside the generator uses TensorFlow's
stateful RNG; with ``exact_resume`` (``--deterministic``) its global seed is reset from (seed, step) and the
step functions retraced at every checkpoint, so a run resumed from a checkpoint reproduces the
uninterrupted run exactly (with op determinism enabled). Without it a resumed run is statistically the
same run but the generator noise draws differ (retracing costs a few seconds to minutes per checkpoint).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from typing import Callable, Dict, Optional, Tuple

import numpy as np
import tensorflow as tf

from stylegan2_tf.data.images import make_grid, save_png, to_uint8
from stylegan2_tf.training import ema as ema_lib
from stylegan2_tf.training import loss as L
from stylegan2_tf.training import schedule
from stylegan2_tf.training.checkpoint import CheckpointStore
from stylegan2_tf.training.config import TrainConfig
from stylegan2_tf.training.distribute import worker_info
from stylegan2_tf.training.logging import RunLogger, format_time, peak_memory


class TrainingDivergedError(RuntimeError):
    """A loss became NaN/Inf; the run stops without writing a checkpoint of the broken state."""


def official_grid_size(resolution: int) -> Tuple[int, int]:
    """(cols, rows) of the official snapshot grid: about 1920x1080 pixels, 7-32 x 4-32 images."""
    cols = int(np.clip(1920 // resolution, 7, 32))
    rows = int(np.clip(1080 // resolution, 4, 32))
    return cols, rows


def _seed(seed: int, step, phase: int) -> tf.Tensor:
    """Stateless seed [2] for (run seed, step, phase)."""
    base = tf.stack([tf.constant(seed, tf.int64), tf.cast(step, tf.int64)])
    return tf.random.experimental.stateless_fold_in(base, phase)


def _gather_rows(ctx, x, rid, R):
    """Concatenate every replica's x [b, ...] in replica order (an all-reduce of zero-padded blocks)."""
    b = tf.shape(x)[0]
    padded = tf.scatter_nd(tf.reshape(rid * b + tf.range(b), [-1, 1]), x, tf.concat([[b * R], tf.shape(x)[1:]], 0))
    return ctx.all_reduce(tf.distribute.ReduceOp.SUM, padded)


def _apply(opt, grads, variables):
    """Adam step on the variables that received a gradient (e.g. D's output bias gets none from R1)."""
    pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
    opt.apply_gradients(pairs)


_PH_GZ, _PH_GZ2, _PH_GMIX, _PH_PLZ, _PH_PLZ2, _PH_PLMIX, _PH_PLNOISE, _PH_DZ, _PH_DZ2, _PH_DMIX = range(1, 11)


class _VariableSet(tf.Module):
    """Checkpoint container: variables under names 'v<index>_<path>' in creation order."""

    def __init__(self, variables):
        super().__init__()
        self.vars = {}
        for i, v in enumerate(variables):
            path = getattr(v, 'path', v.name).replace('/', '.').replace(':', '_')
            self.vars[f'v{i:04d}_{path}'] = getattr(v, 'value', v)


def _fmt(stats, key):
    return f'{stats[key]:<7.4f}' if key in stats else '-      '


class Trainer:
    """Owns G, D, G_ema, optimizers, the distributed step functions and the run directory.

    Args:
      strategy: the tf.distribute strategy (see distribute.make_strategy).
      make_generator, make_discriminator: zero-argument factories; called under the strategy scope.
        The generator needs ``mapping`` (z, c, training=, update_w_avg=) -> ws and ``synthesis``
        (ws, noise_mode=, training=) -> images, attributes z_dim, c_dim, num_ws, img_resolution, img_channels.
      dataset: an ImageDataset (stylegan2_tf.data.open_dataset); must match the networks.
      outdir: run directory (checkpoints/, snapshots, grids, logs).
      save_snapshot: callable(path, G, D, G_ema) writing a network snapshot, or None.
      make_generator_ema: factory for G_ema when it must not start as a copy of G (fine-tuning a snapshot).
    """

    def __init__(self, strategy: tf.distribute.Strategy, make_generator: Callable, make_discriminator: Callable,
                 dataset, outdir: str, cfg: TrainConfig, save_snapshot: Optional[Callable] = None,
                 run_options: Optional[dict] = None, make_generator_ema: Optional[Callable] = None):
        cfg.validate()
        self.cfg = cfg
        self.strategy = strategy
        self.dataset = dataset
        self.outdir = outdir
        self.save_snapshot = save_snapshot
        self.num_workers, self.worker_index, self.is_chief = worker_info(strategy)
        self.num_replicas = strategy.num_replicas_in_sync
        if cfg.batch % self.num_replicas:
            raise ValueError(f'--batch={cfg.batch} is not divisible by the {self.num_replicas} replicas')
        self.local_batch = cfg.batch // self.num_replicas           # per replica
        self.worker_batch = cfg.batch // self.num_workers           # per worker (input pipeline)
        if self.local_batch // cfg.pl_batch_shrink < 1 and cfg.pl_weight > 0:
            raise ValueError(f'per-replica batch {self.local_batch} is smaller than --pl_batch_shrink '
                             f'{cfg.pl_batch_shrink}; the path-length batch would be empty')
        with strategy.scope():
            self.G = make_generator()
            self.D = make_discriminator()
            self.G_ema = (make_generator_ema or make_generator)()
            self._check_networks()
            if make_generator_ema is None:
                ema_lib.copy_weights(self.G, self.G_ema)
            self.g_settings = schedule.corrected_adam(cfg.g_lr, (cfg.beta1, cfg.beta2), cfg.eps,
                                                      cfg.g_reg_interval if cfg.pl_weight > 0 else None)
            self.d_settings = schedule.corrected_adam(cfg.d_lr, (cfg.beta1, cfg.beta2), cfg.eps,
                                                      cfg.d_reg_interval if cfg.gamma > 0 else None)
            self.G_opt = schedule.make_adam(self.g_settings, 'G_opt')
            self.D_opt = schedule.make_adam(self.d_settings, 'D_opt')
            self.G_opt.build(self.G.trainable_variables)
            self.D_opt.build(self.D.trainable_variables)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name='step')
            self.nimg = tf.Variable(0, dtype=tf.int64, trainable=False, name='nimg')
            self.pl_mean = tf.Variable(0.0, dtype=tf.float32, trainable=False, name='pl_mean')
            # The RNG state: every random number of step s is a pure function of (seed, s).
            self.rng_seed = tf.Variable(cfg.seed, dtype=tf.int64, trainable=False, name='rng_seed')
        self._ema_pairs = ema_lib.paired_variables(self.G, self.G_ema)
        # Variables are checkpointed through flat, explicitly named containers: Keras 3's object graph does
        # not expose layers kept in Python lists/dicts to tf.train.Checkpoint, so tracking the models
        # directly would silently leave such weights out.
        self.checkpoint = tf.train.Checkpoint(
            G=_VariableSet(self.G.weights), D=_VariableSet(self.D.weights), G_ema=_VariableSet(self.G_ema.weights),
            G_opt=_VariableSet(self.G_opt.variables), D_opt=_VariableSet(self.D_opt.variables),
            step=self.step, nimg=self.nimg, pl_mean=self.pl_mean, rng_seed=self.rng_seed)
        self.ckpt = CheckpointStore(self.checkpoint, os.path.join(outdir, 'checkpoints'), cfg.keep_ckpts,
                                    is_chief=self.is_chief)
        self.run_options = run_options or {}
        self._step_fns: Dict[Tuple[bool, bool], Callable] = {}
        self.logger: Optional[RunLogger] = None

    # ------------------------------------------------------------------------------------------------
    def _check_networks(self):
        G, D, ds = self.G, self.D, self.dataset
        if ds is None:
            return
        problems = []
        if G.img_resolution != ds.resolution:
            problems.append(f'resolution: network {G.img_resolution}, dataset {ds.resolution}')
        if G.img_channels != ds.num_channels:
            problems.append(f'channels: network {G.img_channels}, dataset {ds.num_channels}')
        if G.c_dim and G.c_dim != ds.label_dim:
            problems.append(f'labels: network expects c_dim={G.c_dim}, dataset has label_dim={ds.label_dim}')
        if getattr(D, 'c_dim', G.c_dim) != G.c_dim:
            problems.append(f'G c_dim={G.c_dim} but D c_dim={D.c_dim}')
        if problems:
            raise ValueError(f'dataset {ds.name!r} does not match the networks: ' + '; '.join(problems))

    # ------------------------------------------------------------------------------------------------
    # The distributed step.
    # ------------------------------------------------------------------------------------------------
    def _replica_step(self, reals_u8, labels, step, do_greg: bool, do_dreg: bool):
        cfg = self.cfg
        G, D = self.G, self.D
        ctx = tf.distribute.get_replica_context()
        rid = tf.cast(ctx.replica_id_in_sync_group, tf.int32)
        R = ctx.num_replicas_in_sync
        b = self.local_batch
        B = b * R
        seed = cfg.seed
        c = labels if G.c_dim else None
        reals = tf.cast(reals_u8, tf.float32) / 127.5 - 1.0

        def rows(x, n):  # this replica's n rows of a global tensor
            return x[rid * n:(rid + 1) * n]

        def latents(n, phase):
            return rows(tf.random.stateless_normal([n * R, G.z_dim], seed=_seed(seed, step, phase)), n)

        def synth(ws):
            return G.synthesis(ws, noise_mode='random', training=True)

        def mapping(z, cc, n):
            return G.mapping(z, cc, training=True, update_w_avg=False)

        def mixed_ws(n, cc, ph_z, ph_z2, ph_mix):
            ws = mapping(latents(n, ph_z), cc, n)
            if cfg.style_mixing > 0:
                ws2 = mapping(latents(n, ph_z2), cc, n)
                return L.style_mix(ws, ws2, cfg.style_mixing, _seed(seed, step, ph_mix)), ws
            return ws, ws

        stats = {}
        # --- Gmain -----------------------------------------------------------------------------
        with tf.GradientTape() as tape:
            ws, ws_unmixed = mixed_ws(b, c, _PH_GZ, _PH_GZ2, _PH_GMIX)
            fake_logits = D(synth(ws), c, training=True)
            g_loss = L.g_nonsaturating_loss(fake_logits)
            g_obj = tf.reduce_sum(g_loss) / B
        grads = tape.gradient(g_obj, G.trainable_variables)
        _apply(self.G_opt, grads, G.trainable_variables)
        stats['Loss/G/loss'] = g_obj
        w_mean = ctx.all_reduce(tf.distribute.ReduceOp.SUM, tf.reduce_sum(ws_unmixed[:, 0], axis=0)) / B
        new_pl_mean = tf.convert_to_tensor(self.pl_mean)

        # --- Greg: path length ---------------------------------------------------------------------
        if do_greg:
            n = b // cfg.pl_batch_shrink
            k = schedule.reg_weight_multiplier(cfg.g_reg_interval)
            # Labels for the path-length batch: the first n*R rows of the *global* batch, so that the same
            # global batch gets the same labels however it is split over replicas.
            cc = rows(_gather_rows(ctx, c, rid, R)[:n * R], n) if c is not None else None
            noise = rows(L.path_length_noise([n * R, G.img_resolution, G.img_resolution, G.img_channels],
                                             _seed(seed, step, _PH_PLNOISE)), n)
            with tf.GradientTape() as tape:
                ws, _ = mixed_ws(n, cc, _PH_PLZ, _PH_PLZ2, _PH_PLMIX)
                lengths, _ = L.path_lengths(synth, ws, noise=noise)
                mean_len = ctx.all_reduce(tf.distribute.ReduceOp.SUM, tf.reduce_sum(tf.stop_gradient(lengths)))
                new_pl_mean = L.update_pl_mean(self.pl_mean, mean_len / (n * R), cfg.pl_decay)
                penalty = L.path_length_penalty(lengths, new_pl_mean)
                pl_obj = tf.reduce_sum(penalty) * (cfg.pl_weight * k) / (n * R)
            grads = tape.gradient(pl_obj, G.trainable_variables)
            _apply(self.G_opt, grads, G.trainable_variables)
            stats['Loss/pl_penalty'] = tf.reduce_sum(penalty) / (n * R)
            stats['Loss/G/reg'] = pl_obj

        # --- Dmain -------------------------------------------------------------------------------------
        ws, _ = mixed_ws(b, c, _PH_DZ, _PH_DZ2, _PH_DMIX)
        fakes = tf.stop_gradient(synth(ws))
        with tf.GradientTape() as tape:
            fake_logits = D(fakes, c, training=True)
            real_logits = D(reals, c, training=True)
            d_loss = L.d_logistic_loss(real_logits, fake_logits)
            d_obj = tf.reduce_sum(d_loss) / B
        grads = tape.gradient(d_obj, D.trainable_variables)
        _apply(self.D_opt, grads, D.trainable_variables)
        stats['Loss/D/loss'] = d_obj
        stats['Loss/scores/real'] = tf.reduce_sum(real_logits) / B
        stats['Loss/scores/fake'] = tf.reduce_sum(fake_logits) / B

        # --- Dreg: R1 --------------------------------------------------------------------------------
        if do_dreg:
            k = schedule.reg_weight_multiplier(cfg.d_reg_interval)
            with tf.GradientTape() as tape:
                r1, _ = L.r1_penalty(lambda x: D(x, c, training=True), reals)
                r1_obj = tf.reduce_sum(r1) * (cfg.gamma / 2 * k) / B
            grads = tape.gradient(r1_obj, D.trainable_variables)
            _apply(self.D_opt, grads, D.trainable_variables)
            stats['Loss/r1_penalty'] = tf.reduce_sum(r1) / B
            stats['Loss/D/reg'] = r1_obj
        return stats, w_mean, new_pl_mean

    def _make_step_fn(self, do_greg: bool, do_dreg: bool):
        strategy = self.strategy
        cfg = self.cfg

        @tf.function
        def step_fn(batch, ema_beta):
            reals, labels = batch
            step = tf.identity(self.step)
            stats, w_mean, new_pl_mean = strategy.run(self._replica_step, args=(reals, labels, step, do_greg, do_dreg))
            stats = {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in stats.items()}
            w_mean = strategy.experimental_local_results(w_mean)[0]
            new_pl_mean = strategy.experimental_local_results(new_pl_mean)[0]
            mapping = self.G.mapping
            beta_w = getattr(mapping, 'w_avg_beta', None)
            if beta_w is not None and hasattr(mapping, 'w_avg'):
                mapping.w_avg.assign(w_mean + (tf.convert_to_tensor(mapping.w_avg) - w_mean) * beta_w)
            self.pl_mean.assign(new_pl_mean)
            ema_lib.update_ema(self._ema_pairs, ema_beta)
            self.step.assign_add(1)
            self.nimg.assign_add(cfg.batch)
            stats['Progress/pl_mean'] = tf.convert_to_tensor(self.pl_mean)
            return stats

        return step_fn

    def _reseed(self):
        """Reset TF's global seed from (seed, step) and drop the traced step functions (see module docstring)."""
        step = int(self.step.numpy())
        tf.random.set_seed(int((self.cfg.seed * 1000003 + step) % (2**31 - 1)))
        self._step_fns = {}

    def train_step(self, batch) -> Dict[str, float]:
        """Run one step on a distributed batch; returns host-side stats."""
        step = int(self.step.numpy())
        greg = self.cfg.pl_weight > 0 and schedule.is_reg_step(step, self.cfg.g_reg_interval)
        dreg = self.cfg.gamma > 0 and schedule.is_reg_step(step, self.cfg.d_reg_interval)
        key = (greg, dreg)
        if key not in self._step_fns:
            self._step_fns[key] = self._make_step_fn(greg, dreg)
        beta = schedule.ema_beta(self.cfg.batch, self.cfg.ema_kimg, int(self.nimg.numpy()), self.cfg.ema_rampup)
        stats = self._step_fns[key](batch, tf.constant(beta, tf.float32))
        out = {k: float(v.numpy()) for k, v in stats.items()}
        bad = [k for k, v in out.items() if not math.isfinite(v)]
        if bad:
            latest = self.ckpt.latest
            raise TrainingDivergedError(
                f'non-finite loss at step {step} (kimg {step * self.cfg.batch / 1000:.1f}): '
                + ', '.join(f'{k}={out[k]}' for k in bad)
                + f'; stopping without saving. Last good checkpoint: {latest or "none"}')
        return out

    # ------------------------------------------------------------------------------------------------
    # Data.
    # ------------------------------------------------------------------------------------------------
    def make_iterator(self):
        start = int(self.step.numpy()) * self.worker_batch
        # experimental_distribute_dataset expects batches of the *global* size and re-batches them to the
        # per-replica size; this worker's replicas then consume worker_batch images of its shard per step.
        ds = self.dataset.tf_dataset(self.cfg.batch, shuffle=True, repeat=True, seed=self.cfg.seed,
                                     num_shards=self.num_workers, shard_index=self.worker_index, start_image=start)
        opts = tf.data.Options()
        # We shard by worker ourselves; auto-sharding would split again.
        opts.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
        ds = ds.with_options(opts)
        return iter(self.strategy.experimental_distribute_dataset(ds))

    # ------------------------------------------------------------------------------------------------
    # Grids, snapshots, checkpoints.
    # ------------------------------------------------------------------------------------------------
    def _grid_setup(self):
        cols, rows = self.cfg.grid or official_grid_size(self.G.img_resolution)
        n = cols * rows
        reals, labels = [], []
        for x, y in self.dataset.iterate(max(n, 1), max_images=n):
            reals.append(x)
            labels.append(y)
        reals = np.concatenate(reals)
        labels = np.concatenate(labels)
        if len(reals) < n:  # small dataset: repeat
            reps = int(np.ceil(n / len(reals)))
            reals, labels = np.tile(reals, [reps, 1, 1, 1])[:n], np.tile(labels, [reps, 1])[:n]
        z = np.random.RandomState(self.cfg.seed).randn(n, self.G.z_dim).astype(np.float32)
        self._grid = (cols, rows, z, labels if self.G.c_dim else None)
        return reals

    def generate_grid(self, G=None) -> np.ndarray:
        """uint8 grid image from the fixed grid latents (G_ema, noise_mode='const')."""
        G = G or self.G_ema
        cols, rows, z, c = self._grid
        out = []
        for i in range(0, len(z), 64):
            cc = None if c is None else tf.constant(c[i:i + 64])
            ws = G.mapping(tf.constant(z[i:i + 64]), cc)
            out.append(G.synthesis(ws, noise_mode='const').numpy())
        return make_grid(to_uint8(np.concatenate(out)), (rows, cols))

    def save_checkpoint(self) -> str:
        path = self.ckpt.save(int(self.step.numpy()))
        if self.cfg.exact_resume:
            self._reseed()
        return path

    # ------------------------------------------------------------------------------------------------
    def restore(self, resume: str) -> Optional[str]:
        """``resume``: 'auto' (latest checkpoint in the run dir, if any), 'none', or a checkpoint path.

        Returns what was restored, or None for a fresh start.
        """
        if resume in ('auto', 'none', '', None):
            latest_exists = bool(self.ckpt.all_checkpoints())
            if resume == 'none' and latest_exists:
                raise ValueError(f'{self.outdir} already holds checkpoints; pass --resume auto to continue '
                                 'that run, or choose another --outdir')
            return self.ckpt.restore_latest() if latest_exists else None
        self.checkpoint.restore(resume).assert_existing_objects_matched()
        return resume

    def run(self, resume: str = 'auto', log: bool = True) -> Dict[str, float]:
        """Train until total_kimg (or max_steps in this process). Returns the last tick's stats."""
        cfg = self.cfg
        restored = self.restore(resume)
        self._reseed()
        chief = self.is_chief
        self.logger = RunLogger(self.outdir, enabled=chief and log)
        lg = self.logger
        if chief:
            os.makedirs(self.outdir, exist_ok=True)
            opts_path = os.path.join(self.outdir, 'training_options.json')
            with open(opts_path + '.tmp', 'w') as f:
                json.dump(dict(self.run_options, **dataclasses.asdict(cfg)), f, indent=2, default=str)
            os.replace(opts_path + '.tmp', opts_path)
        reals = self._grid_setup()
        if chief and log:
            cols, rows = self._grid[:2]
            real_grid = make_grid(reals, (rows, cols))
            save_png(os.path.join(self.outdir, 'reals.png'), real_grid)
            if restored is None:
                lg.image('reals', real_grid, 0)
        lg.print(f'{"resumed from " + restored if restored else "starting fresh"}: step {int(self.step.numpy())}, '
                 f'kimg {int(self.nimg.numpy()) / 1000:.1f}; {self.num_replicas} replica(s) on '
                 f'{self.num_workers} worker(s), batch {cfg.batch}')
        if restored is None and chief and log:
            g = self.generate_grid()
            save_png(os.path.join(self.outdir, 'fakes_init.png'), g)
        it = self.make_iterator()
        total_nimg = int(cfg.total_kimg * 1000)
        tick_nimg = int(cfg.kimg_per_tick * 1000)
        start_time = time.time()
        tick_start_time = start_time
        tick_start_nimg = int(self.nimg.numpy())
        cur_tick = tick_start_nimg // tick_nimg
        acc: Dict[str, list] = {}
        steps_here = 0
        last = {}
        while True:
            nimg = int(self.nimg.numpy())
            if nimg >= total_nimg or (cfg.max_steps is not None and steps_here >= cfg.max_steps):
                break
            stats = self.train_step(next(it))
            steps_here += 1
            for k, v in stats.items():
                acc.setdefault(k, []).append(v)
            nimg = int(self.nimg.numpy())
            done = nimg >= total_nimg
            if nimg // tick_nimg == cur_tick and not done:
                continue
            # ---- end of tick -------------------------------------------------------------------
            cur_tick = nimg // tick_nimg
            now = time.time()
            dt = now - tick_start_time
            n_tick = nimg - tick_start_nimg
            tick_stats = {k: float(np.mean(v)) for k, v in acc.items()}
            tick_stats.update({'Timing/sec_per_tick': dt, 'Timing/sec_per_kimg': dt / max(n_tick / 1000, 1e-9),
                               'Timing/img_per_sec': n_tick / max(dt, 1e-9), 'Progress/kimg': nimg / 1000,
                               'Progress/tick': cur_tick, 'Timing/total_sec': now - start_time})
            tick_stats.update(peak_memory())
            acc = {}
            snap_now = done or (cfg.snap > 0 and cur_tick % cfg.snap == 0)
            ckpt_now = done or (cfg.ckpt_ticks > 0 and cur_tick % cfg.ckpt_ticks == 0)
            m0 = time.time()
            if ckpt_now:
                self.save_checkpoint()
            if snap_now and chief:
                kimg_i = nimg // 1000
                if log:
                    g = self.generate_grid()
                    save_png(os.path.join(self.outdir, f'fakes{kimg_i:06d}.png'), g)
                    if cfg.image_summaries:
                        lg.image('fakes', g, nimg)
                if self.save_snapshot is not None:
                    self.save_snapshot(os.path.join(self.outdir, f'network-snapshot-{kimg_i:06d}'),
                                       self.G, self.D, self.G_ema)
            maint = time.time() - m0
            tick_stats['Timing/maintenance_sec'] = maint
            lg.scalars(tick_stats, nimg / 1000, {'tick': cur_tick, 'step': int(self.step.numpy())})
            lg.print(
                f'tick {cur_tick:<5d} kimg {nimg / 1000:<8.1f} time {format_time(now - start_time):<9s} '
                f'sec/tick {dt:<7.1f} sec/kimg {tick_stats["Timing/sec_per_kimg"]:<7.2f} '
                f'img/s {tick_stats["Timing/img_per_sec"]:<7.1f} maint {maint:<5.1f} '
                f'G {_fmt(tick_stats, "Loss/G/loss")} D {_fmt(tick_stats, "Loss/D/loss")} '
                f'r1 {_fmt(tick_stats, "Loss/r1_penalty")} pl_mean {_fmt(tick_stats, "Progress/pl_mean")} '
                f'mem {tick_stats.get("Resources/peak_gpu_mem_gb", tick_stats["Resources/peak_host_mem_gb"]):.2f}GB')
            last = tick_stats
            tick_start_time = time.time()
            tick_start_nimg = nimg
        if acc:  # stopped mid-tick by max_steps
            last = {k: float(np.mean(v)) for k, v in acc.items()}
        lg.close()
        return last
