"""The training state and the distributed training step.

:class:`Trainer` owns G, D, G_ema, the two Adam optimizers, the step and image counters, pl_mean and the
checkpoint of all of them, and builds one ``tf.function`` per combination of active phases from the data list
``schedule.make_phases`` returns (Gmain, Greg, Dmain, Dreg; an interval of 1 merges a regularizer into its main
phase). The loss arithmetic lives in ``loss.StyleGAN2Loss``; ticks, grids, snapshots and logs in ``loop``.

Per step, for each active phase in order: the phase's objective (this replica's share of the global-batch mean),
its gradient for every trainable variable of its network (variables it does not reach get a zero gradient, as in
TF1, so every variable takes an Adam step), non-finite gradient entries replaced (NaN -> 0, +-inf -> +-1e5, as
stylegan2-ada does) and counted, then the Adam step, whose gradients Keras sums over replicas. After the phases:
G_ema <- G + (G_ema - G) * beta, step += 1, nimg += batch. ``w_avg`` is updated by every training-mode mapping call
(each phase's unmixed w); its MEAN aggregation makes the replicas' updates that of the global batch.

float16 networks (precision 'fp16' in G or D) train with dynamic loss scaling (loss_scale.py), one scale per
network, used by all its phases: the objective (and the inner gradients of R1 / path length) is multiplied by the
scale, the gradients divided by it; a phase whose scaled gradients are not finite in some replica is skipped
(no Adam step, pl_mean kept) and halves the scale, counted in 'Progress/skipped_phases/<net>' and not as a
divergence (only a phase that stays non-finite at the minimum scale of 1 counts towards max_bad_steps). The
scales are in the checkpoint. bfloat16 and float32 need no scaling.

Randomness: latents, style-mixing draws, the generator's per-pixel noise, the generator's labels (drawn from the
dataset's labels) and the path-length directions come from stateless RNGs keyed by (seed, step, phase term) and
are drawn for the *global* batch, each replica taking its rows. A step is therefore a pure function of the state
and the data: one device and several replicas compute the same numbers (up to the per-replica minibatch-stddev
groups of D), and a resumed run continues the uninterrupted one exactly when op determinism is on
(``--deterministic``).
"""

from __future__ import annotations

import contextlib
import math
import os
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from stylegan2_tf.networks import active_style_layers
from stylegan2_tf.training import ema as ema_lib
from stylegan2_tf.training.ada import DEFAULT_ADA_KIMG, AdaController
from stylegan2_tf.training.augment import AugmentPipe
from stylegan2_tf.training import growing as growing_lib
from stylegan2_tf.training import schedule
from stylegan2_tf.training.checkpoint import CheckpointStore
from stylegan2_tf.training.config import TrainConfig
from stylegan2_tf.training.distribute import worker_info
from stylegan2_tf.training.loss import BatchReducer, GenInputs, StyleGAN2Loss, path_length_noise
from stylegan2_tf.training.loss_scale import DynamicLossScale, apply_if

CHECKPOINT_FORMAT = 2  # 1: variables named by creation order (before the rebuild); 2: by layer path


class TrainingDivergedError(RuntimeError):
    """Training produced non-finite values for too long, or a non-finite state was about to be checkpointed."""


# Stream ids of the stateless RNG: (phase term, what is drawn). Keyed by term, not by phase, so that a non-lazy
# 'Gboth' phase draws the same numbers as 'Gmain' + 'Greg' would.
_TERM_IDS = {('G', 'main'): 1, ('G', 'reg'): 2, ('D', 'main'): 3, ('D', 'reg'): 4}
_Z, _Z2, _MIX, _NOISE, _LABEL, _PL_NOISE, _AUG = range(7)


def _seed(seed: int, step, term_id: int, what: int) -> tf.Tensor:
    """Stateless seed [2] for (run seed, step, phase term, stream)."""
    base = tf.stack([tf.constant(seed, tf.int64), tf.cast(step, tf.int64)])
    return tf.random.experimental.stateless_fold_in(base, term_id * 16 + what)


def _stable_name(variable) -> str:
    return getattr(variable, 'path', variable.name).replace('/', '.').replace(':', '_')


class _NamedVariables(tf.Module):
    """Checkpoint container (format 2): variables under their layer paths, independent of creation order.

    Keras 3's object graph does not expose layers kept in Python lists/dicts to tf.train.Checkpoint, so the
    variables are checkpointed through flat, explicitly named containers.
    """

    def __init__(self, variables, what: str):
        super().__init__()
        self.vars = {}
        for v in variables:
            name = _stable_name(v)
            if name in self.vars:
                raise ValueError(f'{what}: two variables share the path {name!r}; checkpoints need unique names')
            self.vars[name] = getattr(v, 'value', v)


class _IndexedVariables(tf.Module):
    """Checkpoint container of format 1: 'v<index>_<path>' in creation order (restore only)."""

    def __init__(self, variables):
        super().__init__()
        self.vars = {f'v{i:04d}_{_stable_name(v)}': getattr(v, 'value', v) for i, v in enumerate(variables)}


def checkpoint_format(path: str) -> int:
    """The format of the checkpoint at ``path`` (a prefix such as .../ckpt-12)."""
    names = [n for n, _ in tf.train.list_variables(path)]
    if any(n.startswith('format/') for n in names):
        return int(tf.train.load_variable(path, 'format/.ATTRIBUTES/VARIABLE_VALUE'))
    if any(n.startswith('G/vars/v0000_') for n in names):
        return 1
    raise ValueError(f'{path}: not a stylegan2-tf training checkpoint (no G variables found)')


def _nan_to_num(g: tf.Tensor) -> tf.Tensor:
    """NaN -> 0, +-inf -> +-1e5; finite entries unchanged (stylegan2-ada's torch.nan_to_num)."""
    g = tf.where(tf.math.is_nan(g), tf.zeros_like(g), g)
    return tf.where(tf.math.is_inf(g), tf.sign(g) * 1e5, g)


def _count_nonfinite(grads: Sequence[tf.Tensor]) -> tf.Tensor:
    """Number of tensors in ``grads`` with a NaN or inf entry (float32 scalar). Two passes over each gradient
    (is_finite, all) where counting the entries took four: on a CPU every pass over the parameters costs."""
    return tf.add_n([tf.cast(~tf.reduce_all(tf.math.is_finite(g)), tf.float32) for g in grads], name='nonfinite')


def _sanitize(grads: Sequence[tf.Tensor], bad: tf.Tensor) -> List[tf.Tensor]:
    """_nan_to_num of every gradient, run only when ``bad`` > 0: on finite gradients it is the identity, and its
    seven element-wise passes over the parameters are a visible part of a CPU step (docs/training.md, Speed)."""
    grads = list(grads)
    return tf.cond(bad > 0, lambda: [_nan_to_num(g) for g in grads], lambda: [tf.identity(g) for g in grads])


class Trainer:
    """Owns the training state; ``train_step`` runs one distributed step (see module docstring).

    Args:
      strategy: the tf.distribute strategy (see distribute.make_strategy).
      make_generator, make_discriminator: zero-argument factories, called under the strategy scope. The generator
        needs ``mapping(z, c, training=, update_w_avg=)`` and ``synthesis(ws, noise_mode=, training=,
        noise_inputs=)`` (stylegan2_tf.networks.Generator).
      dataset: an ImageDataset (stylegan2_tf.data.open_dataset); must match the networks.
      outdir: run directory (checkpoints/ is written there).
      save_snapshot: callable(path, G, D, G_ema, metadata) writing a network snapshot, or None (used by the loop).
      make_generator_ema: factory for G_ema when it must not start as a copy of G (fine-tuning a snapshot).
      augment: callable(images, seed) applied to everything D sees instead of the AugmentPipe that ``cfg.aug``
        builds (``augment_pipe``; None with --aug=noaug).
      augment_p: the initial augmentation strength when ``cfg.p`` does not give one (the p of the snapshot or
        pickle training starts from); default 0.
      phases: the phase list; default ``schedule.make_phases`` from the config.
    """

    def __init__(self, strategy: tf.distribute.Strategy, make_generator: Callable, make_discriminator: Callable,
                 dataset, outdir: str, cfg: TrainConfig, save_snapshot: Optional[Callable] = None,
                 run_options: Optional[dict] = None, make_generator_ema: Optional[Callable] = None,
                 augment: Optional[Callable] = None, phases: Optional[Sequence[schedule.Phase]] = None,
                 augment_p: Optional[float] = None):
        cfg.validate()
        self.cfg = cfg
        self.strategy = strategy
        self.dataset = dataset
        self.outdir = outdir
        self.save_snapshot = save_snapshot
        self.run_options = run_options or {}
        self.num_workers, self.worker_index, self.is_chief = worker_info(strategy)
        self.num_replicas = strategy.num_replicas_in_sync
        self.phases: List[schedule.Phase] = list(phases if phases is not None else schedule.make_phases(
            cfg.g_reg_interval, cfg.pl_weight, cfg.d_reg_interval, cfg.gamma))
        # Progressive growing (configs A-D): lod, batch and learning rates follow growing.training_schedule.
        self.growing = growing_lib.growing_config(cfg)
        if self.growing is not None and dataset is not None:
            self.growing.validate(dataset.resolution)
        for batch in {cfg.batch, *(self.growing.batch_dict.values() if self.growing else ())}:
            self._check_batch(batch)
        with strategy.scope():
            self.G = make_generator()
            self.D = make_discriminator()
            self.G_ema = (make_generator_ema or make_generator)()
            self._check_networks()
            if cfg.freezed:
                if not hasattr(self.D, 'freeze_layers'):
                    raise ValueError('--freezed needs the StyleGAN2 discriminator (--structure fixed)')
                self.D.freeze_layers(cfg.freezed)  # before the optimizer sees D's trainable variables
            if make_generator_ema is None:
                ema_lib.copy_weights(self.G, self.G_ema)
            # The lazy-regularization correction applies whenever an interval > 1 is set, even with weight 0
            # (as stylegan2-ada); interval 1 (not lazy) gives c = 1.
            self.g_settings = schedule.corrected_adam(cfg.g_lr, (cfg.beta1, cfg.beta2), cfg.eps, cfg.g_reg_interval)
            self.d_settings = schedule.corrected_adam(cfg.d_lr, (cfg.beta1, cfg.beta2), cfg.eps, cfg.d_reg_interval)
            self.G_opt = schedule.make_adam(self.g_settings, 'G_opt')
            self.D_opt = schedule.make_adam(self.d_settings, 'D_opt')
            self.G_opt.build(self.G.trainable_variables)
            self.D_opt.build(self.D.trainable_variables)
            # Both networks' phases backpropagate through a float16 network as soon as one of them is float16
            # (G's losses pass through D), so both get a loss scale.
            self.loss_scales: Dict[str, DynamicLossScale] = {}
            if any(getattr(net, 'precision', 'fp32') == 'fp16' for net in (self.G, self.D)):
                self.loss_scales = {net: DynamicLossScale(f'{net}_loss_scale') for net in ('G', 'D')}
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name='step')
            self.nimg = tf.Variable(0, dtype=tf.int64, trainable=False, name='nimg')
            # Assigned in replica context with the same (global) value on every replica.
            self.pl_mean = tf.Variable(0.0, dtype=tf.float32, trainable=False, name='pl_mean',
                                       aggregation=tf.VariableAggregation.MEAN)
            self.bad_steps = tf.Variable(0, dtype=tf.int64, trainable=False, name='bad_steps')
            # nimg at which the schedule in force was evaluated (-1: not yet); it fixes lod, batch and lr until the
            # next evaluation, so a run resumed inside a group of minibatch_repeats steps continues it exactly.
            self.sched_nimg = tf.Variable(-1, dtype=tf.int64, trainable=False, name='sched_nimg')
            # The RNG state: every random number of step s is a pure function of (seed, s).
            self.rng_seed = tf.Variable(cfg.seed, dtype=tf.int64, trainable=False, name='rng_seed')
            self.format = tf.Variable(CHECKPOINT_FORMAT, dtype=tf.int64, trainable=False, name='format')
            self.augment_pipe, self.ada = self._make_augmentation(augment_p)
        self._augment = augment if augment is not None else self.augment_pipe
        self.loss = self.make_loss()
        self._ema_pairs = ema_lib.paired_variables(self.G, self.G_ema)
        self._label_pool = self._make_label_pool()
        self._noise_shapes = list(getattr(self.G.synthesis, 'noise_shapes', []))
        self._lod_variables = self._find_lod_variables()
        counters = dict(step=self.step, nimg=self.nimg, pl_mean=self.pl_mean, rng_seed=self.rng_seed)
        state = dict(
            G=_NamedVariables(self.G.weights, 'G'), D=_NamedVariables(self.D.weights, 'D'),
            G_ema=_NamedVariables(self.G_ema.weights, 'G_ema'),
            G_opt=_NamedVariables(self.G_opt.variables, 'G_opt'), D_opt=_NamedVariables(self.D_opt.variables, 'D_opt'),
            bad_steps=self.bad_steps, format=self.format, sched_nimg=self.sched_nimg, **counters,
            **{f'loss_scale_{net}': ls for net, ls in self.loss_scales.items()})
        self._augment_state = {}
        if self.augment_pipe is not None:
            self._augment_state['augment_p'] = self.augment_pipe.p
        if self.ada is not None:
            self._augment_state.update({f'ada_{k}': v for k, v in self.ada.variables().items()})
        self._checkpoint_state = state
        self.checkpoint = tf.train.Checkpoint(**state, **self._augment_state)
        self._legacy_checkpoint = tf.train.Checkpoint(
            G=_IndexedVariables(self.G.weights), D=_IndexedVariables(self.D.weights),
            G_ema=_IndexedVariables(self.G_ema.weights), G_opt=_IndexedVariables(self.G_opt.variables),
            D_opt=_IndexedVariables(self.D_opt.variables), **counters)
        self.ckpt = CheckpointStore(self.checkpoint, os.path.join(outdir, 'checkpoints'), cfg.keep_ckpts,
                                    is_chief=self.is_chief, restore_fn=self.restore_checkpoint)
        self._step_fns: Dict[Tuple, Callable] = {}
        # Name each phase's ops '<phase>/...' (and the EMA's 'ema/...') so that a profile can attribute them. Off by
        # default: grappler's rewrites depend on op names, and the scopes change the step's float round-off (not
        # its math); benchmarks/train_step.py --profile sets it before the first step is traced.
        self.scope_phases = False
        self._consecutive_bad = 0
        self._finite_fn = None
        self._iterator, self._iterator_batch = None, None

    def _make_augmentation(self, augment_p: Optional[float]):
        """(AugmentPipe, AdaController) from the config: (None, None) with --aug=noaug or a fixed p of 0 (as
        upstream, no pipe then); the pipe's p starts at --p, else ``augment_p``, else 0."""
        cfg = self.cfg
        if cfg.aug == 'noaug' or (cfg.aug == 'fixed' and cfg.p == 0):
            return None, None
        pipe = AugmentPipe.from_spec(cfg.augpipe or 'bgc')
        p0 = cfg.p if cfg.p is not None else (augment_p if augment_p is not None else 0.0)
        pipe.p.assign(float(p0))
        if cfg.aug == 'fixed':
            return pipe, None
        return pipe, AdaController(pipe.p, cfg.target, cfg.ada_interval, cfg.ada_kimg or DEFAULT_ADA_KIMG)

    def snapshot_metadata(self) -> dict:
        """What a network snapshot records of the training state besides the networks: the augment pipe (its
        keywords and current p, so that --resume continues p)."""
        if self.augment_pipe is None:
            return {}
        return {'augment_pipe': {'kwargs': self.augment_pipe.get_config(),
                                 'p': float(self.augment_pipe.p.numpy())}}

    def make_loss(self, lod_level: Optional[int] = None) -> StyleGAN2Loss:
        cfg = self.cfg
        return StyleGAN2Loss(self.G, self.D, r1_gamma=cfg.gamma, pl_weight=cfg.pl_weight, pl_decay=cfg.pl_decay,
                             style_mixing_prob=cfg.style_mixing, augment=self._augment, lod_level=lod_level,
                             blur_sigma=cfg.blur_sigma)

    def blur_sigma(self, nimg: int) -> float:
        """StyleGAN3-R's blur of D's inputs: sigma = max(1 - nimg / (blur_fade_kimg * 1000), 0) * blur_sigma (0 when
        the fade is 0); it is applied while floor(3 sigma) > 0."""
        cfg = self.cfg
        if cfg.blur_sigma <= 0 or cfg.blur_fade_kimg <= 0:
            return 0.0
        return max(1.0 - nimg / (cfg.blur_fade_kimg * 1000.0), 0.0) * cfg.blur_sigma

    # ------------------------------------------------------------------------------------------------
    def _check_batch(self, batch: int) -> None:
        if batch % self.num_replicas or batch % self.num_workers:
            raise ValueError(f'minibatch {batch} is not divisible by the {self.num_replicas} replicas')
        if any('reg' in p.terms for p in self.phases if p.network == 'G') and \
                batch // self.num_replicas < self.cfg.pl_batch_shrink:
            raise ValueError(f'per-replica batch {batch // self.num_replicas} is smaller than --pl_batch_shrink '
                             f'{self.cfg.pl_batch_shrink}; the path-length batch would be empty')

    def _find_lod_variables(self) -> List[tf.Variable]:
        """The networks' level-of-detail variables (growing networks); an error if growing needs them and they lack."""
        found = [v for net in (self.G.synthesis, self.D, self.G_ema.synthesis)
                 for v in [getattr(net, 'lod', None)] if v is not None]
        if self.growing is not None and len(found) != 3:
            raise ValueError('--lod_initial_resolution (progressive growing) needs networks with a level of detail '
                             '(the growing networks of configs A-D); these networks have none')
        return found

    # ------------------------------------------------------------------------------------------------
    # The schedule (constant unless growing).
    # ------------------------------------------------------------------------------------------------
    def _schedule_at(self, nimg: int) -> growing_lib.Schedule:
        cfg = self.cfg
        resolution = self.G.img_resolution
        return growing_lib.training_schedule(nimg, resolution, cfg.batch, cfg.g_lr, cfg.d_lr, self.growing)

    def schedule(self) -> growing_lib.Schedule:
        """The schedule in force for the next step, evaluated every minibatch_repeats steps (official loop), and
        applied: Adam reset when a fade starts or ends, learning rates, and the networks' level of detail."""
        step, nimg, sched_nimg = int(self.step.numpy()), int(self.nimg.numpy()), int(self.sched_nimg.numpy())
        repeats = self.growing.minibatch_repeats if self.growing is not None else 1
        if sched_nimg < 0 or (step % repeats == 0 and sched_nimg != nimg):
            new = self._schedule_at(nimg)
            if self.growing is not None and self.growing.reset_optimizer and growing_lib.lod_changed(
                    self._schedule_at(sched_nimg).lod if sched_nimg >= 0 else None, new.lod):
                for opt in (self.G_opt, self.D_opt):
                    for v in opt.variables:
                        if v is not opt.learning_rate:
                            v.assign(tf.zeros_like(v))
            self.sched_nimg.assign(nimg)
            sched_nimg = nimg
        sched = self._schedule_at(sched_nimg)
        if self.growing is not None:
            # Learning rates with the lazy-regularization correction c; lod into G, D and G_ema.
            self.G_opt.learning_rate.assign(sched.g_lr * self.g_settings.mb_ratio)
            self.D_opt.learning_rate.assign(sched.d_lr * self.d_settings.mb_ratio)
            for v in self._lod_variables:
                v.assign(sched.lod)
        return sched

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

    def _make_label_pool(self) -> Optional[tf.Tensor]:
        """The dataset's class labels int64 [N] from which the generator's labels are drawn (conditional G)."""
        if not self.G.c_dim:
            return None
        labels = self.dataset.class_labels()
        if labels is None or len(labels) == 0:
            raise ValueError(f'the generator is conditional (c_dim={self.G.c_dim}) but dataset '
                             f'{self.dataset.name!r} has no labels')
        return tf.constant(np.asarray(labels, np.int64))

    # ------------------------------------------------------------------------------------------------
    # The distributed step.
    # ------------------------------------------------------------------------------------------------
    def _replica_step(self, reals_u8, real_labels, step, lod, blur_sigma, active: Tuple[str, ...], local_batch: int,
                      loss: StyleGAN2Loss):
        cfg, G = self.cfg, self.G
        ctx = tf.distribute.get_replica_context()
        rid = tf.cast(ctx.replica_id_in_sync_group, tf.int32)
        R = ctx.num_replicas_in_sync
        reduce = BatchReducer(R, lambda x: ctx.all_reduce(tf.distribute.ReduceOp.SUM, x))
        if self.growing is not None:
            reals = growing_lib.process_reals(reals_u8, lod)
            # Style mixing only among the layers in use at this level of detail (official G_style / G_main).
            active_ws = active_style_layers(G.num_ws, lod)
        else:
            reals = tf.cast(reals_u8, tf.float32) / 127.5 - 1.0
            active_ws = None
        real_c = real_labels if G.c_dim else None

        def rows(x, n):  # this replica's n rows of a global tensor
            return x[rid * n:(rid + 1) * n]

        def gen_inputs(n: int, term_id: int) -> GenInputs:
            def normal(shape, what):
                return rows(tf.random.stateless_normal([n * R, *shape], seed=_seed(cfg.seed, step, term_id, what)), n)
            c = None
            if self._label_pool is not None:
                idx = tf.random.stateless_uniform([n * R], _seed(cfg.seed, step, term_id, _LABEL), 0,
                                                  tf.shape(self._label_pool, out_type=tf.int64)[0], dtype=tf.int64)
                c = tf.one_hot(rows(tf.gather(self._label_pool, idx), n), G.c_dim, dtype=tf.float32)
            noise_seed = _seed(cfg.seed, step, term_id, _NOISE)
            noise = [rows(tf.random.stateless_normal(
                [n * R, h, w, 1], seed=tf.random.experimental.stateless_fold_in(noise_seed, i)), n)
                for i, (h, w) in enumerate(self._noise_shapes)] or None
            return GenInputs(z=normal([G.z_dim], _Z), z2=normal([G.z_dim], _Z2), c=c,
                             mix_seed=_seed(cfg.seed, step, term_id, _MIX), noise=noise, active_ws=active_ws)

        stats: Dict[str, tf.Tensor] = {}
        nonfinite = tf.constant(0.0)
        skipped = tf.constant(0.0)
        sign_sum, sign_rows = tf.constant(0.0), 0   # ADA's statistic over every real pass of D in this step
        for phase in [p for p in self.phases if p.name in active]:
            with tf.name_scope(phase.name) if self.scope_phases else contextlib.nullcontext():
                net, opt = (self.G, self.G_opt) if phase.network == 'G' else (self.D, self.D_opt)
                scaler = self.loss_scales.get(phase.network)
                scale = None if scaler is None else tf.convert_to_tensor(scaler.scale)
                variables = net.trainable_variables
                sources = [getattr(v, 'value', v) for v in variables]  # the tf.Variables behind Keras variables
                with tf.GradientTape(watch_accessed_variables=False) as tape:
                    tape.watch(sources)
                    objective = tf.constant(0.0)
                    for term in phase.terms:
                        term_id = _TERM_IDS[(phase.network, term)]
                        # Augmentation parameters: per replica (each augments its own rows), per term, per step.
                        aug_seed = tf.random.experimental.stateless_fold_in(_seed(cfg.seed, step, term_id, _AUG), rid)
                        if phase.network == 'G' and term == 'main':
                            o, st = loss.g_main(gen_inputs(local_batch, term_id), reduce, aug_seed=aug_seed,
                                                blur_sigma=blur_sigma)
                        elif phase.network == 'G':
                            n = local_batch // cfg.pl_batch_shrink
                            pl_shape = [n * R, G.img_resolution, G.img_resolution, G.img_channels]
                            pl_noise = rows(path_length_noise(pl_shape, _seed(cfg.seed, step, term_id, _PL_NOISE)), n)
                            o, st, new_pl_mean = loss.g_reg(gen_inputs(n, term_id), pl_noise,
                                                                 tf.convert_to_tensor(self.pl_mean), reduce,
                                                                 phase.reg_multiplier, grad_scale=scale)
                        elif term == 'main':
                            o, st = loss.d_main(gen_inputs(local_batch, term_id), reals, real_c, reduce,
                                                aug_seed=aug_seed, blur_sigma=blur_sigma)
                        else:
                            o, st = loss.d_reg(reals, real_c, reduce, phase.reg_multiplier, grad_scale=scale,
                                               aug_seed=aug_seed, blur_sigma=blur_sigma)
                        if 'Loss/signs/real' in st:  # a share of the global mean over the local_batch real rows
                            sign_sum += st.pop('Loss/signs/real') * (local_batch * R)
                            sign_rows += local_batch
                        objective += o
                        stats.update(st)
                    if scale is not None:
                        objective = objective * scale
                # TF1 turns missing gradients into zeros: every variable takes its Adam step.
                grads = tape.gradient(objective, sources, unconnected_gradients=tf.UnconnectedGradients.ZERO)
                bad = _count_nonfinite(grads)
                bad = ctx.all_reduce(tf.distribute.ReduceOp.SUM, bad)
                if scaler is None:
                    nonfinite += tf.cast(bad > 0, tf.float32)
                    opt.apply_gradients(zip(_sanitize(grads, bad), variables))
                    finite = None
                else:
                    finite = tf.equal(bad, 0)
                    apply_if(opt, [g / scale for g in grads], variables, finite)
                    nonfinite += tf.cast(scaler.update(finite), tf.float32)
                    skipped += tf.cast(~finite, tf.float32)
                if phase.network == 'G' and 'reg' in phase.terms:
                    self.pl_mean.assign(new_pl_mean if finite is None else
                                        tf.where(finite, new_pl_mean, tf.convert_to_tensor(self.pl_mean)))
        # Stats are per-replica shares of global means: the cross-replica sum is the global value. The count of
        # phases with non-finite gradients is already global; divide so that the sum restores it.
        stats['Progress/nonfinite_phases'] = nonfinite / R
        if sign_rows:  # summed over replicas: the global sum of signs and their count
            stats['ADA/sign_sum'] = sign_sum
            stats['ADA/sign_count'] = tf.constant(float(sign_rows))
        if self.loss_scales:
            stats['Progress/skipped_phases'] = skipped / R
        for net, scaler in self.loss_scales.items():
            stats[f'Progress/loss_scale/{net}'] = tf.convert_to_tensor(scaler.scale) / R
            stats[f'Progress/skipped_phases/{net}'] = tf.cast(tf.convert_to_tensor(scaler.skipped), tf.float32) / R
        return stats

    def _make_step_fn(self, active: Tuple[str, ...], batch_size: int, lod_level: Optional[int], blur: bool):
        strategy = self.strategy
        local_batch = batch_size // self.num_replicas
        # Growing: one graph per level of detail floor(lod) (only that level's layers, no tf.cond; see loss.py).
        loss = self.loss if lod_level is None else self.make_loss(lod_level)

        @tf.function
        def step_fn(batch, lod, ema_beta, blur_sigma):
            reals, labels = batch
            step = tf.identity(self.step)
            stats = strategy.run(self._replica_step, args=(reals, labels, step, lod, blur_sigma if blur else None,
                                                           active, local_batch, loss))
            stats = {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in stats.items()}
            with tf.name_scope('ema') if self.scope_phases else contextlib.nullcontext():
                ema_lib.update_ema(self._ema_pairs, ema_beta)
            self.step.assign_add(1)
            self.nimg.assign_add(batch_size)
            stats['Progress/pl_mean'] = tf.convert_to_tensor(self.pl_mean)
            return stats

        return step_fn

    def _update_augmentation(self, out: Dict[str, float], step: int, batch: int) -> None:
        """Host side of a step: the global 'Loss/signs/real', ADA's adjustment of p after every ada_interval-th
        minibatch (stylegan2-ada-pytorch's order: after the step's updates), and 'Progress/augment' (p after it)."""
        sign_sum, count = out.pop('ADA/sign_sum', 0.0), out.pop('ADA/sign_count', 0.0)
        if count:
            out['Loss/signs/real'] = sign_sum / count
        if self.ada is not None:
            if count:
                self.ada.observe(sign_sum, count)
            self.ada.maybe_adjust(step + 1, batch)
        if self.augment_pipe is not None:
            out['Progress/augment'] = float(self.augment_pipe.p.numpy())

    def active_phases(self, step: int) -> Tuple[str, ...]:
        return tuple(p.name for p in self.phases if p.runs_at(step))

    def train_step(self, batch=None) -> Dict[str, float]:
        """Run one step on a distributed batch (default: the next one of the trainer's own input pipeline, which
        follows the schedule's batch size); returns host-side stats.

        A step whose losses or gradients are non-finite is counted ('Progress/bad_steps'); its non-finite gradient
        entries were zeroed. After ``cfg.max_bad_steps`` such steps in a row the run stops with
        TrainingDivergedError. With loss scaling (float16), a phase with non-finite gradients was skipped instead
        ('Progress/skipped_phases'), and its non-finite losses are the overflow that skipping handles; only phases
        that stay non-finite at the minimum loss scale count as bad.
        """
        sched = self.schedule()
        step = int(self.step.numpy())
        if batch is None:
            batch = self._next_batch(sched.batch)
        lod_level = int(math.floor(sched.lod)) if self.growing is not None else None
        sigma = self.blur_sigma(int(self.nimg.numpy()))
        key = (self.active_phases(step), sched.batch, lod_level, math.floor(3 * sigma) > 0)
        if key not in self._step_fns:
            self._step_fns[key] = self._make_step_fn(*key)
        beta = schedule.ema_beta(sched.batch, self.cfg.ema_kimg, int(self.nimg.numpy()), self.cfg.ema_rampup)
        stats = self._step_fns[key](batch, tf.constant(sched.lod, tf.float32), tf.constant(beta, tf.float32),
                                    tf.constant(sigma, tf.float32))
        out = {k: float(v.numpy()) for k, v in stats.items()}
        self._update_augmentation(out, step, sched.batch)
        if self.cfg.blur_sigma > 0:
            out['Progress/blur_sigma'] = sigma
        if self.growing is not None:
            out.update({'Progress/lod': sched.lod, 'Progress/minibatch': float(sched.batch),
                        'Progress/G_lrate': sched.g_lr, 'Progress/D_lrate': sched.d_lr})
        bad = [k for k, v in out.items() if not math.isfinite(v)]
        if out.get('Progress/skipped_phases', 0) > 0:
            bad = []  # skipped phases: non-finite losses are the float16 overflow the loss scale handles
        if bad or out['Progress/nonfinite_phases'] > 0:
            self._consecutive_bad += 1
            self.bad_steps.assign_add(1)
        else:
            self._consecutive_bad = 0
        out['Progress/bad_steps'] = float(self.bad_steps.numpy())
        if self._consecutive_bad >= max(1, self.cfg.max_bad_steps):
            latest = self.ckpt.latest
            detail = ', '.join(f'{k}={out[k]}' for k in bad) or 'non-finite gradients'
            raise TrainingDivergedError(
                f'non-finite values in {self._consecutive_bad} consecutive steps (last: step {step}, kimg '
                f'{int(self.nimg.numpy()) / 1000:.1f}: {detail}); stopping without saving. Last good checkpoint: '
                f'{latest or "none"}')
        return out

    # ------------------------------------------------------------------------------------------------
    # Data.
    # ------------------------------------------------------------------------------------------------
    def _next_batch(self, batch_size: int):
        if self._iterator is None or self._iterator_batch != batch_size:
            self._iterator, self._iterator_batch = self.make_iterator(batch_size), batch_size
        return next(self._iterator)

    def make_iterator(self, batch_size: Optional[int] = None):
        """Distributed batches of ``batch_size`` (default: the schedule's) from the current data position."""
        batch_size = batch_size or self._schedule_at(max(int(self.sched_nimg.numpy()), 0)).batch
        # Each worker has read nimg / num_workers images of its shard so far (every step, batch / num_workers).
        start = int(self.nimg.numpy()) // self.num_workers
        # experimental_distribute_dataset expects batches of the *global* size and re-batches them to the
        # per-replica size; this worker's replicas then consume batch / num_workers images of its shard per step.
        ds = self.dataset.tf_dataset(batch_size, shuffle=True, repeat=True, seed=self.cfg.seed,
                                     num_shards=self.num_workers, shard_index=self.worker_index, start_image=start)
        opts = tf.data.Options()
        # We shard by worker ourselves; auto-sharding would split again.
        opts.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
        ds = ds.with_options(opts)
        return iter(self.strategy.experimental_distribute_dataset(ds))

    # ------------------------------------------------------------------------------------------------
    # Checkpoints.
    # ------------------------------------------------------------------------------------------------
    def state_is_finite(self) -> bool:
        if self._finite_fn is None:
            variables = self.G.weights + self.D.weights + self.G_ema.weights + [self.pl_mean]

            @tf.function
            def finite():
                return tf.reduce_all([tf.reduce_all(tf.math.is_finite(tf.convert_to_tensor(v))) for v in variables])
            self._finite_fn = finite
        return bool(self._finite_fn().numpy())

    def save_checkpoint(self) -> str:
        """Write a checkpoint of the whole state; refuses a state with non-finite weights."""
        if not self.state_is_finite():
            raise TrainingDivergedError(
                f'the weights are not finite at step {int(self.step.numpy())}; not checkpointing a broken state. '
                f'Last good checkpoint: {self.ckpt.latest or "none"}')
        return self.ckpt.save(int(self.step.numpy()))

    def restore_checkpoint(self, path: str) -> None:
        """Restore the checkpoint at ``path`` (format 1 or 2); a mismatch raises ValueError saying what it is."""
        fmt = checkpoint_format(path)
        if fmt > CHECKPOINT_FORMAT:
            raise ValueError(f'{path} is a format-{fmt} checkpoint, newer than this code (format '
                             f'{CHECKPOINT_FORMAT}); update stylegan2-tf to resume it')
        target = self._legacy_checkpoint if fmt == 1 else self.checkpoint
        if fmt != 1 and self._augment_state:
            # A checkpoint of a run without (adaptive) augmentation, or of older code, restores into this one too: the
            # augmentation state it lacks keeps its start value.
            saved = {name.split('/')[0] for name, _ in tf.train.list_variables(path)}
            present = {k: v for k, v in self._augment_state.items() if k in saved}
            if len(present) < len(self._augment_state):
                target = tf.train.Checkpoint(**self._checkpoint_state, **present)
        try:
            target.restore(path).assert_existing_objects_matched()
            self._iterator = None  # the data position changed
        except (AssertionError, ValueError, tf.errors.OpError) as e:
            hint = ('format 1 names variables by creation order, so it restores only into the same network '
                    'configuration built by the same code; to continue with other settings, fine-tune from a '
                    'network snapshot instead (--resume network-snapshot-*.npz into a new --outdir)'
                    if fmt == 1 else 'the networks or optimizer settings differ from the run that wrote it')
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ValueError(f'{path}: cannot restore this format-{fmt} checkpoint ({first}); {hint}') from None
        if fmt == 1:
            self.format.assign(CHECKPOINT_FORMAT)  # the next save writes format 2

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
        self.restore_checkpoint(resume)
        return resume
