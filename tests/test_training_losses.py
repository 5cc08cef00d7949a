"""Losses, regularizers, lazy-regularization schedule, Adam correction and EMA against closed forms."""

import os

import numpy as np
import pytest

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
import tensorflow as tf  # noqa: E402

from stylegan2_tf.training import ema as ema_lib  # noqa: E402
from stylegan2_tf.training import loss as L  # noqa: E402
from stylegan2_tf.training import schedule  # noqa: E402
from stylegan2_tf.networks import Generator  # noqa: E402


def _tiny_G(name, **kw):
    return Generator(z_dim=8, w_dim=8, img_resolution=8, img_channels=1, mapping_layers=2, fmap_base=32, fmap_max=8,
                     name=name, **kw)


def test_logistic_losses_match_numpy():
    rng = np.random.RandomState(0)
    real = rng.randn(6, 1).astype(np.float32) * 3
    fake = rng.randn(6, 1).astype(np.float32) * 3
    sp = lambda x: np.log1p(np.exp(x))  # noqa: E731
    np.testing.assert_allclose(L.g_nonsaturating_loss(fake).numpy(), sp(-fake[:, 0]), rtol=1e-6)
    np.testing.assert_allclose(L.d_logistic_loss(real, fake).numpy(), sp(fake[:, 0]) + sp(-real[:, 0]), rtol=1e-6)


def test_r1_is_squared_gradient_norm():
    # D(x) = sum(a * x) + 0.5 * sum(x^2): grad_x D = a + x exactly, so R1 = ||a + x||^2 per sample.
    rng = np.random.RandomState(1)
    a = rng.randn(1, 4, 4, 2)
    x = rng.randn(3, 4, 4, 2)
    d_fn = lambda img: tf.reduce_sum(a * img + 0.5 * img ** 2, axis=[1, 2, 3])[:, None]  # noqa: E731
    pen, logits = L.r1_penalty(d_fn, tf.constant(x, tf.float64))
    np.testing.assert_allclose(pen.numpy(), np.sum((a + x) ** 2, axis=(1, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(logits.numpy()[:, 0], np.sum(a * x + 0.5 * x ** 2, axis=(1, 2, 3)), rtol=1e-12)


def test_path_length_matches_finite_difference_jvp():
    # A smooth non-linear "synthesis": ws [N, 2, 3] -> images [N, 4, 4, 1].
    rng = np.random.RandomState(2)
    A = rng.randn(2, 3, 16) * 0.5
    B = rng.randn(16) * 0.1

    def synth_np(ws):
        return np.tanh(np.einsum('nld,ldk->nk', ws, A) + B).reshape(-1, 4, 4, 1)

    def synth_tf(ws):
        return tf.reshape(tf.tanh(tf.einsum('nld,ldk->nk', ws, A) + B), [-1, 4, 4, 1])

    ws = rng.randn(3, 2, 3)
    y = rng.randn(3, 4, 4, 1) / np.sqrt(16)
    lengths, _ = L.path_lengths(synth_tf, tf.constant(ws), noise=tf.constant(y))
    # J^T y via central-difference JVPs: (J^T y)_i = <y, J e_i>, J e_i ~ (g(w + h e_i) - g(w - h e_i)) / 2h.
    h = 1e-6
    jty = np.zeros_like(ws)
    for n in range(3):
        for l in range(2):
            for d in range(3):
                e = np.zeros_like(ws)
                e[n, l, d] = h
                jvp = (synth_np(ws + e) - synth_np(ws - e))[n] / (2 * h)
                jty[n, l, d] = np.sum(y[n] * jvp)
    expect = np.sqrt(np.mean(np.sum(jty ** 2, axis=2), axis=1))
    np.testing.assert_allclose(lengths.numpy(), expect, rtol=1e-7)
    # Penalty with the moving average: mean <- mean + decay * (batch mean - mean); penalty (a - mean)^2.
    new_mean = L.update_pl_mean(tf.constant(0.5, tf.float64), tf.reduce_mean(lengths), 0.01)
    np.testing.assert_allclose(new_mean.numpy(), 0.5 + 0.01 * (expect.mean() - 0.5), rtol=1e-12)
    np.testing.assert_allclose(L.path_length_penalty(lengths, new_mean).numpy(),
                               (expect - new_mean.numpy()) ** 2, rtol=1e-6)
    # The updated mean stays differentiable (both official codes): d/dL_j of mean_i (L_i - m)^2 with
    # m = p + d (mean(L) - p) is 2/n (L_j - m) - 2d/n^2 sum_i (L_i - m).
    p, d = 0.5, 0.3
    lv = tf.Variable(expect)
    with tf.GradientTape() as tape:
        m = L.update_pl_mean(tf.constant(p, tf.float64), tf.reduce_mean(lv), d)
        obj = tf.reduce_mean(L.path_length_penalty(lv, m))
    n, mm = len(expect), p + d * (expect.mean() - p)
    want = 2 / n * (expect - mm) - 2 * d / n ** 2 * np.sum(expect - mm)
    np.testing.assert_allclose(tape.gradient(obj, lv).numpy(), want, rtol=1e-10)
    assert np.abs(want - 2 / n * (expect - mm)).max() > 1e-3  # a detached mean would give a different gradient
    # The noise is N(0, 1) / sqrt(H * W).
    noise = L.path_length_noise([64, 16, 16, 3], tf.constant([1, 2])).numpy()
    assert abs(noise.std() * 16 - 1) < 0.01 and abs(noise.mean()) < 0.01 / 16


def test_style_mix_crossover():
    ws = tf.zeros([4, 6, 2])
    ws2 = tf.ones([4, 6, 2])
    counts = np.zeros(7)
    for s in range(400):
        out = L.style_mix(ws, ws2, 0.9, tf.constant([3, s])).numpy()
        cut = int(np.sum(out[0, :, 0] == 0))
        # Layers < cutoff from ws, >= cutoff from ws2; the same cutoff for the whole batch.
        np.testing.assert_array_equal(out[:, :cut], 0)
        np.testing.assert_array_equal(out[:, cut:], 1)
        counts[cut] += 1
    assert counts[0] == 0  # crossover in [1, num_ws)
    # P(no mixing) = 0.1 -> cut == 6 about 10% (+ mixing never draws 6); binomial 3-sigma bounds.
    assert 40 - 3 * 6 <= counts[6] <= 40 + 3 * 6
    assert np.all(counts[1:6] > 40)
    np.testing.assert_array_equal(L.style_mix(ws, ws2, 0.0, tf.constant([0, 0])).numpy(), 0)


def test_phases_lazy_and_not_lazy():
    P = schedule.Phase
    lazy = schedule.make_phases(4, 2.0, 16, 10.0)
    assert lazy == [P('Gmain', 'G', ('main',)), P('Greg', 'G', ('reg',), 4, 4), P('Dmain', 'D', ('main',)),
                    P('Dreg', 'D', ('reg',), 16, 16)]
    assert [s for s in range(33) if lazy[3].runs_at(s)] == [0, 16, 32]
    assert [s for s in range(9) if lazy[1].runs_at(s)] == [0, 4, 8]
    # Interval 1: the regularizer joins the main phase (TF1 lazy_regularization=False; configs A and B).
    assert schedule.make_phases(1, 2.0, 1, 10.0) == [P('Gboth', 'G', ('main', 'reg')), P('Dboth', 'D', ('main', 'reg'))]
    # Weight 0 drops the regularization phase (the Adam correction still applies: see the trainer tests).
    assert [p.name for p in schedule.make_phases(4, 0.0, 16, 0.0)] == ['Gmain', 'Dmain']
    assert [p.name for p in schedule.make_phases(1, 0.0, 1, 10.0)] == ['Gmain', 'Dboth']
    with pytest.raises(ValueError, match='interval must be >= 1'):
        schedule.make_phases(0, 2.0, 16, 10.0)
    with pytest.raises(ValueError, match='terms'):
        P('X', 'G', ('bogus',))


def test_lazy_schedule_and_adam_correction():
    s = schedule.corrected_adam(0.002, (0.0, 0.99), 1e-8, 16)
    c = 16 / 17
    assert s.mb_ratio == pytest.approx(c, rel=1e-15)
    assert s.learning_rate == pytest.approx(0.002 * c, rel=1e-15)
    assert s.beta_1 == 0.0 and s.beta_2 == pytest.approx(0.99 ** c, rel=1e-15)
    s4 = schedule.corrected_adam(0.0025, (0.5, 0.99), 1e-8, 4)
    assert (s4.learning_rate, s4.beta_1, s4.beta_2) == pytest.approx((0.0025 * 0.8, 0.5 ** 0.8, 0.99 ** 0.8))
    s1 = schedule.corrected_adam(0.002, (0.0, 0.99), 1e-8, None)
    assert (s1.learning_rate, s1.beta_2) == (0.002, 0.99)
    # The Keras optimizer built from the settings takes one Adam step exactly as the formula says.
    opt = schedule.make_adam(s4, 'adam')
    v = tf.Variable([1.0, -2.0])
    opt.build([v])
    g = np.array([0.3, -0.1], np.float32)
    opt.apply_gradients([(tf.constant(g), v)])
    b1, b2, lr = s4.beta_1, s4.beta_2, s4.learning_rate
    m = (1 - b1) * g
    vv = (1 - b2) * g ** 2
    alpha = lr * np.sqrt(1 - b2) / (1 - b1)
    np.testing.assert_allclose(v.numpy(), np.array([1.0, -2.0]) - alpha * m / (np.sqrt(vv) + 1e-8), rtol=1e-6)
    with pytest.raises(ValueError, match='betas'):
        schedule.corrected_adam(0.002, (0.0, 1.5), 1e-8, 4)


def test_ema_beta_and_update():
    assert schedule.ema_beta(32, 10.0) == pytest.approx(0.5 ** (32 / 10000), rel=1e-15)
    # Half-life: after 10 kimg at batch 32 the old weights weigh 1/2.
    assert schedule.ema_beta(32, 10.0) ** (10000 / 32) == pytest.approx(0.5, rel=1e-12)
    assert schedule.ema_beta(32, 10.0, cur_nimg=1000, rampup=0.05) == pytest.approx(0.5 ** (32 / 50), rel=1e-15)
    assert schedule.ema_beta(32, 10.0, cur_nimg=10 ** 7, rampup=0.05) == pytest.approx(0.5 ** (32 / 10000))
    G = _tiny_G('G')
    G_ema = _tiny_G('G_ema')
    for v in G.trainable_weights:  # make G and G_ema differ
        v.assign(v + 0.1)
    pairs = ema_lib.paired_variables(G, G_ema)
    before = {id(b): b.numpy().copy() for _, b, _ in pairs}
    beta = 0.75
    ema_lib.update_ema(pairs, beta)
    n_trainable = 0
    for a, b, trainable in pairs:
        if trainable:
            n_trainable += 1
            np.testing.assert_allclose(b.numpy(), a.numpy() + (before[id(b)] - a.numpy()) * beta, rtol=1e-6, atol=1e-7)
        else:  # w_avg and noise buffers are copied
            np.testing.assert_array_equal(b.numpy(), a.numpy())
    assert n_trainable == len(G.trainable_weights) and len(pairs) > n_trainable
    with pytest.raises(ValueError, match='models differ'):
        ema_lib.paired_variables(G, Generator(z_dim=8, w_dim=8, img_resolution=16, img_channels=1, mapping_layers=2,
                                                fmap_base=32, fmap_max=8, name='G2'))
