"""The Trainer's step on the real (tiny) networks: NVIDIA's details, each against an independent statement.

* w_avg is updated by every training-mode mapping call (Gmain, Greg, Dmain) from that call's unmixed w;
* a conditional generator's labels are drawn from the dataset's labels, not copied from the real batch;
* the lazy-regularization Adam correction applies whenever an interval is set, weight 0 included; interval 1
  merges the regularizer into the main phase (one Adam step);
* variables a phase does not reach still take an Adam step with a zero gradient;
* non-finite gradients are zeroed and counted, the run stops after max_bad_steps in a row, and a non-finite state
  is never checkpointed;
* the path-length objective differentiates through the updated pl_mean;
* checkpoints are keyed by layer paths, and a checkpoint of the previous format (creation-order names) restores.
"""

import os

import numpy as np
import pytest

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from stylegan2_tf.data import ArrayImageDataset  # noqa: E402
from stylegan2_tf.networks import Discriminator, Generator  # noqa: E402
from stylegan2_tf.training import schedule  # noqa: E402
from stylegan2_tf.training import trainer as trainer_lib  # noqa: E402
from stylegan2_tf.training.config import TrainConfig  # noqa: E402
from stylegan2_tf.training.loss import BatchReducer, GenInputs, StyleGAN2Loss  # noqa: E402
from stylegan2_tf.training.trainer import Trainer, TrainingDivergedError  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FORMAT1 = os.path.join(HERE, 'data', 'ckpt_format1')
B = 4


def _trainer(outdir, *, labels=False, phases=None, n=16, g_kw=None, d_kw=None, **cfg_kw):
    keras.utils.set_random_seed(0)
    rng = np.random.RandomState(0)
    ds = ArrayImageDataset(rng.randint(0, 256, (n, 8, 8, 1), dtype=np.uint8),
                           rng.randint(0, 3, n) if labels else None, label_dim=3 if labels else None, name='toy')
    c_dim = 3 if labels else 0
    g_kw = dict(dict(z_dim=8, w_dim=8, mapping_layers=2, fmap_base=32, fmap_max=8), **(g_kw or {}))
    d_kw = dict(dict(fmap_base=32, fmap_max=8), **(d_kw or {}))
    cfg = TrainConfig(**dict(dict(batch=B, total_kimg=1.0, ema_kimg=0.01), **cfg_kw))
    return Trainer(tf.distribute.get_strategy(),
                   lambda: Generator(c_dim=c_dim, img_resolution=8, img_channels=1, name='G', **g_kw),
                   lambda: Discriminator(c_dim=c_dim, img_resolution=8, img_channels=1, name='D', **d_kw),
                   ds, str(outdir), cfg, phases=phases)


def _z(t, step, term, n):
    """The latents the trainer draws for (step, phase term) over a global batch of n."""
    seed = trainer_lib._seed(t.cfg.seed, step, trainer_lib._TERM_IDS[term], trainer_lib._Z)
    return tf.random.stateless_normal([n, t.G.z_dim], seed=seed)


def test_w_avg_updated_by_every_training_mapping_call(tmp_path):
    # A tiny mapping learning-rate multiplier keeps the mapping weights fixed to ~1e-8 over the step, so w_avg can be
    # replayed with the final weights.
    t = _trainer(tmp_path, g_kw=dict(mapping_lr_mul=1e-5))
    assert t.active_phases(0) == ('Gmain', 'Greg', 'Dmain', 'Dreg')
    t.train_step(next(t.make_iterator()))
    beta = t.G.mapping.w_avg_beta
    w = np.zeros(8)
    for term, n in ((('G', 'main'), B), (('G', 'reg'), B // 2), (('D', 'main'), B)):
        mean = t.G.mapping(_z(t, 0, term, n), None, update_w_avg=False).numpy()[:, 0].mean(axis=0)
        w = mean + (w - mean) * beta
        if term == ('G', 'main'):
            only_gmain = w.copy()
    got = t.G.mapping.w_avg.numpy()
    np.testing.assert_allclose(got, w, rtol=1e-5, atol=1e-7)
    assert np.abs(got - only_gmain).max() > 1e-3  # one update per step (the old rule) is clearly different
    np.testing.assert_array_equal(t.G_ema.mapping.w_avg.numpy(), got)  # buffers are copied into G_ema


def test_generator_labels_are_drawn_from_the_dataset(tmp_path):
    t = _trainer(tmp_path, labels=True, n=16)
    seen = [tf.Variable(tf.zeros([n, 3])) for n in (B, B // 2, B)]
    calls = []
    styles = t.loss.styles

    def spy(inputs, *args):
        seen[len(calls)].assign(inputs.c)
        calls.append(1)
        return styles(inputs, *args)
    t.loss.styles = spy
    it = t.make_iterator()
    real_labels = None
    batch = next(it)
    real_labels = batch[1].numpy()
    t.train_step(batch)
    assert len(calls) == 3
    pool = t.dataset.class_labels()
    for var, (term, n) in zip(seen, ((('G', 'main'), B), (('G', 'reg'), B // 2), (('D', 'main'), B))):
        seed = trainer_lib._seed(t.cfg.seed, 0, trainer_lib._TERM_IDS[term], trainer_lib._LABEL)
        idx = tf.random.stateless_uniform([n], seed, 0, len(pool), dtype=tf.int64).numpy()
        np.testing.assert_array_equal(var.numpy(), np.eye(3)[pool[idx]])
    assert not np.array_equal(seen[0].numpy(), real_labels) and not np.array_equal(seen[2].numpy(), real_labels)


def test_dataset_class_labels():
    labels = np.array([2, 0, 1, 1, 2])
    ds = ArrayImageDataset(np.zeros((5, 4, 4, 1), np.uint8), labels, label_dim=3)
    np.testing.assert_array_equal(ds.class_labels(), labels)
    assert ArrayImageDataset(np.zeros((5, 4, 4, 1), np.uint8)).class_labels() is None


def test_adam_correction_with_weight_zero_and_interval_one(tmp_path):
    t = _trainer(tmp_path / 'a', gamma=0.0, pl_weight=0.0)
    assert [p.name for p in t.phases] == ['Gmain', 'Dmain']
    c_d, c_g = 16 / 17, 4 / 5  # as stylegan2-ada: the interval alone sets the correction
    assert float(t.D_opt.learning_rate.numpy()) == pytest.approx(0.002 * c_d, rel=1e-6)
    assert float(t.G_opt.learning_rate.numpy()) == pytest.approx(0.002 * c_g, rel=1e-6)
    assert t.D_opt.beta_2 == pytest.approx(0.99 ** c_d, rel=1e-12)
    # Not lazy: one phase per network, main + regularizer in one Adam step, no correction.
    t1 = _trainer(tmp_path / 'b', g_reg_interval=1, d_reg_interval=1)
    assert [p.name for p in t1.phases] == ['Gboth', 'Dboth']
    assert float(t1.G_opt.learning_rate.numpy()) == pytest.approx(0.002, rel=1e-7) and t1.G_opt.beta_2 == 0.99
    stats = t1.train_step(next(t1.make_iterator()))
    assert int(t1.G_opt.iterations.numpy()) == 1 and int(t1.D_opt.iterations.numpy()) == 1
    for k in ('Loss/G/loss', 'Loss/G/reg', 'Loss/D/loss', 'Loss/D/reg'):
        assert np.isfinite(stats[k]), k
    lazy = _trainer(tmp_path / 'c')
    lazy.train_step(next(lazy.make_iterator()))
    assert int(lazy.G_opt.iterations.numpy()) == 2 and int(lazy.D_opt.iterations.numpy()) == 2


def _momentum(opt, var):
    name = f'{opt.name}/{var.path.replace("/", "_")}_momentum'
    return [v for v in opt.variables if v.path == name][0].numpy()


def test_variables_without_gradient_take_zero_gradient_adam_steps(tmp_path):
    # D's output bias gets no gradient from R1: None through the reference ops, a zero tensor through the compiled
    # bias_act gradient. With beta1 = 0.5 an Adam step on a zero gradient shrinks its momentum by beta1
    # (corrected); skipping the variable (as Keras does for a None gradient) would leave it, and the two
    # implementations would train differently.
    P = schedule.Phase
    ref = dict(impl='ref')
    main_only = _trainer(tmp_path / 'a', beta1=0.5, phases=[P('Dmain', 'D', ('main',))], g_kw=ref, d_kw=ref)
    both = _trainer(tmp_path / 'b', beta1=0.5, phases=[P('Dmain', 'D', ('main',)), P('Dreg', 'D', ('reg',))],
                    g_kw=ref, d_kw=ref)
    both_custom = _trainer(tmp_path / 'c', beta1=0.5, phases=[P('Dmain', 'D', ('main',)), P('Dreg', 'D', ('reg',))])
    batch = next(main_only.make_iterator())
    with tf.GradientTape() as tape:
        o, _ = both.loss.d_reg(tf.cast(batch[0], tf.float32) / 127.5 - 1, None, BatchReducer())
    grads = tape.gradient(o, both.D.trainable_variables)
    unreached = [i for i, g in enumerate(grads) if g is None]
    assert unreached, 'expected D variables that R1 does not reach'
    for t in (main_only, both, both_custom):
        t.train_step(batch)
    b1 = both.D_opt.beta_1
    for i in unreached:
        m1 = _momentum(main_only.D_opt, main_only.D.trainable_variables[i])
        m2 = _momentum(both.D_opt, both.D.trainable_variables[i])
        assert np.abs(m1).max() > 0
        np.testing.assert_allclose(m2, b1 * m1, rtol=1e-5)
    for a, b in zip(both.D.trainable_variables, both_custom.D.trainable_variables):  # ref and compiled ops agree
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-6, err_msg=a.path)


def test_nonfinite_gradients_zeroed_counted_then_stop(tmp_path):
    t = _trainer(tmp_path, max_bad_steps=2)
    poison = tf.Variable(1.0)
    d_main = t.loss.d_main

    def poisoned(*args, **kwargs):
        objective, stats = d_main(*args, **kwargs)
        return objective * poison, stats
    t.loss.d_main = poisoned
    it = t.make_iterator()
    s0 = t.train_step(next(it))
    assert s0['Progress/nonfinite_phases'] == 0 and s0['Progress/bad_steps'] == 0
    before = [v.numpy().copy() for v in t.D.trainable_variables]
    poison.assign(np.nan)
    s1 = t.train_step(next(it))  # step 1: Gmain + Dmain only
    assert s1['Progress/nonfinite_phases'] == 1 and s1['Progress/bad_steps'] == 1
    for b, v in zip(before, t.D.trainable_variables):  # beta1 = 0: a zero gradient leaves the weights
        np.testing.assert_array_equal(v.numpy(), b)
    poison.assign(1.0)
    assert t.train_step(next(it))['Progress/bad_steps'] == 1  # a good step resets the consecutive count
    path = t.save_checkpoint()
    poison.assign(np.nan)
    t.train_step(next(it))
    with pytest.raises(TrainingDivergedError, match=r'2 consecutive steps .*non-finite gradients.*ckpt-3'):
        t.train_step(next(it))
    assert path.endswith('ckpt-3')
    # A non-finite state is never checkpointed.
    t.D.trainable_variables[0].assign(tf.fill(t.D.trainable_variables[0].shape, np.nan))
    with pytest.raises(TrainingDivergedError, match='not checkpointing'):
        t.save_checkpoint()
    assert [os.path.basename(p) for p in t.ckpt.all_checkpoints()] == ['ckpt-3']


class _QuadraticG:
    """A generator with a closed-form path length: ws = tile(z), img = tanh(sum_l ws_l (A_l * theta))."""
    z_dim, c_dim, num_ws, img_resolution, img_channels = 3, 0, 2, 2, 1

    def __init__(self, theta):
        rng = np.random.RandomState(0)
        self.A = tf.constant(rng.randn(2, 3, 4))
        self.theta = theta
        self.mapping = lambda z, c, **kw: tf.tile(z[:, None], [1, 2, 1])

    def synthesis(self, ws, **kw):
        return tf.reshape(tf.tanh(tf.einsum('nld,ldk->nk', ws ** 2, self.A * self.theta)), [-1, 2, 2, 1])


def test_path_length_objective_differentiates_through_pl_mean():
    rng = np.random.RandomState(3)
    theta = tf.Variable(rng.randn(2, 3, 4) * 0.5)
    loss = StyleGAN2Loss(_QuadraticG(theta), None, pl_weight=2.0, pl_decay=0.3, style_mixing_prob=0.0)
    z = tf.constant(rng.randn(5, 3))
    gen = GenInputs(z=z, z2=z, c=None, mix_seed=tf.constant([0, 0]))
    y = tf.constant(rng.randn(5, 2, 2, 1) / 2)
    pl_mean = tf.constant(0.4, tf.float64)

    def objective():
        return loss.g_reg(gen, y, pl_mean, BatchReducer())[0]
    with tf.GradientTape() as tape:
        o = objective()
    grad = tape.gradient(o, theta).numpy()
    numeric = np.zeros_like(grad)
    h = 1e-6
    base = theta.numpy()
    for i in np.ndindex(base.shape):
        for sign in (1, -1):
            e = base.copy()
            e[i] += sign * h
            theta.assign(e)
            numeric[i] += sign * float(objective()) / (2 * h)
    theta.assign(base)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)
    # Detaching the updated mean (the previous behaviour) gives a gradient the finite differences reject.
    from stylegan2_tf.training import loss as L
    with tf.GradientTape() as tape:
        lengths, _ = L.path_lengths(lambda w: loss.synthesize(w, gen), loss.styles(gen), noise=y)
        m = tf.stop_gradient(L.update_pl_mean(pl_mean, tf.reduce_mean(lengths), 0.3))
        detached = tf.reduce_mean(L.path_length_penalty(lengths, m)) * 2.0
    assert np.abs(tape.gradient(detached, theta).numpy() - numeric).max() > 1e-3


def test_checkpoints_are_keyed_by_layer_paths(tmp_path):
    t = _trainer(tmp_path / 'a')
    t.train_step(next(t.make_iterator()))
    path = t.save_checkpoint()
    assert trainer_lib.checkpoint_format(path) == 2
    names = {n.split('/')[2].replace('..', '.') for n, _ in  # '.' is escaped as '..'
             tf.train.list_variables(path) if n.startswith('G/vars/')}
    assert names == {trainer_lib._stable_name(v) for v in t.G.weights}
    assert 'synthesis.const' in names and not any(n.startswith('v0') for n in names)
    t2 = _trainer(tmp_path / 'a')
    assert t2.restore('auto') == path
    for a, b in zip(t.G.weights + t.D.weights + t.G_opt.variables, t2.G.weights + t2.D.weights + t2.G_opt.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert int(t2.step.numpy()) == 1


def _format1_trainer(outdir, **d_kw):
    return _trainer(outdir, d_kw=d_kw, batch=4)


def test_checkpoint_of_format1_restores_and_is_resaved_in_format2(tmp_path):
    # tests/data/ckpt_format1 was written by the Trainer before the rebuild (creation-order names), with these
    # networks, after 2 steps; expected.npz holds its values as that code saw them.
    assert trainer_lib.checkpoint_format(os.path.join(FORMAT1, 'ckpt-2')) == 1
    t = _format1_trainer(tmp_path / 'a')
    t.restore_checkpoint(os.path.join(FORMAT1, 'ckpt-2'))
    with np.load(os.path.join(FORMAT1, 'expected.npz')) as f:
        expected = {k: f[k] for k in f.files}
    assert int(t.step.numpy()) == expected['step'] == 2 and int(t.nimg.numpy()) == expected['nimg']
    assert float(t.pl_mean.numpy()) == pytest.approx(float(expected['pl_mean']), rel=1e-7)
    count = 0
    for key, variables in (('G', t.G.weights), ('D', t.D.weights), ('G_ema', t.G_ema.weights),
                           ('G_opt', t.G_opt.variables), ('D_opt', t.D_opt.variables)):
        for v in variables:
            np.testing.assert_array_equal(np.asarray(v.numpy()), expected[f'{key}:{v.path}'], err_msg=v.path)
            count += 1
    assert count == len([k for k in expected if ':' in k])
    path = t.save_checkpoint()
    assert trainer_lib.checkpoint_format(path) == 2
    # Another network configuration cannot take a format-1 checkpoint: the message says which format and what to do.
    other = _format1_trainer(tmp_path / 'b', fmap_max=16)
    with pytest.raises(ValueError, match=r'format-1 checkpoint.*creation order.*fine-tune from a network snapshot'):
        other.restore_checkpoint(os.path.join(FORMAT1, 'ckpt-2'))
