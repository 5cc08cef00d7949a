"""Training on small datasets: the ADA controller, freeze-D, --subset, the trainer's augmentation state (p in
checkpoints and snapshots, where it starts) and the up-front checks of the flags."""
import json
import os
import warnings

import numpy as np
import pytest
import PIL.Image

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from stylegan2_tf.data import ArrayImageDataset, SubsetDataset, open_dataset  # noqa: E402
from stylegan2_tf.data.dataset import random_subset_indices  # noqa: E402
from stylegan2_tf.networks import Discriminator, Generator  # noqa: E402
from stylegan2_tf.training.ada import AdaController, ada_adjustment  # noqa: E402
from stylegan2_tf.training.config import TrainConfig  # noqa: E402
from stylegan2_tf.training.trainer import Trainer  # noqa: E402


def _trainer(outdir, n=16, augment_p=None, d_kw=None, **cfg_kw):
    keras.utils.set_random_seed(0)
    rng = np.random.RandomState(0)
    ds = ArrayImageDataset(rng.randint(0, 256, (n, 8, 8, 1), dtype=np.uint8), name='toy')
    cfg = TrainConfig(**dict(dict(batch=4, total_kimg=1.0, ema_kimg=0.01), **cfg_kw))
    return Trainer(tf.distribute.get_strategy(),
                   lambda: Generator(z_dim=8, w_dim=8, mapping_layers=2, img_resolution=8, img_channels=1,
                                     fmap_base=32, fmap_max=8, name='G'),
                   lambda: Discriminator(img_resolution=8, img_channels=1, fmap_base=32, fmap_max=8, name='D',
                                         **(d_kw or {})),
                   ds, str(outdir), cfg, augment_p=augment_p)


@pytest.mark.parametrize('kw, message', [
    (dict(aug='fixed'), '--aug=fixed needs --p'),
    (dict(aug='fixed', p=1.5), r'--p must be in \[0, 1\], got 1.5'),
    (dict(aug='ada', p=-0.1), r'--p must be in \[0, 1\]'),
    (dict(augpipe='bgc'), '--augpipe is set but --aug=noaug'),
    (dict(p=0.2), '--p is set but --aug=noaug'),
    (dict(aug='fixed', p=0.2, ada_kimg=100.0), '--ada_kimg applies only to --aug=ada'),
    (dict(aug='ada', target=1.2), r'--target must be in \[0, 1\]'),
    (dict(aug='ada', ada_interval=0), '--ada_interval must be >= 1'),
    (dict(subset=0), '--subset must be >= 1'),
    (dict(freezed=-1), '--freezed must be >= 0'),
])
def test_bad_settings_are_refused_with_one_line(kw, message):
    with pytest.raises(ValueError, match=message) as e:
        TrainConfig(**kw).validate()
    assert '\n' not in str(e.value)


# ------------------------------------------------------------------------------------------------------------------
# The ADA controller.

def test_ada_controller_follows_the_rule():
    p = tf.Variable(0.0)
    ada = AdaController(p, target=0.6, interval=4, ada_kimg=500)
    batch = 32
    step = batch * 4 / 500e3
    assert ada_adjustment(0.7, 0.6, batch, 4, 500) == step and ada_adjustment(0.6, 0.6, batch, 4, 500) == 0
    # r_t is the mean of every sign observed since the last adjustment: below target for the first interval (p stays
    # at its floor 0), then above it for two, then exactly at it (no change).
    expected, signs = [], [(-10.0, 32), (4.0, 32), (20.0, 32), (30.0, 64)] + [(32.0, 32)] * 4 + \
        [(25.0, 32), (25.0, 32), (20.0, 32), (20.0, 32)] + [(19.2, 32)] * 4
    for i, (s, n) in enumerate(signs):
        ada.observe(s, n)
        rt = ada.maybe_adjust(i + 1, batch)
        assert (rt is None) == ((i + 1) % 4 != 0)
        if rt is not None:
            expected.append(float(p.numpy()))
    np.testing.assert_allclose(expected, [0.0, step, 2 * step, 2 * step], rtol=1e-6)
    # float32 arithmetic as upstream's buffer; sums reset after each adjustment.
    assert p.dtype == tf.float32 and float(ada.count.numpy()) == 0
    with pytest.raises(ValueError, match='--ada_kimg must be > 0'):
        AdaController(p, ada_kimg=0)


def test_trainer_builds_the_pipe_and_starts_p(tmp_path):
    assert _trainer(tmp_path / 'a').augment_pipe is None
    assert _trainer(tmp_path / 'b', aug='fixed', p=0.0).augment_pipe is None     # upstream builds no pipe either
    t = _trainer(tmp_path / 'c', aug='fixed', p=0.3, augpipe='bg')
    assert t.ada is None and abs(float(t.augment_pipe.p.numpy()) - 0.3) < 1e-7
    assert t.augment_pipe.enabled == ('xflip', 'rotate90', 'xint', 'scale', 'rotate', 'aniso', 'xfrac')
    t = _trainer(tmp_path / 'd', aug='ada')
    assert float(t.augment_pipe.p.numpy()) == 0 and t.ada.ada_kimg == 500 and len(t.augment_pipe.enabled) == 12
    t = _trainer(tmp_path / 'e', aug='ada', augment_p=0.25)                   # p of the file training starts from
    assert abs(float(t.augment_pipe.p.numpy()) - 0.25) < 1e-7
    t = _trainer(tmp_path / 'f', aug='ada', p=0.1, augment_p=0.25)            # an explicit --p wins
    assert abs(float(t.augment_pipe.p.numpy()) - 0.1) < 1e-7
    meta = t.snapshot_metadata()['augment_pipe']
    assert abs(meta['p'] - 0.1) < 1e-7 and meta['kwargs']['xflip'] == 1 and meta['kwargs']['imgfilter'] == 0
    json.dumps(meta)


def test_ada_state_in_checkpoints(tmp_path):
    # An ada run's checkpoint restores p and the running sums; a checkpoint without augmentation restores into an ada
    # trainer with p at its start value, and an ada checkpoint into a run without augmentation.
    t = _trainer(tmp_path / 'run', aug='ada', p=0.4, ada_interval=3)
    for _ in range(2):
        t.train_step()
    sums = float(t.ada.sign_sum.numpy()), float(t.ada.count.numpy())
    assert sums[1] == 4 * 2 + 4    # two Dmain passes and the R1 pass of step 0
    t.augment_pipe.p.assign(0.45)
    path = t.save_checkpoint()
    t2 = _trainer(tmp_path / 'run', aug='ada', p=0.1, ada_interval=3)
    assert t2.restore('auto') == path
    assert abs(float(t2.augment_pipe.p.numpy()) - 0.45) < 1e-7
    assert (float(t2.ada.sign_sum.numpy()), float(t2.ada.count.numpy())) == sums
    plain = _trainer(tmp_path / 'plain')
    plain.step.assign(5)
    plain_path = plain.save_checkpoint()
    t3 = _trainer(tmp_path / 'other', aug='ada', p=0.2)
    t3.restore_checkpoint(plain_path)
    assert int(t3.step.numpy()) == 5 and abs(float(t3.augment_pipe.p.numpy()) - 0.2) < 1e-7
    t4 = _trainer(tmp_path / 'other2')
    t4.restore_checkpoint(path)
    assert int(t4.step.numpy()) == 2


# ------------------------------------------------------------------------------------------------------------------
# Freeze-D.

@pytest.mark.parametrize('arch, names', [
    ('resnet', ['b32_fromrgb', 'b32_conv0', 'b32_conv1', 'b32_skip', 'b16_conv0', 'b16_conv1', 'b16_skip', 'b8_conv0',
                'b8_conv1', 'b8_skip']),
    ('skip', ['b32_fromrgb', 'b32_conv0', 'b32_conv1', 'b16_fromrgb', 'b16_conv0', 'b16_conv1', 'b8_fromrgb',
              'b8_conv0', 'b8_conv1']),
    ('orig', ['b32_fromrgb', 'b32_conv0', 'b32_conv1', 'b16_conv0', 'b16_conv1', 'b8_conv0', 'b8_conv1']),
])
def test_freeze_d_counts_layers_as_stylegan2_ada_pytorch(arch, names):
    D = Discriminator(img_resolution=32, img_channels=3, fmap_base=64, fmap_max=8, architecture=arch)
    assert [layer.name for layer in D.block_layers()] == names
    D.freeze_layers(4)
    frozen = {v.path.split('/')[0] for v in D.weights} - {v.path.split('/')[0] for v in D.trainable_variables}
    assert frozen == set(names[:4])
    D.freeze_layers(0)
    assert len(D.trainable_variables) == len(D.weights)
    with pytest.raises(ValueError, match=f'--freezed={len(names) + 1}: this discriminator has {len(names)} layers'):
        D.freeze_layers(len(names) + 1)


def test_frozen_layers_take_no_update_but_stay_in_the_forward_pass(tmp_path):
    t = _trainer(tmp_path, freezed=2, aug='fixed', p=0.5)
    frozen = [v for v in t.D.weights if v.path.split('/')[0] in ('b8_fromrgb', 'b8_conv0')]
    assert len(frozen) == 4 and not any(any(v is w for w in t.D.trainable_variables) for v in frozen)
    before = {v.path: v.numpy().copy() for v in t.D.weights}
    t.train_step()   # Dmain and Dreg
    after = {v.path: v.numpy() for v in t.D.weights}
    for v in t.D.weights:
        moved = np.abs(after[v.path] - before[v.path]).max() > 0
        assert moved == (v.path.split('/')[0] not in ('b8_fromrgb', 'b8_conv0')), v.path
    x = np.random.RandomState(1).uniform(-1, 1, (4, 8, 8, 1)).astype(np.float32)
    out = t.D(x).numpy()
    frozen[0].assign(frozen[0] * 2)
    assert np.abs(t.D(x).numpy() - out).max() > 1e-4
    with pytest.raises(ValueError, match='--freezed=5: this discriminator has 4 layers above 4x4'):
        _trainer(tmp_path / 'x', freezed=5)


# ------------------------------------------------------------------------------------------------------------------
# --subset.

def test_subset_indices_are_stylegan2_ada_pytorchs():
    order = np.arange(100)
    np.random.RandomState(3).shuffle(order)
    np.testing.assert_array_equal(random_subset_indices(100, 7, 3), np.sort(order[:7]))


def _png_folder(path, n):
    os.makedirs(path)
    rng = np.random.RandomState(0)
    imgs = rng.randint(0, 256, (n, 8, 8, 3), dtype=np.uint8)
    for i in range(n):
        PIL.Image.fromarray(imgs[i]).save(os.path.join(path, f'{i:03d}.png'))
    with open(os.path.join(path, 'dataset.json'), 'w') as f:
        json.dump({'labels': [[f'{i:03d}.png', i % 4] for i in range(n)]}, f)
    return imgs


def test_subset_of_folders_and_tfrecords(tmp_path):
    from stylegan2_tf.data import create_from_images
    imgs = _png_folder(str(tmp_path / 'png'), 30)
    create_from_images(str(tmp_path / 'png'), str(tmp_path / 'tfr'), shard_mb=0.0005, log=lambda s: None)
    want = random_subset_indices(30, 10, 5)
    for source in ('png', 'tfr'):
        ds = open_dataset(str(tmp_path / source), subset=10, subset_seed=5)
        assert isinstance(ds, SubsetDataset) and ds.num_images == 10 and ds.label_dim == 4
        got, labels = next(ds.iterate(100))
        np.testing.assert_array_equal(got, imgs[want], err_msg=source)
        np.testing.assert_array_equal(labels.argmax(1), want % 4)
        np.testing.assert_array_equal(ds.class_labels(), want % 4)
        batch = next(iter(ds.tf_dataset(10, shuffle=True, repeat=False)))[0].numpy()
        assert sorted(map(bytes, batch)) == sorted(map(bytes, imgs[want]))
        assert ds.fingerprint != open_dataset(str(tmp_path / source)).fingerprint
        assert ds.fingerprint != open_dataset(str(tmp_path / source), subset=10, subset_seed=6).fingerprint
        mirrored = open_dataset(str(tmp_path / source), subset=10, subset_seed=5, mirror=True)
        assert mirrored.num_images == 20                                   # --mirror doubles the subset
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        full = open_dataset(str(tmp_path / 'png'), subset=31)
    assert full.num_images == 30 and 'larger than png (30 images)' in str(caught[0].message)
    with pytest.raises(ValueError, match='subset must be >= 1'):
        open_dataset(str(tmp_path / 'png'), subset=0)


# ------------------------------------------------------------------------------------------------------------------
# The run directory's plot.

def test_metric_plot_shows_p(tmp_path):
    from stylegan2_tf.metrics.plot import plot_metric, read_stat_series
    with open(tmp_path / 'metric-fd_fmnist10k.jsonl', 'w') as f:
        for k in (10, 20):
            f.write(json.dumps({'kimg': k, 'results': {'fd_fmnist10k': 50.0 / k}}) + '\n')
    with open(tmp_path / 'stats.jsonl', 'w') as f:
        for k in range(1, 21):
            f.write(json.dumps({'kimg': k, 'Progress/augment': 0.01 * k}) + '\n')
    assert read_stat_series(str(tmp_path / 'stats.jsonl'), 'Progress/augment')[-1] == (20.0, 0.2)
    path = plot_metric(str(tmp_path), 'fd_fmnist10k')
    assert path and os.path.getsize(path) > 1000
