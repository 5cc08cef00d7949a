"""The offline Fashion-MNIST quality metrics: shipped classifier, FD/KID sanity, end to end through calc_metrics.py.

Needs Debian's dataset-fashion-mnist (scripts/setup.sh installs it), as the training tests do.
"""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FMNIST = '/usr/share/datasets/fashion-mnist'
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', CUDA_VISIBLE_DEVICES='-1')


def _load_script(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, 'benchmarks', f'{name}.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope='module')
def cache_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp('fmnist-stats'))


@pytest.fixture(scope='module')
def sanity():
    return _load_script('fmnist_sanity')


@pytest.fixture(scope='module')
def scorer(sanity, cache_dir):
    return sanity.ImageSetScorer(FMNIST, cache_dir)


@pytest.fixture(scope='module')
def test_images(sanity):
    return sanity.load_test_images(FMNIST)


def test_weight_file_matches_its_record_and_accuracy(sanity):
    from stylegan2_tf.metrics import fmnist_classifier as fc
    info = fc.reference_info()
    assert fc.file_sha256(fc.default_weights_path()) == info['sha256']
    assert info['test_accuracy'] >= 0.91
    assert os.path.getsize(fc.default_weights_path()) < 600_000  # a few hundred KB
    # The recorded accuracy is that of the shipped file: recompute it on the 10,000 test images.
    from stylegan2_tf.data import sources
    labels = sources.read_idx([q for p, q in sources.find_idx_pairs(FMNIST) if 't10k' in p][0])
    feats = fc.FMNISTFeatures()
    x = sanity.load_test_images(FMNIST)
    pred = np.concatenate([feats.logits(x[i:i + 2000]).argmax(1) for i in range(0, len(x), 2000)])
    assert abs(float((pred == labels).mean()) - info['test_accuracy']) < 1e-4


def test_corrupt_weight_file_is_refused(tmp_path):
    from stylegan2_tf.metrics import fmnist_classifier as fc
    bad = tmp_path / 'w.npz'
    data = bytearray(open(fc.default_weights_path(), 'rb').read())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(ValueError, match='sha256'):
        fc.load_classifier(str(bad), expected_sha256=fc.reference_info()['sha256'])
    with pytest.raises(FileNotFoundError, match='train_fmnist_classifier'):
        fc.load_classifier(str(tmp_path / 'missing.npz'))


def test_classifier_refuses_wrong_shapes():
    from stylegan2_tf.metrics import fmnist_classifier as fc
    feats = fc.FMNISTFeatures()
    with pytest.raises(ValueError, match='32x32x1'):
        feats.features(np.zeros((2, 32, 32, 3), np.uint8))
    with pytest.raises(ValueError, match='uint8'):
        feats.features(np.zeros((2, 32, 32, 1), np.float32))


def test_fd_of_test_set_is_small_and_degradations_rank(scorer, sanity, test_images):
    # Bounds from the measured sanity table (docs/metrics.md): test 0.37, blur sigma 1: 12, shuffled: ~900.
    fd_test = scorer.fd(test_images)
    fd_blur1 = scorer.fd(sanity.gaussian_blur(test_images, 1.0))
    fd_blur2 = scorer.fd(sanity.gaussian_blur(test_images, 2.0))
    fd_shuffled = scorer.fd(sanity.shuffle_pixels(test_images[:2000]))
    assert 0 < fd_test < 1.0
    assert fd_blur1 > 10 * fd_test
    assert fd_blur2 > fd_blur1
    assert fd_shuffled > fd_blur2
    # Equal n matters: FD at n = 1,000 is biased upwards with respect to n = 10,000.
    assert scorer.fd(test_images[:1000]) > fd_test
    # KID agrees on the ranking and is near 0 for the test set.
    kid_test, kid_blur = scorer.kid(test_images[:2000]), scorer.kid(sanity.gaussian_blur(test_images[:2000], 1.0))
    assert abs(kid_test) < 0.01 < kid_blur


def test_gaussian_blur_matches_a_direct_convolution(sanity):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (2, 32, 32, 1), dtype=np.uint8)
    sigma = 1.5
    r = int(np.ceil(4 * sigma))
    g = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    g /= g.sum()
    pad = np.pad(x[..., 0].astype(np.float64), ((0, 0), (r, r), (r, r)))
    direct = np.zeros((2, 32, 32))
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            direct += g[dy + r] * g[dx + r] * pad[:, r + dy:r + dy + 32, r + dx:r + dx + 32]
    np.testing.assert_array_equal(sanity.gaussian_blur(x, sigma)[..., 0], np.clip(np.rint(direct), 0, 255))
    s = sanity.shuffle_pixels(x)
    np.testing.assert_array_equal(np.sort(s.reshape(2, -1), 1), np.sort(x.reshape(2, -1), 1))
    assert not np.array_equal(s, x)


def _tiny_snapshot(path, resolution=32, channels=1):
    code = f'''
import keras
from stylegan2_tf.networks import Generator, Discriminator
from stylegan2_tf.serialization import save_network
keras.utils.set_random_seed(0)
G = Generator(z_dim=8, w_dim=8, img_resolution={resolution}, img_channels={channels}, mapping_layers=1,
              fmap_base=32, fmap_max=8, name="G")
D = Discriminator(img_resolution={resolution}, img_channels={channels}, fmap_base=32, fmap_max=8, name="D")
save_network({str(path)!r}, G=G, D=D, G_ema=G)
'''
    p = subprocess.run([sys.executable, '-c', code], env=ENV, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]


def _calc(args, cache_dir):
    return subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'calc_metrics.py'), '--cache-dir', cache_dir]
                          + args, env=ENV, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_calc_metrics_end_to_end_on_a_trained_snapshot(tmp_path, cache_dir):
    # A tiny snapshot trained for a few steps by the real loop on Fashion-MNIST.
    run = tmp_path / 'run'
    p = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'train.py'), f'--data={FMNIST}',
                        f'--outdir={run}', '--z_dim=8', '--w_dim=8', '--mapping_layers=1', '--fmap_base=32',
                        '--fmap_max=8', '--batch=8', '--total_kimg=0.016', '--kimg_per_tick=0.016', '--snap=1',
                        '--grid=2x2', '--impl=ref'], env=ENV, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    snaps = sorted(run.glob('network-snapshot-*.npz'))
    assert snaps, os.listdir(run)
    p = _calc(['--network', str(snaps[-1]), '--metrics', 'fd_fmnist10k,kid_fmnist10k', '--num-gen', '300',
               '--batch', '100', '--quiet'], cache_dir)
    assert p.returncode == 0, p.stderr[-3000:]
    fd = [json.loads(line) for line in open(run / 'metric-fd_fmnist10k.jsonl')]
    kid = [json.loads(line) for line in open(run / 'metric-kid_fmnist10k.jsonl')]
    assert len(fd) == len(kid) == 1 and fd[0]['kimg'] == 0.0
    assert fd[0]['results']['fd_fmnist10k'] > 5.0  # an untrained generator is far from the data ...
    assert kid[0]['results']['kid_fmnist10k'] > 0.01  # ... in both distances
    assert fd[0]['random_weights'] is False
    assert (run / 'metric-fd_fmnist10k.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    # Deterministic: seeds 0..N-1 and constant noise give the same number again.
    p = _calc(['--network', str(snaps[-1]), '--metrics', 'fd_fmnist10k', '--num-gen', '300', '--batch', '60',
               '--quiet', '--run-dir', str(tmp_path / 'again')], cache_dir)
    assert p.returncode == 0, p.stderr[-3000:]
    again = json.loads(open(tmp_path / 'again' / 'metric-fd_fmnist10k.jsonl').readline())
    assert abs(again['results']['fd_fmnist10k'] - fd[0]['results']['fd_fmnist10k']) < 1e-6 * fd[0]['results'][
        'fd_fmnist10k']


@pytest.mark.parametrize('resolution,channels', [(16, 1), (32, 3)])
def test_wrong_shape_network_is_refused(resolution, channels):
    import keras
    from stylegan2_tf.metrics import metric_main
    from stylegan2_tf.metrics.detectors import FeatureNetworks
    from stylegan2_tf.networks import Generator
    keras.utils.set_random_seed(0)
    G = Generator(z_dim=8, w_dim=8, img_resolution=resolution, img_channels=channels, mapping_layers=1,
                  fmap_base=32, fmap_max=8, name='G')
    for name in ('fd_fmnist10k', 'kid_fmnist10k', 'ppl_fmnist_wend'):
        opts = metric_main.MetricOptions(G=G, networks=FeatureNetworks(), cache=None, num_gen=10, progress=False)
        shape = f'{resolution}x{resolution}x{channels}'
        with pytest.raises(ValueError, match=f'32x32x1 images\\); this network makes {shape}'):
            metric_main.calc_metric(name, opts)


def test_wrong_shape_network_is_refused_by_the_tool(tmp_path, cache_dir):
    snap = tmp_path / 'net.npz'
    _tiny_snapshot(snap, 16, 1)
    p = _calc(['--network', str(snap), '--metrics', 'fd_fmnist10k', '--num-gen', '10', '--quiet'], cache_dir)
    assert p.returncode == 2
    assert 'fd_fmnist10k measures Fashion-MNIST generators (32x32x1 images); this network makes 16x16x1' in p.stderr
    assert 'Traceback' not in p.stderr


def test_ppl_in_classifier_features_matches_a_direct_statement():
    """ppl_fmnist_wend: the mean over the 1st..99th percentile of ||f(G(w0)) - f(G(w0 + eps (w1 - w0)))||^2 / eps^2,
    f the classifier's features on float images, recomputed here from the same latents (seed 0, default_rng)."""
    import keras
    import tensorflow as tf
    from stylegan2_tf.metrics import fmnist_classifier as fc
    from stylegan2_tf.metrics import metric_main
    from stylegan2_tf.metrics.detectors import FeatureNetworks
    from stylegan2_tf.networks import Generator
    keras.utils.set_random_seed(0)
    G = Generator(z_dim=8, w_dim=8, img_resolution=32, img_channels=1, mapping_layers=1, fmap_base=32, fmap_max=8,
                  name='G')
    n, eps = 24, 1e-4
    opts = metric_main.MetricOptions(G=G, networks=FeatureNetworks(), cache=None, num_gen=n, progress=False,
                                     batch_size=8)
    got = metric_main.calc_metric('ppl_fmnist_wend', opts)['results']['ppl_fmnist_wend']
    model, _ = fc.load_classifier()
    rng = np.random.default_rng(0)
    d = []
    for _ in range(n // 8):
        rng.uniform(size=(8, 1))  # t (unused with end sampling) is drawn first
        z = np.concatenate([rng.standard_normal((8, 8)), rng.standard_normal((8, 8))]).astype(np.float32)
        w = G.mapping(tf.constant(z), None).numpy().astype(np.float64)
        w0, w1 = w[:8], w[8:]
        ws = np.concatenate([w0, w0 + eps * (w1 - w0)]).astype(np.float32)
        feats = model(G.synthesis(tf.constant(ws), noise_mode='const'), training=False)['features'].numpy()
        d.append(np.sum((feats[:8].astype(np.float64) - feats[8:]) ** 2, axis=1) / eps ** 2)
    d = np.concatenate(d)
    lo, hi = np.percentile(d, 1, method='lower'), np.percentile(d, 99, method='higher')
    want = d[(d >= lo) & (d <= hi)].mean()
    assert got > 0 and np.isfinite(got)
    np.testing.assert_allclose(got, want, rtol=1e-3)


def test_metric_plot_from_jsonl(tmp_path):
    from stylegan2_tf.metrics.plot import plot_metric, read_metric_log
    lines = [dict(metric='fd_fmnist10k', results={'fd_fmnist10k': v}, snapshot_pkl=f'network-snapshot-{k:06d}.npz')
             for k, v in ((0, 300.0), (10, 50.0), (20, 20.0))]
    lines.append(dict(metric='fd_fmnist10k', results={'fd_fmnist10k': 25.0}, kimg=20, snapshot_pkl=None))  # later wins
    lines.append(dict(metric='fd_fmnist10k', results={'fd_fmnist10k': 1.0}, kimg=30, random_weights=True))  # skipped
    path = tmp_path / 'metric-fd_fmnist10k.jsonl'
    path.write_text('\n'.join(json.dumps(x) for x in lines) + '\n{"cut by a cra')
    assert read_metric_log(str(path)) == {'fd_fmnist10k': [(0.0, 300.0), (10.0, 50.0), (20.0, 25.0)]}
    out = plot_metric(str(tmp_path), 'fd_fmnist10k')
    from PIL import Image
    img = Image.open(out)
    assert img.size == (640, 400)
    assert plot_metric(str(tmp_path), 'missing') is None
