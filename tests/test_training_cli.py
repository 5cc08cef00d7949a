"""tools/train.py end to end with the real StyleGAN2 networks (tiny), and its up-front error checks."""

import functools
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import PIL.Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(ROOT, 'tools', 'train.py')
TINY = ['--z_dim=8', '--w_dim=8', '--mapping_layers=1', '--fmap_base=16', '--fmap_max=8', '--batch=4',
        '--mbstd_group=2', '--grid=2x2', '--impl=ref']


def _train(args, timeout=600, **env_extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', CUDA_VISIBLE_DEVICES='-1', **env_extra)
    for k in ('STYLEGAN2_TF_INCEPTION', 'STYLEGAN2_TF_VGG16', 'STYLEGAN2_TF_LPIPS'):  # weights only via flags
        env.pop(k, None)
    return subprocess.run([sys.executable, TRAIN] + args, env=env, capture_output=True, text=True, timeout=timeout)


def _folder(path, n=8, res=8, labels=False):
    os.makedirs(path)
    rng = np.random.RandomState(0)
    for i in range(n):
        PIL.Image.fromarray(rng.randint(0, 256, (res, res, 3), dtype=np.uint8)).save(os.path.join(path, f'{i}.png'))
    if labels:
        with open(os.path.join(path, 'dataset.json'), 'w') as f:
            json.dump({'labels': [[f'{i}.png', i % 2] for i in range(n)]}, f)


# The small-dataset options of the end-to-end run: ADA from p 0.2 adjusted every step, 6 of the 8 images, freeze-D.
SMALL = ['--aug=ada', '--p=0.2', '--ada_interval=1', '--ada_kimg=1', '--subset=6', '--freezed=1']


def test_train_cli_end_to_end(tmp_path):
    data = str(tmp_path / 'imgs')
    _folder(data, labels=True)
    out = str(tmp_path / 'run')
    # 2 steps of 4 images: step 0 runs both regularizers, step 1 neither; one tick per step, snapshot each tick.
    # Metrics at every snapshot (random feature-network weights: exercises the path, numbers not comparable).
    p = _train(['--data', data, '--outdir', out, '--total_kimg=0.008', '--kimg_per_tick=0.004', '--snap=1',
                '--cond', '--metrics=kid50k_full', '--metrics_num_gen=8', '--metrics_allow_random_weights'] + TINY
               + SMALL, STYLEGAN2_TF_CACHE=str(tmp_path / 'cache'))
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-5000:]
    assert 'tick 2' in p.stdout and 'img/s' in p.stdout and 'augment 0.' in p.stdout
    # The progress output between ticks is clean: no TensorFlow/absl INFO lines (the checkpoint saver used to print
    # "Sharding callback duration" at every checkpoint), and none before them either: the oneDNN notice TensorFlow
    # prints while it loads, before TF_CPP_MIN_LOG_LEVEL applies, is filtered by stylegan2_tf._tf_import.
    noise = [ln for ln in (p.stdout + p.stderr).splitlines()
             if 'Sharding callback' in ln or re.match(r'^(I\d{4} |INFO:)', ln) or 'InitializeLog' in ln]
    assert not noise, noise
    files = os.listdir(out)
    for f in ('reals.png', 'fakes_init.png', 'fakes000000.png', 'stats.jsonl', 'log.txt', 'training_options.json',
              'network-snapshot-000000.npz', 'checkpoints', 'tensorboard'):
        assert f in files, (f, files)
    assert not [f for f in files if f.startswith('.tmp')]
    kid = [json.loads(line) for line in open(os.path.join(out, 'metric-kid50k_full.jsonl'))]
    assert len(kid) >= 2 and all(np.isfinite(r['results']['kid50k_full']) for r in kid), kid
    assert kid[0]['snapshot_pkl'] == 'network-snapshot-000000.npz'
    recs = [json.loads(line) for line in open(os.path.join(out, 'stats.jsonl'))]
    assert len(recs) == 2 and recs[-1]['step'] == 2
    assert 'Loss/r1_penalty' in recs[0] and 'Loss/pl_penalty' in recs[0] and 'Loss/G/loss' in recs[1]
    # p moved by +-0.004 per step (batch 4 / ada_kimg 1; one step per tick), from the signs of D's real logits.
    ps = [0.2] + [r['Progress/augment'] for r in recs]
    assert all(abs(abs(b - a) - 0.004) < 1e-6 for a, b in zip(ps, ps[1:])), ps
    assert all(-1 <= r['Loss/signs/real'] <= 1 for r in recs)
    options = json.load(open(os.path.join(out, 'training_options.json')))
    assert (options['subset'], options['freezed'], options['aug']) == (6, 1, 'ada')
    from stylegan2_tf.serialization import load_network
    net = load_network(os.path.join(out, 'network-snapshot-000000.npz'))
    assert net.G_ema.c_dim == 2 and net.G_ema.img_resolution == 8
    assert net.metadata['augment_pipe']['kwargs']['xflip'] == 1
    assert abs(net.metadata['augment_pipe']['p'] - recs[-1]['Progress/augment']) < 1e-6  # (written again at tick 2)
    # Done: running again with --resume auto restores step 2 and has nothing left to do.
    p = _train(['--data', data, '--outdir', out, '--total_kimg=0.008', '--cond'] + TINY + SMALL)
    assert p.returncode == 0 and 'resumed from' in p.stdout and 'ckpt-2' in p.stdout, p.stdout + p.stderr[-3000:]
    # Network flags changed for the same run directory: refused.
    p = _train(['--data', data, '--outdir', out, '--total_kimg=0.016', '--cond'] + TINY + SMALL + ['--fmap_max=16'])
    assert p.returncode == 2 and 'other network settings' in p.stderr, p.stderr[-3000:]
    # Fine-tuning from the snapshot on data of another resolution fails before training, naming the problem.
    data16 = str(tmp_path / 'imgs16')
    _folder(data16, res=16, labels=True)
    p = _train(['--data', data16, '--outdir', str(tmp_path / 'ft'), '--resume',
                os.path.join(out, 'network-snapshot-000000.npz'), '--total_kimg=0.004'] + TINY)
    assert p.returncode == 2 and 'does not match the networks' in p.stderr and 'resolution: network 8, dataset 16' \
        in p.stderr, p.stderr[-3000:]


def test_train_cli_bad_input(tmp_path):
    data = str(tmp_path / 'imgs')
    _folder(data)
    out = tmp_path / 'f'
    runs = [  # independent processes that each stop at one bad flag; run side by side (each mostly imports TF)
        ['--data', data, '--outdir', str(tmp_path / 'a'), '--cond'] + TINY,
        ['--data', str(tmp_path / 'missing'), '--outdir', str(tmp_path / 'b')] + TINY,
        ['--data', data, '--outdir', str(tmp_path / 'c'), '--batch=6', '--num_devices=4'] + TINY[:-4],
        ['--data', data, '--outdir', str(tmp_path / 'd'), '--grid=ax3'] + TINY[:-2],
        ['--data', data, '--outdir', str(tmp_path / 'e'), '--metrics=fid1k'] + TINY,
        # Small-dataset flags (the rest of their checks: tests/test_small_datasets.py).
        ['--data', data, '--outdir', str(tmp_path / 'g'), '--aug=fixed'] + TINY,
        ['--data', data, '--outdir', str(tmp_path / 'h'), '--freezed=9'] + TINY,
        # A metric without its feature-network weights stops the run before training (no checkpoint, no snapshot).
        ['--data', data, '--outdir', str(out), '--metrics=fid50k_full', '--inception', str(tmp_path / 'missing.pb')]
        + TINY,
    ]
    with ThreadPoolExecutor(max_workers=4) as pool:
        cond, missing, replicas, grid, metric, fixed, freezed, weights = pool.map(_train, runs)
    for p, message in ((cond, "--cond needs a labelled dataset"), (missing, 'no such dataset'),
                       (replicas, 'not divisible by the 4 replicas'), (grid, '--grid must be'),
                       (metric, 'unknown --metrics')):
        assert p.returncode == 2 and message in p.stderr, p.stderr[-2000:]
    assert fixed.returncode == 2 and fixed.stderr.strip() == 'error: --aug=fixed needs --p (the constant ' \
        'augmentation strength)', fixed.stderr[-2000:]
    assert freezed.returncode == 2 and 'error: --freezed=9: this discriminator has 4 layers above 4x4' in \
        freezed.stderr and 'Traceback' not in freezed.stderr, freezed.stderr[-2000:]
    p = weights
    assert p.returncode == 2 and 'Missing feature-network weights' in p.stderr and '--metrics fid50k_full' in \
        p.stderr and 'missing.pb' in p.stderr and 'Traceback' not in p.stderr, p.stderr[-2000:]
    assert not out.exists() or not os.listdir(out), os.listdir(out)


def _grid_of(G, seed, cols, rows):
    """The image grid a run with --seed/--grid starts from: G's images for z = RandomState(seed).randn, const noise."""
    import tensorflow as tf
    from stylegan2_tf.data.images import make_grid, to_uint8
    z = np.random.RandomState(seed).randn(cols * rows, G.z_dim).astype(np.float32)
    images = G.synthesis(G.mapping(tf.constant(z), None), noise_mode='const').numpy()
    return make_grid(to_uint8(images), (rows, cols))


def test_fine_tuning_from_a_snapshot_and_from_an_official_pickle(tmp_path):
    """--resume FILE starts from the file's networks (fakes_init.png = its G_ema's images) and trains on."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from official_format import make_official_pickle
    from stylegan2_tf.networks import Discriminator, Generator
    from stylegan2_tf.serialization import load_network, save_network
    data = str(tmp_path / 'imgs')
    _folder(data)
    snapshot = str(tmp_path / 'source.npz')
    net = dict(img_resolution=8, img_channels=3, fmap_base=16, fmap_max=8)
    G = Generator(z_dim=8, w_dim=8, mapping_layers=1, name='G', **net)
    G_ema = Generator(z_dim=8, w_dim=8, mapping_layers=1, name='G_ema', **net)
    D = Discriminator(mbstd_group_size=2, name='D', **net)
    save_network(snapshot, G=G, D=D, G_ema=G_ema, metadata={'augment_pipe': {'p': 0.3, 'kwargs': {'xflip': 1}}})
    pickle_path = str(tmp_path / 'source.pkl')
    with open(pickle_path, 'wb') as f:
        f.write(make_official_pickle(seed=5, resolution=8)[0])
    for name, source, p0 in (('snapshot', snapshot, 0.3), ('pickle', pickle_path, 0.0)):
        out = str(tmp_path / f'ft-{name}')
        # Transfer learning with ADA: p continues from the file's augment pipe (0 without one), ada_kimg is 100.
        p = _train(['--data', data, '--outdir', out, '--resume', source, '--total_kimg=0.008', '--kimg_per_tick=0.004',
                    '--snap=1', '--batch=4', '--grid=2x2', '--seed=3', '--impl=ref', '--aug=ada'])
        assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-5000:]
        assert json.load(open(os.path.join(out, 'training_options.json')))['ada_kimg'] == 100
        first = json.loads(open(os.path.join(out, 'stats.jsonl')).readline())
        assert abs(first['Progress/augment'] - p0) < 1e-6, (name, first['Progress/augment'])
        want = _grid_of(load_network(source, impl='ref').G_ema, 3, 2, 2)
        got = np.asarray(PIL.Image.open(os.path.join(out, 'fakes_init.png')))
        np.testing.assert_array_equal(got.reshape(want.shape), want, err_msg=name)
        # It trained: the last snapshot's G differs from the source's.
        src, tuned = load_network(source, impl='ref'), load_network(os.path.join(out, 'network-snapshot-000000.npz'))
        diff = max(float(np.abs(a.numpy() - b.numpy()).max()) for a, b in zip(src.G.trainable_weights,
                                                                               tuned.G.trainable_weights))
        assert diff > 1e-5, name


_PARSE_FLAGFILE = r'''
import dataclasses, json, sys
sys.argv = ['train.py']
sys.path.insert(0, {tools!r})
import train
train.FLAGS(['train.py', '--flagfile=' + {flagfile!r}, '--data=unused', '--outdir=unused'])
# Every flag's value, overlaid with the TrainConfig the trainer would receive; and every flag's default.
cfg = {{**train.FLAGS.flag_values_dict(), **dataclasses.asdict(train.build_config())}}
defaults = {{name: train.FLAGS[name].default for name in train.FLAGS.flag_values_dict()}}
print(json.dumps(dict(values=cfg, defaults=defaults), default=str))
'''


@functools.lru_cache(maxsize=None)
def _flagfile(name):
    '''(values after parsing configs/NAME, flag defaults), read by tools/train.py's own flag definitions.'''
    code = _PARSE_FLAGFILE.format(tools=os.path.join(ROOT, 'tools'), flagfile=os.path.join(ROOT, 'configs', name))
    p = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads(p.stdout.strip().splitlines()[-1])
    return out['values'], out['defaults']


def _flagfile_config(name):
    return _flagfile(name)[0]


# Config F as the paper's table 1 / NVIDIA's run_training.py set it.
CONFIG_F = dict(fmap_base=16384, fmap_max=512, z_dim=512, w_dim=512, mapping_layers=8, mapping_lr_mul=0.01,
                g_arch='skip', d_arch='resnet', mbstd_group=4, mbstd_features=1, batch=32, g_lr=0.002, d_lr=0.002,
                beta1=0.0, beta2=0.99, eps=1e-8, gamma=10.0, d_reg_interval=16, g_reg_interval=4, pl_weight=2.0,
                pl_decay=0.01, pl_batch_shrink=2, style_mixing=0.9, ema_kimg=10.0, ema_rampup=None, mirror=False)


def test_config_f_flagfile_matches_the_paper():
    c = _flagfile_config('f.flags')
    assert {k: c[k] for k in CONFIG_F} == CONFIG_F


def test_config_e_is_f_with_smaller_networks_and_gamma_100():
    # NVlabs/stylegan2 run_training.py: configs A-E use fmap_base 8 << 10; "Config E: Set gamma to 100".
    e, f = _flagfile_config('e.flags'), _flagfile_config('f.flags')
    assert (e['fmap_base'], e['gamma']) == (8192, 100.0)
    assert {k for k in f if e[k] != f[k]} == {'fmap_base', 'gamma'}


# Configs A-D as NVIDIA's run_training.py sets them (configs A-E: fmap_base 8 << 10; A-D: growing from 8x8 with the
# official schedule, lr 0.001 with per-resolution overrides, minibatch per resolution; A-C no path length; A-B not
# lazy; A: StyleGAN's G_style and D_basic; B-D: G_synthesis_stylegan_revised and D_stylegan).
GROWING = dict(structure='growing', fmap_base=8192, lod_initial_resolution=8, lod_training_kimg=600.0,
               lod_transition_kimg=600.0, g_lr=0.001, d_lr=0.001, g_lr_dict='128:0.0015,256:0.002,512:0.003,1024:0.003',
               d_lr_dict='128:0.0015,256:0.002,512:0.003,1024:0.003', batch_dict='8:256,16:128,32:64,64:32',
               batch=32, gamma=10.0, minibatch_repeats=4, reset_opt_for_new_lod=True)
PAPER_AD = {
    'a.flags': dict(GROWING, g_arch='stylegan1', d_arch='stylegan1', pl_weight=0.0, g_reg_interval=1,
                    d_reg_interval=1),
    'b.flags': dict(GROWING, g_arch='orig', d_arch='orig', pl_weight=0.0, g_reg_interval=1, d_reg_interval=1),
    'c.flags': dict(GROWING, g_arch='orig', d_arch='orig', pl_weight=0.0, g_reg_interval=4, d_reg_interval=16),
    'd.flags': dict(GROWING, g_arch='orig', d_arch='orig', pl_weight=2.0, g_reg_interval=4, d_reg_interval=16),
}


def test_configs_a_to_d_match_the_paper():
    f = _flagfile_config('f.flags')
    for name, expected in PAPER_AD.items():
        c = _flagfile_config(name)
        assert {k: c[k] for k in expected} == expected, name
        assert {k for k in f if c[k] != f[k]} <= set(expected), name  # everything else is config F's


def test_bench_c128_flagfile_is_the_timed_config():
    # Issue 23's config: 128 feature maps at every resolution (fmap_base 2048 / 2**(log2(res) - 1) >= 128 up to
    # 32x32), 1 channel of Fashion-MNIST, lr 0.0025, R1 gamma 0.1 every 16, EMA 10 kimg with ramp-up 0.05; the rest
    # (z = w = 512, 8 mapping layers, skip G, resnet D, batch 32, mbstd 4, mixing 0.9, path length 2 every 4) is F.
    c, f = _flagfile_config('bench-c128.flags'), _flagfile_config('f.flags')
    expected = dict(fmap_base=2048, fmap_max=128, g_lr=0.0025, d_lr=0.0025, gamma=0.1, ema_kimg=10.0, ema_rampup=0.05)
    assert {k: c[k] for k in expected} == expected
    assert {k for k in f if c[k] != f[k]} <= set(expected)
    from stylegan2_tf.networks.channels import nf
    assert [nf(stage, c['fmap_base'], fmap_max=c['fmap_max']) for stage in range(5)] == [128] * 5  # stage 4: 32x32


@pytest.mark.parametrize('config', ['a', 'd'])
def test_growing_config_trains_end_to_end(tmp_path, config):
    # Config A (G_style/D_basic) and D (revised networks, lazy R1, path length) through tools/train.py with tiny
    # networks and a schedule shrunk to images: lod 1 (8x8, batch 8) for 8 images, a fade over 8 images at batch 4,
    # then lod 0; the snapshot loads with load_network and generates at full resolution.
    data, out = str(tmp_path / 'imgs'), str(tmp_path / 'run')
    _folder(data, res=16)
    p = _train(['--flagfile', os.path.join(ROOT, 'configs', f'{config}.flags'), '--data', data, '--outdir', out,
                '--total_kimg=0.024', '--lod_training_kimg=0.008', '--lod_transition_kimg=0.008', '--batch=4',
                '--batch_dict=8:8', '--minibatch_repeats=1', '--kimg_per_tick=0.008', '--snap=1'] + TINY)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-5000:]
    assert 'lod 1.00  minibatch 8' in p.stdout and 'lod 0.00  minibatch 4' in p.stdout, p.stdout
    from stylegan2_tf.serialization import load_network
    net = load_network(os.path.join(out, 'network-snapshot-000000.npz'))
    assert net.G_ema.structure == 'growing' and float(net.G_ema.synthesis.lod.numpy()) == 0.0
    assert type(net.D).__name__ == 'GrowingDiscriminator'
    img = net.G_ema.synthesis(net.G_ema.mapping(np.random.RandomState(0).randn(2, 8)), noise_mode='const').numpy()
    assert img.shape == (2, 16, 16, 3) and np.all(np.isfinite(img))


def test_stylegan3_flagfiles_carry_upstream_defaults():
    # NVlabs/stylegan3 train.py / docs/configs.md: G lr 0.0025 (D 0.002), mapping 2 layers, no style mixing, no
    # path-length regularization and no G regularization interval (no lazy Adam correction for G), EMA ramp-up 0.05,
    # --aug ada, R: blur of D's inputs from sigma 10 over 200 kimg (at batch 32).
    common = dict(mapping_layers=2, g_lr=0.0025, d_lr=0.002, style_mixing=0.0, pl_weight=0.0, g_reg_interval=1,
                  d_reg_interval=16, ema_rampup=0.05, ema_kimg=10.0, aug='ada', batch=32, mbstd_group=4,
                  fmap_base=16384, fmap_max=512, beta1=0.0, beta2=0.99)
    t, r = _flagfile_config('stylegan3-t.flags'), _flagfile_config('stylegan3-r.flags')
    assert {k: t[k] for k in common} == common and t['g_arch'] == 'stylegan3-t' and t['blur_sigma'] == 0
    assert {k: r[k] for k in common} == common and r['g_arch'] == 'stylegan3-r'
    assert (r['blur_sigma'], r['blur_fade_kimg']) == (10.0, 200.0)
    demo = _flagfile_config('demo-sg3t.flags')
    assert (demo['g_arch'], demo['batch'], demo['aug'], demo['pl_weight']) == ('stylegan3-t', 16, 'noaug', 0.0)


def test_stylegan3_trains_end_to_end(tmp_path):
    # Config R's flags with tiny networks: ADA, the blur of D's inputs, an equivariance metric at each snapshot; the
    # snapshot then generates translated and rotated images and exports for TF Serving without the package's ops.
    data, out = str(tmp_path / 'imgs'), str(tmp_path / 'run')
    _folder(data, res=16)
    p = _train(['--flagfile', os.path.join(ROOT, 'configs', 'stylegan3-r.flags'), '--data', data, '--outdir', out,
                '--total_kimg=0.008', '--kimg_per_tick=0.004', '--snap=2', '--metrics=eqt5k_int',
                '--metrics_num_gen=4'] + TINY)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-5000:]
    recs = [json.loads(line) for line in open(os.path.join(out, 'stats.jsonl'))]
    assert [r['Progress/blur_sigma'] for r in recs] == [10.0, 10.0 * (1 - 0.004 / 200)]
    assert all('Progress/augment' in r for r in recs)
    eq = json.loads(open(os.path.join(out, 'metric-eqt5k_int.jsonl')).readline())
    assert eq['results']['eqt5k_int'] > 20
    from stylegan2_tf.serialization import load_network
    snap = os.path.join(out, 'network-snapshot-000000.npz')
    G = load_network(snap).G_ema
    assert type(G).__name__ == 'StyleGAN3Generator' and G.get_config()['use_radial_filters']
    # generate.py --translate/--rotate: the input transform is the inverse of gen_images.py's make_transform.
    q = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'generate.py'), '--network', snap, '--seeds', '0',
                        '--impl=ref', '--outdir', str(tmp_path / 'g'), '--translate', '0.25,0', '--rotate', '30'],
                       env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2'), capture_output=True, text=True)
    assert q.returncode == 0, q.stderr[-2000:]
    from stylegan2_tf.cli_utils import make_transform, set_output_transform
    G_ref = load_network(snap, impl='ref').G_ema
    set_output_transform(G_ref, (0.25, 0.0), 30.0)
    np.testing.assert_allclose(G_ref.synthesis.input.transform.numpy() @ make_transform((0.25, 0), 30), np.eye(3),
                               atol=1e-6)
    z = np.random.RandomState(0).randn(1, G.z_dim)
    want = np.clip(G_ref(z, noise_mode='const').numpy()[0] * 127.5 + 128, 0, 255).astype(np.uint8)
    got = np.asarray(PIL.Image.open(tmp_path / 'g' / 'seed0000.png')).reshape(want.shape)
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1
    assert np.abs(want.astype(int) - np.clip(G(z, noise_mode='const').numpy()[0] * 127.5 + 128, 0, 255).astype(
        np.uint8).astype(int)).mean() > 1   # the transform changed the image
    from stylegan2_tf.export.savedmodel import export_savedmodel
    path = export_savedmodel(G, str(tmp_path / 'models'), 'sg3', version=1)
    import tensorflow as tf
    served = tf.saved_model.load(path).signatures['serving_default']
    z = np.random.RandomState(0).randn(2, G.z_dim).astype(np.float32)
    img = served(z=tf.constant(z), truncation_psi=tf.constant(1.0))
    want = np.clip(G(z, noise_mode='const').numpy() * 127.5 + 128, 0, 255).astype(np.uint8)
    got = list(img.values())[0].numpy()
    assert got.shape == want.shape and np.abs(got.astype(int) - want.astype(int)).max() <= 1


def test_demo_flagfile_parses():
    demo = _flagfile_config('demo.flags')
    assert (demo['batch'], demo['g_lr'], demo['gamma'], demo['fmap_max'], demo['grid']) == (16, 0.004, 0.1, 32,
                                                                                             [16, 10])


def test_flagfiles_only_override_the_defaults():
    # Every flag default is config F, so a preset names only its differences: no line may restate a default.
    for name in ('f.flags', 'e.flags', 'demo.flags', 'stylegan3-t.flags', 'stylegan3-r.flags', 'demo-sg3t.flags',
                 *PAPER_AD):
        values, defaults = _flagfile(name)
        with open(os.path.join(ROOT, 'configs', name)) as f:
            lines = [line.strip() for line in f if line.strip() and not line.lstrip().startswith('#')]
        for line in lines:
            assert line.startswith('--') and '=' in line, (name, line)
            flag = line[2:].split('=', 1)[0]
            assert flag in defaults, (name, flag)
            assert values[flag] != defaults[flag], f'{name}: {line} restates the default'
