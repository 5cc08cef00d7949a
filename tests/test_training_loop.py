"""The training loop on the real (tiny) StyleGAN2 networks: replicas and workers against one device, resume, crashes.

Device layout and TF_CONFIG must be set before TensorFlow starts, so each configuration runs in a fresh subprocess
executing this file as a script (``python test_training_loop.py MODE OUTDIR ...``).

What "the same run" means across replica layouts: every random number of a step (latents, mixing, per-pixel noise,
the generator's labels, path-length directions) is drawn for the global batch and split by rows, and gradients are
summed over replicas, so one device and several compute the same step. The one legitimate difference is D's
minibatch-stddev layer: its groups are formed per replica (as in NVIDIA's multi-GPU runs), so with groups of more
than one sample the statistics, and then everything, differ. The equality tests therefore use mbstd groups of 1
(the layer still runs); ``test_mirrored_mbstd_groups_are_per_replica_and_ada_counts_all_replicas`` shows the
difference and checks what must still agree. The multi-worker test uses a dataset of one global batch, so that
the two workers' disjoint shards together hold exactly the images of the single-device batch.
"""

import hashlib
import json
import os
import socket
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BATCH = 8


def _env(**extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''),
               CUDA_VISIBLE_DEVICES='-1')
    env.pop('TF_CONFIG', None)
    env.update(extra)
    return env


def _run(args, timeout=400, **env):
    p = subprocess.run([sys.executable, os.path.abspath(__file__)] + [str(a) for a in args], env=_env(**env),
                       capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, f'worker {args} failed:\n{p.stdout[-3000:]}\n{p.stderr[-5000:]}'
    return p


def _run_together(*arg_lists, timeout=400):
    """_run for independent runs, started side by side: each is mostly single-threaded tracing, so two share the 2
    cores with little loss (the suite's time budget)."""
    procs = [subprocess.Popen([sys.executable, os.path.abspath(__file__)] + [str(a) for a in args], env=_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for args in arg_lists]
    try:
        outs = [p.communicate(timeout=timeout) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for args, p, (o, e) in zip(arg_lists, procs, outs):
        assert p.returncode == 0, f'worker {args} failed:\n{o[-3000:]}\n{e[-5000:]}'


def _load(path):
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def _assert_same(a, b, exact, rtol=1e-4, atol=1e-6, skip=()):
    assert sorted(a) == sorted(b)
    for k in a:
        if k in skip:
            continue
        if exact:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
        else:
            np.testing.assert_allclose(a[k], b[k], rtol=rtol, atol=atol, err_msg=k)


def _args(outdir, num_devices=1, steps=3, tag='', mode='', max_steps='', mbstd=1, n_images=40):
    return ['train', outdir, num_devices, steps, tag or '-', mode or '-', max_steps or '-', mbstd, n_images]


def test_mirrored_two_cpus_equals_single_device(tmp_path):
    _run_together(_args(tmp_path / 'one', 1), _args(tmp_path / 'two', 2))
    one, two = _load(tmp_path / 'one' / 'weights.npz'), _load(tmp_path / 'two' / 'weights.npz')
    assert two['num_replicas'] == 2 and one['num_replicas'] == 1
    # The weights moved (every phase ran: steps 0..2 with Greg every 2 and Dreg every 3), and identically.
    init = _load(tmp_path / 'one' / 'init.npz')
    moved = [k for k in one if k.startswith(('G/', 'D/')) and np.abs(one[k] - init[k]).max() > 1e-4]
    assert len(moved) > 20, moved
    assert one['pl_mean'] > 0 and np.abs(one['G/mapping/w_avg']).max() > 0
    np.testing.assert_array_equal(one['batches'], two['batches'])
    _assert_same(one, two, exact=False, skip=('num_replicas', 'batches'))


def test_mirrored_mbstd_groups_are_per_replica_and_ada_counts_all_replicas(tmp_path):
    # One pair of runs (1 device, 2 replicas) checks two things that only show under MirroredStrategy.
    # mbstd groups of 4: on one device the 8 samples form 2 strided groups; on 2 replicas each replica's 4 samples
    # form one group. D's outputs differ, hence the weights; counters, data and the generator's inputs do not.
    _run_together(_args(tmp_path / 'one', 1, steps=3, mbstd=4, mode='ada'),
                  _args(tmp_path / 'two', 2, steps=3, mbstd=4, mode='ada'))
    one, two = _load(tmp_path / 'one' / 'weights.npz'), _load(tmp_path / 'two' / 'weights.npz')
    for k in ('step', 'nimg', 'batches'):
        np.testing.assert_array_equal(one[k], two[k], err_msg=k)
    assert max(np.abs(one[k] - two[k]).max() for k in one if k.startswith('D/')) > 1e-6
    for k in one:
        if k != 'batches':  # batch digests are strings
            assert np.all(np.isfinite(one[k])) and np.all(np.isfinite(two[k])), k
    # ADA: each step's r_t counts the real logits of both replicas (8 per D pass, 16 when R1 runs, as on one
    # device), and p follows the controller's rule from it after every step (ada_interval 1).
    for rec in (_load(tmp_path / 'one' / 'ada.npz'), _load(tmp_path / 'two' / 'ada.npz')):
        np.testing.assert_array_equal(rec['count'], [2 * BATCH, BATCH, BATCH])     # Dreg every 3 steps: step 0
        p = ADA['p']
        for rt, p_after in zip(rec['rt'], rec['p']):
            assert -1 <= rt <= 1 and rt * BATCH == round(rt * BATCH)
            p = max(p + np.sign(rt - ADA['target']) * BATCH / (ADA['ada_kimg'] * 1000), 0)
            assert abs(p_after - p) < 1e-6, (rec['rt'], rec['p'])


def _free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(('127.0.0.1', 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def test_multi_worker_equals_single_device(tmp_path):
    ports = _free_ports(2)
    cluster = {'worker': [f'127.0.0.1:{p}' for p in ports]}
    procs = []
    for i in range(2):
        tf_config = json.dumps({'cluster': cluster, 'task': {'type': 'worker', 'index': i}})
        procs.append(subprocess.Popen(
            [sys.executable, os.path.abspath(__file__)] + [str(a) for a in _args(tmp_path / 'run', 0, tag=f'w{i}',
                                                                                 n_images=BATCH)],
            env=_env(TF_CONFIG=tf_config), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=500) for p in procs]
    for p, (o, e) in zip(procs, outs):
        assert p.returncode == 0, f'{o[-2000:]}\n{e[-5000:]}'
    _run(_args(tmp_path / 'single', 1, n_images=BATCH))
    w0, w1 = _load(tmp_path / 'run' / 'weights_w0.npz'), _load(tmp_path / 'run' / 'weights_w1.npz')
    single = _load(tmp_path / 'single' / 'weights.npz')
    assert w0['num_replicas'] == 2 and w0['step'] == 3
    skip = ('num_replicas', 'batches')  # each worker reads only its shard
    _assert_same(w0, w1, exact=True, skip=skip)
    _assert_same(w0, single, exact=False, skip=skip)
    # Only the chief wrote checkpoints into the run directory.
    assert os.path.isfile(tmp_path / 'run' / 'checkpoints' / 'checkpoint')


def test_interrupt_and_resume_equals_uninterrupted(tmp_path):
    # 4 steps, checkpoint every 2 steps (tick = 2 * BATCH images). The interrupted run stops after 3 steps (its last
    # checkpoint is at step 2) and is resumed with --resume auto. Op determinism on: equal bit for bit. The run
    # augments D's inputs with ADA adjusting p after every step (--ada_interval 1, a fast --ada_kimg), so the
    # augmentation draws, p and the controller's running sums resume exactly too.
    _run_together(_args(tmp_path / 'full', 1, 4, mode='exact-ada'),
                  _args(tmp_path / 'part', 1, 4, mode='exact-ada', max_steps=3))
    assert os.path.isfile(tmp_path / 'part' / 'checkpoints' / 'ckpt-2.index')
    assert not os.path.exists(tmp_path / 'part' / 'weights.npz')
    # A checkpoint that was being written when the process died (files, but not in the state file).
    with open(tmp_path / 'part' / 'checkpoints' / 'ckpt-3.index', 'wb') as f:
        f.write(b'partial')
    p = _run(_args(tmp_path / 'part', 1, 4, mode='exact-ada'))
    assert 'resumed from' in p.stdout and 'ckpt-2' in p.stdout
    assert not os.path.exists(tmp_path / 'part' / 'checkpoints' / 'ckpt-3.index')  # cleaned up
    full, part = _load(tmp_path / 'full' / 'weights.npz'), _load(tmp_path / 'part' / 'weights.npz')
    assert full['step'] == 4 and part['step'] == 4
    assert abs(float(full['augment_p']) - ADA['p']) > 0.1    # p moved (by 0.08 per step)
    _assert_same(full, part, exact=True, skip=('batches',))
    # Grids and logs were written.
    for name in ('reals.png', 'fakes_init.png', 'fakes000000.png', 'stats.jsonl', 'log.txt', 'training_options.json'):
        assert os.path.isfile(tmp_path / 'full' / name), name
    assert any(f.startswith('events') for f in os.listdir(tmp_path / 'full' / 'tensorboard'))


def test_resume_without_determinism_continues_the_state(tmp_path):
    # Without op determinism the resumed run is not promised to be bit-exact, but everything it restores is: the
    # state right after restoring equals the state saved at the checkpoint (kimg, pl_mean, optimizer moments, EMA,
    # w_avg), and it reads on from the same data position.
    _run_together(_args(tmp_path / 'full', 1, 4), _args(tmp_path / 'part', 1, 4, max_steps=3))
    saved = _load(tmp_path / 'part' / 'saved-2.npz')
    _run(_args(tmp_path / 'part', 1, 4))
    restored = _load(tmp_path / 'part' / 'restored.npz')
    assert restored['step'] == 2 and restored['nimg'] == 2 * BATCH and restored['pl_mean'] > 0
    _assert_same(saved, restored, exact=True, skip=('batches',))
    assert any(k.startswith('G_opt/') and np.abs(v).max() > 0 for k, v in restored.items())
    full, part = _load(tmp_path / 'full' / 'weights.npz'), _load(tmp_path / 'part' / 'weights.npz')
    # Step s read the same images in both runs (digests of each step's real batch).
    np.testing.assert_array_equal(full['batches'][2:], part['batches'])
    _assert_same(full, part, exact=False, rtol=1e-3, atol=1e-5, skip=('batches',))


def test_growing_resume_mid_fade_equals_uninterrupted(tmp_path):
    # Growing 8x8 -> 16x16: lod 1 (batch 8) for 16 images, then a fade over 48 images at batch 4 (lod 1 -> 0), then
    # lod 0, to 80 images; the schedule is re-evaluated every 3 steps, ticks (and checkpoints) every 8 images. The
    # interrupted run stops after 7 steps; its last checkpoint lies inside the fade and inside a 3-step group.
    _run_together(_args(tmp_path / 'full', 1, 0, mode='exact-grow'),
                  _args(tmp_path / 'part', 1, 0, mode='exact-grow', max_steps=7))
    saved = sorted((f for f in os.listdir(tmp_path / 'part') if f.startswith('saved-')), key=lambda f: int(f[6:-4]))
    last = _load(tmp_path / 'part' / saved[-1])
    lod = float(last['G/synthesis/lod'])
    assert 0 < lod < 1 and int(last['step']) % 3 != 0, (saved[-1], lod, last['step'])
    p = _run(_args(tmp_path / 'part', 1, 0, mode='exact-grow'))
    assert 'resumed from' in p.stdout
    full, part = _load(tmp_path / 'full' / 'weights.npz'), _load(tmp_path / 'part' / 'weights.npz')
    assert int(full['nimg']) == 80 and float(full['G/synthesis/lod']) == 0.0
    _assert_same(full, part, exact=True, skip=('batches',))
    np.testing.assert_array_equal(full['batches'][-len(part['batches']):], part['batches'])
    # The progress lines show the fade: lod 1 at 8x8 with batch 8, fractional lods at batch 4, then lod 0.
    log = open(tmp_path / 'full' / 'log.txt').read()
    assert 'lod 1.00  minibatch 8' in log and 'lod 0.00  minibatch 4' in log, log
    assert any(f'lod 0.{d}' in log for d in range(1, 10)), log


def test_corrupt_latest_checkpoint_falls_back_and_nan_guard(tmp_path):
    p = _run(['nan', tmp_path / 'nan'])
    assert 'NAN-GUARD-OK' in p.stdout, p.stdout + p.stderr


# ------------------------------------------------------------------------------------------------------
# Worker side.
# ------------------------------------------------------------------------------------------------------

ADA = dict(aug='ada', p=0.5, target=0.6, ada_interval=1, ada_kimg=0.1)


def _worker_setup(num_devices, deterministic):
    import tensorflow as tf
    from stylegan2_tf.training.distribute import make_strategy
    strategy = make_strategy(int(num_devices))
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    import keras
    keras.utils.set_random_seed(0)
    return strategy


def _trainer(strategy, outdir, max_steps=None, total_steps=6, mbstd=1, n_images=40, growing=False, **cfg_kw):
    from stylegan2_tf.data import ArrayImageDataset
    from stylegan2_tf.networks import Discriminator, Generator, GrowingDiscriminator
    from stylegan2_tf.training.config import TrainConfig
    from stylegan2_tf.training.trainer import Trainer
    rng = np.random.RandomState(0)
    res = 16 if growing else 8
    ds = ArrayImageDataset(rng.randint(0, 256, (n_images, res, res, 1), dtype=np.uint8), rng.randint(0, 3, n_images),
                           label_dim=3, name='toy')
    kw = dict(batch=BATCH, total_kimg=total_steps * BATCH / 1000, kimg_per_tick=2 * BATCH / 1000, snap=2, ckpt_ticks=1,
              g_reg_interval=2, d_reg_interval=3, grid=(4, 2), max_steps=max_steps, ema_kimg=0.05,
              g_lr=0.01, d_lr=0.01)
    if growing:
        # GROWING_SCHEDULE (see test_growing_resume_mid_fade_equals_uninterrupted), batch 8 at 8x8 and 4 at 16x16.
        kw.update(batch=4, batch_dict='8:8', lod_initial_resolution=8, lod_training_kimg=0.016,
                  lod_transition_kimg=0.048, minibatch_repeats=3, total_kimg=0.08, kimg_per_tick=0.008,
                  g_reg_interval=2, d_reg_interval=2)  # few step variants to trace
    kw.update(cfg_kw)
    net = dict(img_resolution=res, img_channels=1, c_dim=3, fmap_base=32, fmap_max=8)
    if growing:
        return Trainer(strategy,
                       lambda: Generator(z_dim=8, w_dim=8, mapping_layers=2, structure='growing', architecture='orig',
                                         name='G', **net),
                       lambda: GrowingDiscriminator(mbstd_group_size=int(mbstd), architecture='orig', name='D', **net),
                       ds, str(outdir), TrainConfig(**kw))
    return Trainer(strategy,
                   lambda: Generator(z_dim=8, w_dim=8, mapping_layers=2, name='G', **net),
                   lambda: Discriminator(mbstd_group_size=int(mbstd), name='D', **net),
                   ds, str(outdir), TrainConfig(**kw))


def _state(trainer, batches=()):
    out = {'step': np.array(int(trainer.step.numpy())), 'nimg': np.array(int(trainer.nimg.numpy())),
           'pl_mean': np.array(float(trainer.pl_mean.numpy())), 'num_replicas': np.array(trainer.num_replicas),
           'batches': np.array(list(batches), dtype='<U64')}
    for key, net in (('G', trainer.G), ('D', trainer.D), ('G_ema', trainer.G_ema)):
        for v in net.weights:
            out[f'{key}/{v.path}'] = np.asarray(v.numpy())
    for key, opt in (('G_opt', trainer.G_opt), ('D_opt', trainer.D_opt)):
        for v in opt.variables:
            out[f'{key}/{v.path}'] = np.asarray(v.numpy())
    if trainer.augment_pipe is not None:
        out['augment_p'] = np.array(float(trainer.augment_pipe.p.numpy()))
    if trainer.ada is not None:
        out.update({f'ada_{k}': np.array(float(v.numpy())) for k, v in trainer.ada.variables().items()})
    return out


def _record(trainer, outdir):
    """Instrument the trainer: digest of each step's real batch; state dumps at each save and after a restore."""
    batches = []
    next_batch, save, restore = trainer._next_batch, trainer.save_checkpoint, trainer.restore

    def recorded_next_batch(batch_size):
        batch = next_batch(batch_size)
        reals = np.concatenate([x.numpy() for x in trainer.strategy.experimental_local_results(batch[0])])
        batches.append(hashlib.sha256(reals.tobytes()).hexdigest())
        return batch

    def save_checkpoint():
        path = save()
        if trainer.is_chief:
            np.savez(os.path.join(outdir, f'saved-{int(trainer.step.numpy())}.npz'), **_state(trainer))
        return path

    def do_restore(resume):
        got = restore(resume)
        if got is not None:
            np.savez(os.path.join(outdir, 'restored.npz'), **_state(trainer))
        return got
    trainer._next_batch, trainer.save_checkpoint, trainer.restore = recorded_next_batch, save_checkpoint, do_restore
    return batches


def _worker_train(outdir, num_devices, steps, tag, mode, max_steps, mbstd, n_images):
    from stylegan2_tf.training.loop import training_loop
    tag, mode, max_steps = (None if a == '-' else a for a in (tag, mode, max_steps))
    exact = bool(mode) and mode.startswith('exact')
    strategy = _worker_setup(num_devices, deterministic=exact)
    ada = bool(mode) and mode.endswith('ada')
    trainer = _trainer(strategy, outdir, total_steps=int(steps), max_steps=int(max_steps) if max_steps else None,
                       mbstd=int(mbstd), n_images=int(n_images), exact_resume=exact,
                       growing=bool(mode) and mode.endswith('grow'), **(ADA if ada else {}))
    os.makedirs(outdir, exist_ok=True)
    if not tag and not trainer.ckpt.all_checkpoints():
        np.savez(os.path.join(outdir, 'init.npz'), **_state(trainer))
    batches = _record(trainer, outdir)
    ada_log = {'count': [], 'rt': [], 'p': []}
    if ada:  # the global statistic each step hands the controller, and p after it
        update = trainer._update_augmentation

        def recorded_update(out, step, batch):
            ada_log['count'].append(out.get('ADA/sign_count', 0.0))
            update(out, step, batch)
            ada_log['rt'].append(out['Loss/signs/real'])
            ada_log['p'].append(out['Progress/augment'])
        trainer._update_augmentation = recorded_update
    training_loop(trainer, resume='auto')
    if ada and not max_steps:
        np.savez(os.path.join(outdir, 'ada.npz'), **{k: np.array(v) for k, v in ada_log.items()})
    if max_steps:
        return  # "killed": no final dump
    np.savez(os.path.join(outdir, f'weights{"_" + tag if tag else ""}.npz'), **_state(trainer, batches))


def _worker_nan(outdir):
    import tensorflow as tf
    from stylegan2_tf.training.loop import training_loop
    from stylegan2_tf.training.trainer import TrainingDivergedError
    strategy = _worker_setup(1, False)
    trainer = _trainer(strategy, outdir, total_steps=4)
    training_loop(trainer, resume='auto')  # 4 steps, checkpoints at steps 2 and 4
    ckpts = trainer.ckpt.all_checkpoints()
    assert [os.path.basename(c) for c in ckpts] == ['ckpt-2', 'ckpt-4'], ckpts
    # Corrupt the newest checkpoint's data: a new trainer restores the previous one, with a warning.
    with open(ckpts[-1] + '.data-00000-of-00001', 'r+b') as f:
        f.truncate(8)
    t2 = _trainer(strategy, outdir, total_steps=8, max_bad_steps=2)
    restored = t2.restore('auto')
    assert restored.endswith('ckpt-2') and int(t2.step.numpy()) == 2, restored
    # NaN weights in D: the losses become non-finite; after max_bad_steps (2) consecutive bad steps the run stops.
    it = t2.make_iterator()
    t2.train_step(next(it))
    t2.D.weights[0].assign(tf.fill(t2.D.weights[0].shape, np.nan))
    assert t2.train_step(next(it))['Progress/bad_steps'] == 1
    try:
        t2.train_step(next(it))
    except TrainingDivergedError as e:
        msg = str(e)
        assert '2 consecutive steps' in msg and 'Loss/D/loss=nan' in msg and 'ckpt-4' in msg, msg
        print('NAN-GUARD-OK')
        return
    raise AssertionError('no TrainingDivergedError')


if __name__ == '__main__':
    sys.path.insert(0, ROOT)
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == 'train':
        _worker_train(*args)
    elif mode == 'nan':
        _worker_nan(*args)
    else:
        raise SystemExit(f'unknown mode {mode}')
