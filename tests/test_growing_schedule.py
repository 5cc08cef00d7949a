"""Progressive growing: the level-of-detail schedule against the official formulas, the optimizer-reset rule, and
the fading of real images against a numpy statement of the official FadeLOD/UpscaleLOD."""

import os

import numpy as np
import pytest

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
import tensorflow as tf  # noqa: E402

from stylegan2_tf.training import growing  # noqa: E402
from stylegan2_tf.training.config import TrainConfig, parse_resolution_dict  # noqa: E402

# NVlabs/stylegan2 run_training.py, configs A-D.
PAPER = growing.GrowingConfig(initial_resolution=8, training_kimg=600, transition_kimg=600,
                              batch_dict={8: 256, 16: 128, 32: 64, 64: 32},
                              g_lr_dict={128: 0.0015, 256: 0.002, 512: 0.003, 1024: 0.003},
                              d_lr_dict={128: 0.0015, 256: 0.002, 512: 0.003, 1024: 0.003})


def _official_lod(kimg, res_log2=10, initial_log2=3, train=600.0, trans=600.0):
    """The official lod, written out phase by phase: stable `train` kimg, then a linear fade over `trans` kimg."""
    lod = res_log2 - initial_log2
    t = kimg
    while lod > 0:
        if t < train:
            return float(lod)
        if t < train + trans:
            return lod - (t - train) / trans
        t -= train + trans
        lod -= 1
    return 0.0


@pytest.mark.parametrize('kimg,lod,res,batch,lr', [
    (0, 7.0, 8, 256, 0.001), (599.9, 7.0, 8, 256, 0.001), (900, 6.5, 16, 128, 0.001), (1200, 6.0, 16, 128, 0.001),
    (2100, 5.5, 32, 64, 0.001), (3300, 4.5, 64, 32, 0.001), (4500, 3.5, 128, 32, 0.0015),
    (5700, 2.5, 256, 32, 0.002), (6900, 1.5, 512, 32, 0.003), (8100, 0.5, 1024, 32, 0.003),
    (8400, 0.0, 1024, 32, 0.003), (25000, 0.0, 1024, 32, 0.003)])
def test_schedule_of_configs_a_to_d_at_1024(kimg, lod, res, batch, lr):
    s = growing.training_schedule(int(kimg * 1000), 1024, 32, 0.001, 0.001, PAPER)
    assert s.lod == pytest.approx(lod, abs=1e-9) and s.lod == pytest.approx(_official_lod(kimg), abs=1e-9)
    assert (s.resolution, s.batch) == (res, batch)
    assert s.g_lr == pytest.approx(lr) and s.d_lr == pytest.approx(lr)


def test_schedule_fade_alpha_and_without_growing():
    cfg = growing.GrowingConfig(initial_resolution=8, training_kimg=10, transition_kimg=20)
    for kimg in np.linspace(0, 80, 161):
        s = growing.training_schedule(int(round(kimg * 1000)), 32, 16, 0.004, 0.002, cfg)
        assert s.lod == pytest.approx(_official_lod(kimg, 5, 3, 10, 20), abs=1e-9), kimg
        assert s.resolution == 2 ** (5 - int(np.floor(s.lod)))
    assert growing.training_schedule(45000, 32, 16, 0.004, 0.002, cfg).lod == pytest.approx(0.75)  # 15/20 into fade 2
    flat = growing.training_schedule(123456, 32, 16, 0.004, 0.002, None)
    assert (flat.lod, flat.resolution, flat.batch, flat.g_lr, flat.d_lr) == (0.0, 32, 16, 0.004, 0.002)


def test_optimizer_reset_rule():
    # Official: reset when floor(lod) or ceil(lod) changes, i.e. when a fade starts and when it ends.
    assert growing.lod_changed(None, 2.0)
    assert not growing.lod_changed(2.0, 2.0)
    assert growing.lod_changed(2.0, 1.99)       # fade starts
    assert not growing.lod_changed(1.99, 1.5)   # inside the fade
    assert growing.lod_changed(1.01, 1.0)       # fade ends
    assert not growing.lod_changed(1.0, 1.0)


def _numpy_process_reals(x_u8, lod):
    """The official pipeline: per-resolution TFRecord (2x2 box means in float, rounded to uint8), then FadeLOD (lerp
    towards the 2x2 box average by lod - floor(lod)) and UpscaleLOD (nearest by 2^floor(lod)), in NHWC."""
    x = x_u8.astype(np.float64)
    level = int(np.floor(lod))
    for _ in range(level):
        x = (x[:, 0::2, 0::2] + x[:, 0::2, 1::2] + x[:, 1::2, 0::2] + x[:, 1::2, 1::2]) * 0.25
    x = np.rint(x) / 127.5 - 1.0
    n, h, w, c = x.shape
    y = x.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4)).repeat(2, axis=1).repeat(2, axis=2)
    x = x + (y - x) * (lod - np.floor(lod))
    f = 2 ** level
    return x.repeat(f, axis=1).repeat(f, axis=2)


@pytest.mark.parametrize('lod', [0.0, 0.25, 1.0, 1.6, 2.0, 2.5])
def test_process_reals_matches_the_official_pipeline(lod):
    x = np.random.RandomState(int(lod * 10)).randint(0, 256, (3, 16, 16, 2), dtype=np.uint8)
    got = growing.process_reals(tf.constant(x), tf.constant(lod, tf.float32)).numpy()
    assert got.shape == x.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, _numpy_process_reals(x, lod), rtol=0, atol=2e-6)
    if lod == 0:
        np.testing.assert_array_equal(got, x.astype(np.float32) / 127.5 - 1)


def test_growing_flags_are_checked():
    assert parse_resolution_dict('8:256,16:128', int) == {8: 256, 16: 128}
    for bad, msg in (('8:256,12:4', 'not a power of two'), ('8=256', 'RES:VALUE'), ('8:0', 'must be > 0')):
        with pytest.raises(ValueError, match=msg):
            TrainConfig(batch_dict=bad).validate()
    with pytest.raises(ValueError, match='power of two in'):
        growing.growing_config(TrainConfig(lod_initial_resolution=64)).validate(32)
    assert growing.growing_config(TrainConfig()) is None


def test_growing_trainer_follows_the_schedule_on_config_a_networks(tmp_path):
    """A few steps of config A's networks (G_style, D_basic) growing 4x4 -> 8x8, against the schedule stated here:
    lod, batch and learning rate per step, Adam reset when the fade starts and ends, lod in G, D and G_ema, and the
    8x8 layers untouched (zero gradients, zero Adam steps) while lod is 1."""
    import keras
    from stylegan2_tf.data import ArrayImageDataset
    from stylegan2_tf.networks import Generator, GrowingDiscriminator
    from stylegan2_tf.training.trainer import Trainer
    keras.utils.set_random_seed(0)
    rng = np.random.RandomState(0)
    ds = ArrayImageDataset(rng.randint(0, 256, (32, 8, 8, 1), dtype=np.uint8), name='toy')
    net = dict(img_resolution=8, img_channels=1, fmap_base=32, fmap_max=8, architecture='stylegan1')
    # 8 images at lod 1 (batch 4 at 4x4), a fade over 8 images (batch 2 at 8x8), then lod 0; schedule every 2 steps.
    cfg = TrainConfig(batch=2, batch_dict='4:4', g_lr=0.01, d_lr=0.02, g_lr_dict='8:0.005', lod_initial_resolution=4,
                      lod_training_kimg=0.008, lod_transition_kimg=0.008, minibatch_repeats=2, pl_weight=0,
                      g_reg_interval=1, d_reg_interval=1, gamma=1, total_kimg=1, ema_kimg=0.01)
    t = Trainer(tf.distribute.get_strategy(),
                lambda: Generator(z_dim=8, w_dim=8, mapping_layers=1, structure='growing', name='G', **net),
                lambda: GrowingDiscriminator(mbstd_group_size=2, name='D', **net), ds, str(tmp_path), cfg)
    assert [p.name for p in t.phases] == ['Gmain', 'Dboth']  # config A: no path length, R1 not lazy
    fine_g = [v for v in t.G.trainable_weights if v.path.startswith(('synthesis/b8_', 'synthesis/torgb_lod0'))]
    fine_d = [v for v in t.D.trainable_weights if v.path.startswith(('b8_', 'fromrgb_lod0'))]
    assert len(fine_g) == 12 and len(fine_d) == 6
    start = [v.numpy().copy() for v in fine_g + fine_d]
    nimg, group_nimg, prev_lod = 0, 0, None
    for step in range(10):
        if step % 2 == 0:
            group_nimg = nimg
        kimg = group_nimg / 1000
        lod = 1.0 if kimg < 0.008 else max(0.0, 1.0 - (kimg - 0.008) / 0.008)
        batch, g_lr = (4, 0.01) if lod >= 1 else (2, 0.005)
        reset = prev_lod is None or np.floor(lod) != np.floor(prev_lod) or np.ceil(lod) != np.ceil(prev_lod)
        iterations = 0 if reset else int(t.G_opt.iterations.numpy())
        stats = t.train_step()
        prev_lod = lod
        nimg += batch
        assert (stats['Progress/lod'], stats['Progress/minibatch'], stats['Progress/G_lrate']) == \
            pytest.approx((lod, batch, g_lr)), step
        assert int(t.nimg.numpy()) == nimg
        assert float(t.G_opt.learning_rate.numpy()) == pytest.approx(g_lr) and \
            float(t.D_opt.learning_rate.numpy()) == pytest.approx(0.02)
        assert int(t.G_opt.iterations.numpy()) == iterations + 1 == int(t.D_opt.iterations.numpy()), step
        for v in (t.G.synthesis.lod, t.D.lod, t.G_ema.synthesis.lod):
            assert float(v.numpy()) == pytest.approx(lod)
        if lod >= 1:
            for v, v0 in zip(fine_g + fine_d, start):
                np.testing.assert_array_equal(v.numpy(), v0, err_msg=v.path)
        assert np.isfinite(stats['Loss/G/loss']) and np.isfinite(stats['Loss/D/loss'])
    assert prev_lod == 0.0
    moved = [v.path for v, v0 in zip(fine_g + fine_d, start) if np.abs(v.numpy() - v0).max() > 0]
    assert len(moved) == len(start), moved
