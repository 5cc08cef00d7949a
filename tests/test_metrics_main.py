"""Metric runner: statistics cache, plumbing against direct math, PPL on analytic toy generators,
and the calc_metrics tool end to end with random-weight feature networks."""

import glob
import importlib.util
import json
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
import tensorflow as tf

from stylegan2_tf.metrics import math as mm
from stylegan2_tf.metrics import metric_main
from stylegan2_tf.metrics.cache import StatsCache
from stylegan2_tf.metrics.detectors import Detector, FeatureNetworks, WeightsNotFoundError
from stylegan2_tf.metrics.ppl import ppl_distances, preprocess_for_lpips

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class FakeDataset:
    """The ImageDataset interface over in-memory uint8 images; counts passes over the data."""

    def __init__(self, n=24, res=32, channels=1, label_dim=0, seed=0, fingerprint="fp0"):
        rng = np.random.default_rng(seed)
        self.images = rng.integers(0, 256, (n, res, res, channels)).astype(np.uint8)
        self.labels = np.eye(max(label_dim, 1), dtype=np.float32)[rng.integers(0, max(label_dim, 1), n)][:, :label_dim]
        self.resolution, self.num_channels, self.label_dim, self.num_images = res, channels, label_dim, n
        self.name, self.fingerprint = "fake", fingerprint
        self.passes = 0

    def iterate(self, batch_size, max_images=None):
        self.passes += 1
        n = self.num_images if max_images is None else min(max_images, self.num_images)
        for s in range(0, n, batch_size):
            e = min(s + batch_size, n)
            yield self.images[s:e], self.labels[s:e]


class FakeG:
    """Linear mapping + tanh synthesis with the generator interface (NHWC in [-1, 1])."""

    def __init__(self, res=32, channels=1, z_dim=8, c_dim=0, num_ws=2, seed=0):
        rng = np.random.default_rng(seed)
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, z_dim, num_ws
        self.img_resolution, self.img_channels = res, channels
        self.M = rng.standard_normal((z_dim + c_dim, z_dim)).astype(np.float32) / np.sqrt(z_dim)
        self.A = rng.standard_normal((z_dim, res * res * channels)).astype(np.float32) / np.sqrt(z_dim)

    def mapping(self, z, c, truncation_psi=1.0, truncation_cutoff=None):
        zc = tf.concat([tf.cast(z, tf.float32), tf.cast(c, tf.float32)], axis=1)
        w = tf.matmul(zc, self.M) * truncation_psi
        return tf.tile(w[:, None, :], [1, self.num_ws, 1])

    def synthesis(self, ws, noise_mode="const"):
        x = tf.tanh(tf.matmul(tf.reduce_mean(ws, axis=1), self.A))
        return tf.reshape(x, [-1, self.img_resolution, self.img_resolution, self.img_channels])

    def __call__(self, z, c, truncation_psi=1.0, noise_mode="random"):
        return self.synthesis(self.mapping(z, c, truncation_psi))


class CheapNetworks(FeatureNetworks):
    """Fixed random projections of downsampled pixels instead of Inception/VGG (fast plumbing tests)."""

    def __init__(self, identity="cheap-0"):
        super().__init__(allow_random_weights=True)
        self.identity = identity
        self.calls = 0

    def detector(self, name):
        dim = {"inception": 16, "inception_probs": 10, "vgg16": 12}[name]
        proj = np.random.default_rng(len(name)).standard_normal((8 * 8 * 3, dim)).astype(np.float32)

        def fn(x):
            self.calls += 1
            x = tf.image.resize(x, (8, 8), method="area")
            f = tf.matmul(tf.reshape(x, [-1, 8 * 8 * 3]) / 255.0, proj)
            return tf.nn.softmax(f) if name == "inception_probs" else f
        return Detector(name, self.identity, True, fn, dim)


def _features(det_name, images):
    return np.asarray(CheapNetworks().detector(det_name)(images), np.float64)


# ---- cache ------------------------------------------------------------------------------------------

def test_dataset_statistics_cache_reuse_and_invalidation(tmp_path):
    ds = FakeDataset()
    cache = StatsCache(str(tmp_path / "cache"))
    opts = metric_main.MetricOptions(dataset=ds, networks=CheapNetworks(), cache=cache, batch_size=5,
                                     progress=False)
    first = metric_main.dataset_features(opts, "inception", None, capture_all=False)
    assert ds.passes == 1
    ref_mu, ref_sigma = mm.feature_statistics(_features("inception", np.repeat(ds.images, 3, -1)))
    np.testing.assert_allclose(first["mu"], ref_mu, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(first["sigma"], ref_sigma, rtol=1e-5, atol=1e-9)
    again = metric_main.dataset_features(opts, "inception", None, capture_all=False)
    assert ds.passes == 1, "second call must come from the cache"
    np.testing.assert_array_equal(again["sigma"], first["sigma"])
    assert len(glob.glob(str(tmp_path / "cache" / "*.npz"))) == 1
    # Each option change is a different entry: item count, capture mode, detector weights, dataset.
    metric_main.dataset_features(opts, "inception", 10, capture_all=False)
    assert ds.passes == 2
    metric_main.dataset_features(opts, "inception", None, capture_all=True)
    assert ds.passes == 3
    opts.networks = CheapNetworks(identity="cheap-1")
    metric_main.dataset_features(opts, "inception", None, capture_all=False)
    assert ds.passes == 4
    ds.fingerprint = "fp1"
    metric_main.dataset_features(opts, "inception", None, capture_all=False)
    assert ds.passes == 5
    opts.max_real = 7  # --max-real also changes the key
    metric_main.dataset_features(opts, "inception", None, capture_all=False)
    assert ds.passes == 6
    assert len(glob.glob(str(tmp_path / "cache" / "*.npz"))) == 6
    # A corrupt entry is recomputed, not trusted.
    for p in glob.glob(str(tmp_path / "cache" / "*.npz")):
        with open(p, "wb") as f:
            f.write(b"garbage")
    metric_main.dataset_features(opts, "inception", None, capture_all=False)
    assert ds.passes == 7


# ---- plumbing ---------------------------------------------------------------------------------------

def test_batches_split_over_devices_keep_order():
    from stylegan2_tf.metrics.detectors import _split_over_devices
    x = np.arange(7 * 2 * 2 * 3, dtype=np.float32).reshape(7, 2, 2, 3)
    fn = lambda t: tf.reduce_sum(t, axis=[1, 2])  # noqa: E731
    whole = _split_over_devices(fn, x, devices=[])
    split = _split_over_devices(fn, x, devices=["/CPU:0"] * 3)  # shards of 3, 2, 2
    np.testing.assert_array_equal(split, whole)
    np.testing.assert_array_equal(whole, x.sum(axis=(1, 2)))
    with pytest.raises(ValueError, match="1 or 3"):
        CheapNetworks().detector("inception")(np.zeros((2, 8, 8, 4), np.uint8))


def test_metrics_equal_direct_math_on_same_features(tmp_path):
    ds, G = FakeDataset(n=30), FakeG()
    opts = metric_main.MetricOptions(G=G, dataset=ds, networks=CheapNetworks(), cache=None, batch_size=7,
                                     num_gen=20, progress=False)
    gen_imgs = np.concatenate(list(metric_main.generate_uint8_images(opts, 20, seed=0)))
    # uint8 conversion as in StyleGAN2-ADA: clip(x * 127.5 + 128).
    z = np.random.default_rng(0).standard_normal((20, G.z_dim)).astype(np.float32)
    expect = np.clip(np.asarray(G(z, np.zeros((20, 0)))) * 127.5 + 128, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(gen_imgs[:7], expect[:7])
    real_rgb = np.repeat(ds.images, 3, -1)
    fr, fg = _features("inception", real_rgb), _features("inception", np.repeat(gen_imgs, 3, -1))
    res = metric_main.calc_metric("fid50k_full", opts)["results"]
    mu_r, s_r = mm.feature_statistics(fr)
    mu_g, s_g = mm.feature_statistics(fg)
    assert res["fid50k_full"] == pytest.approx(mm.frechet_distance(mu_g, s_g, mu_r, s_r), rel=1e-5)
    res = metric_main.calc_metric("kid50k", opts)["results"]
    assert res["kid50k"] == pytest.approx(mm.kernel_distance(fr, fg, 100, 1000, seed=0), rel=1e-5, abs=1e-9)
    res = metric_main.calc_metric("pr50k3", opts)["results"]
    p, r = mm.precision_recall(_features("vgg16", real_rgb), _features("vgg16", np.repeat(gen_imgs, 3, -1)), 3)
    assert (res["pr50k3_precision"], res["pr50k3_recall"]) == (p, r)
    res = metric_main.calc_metric("is50k", opts)["results"]
    m, s = mm.inception_score(_features("inception_probs", np.repeat(gen_imgs, 3, -1)), 10)
    assert res["is50k_mean"] == pytest.approx(m, rel=1e-5)
    opts.max_real = 10  # --max-real caps the real set
    res = metric_main.calc_metric("fid50k_full", opts)["results"]
    mu_r, s_r = mm.feature_statistics(fr[:10])
    assert res["fid50k_full"] == pytest.approx(mm.frechet_distance(mu_g, s_g, mu_r, s_r), rel=1e-5)


def test_conditional_generator_gets_dataset_labels():
    ds = FakeDataset(n=12, label_dim=3)
    seen = []

    class Recording(FakeG):
        def __call__(self, z, c, **kw):
            seen.append(np.asarray(c))
            return super().__call__(z, c, **kw)

    opts = metric_main.MetricOptions(G=Recording(c_dim=3), dataset=ds, networks=CheapNetworks(), cache=None,
                                     batch_size=5, progress=False)
    list(metric_main.generate_uint8_images(opts, 12, seed=0))
    labels = np.concatenate(seen)
    assert labels.shape == (12, 3)
    assert all(any(np.array_equal(lab, d) for d in ds.labels) for lab in labels)


def test_report_metric_appends_jsonl_and_tensorboard(tmp_path):
    result = dict(results={"fid50k_full": 12.5}, metric="fid50k_full", total_time=1.0, random_weights=True)
    metric_main.report_metric(result, run_dir=str(tmp_path), snapshot_pkl="snap.pkl", step=3)
    result["results"]["fid50k_full"] = 11.0
    metric_main.report_metric(result, run_dir=str(tmp_path), snapshot_pkl="snap2.pkl", step=4)
    lines = open(tmp_path / "metric-fid50k_full.jsonl").read().splitlines()
    assert [json.loads(l)["results"]["fid50k_full"] for l in lines] == [12.5, 11.0]
    assert json.loads(lines[1])["snapshot_pkl"] == "snap2.pkl" and json.loads(lines[0])["random_weights"]
    assert glob.glob(str(tmp_path / "events.out.tfevents.*"))


def test_missing_weights_are_a_clear_error(tmp_path, monkeypatch):
    for v in ("STYLEGAN2_TF_INCEPTION", "STYLEGAN2_TF_VGG16", "STYLEGAN2_TF_LPIPS"):
        monkeypatch.delenv(v, raising=False)
    nets = FeatureNetworks()
    with pytest.raises(WeightsNotFoundError, match="classify_image_graph_def.pb.*--inception"):
        nets.detector("inception")
    nets = FeatureNetworks(vgg=str(tmp_path / "nope.pth"))
    with pytest.raises(WeightsNotFoundError, match="nope.pth.*vgg16-397923af.pth"):
        nets.detector("vgg16")
    monkeypatch.setenv("STYLEGAN2_TF_INCEPTION", str(tmp_path / "env.pb"))
    with pytest.raises(WeightsNotFoundError, match="env.pb"):
        FeatureNetworks().detector("inception")
    assert not FeatureNetworks().available(["inception"])
    skipped = metric_main.run_snapshot_metrics(["fid50k_full"], FakeG(), FakeDataset(), str(tmp_path))
    assert skipped == [] and not glob.glob(str(tmp_path / "metric-*.jsonl"))


def test_run_snapshot_metrics_for_training(tmp_path):
    # With networks available the training hook computes, appends and logs each metric.
    out = metric_main.run_snapshot_metrics(["fid50k_full", "kid50k"], FakeG(), FakeDataset(), str(tmp_path),
                                           snapshot_pkl="network-snapshot-000004.npz", step=4,
                                           networks=CheapNetworks(), num_gen=12, cache=None, progress=False)
    assert [r["metric"] for r in out] == ["fid50k_full", "kid50k"]
    for r in out:
        line = json.loads(open(tmp_path / f"metric-{r['metric']}.jsonl").read())
        assert line["snapshot_pkl"] == "network-snapshot-000004.npz" and line["results"] == r["results"]


# ---- PPL ---------------------------------------------------------------------------------------------

def _sq_dist(a, b):
    return ((a - b) ** 2).reshape(a.shape[0], -1).sum(1)


def test_ppl_w_space_equals_analytic_path_length():
    # mapping = identity, synthesis linear: img = w A, so d/eps^2 = 3 |(w1 - w0) A|^2 exactly (3: gray tiled).
    rng = np.random.default_rng(0)
    A = rng.standard_normal((4, 16 * 16))
    seen = []

    def mapping(z, c):
        seen.append(np.array(z))
        return z

    synth = lambda w: (w @ A).reshape(-1, 16, 16, 1)  # noqa: E731
    for sampling in ("end", "full"):
        seen.clear()
        d = ppl_distances(mapping, synth, _sq_dist, 4, 50, space="w", sampling=sampling, batch_size=16,
                          latent_dtype=np.float64)
        z = np.concatenate([s[:len(s) // 2] - s[len(s) // 2:] for s in seen])
        np.testing.assert_allclose(d, 3 * ((z @ A) ** 2).sum(1), rtol=1e-6)


@pytest.mark.parametrize("sampling", ["end", "full"])
def test_ppl_z_space_analytic_mean(sampling):
    # z_dim 2, identity mapping/synthesis: slerp moves at angular speed theta (angle between z0, z1),
    # theta ~ U(0, pi), so d/eps^2 -> 3 theta^2 for every t.  After keeping the 1st..99th percentile
    # the mean is 3 pi^2 (0.99^3 - 0.01^3) / (3 * 0.98).
    def synth(w):  # image = the 2 coordinates placed in two pixels
        img = np.zeros((w.shape[0], 16, 16, 1))
        img[:, 0, 0, 0], img[:, 0, 1, 0] = w[:, 0], w[:, 1]
        return img

    d = ppl_distances(lambda z, c: z, synth, _sq_dist, 2, 20000, space="z", sampling=sampling, batch_size=5000,
                      latent_dtype=np.float64, seed=1)
    expect = 3 * np.pi ** 2 * (0.99 ** 3 - 0.01 ** 3) / (3 * 0.98)
    assert mm.filter_ppl_distances(d) == pytest.approx(expect, rel=0.015)
    assert d.max() <= 3 * np.pi ** 2 * (1 + 1e-3)


def test_ppl_preprocessing_crop_and_downsample():
    x = np.arange(2 * 512 * 512).reshape(2, 512, 512, 1).astype(np.float64)
    y = preprocess_for_lpips(x, crop=True)  # crop 192:448 x 128:384 = 256x256, no downsample
    assert y.shape == (2, 256, 256, 3)
    np.testing.assert_array_equal(y[..., 0], x[:, 192:448, 128:384, 0])
    y = preprocess_for_lpips(x, crop=False)  # 512 -> 256 by 2x2 box averaging
    np.testing.assert_allclose(y[0, 3, 5, 1], x[0, 6:8, 10:12, 0].mean())
    with pytest.raises(ValueError, match="16x16"):
        preprocess_for_lpips(np.zeros((1, 24, 24, 3)), crop=True)  # crop leaves 12x12


# ---- calc_metrics end to end (random-weight feature networks) -----------------------------------------

def _load_tool():
    spec = importlib.util.spec_from_file_location("calc_metrics", os.path.join(ROOT, "tools", "calc_metrics.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _small_network(path):
    from stylegan2_tf.networks.stylegan2.generator import Generator
    from stylegan2_tf.serialization import save_network
    G = Generator(z_dim=16, w_dim=16, img_resolution=32, img_channels=1, mapping_layers=2, fmap_base=64,
                  fmap_max=16)
    G(np.zeros((1, 16), np.float32))
    save_network(str(path), G_ema=G)


def _demo_dataset(tmp_path):
    """The demo dataset (Fashion-MNIST, 32x32 gray) when installed, else a folder of 32x32 gray PNGs."""
    if os.path.isdir("/usr/share/datasets/fashion-mnist"):
        return "/usr/share/datasets/fashion-mnist"
    from PIL import Image
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        Image.fromarray(rng.integers(0, 256, (32, 32)).astype(np.uint8)).save(folder / f"{i}.png")
    return str(folder)


def test_calc_metrics_cli_end_to_end_random_weights(tmp_path):
    """The real CLI on a saved network and the demo dataset; one metric per feature network."""
    net = tmp_path / "network-snapshot-000000.npz"
    _small_network(net)
    env = {k: v for k, v in os.environ.items() if not k.startswith("STYLEGAN2_TF_")}
    env.update(OPENBLAS_NUM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="2")  # small eigensolves run faster single-threaded
    cmd = [sys.executable, os.path.join(ROOT, "tools", "calc_metrics.py"), "--network", str(net),
           "--data", _demo_dataset(tmp_path), "--metrics", "fid50k_full,pr50k3_full,is50k,ppl_wend",
           "--allow-random-weights", "--num-gen", "4", "--max-real", "5", "--batch", "5",
           "--cache-dir", str(tmp_path / "cache")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "RANDOM" in proc.stdout and "NOT comparable" in proc.stdout
    for name, keys in (("fid50k_full", ["fid50k_full"]), ("pr50k3_full", ["pr50k3_full_precision",
                                                                          "pr50k3_full_recall"]),
                       ("is50k", ["is50k_mean", "is50k_std"]), ("ppl_wend", ["ppl_wend"])):
        line = json.loads(open(tmp_path / f"metric-{name}.jsonl").read().splitlines()[-1])
        assert sorted(line["results"]) == sorted(keys)
        assert line["random_weights"] is True and line["snapshot_pkl"] == net.name
        assert all(np.isfinite(v) for v in line["results"].values())
    assert len(glob.glob(str(tmp_path / "cache" / "*.npz"))) == 2  # inception mean/cov + vgg16 features
    assert glob.glob(str(tmp_path / "events.out.tfevents.*"))


def test_calc_metrics_errors(tmp_path, monkeypatch):
    for v in ("STYLEGAN2_TF_INCEPTION", "STYLEGAN2_TF_VGG16", "STYLEGAN2_TF_LPIPS"):
        monkeypatch.delenv(v, raising=False)
    tool = _load_tool()
    net = str(tmp_path / "net.npz")
    # Without weights and without the flag: a clear error before any work.
    args = tool.parse_args(["--network", net, "--metrics", "fid50k_full"])
    with pytest.raises(FileNotFoundError, match="--inception"):
        tool.run(args, G=FakeG(res=32), dataset=FakeDataset(n=8, res=32))
    args = tool.parse_args(["--network", net, "--metrics", "ppl_wend", "--vgg", str(tmp_path / "v.pth")])
    with pytest.raises(FileNotFoundError, match="v.pth"):
        tool.run(args, G=FakeG(res=32), dataset=None)
    args = tool.parse_args(["--network", net, "--metrics", "fid50k_full", "--allow-random-weights"])
    with pytest.raises(ValueError, match="16px"):
        tool.run(args, G=FakeG(res=32), dataset=FakeDataset(n=8, res=16))
    with pytest.raises(SystemExit):
        tool.parse_args(["--network", net, "--metrics", "fid1k"])
    assert tool.main(["--network", net, "--metrics", "fid50k_full"]) == 2  # missing network file
