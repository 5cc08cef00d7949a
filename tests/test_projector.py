"""Projector: recovers a known latent of a small generator, noise regularizer definition, tool outputs, bad targets."""
import os
import subprocess
import sys

import numpy as np
import pytest
import keras
import tensorflow as tf

from stylegan2_tf import projector as P
from stylegan2_tf.networks import Generator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _tiny_generator(channels=3, noise_strength=0.1, seed=1):
    keras.utils.set_random_seed(seed)
    G = Generator(z_dim=16, w_dim=16, img_resolution=16, img_channels=channels, fmap_base=128, fmap_max=32,
                  mapping_layers=2, impl="ref")
    # Official init gives noise strength 0; make the noise matter so that its optimization is exercised.
    for v in G.trainable_variables:
        if "noise_strength" in v.path:
            v.assign(tf.fill(v.shape, noise_strength))
    return G


def _project_generated(noise_strength):
    G = _tiny_generator(noise_strength=noise_strength)
    z = np.random.RandomState(5).randn(1, 16).astype(np.float32)
    target = G(z, noise_mode="const").numpy()[0]
    cfg = P.ProjectorConfig(steps=200, w_avg_samples=1000)
    return G, target, cfg, P.project(G, target, cfg)


@pytest.fixture(scope="module")
def tiny():
    return _project_generated(noise_strength=0.0)


def _start_psnr(G, target):
    w_mean = np.tile(P.compute_w_stats(G, 1000, 0)[0][None, None], [1, G.num_ws, 1])
    return P.psnr(G.synthesis(w_mean, noise_mode="const").numpy()[0], target)


def test_projection_recovers_generated_image(tiny):
    """Noise strengths 0: the image depends on w alone, so projection must find it essentially exactly.

    8-bit quantization alone limits a saved PNG to ~59 dB on [-1, 1] images; 40 dB (1% RMS error) is well below one
    gray level, while the starting point (the mean of W) is far off (< 20 dB)."""
    G, target, cfg, result = tiny
    assert _start_psnr(G, target) < 20
    assert P.psnr(result.image, target) > 40


def test_projection_with_noise_inputs():
    """With noise inputs the target's noise realization can only be approximated by regularized noise maps, so
    the bar is lower: > 22 dB (measured ~25 dB at 200 steps) and a gain of > 12 dB over the start."""
    G, target, cfg, result = _project_generated(noise_strength=0.02)
    start = _start_psnr(G, target)
    got = P.psnr(result.image, target)
    assert got > 22 and got - start > 12, (start, got)


def test_loss_decreases_after_rampdown(tiny):
    G, target, cfg, result = tiny
    start = int(cfg.noise_ramp_length * cfg.steps)  # latent noise is zero from here on
    for name, series in (("loss", result.losses), ("distance", result.distances)):
        sampled = np.array(series[start::10])
        assert np.all(np.diff(sampled) < 0), f"{name} not decreasing after ramp-down: {sampled}"
    assert result.distances[-1] < 1e-3 * result.distances[0]


def test_saved_latent_renders_the_same_image(tiny, tmp_path):
    G, target, cfg, result = tiny
    path = str(tmp_path / "projected_w.npz")
    P.save_projection(path, result)
    w, noise = P.load_projection(path)
    assert w.shape == (1, G.num_ws, G.w_dim)
    np.testing.assert_array_equal(P.render_projected(G, w, noise), result.image)
    # The generator's own constant noise is restored after projection and rendering.
    z = np.random.RandomState(5).randn(1, 16).astype(np.float32)
    np.testing.assert_array_equal(G(z, noise_mode="const").numpy()[0], target)


def test_noise_regularization_matches_definition():
    r = np.random.RandomState(0)
    maps = [r.randn(16, 16).astype(np.float32), r.randn(8, 8).astype(np.float32)]

    def autocorr_sq(n):
        return np.mean(n * np.roll(n, 1, axis=1)) ** 2 + np.mean(n * np.roll(n, 1, axis=0)) ** 2

    expect = 0.0
    for n in maps:
        n = n.astype(np.float64)
        while True:
            expect += autocorr_sq(n)
            if n.shape[0] <= 8:
                break
            n = n.reshape(n.shape[0] // 2, 2, n.shape[1] // 2, 2).mean(axis=(1, 3)) * 2
    got = float(P.noise_regularization([tf.constant(m) for m in maps]))
    assert got == pytest.approx(expect, rel=1e-5)
    # A map made of constant 2x2 blocks is perfectly correlated with its one-pixel shift half of the time.
    blocks = np.kron(np.where(r.rand(8, 8) > 0.5, 1.0, -1.0), np.ones([2, 2])).astype(np.float32)
    assert float(P.noise_regularization([tf.constant(blocks)])) > 0.1


def test_schedules():
    cfg = P.ProjectorConfig(steps=1000)
    assert P.learning_rate_schedule(0, cfg) == 0.0
    assert P.learning_rate_schedule(500, cfg) == pytest.approx(0.1)
    assert P.learning_rate_schedule(875, cfg) == pytest.approx(0.05)
    assert P.latent_noise_strength(0, cfg, 2.0) == pytest.approx(0.1)
    assert P.latent_noise_strength(750, cfg, 2.0) == 0.0


def test_optimizer_steps_equal_numpy_tf1_adam():
    """make_optimizer with per-step learning rates follows TF1 AdamOptimizer (the official projector's) exactly:
    lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t), p -= lr_t * m / (sqrt(v) + eps). Gradients near eps make the
    placement of eps visible (the bias-corrected m_hat / (sqrt(v_hat) + eps) form moves those far less)."""
    cfg = P.ProjectorConfig(steps=8, lr_rampup_length=0.25)
    opt = P.make_optimizer()
    var = tf.Variable(np.zeros(4), dtype=tf.float64)
    opt.build([var])
    r = np.random.RandomState(0)
    p, m, v = np.zeros(4), np.zeros(4), np.zeros(4)
    for step in range(cfg.steps):
        g = r.randn(4) * np.array([1.0, 1e-3, 2e-8, 1e-9])
        lr = P.learning_rate_schedule(step, cfg)
        opt.learning_rate = lr
        lr = float(np.float32(lr))                          # Keras keeps the learning rate in a float32 variable
        opt.apply_gradients([(tf.constant(g), var)])
        t = step + 1
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        # The bias corrections use the betas rounded to float32 (Keras casts the python floats through float32).
        b1, b2 = float(np.float32(0.9)), float(np.float32(0.999))
        p = p - lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t) * m / (np.sqrt(v) + 1e-8)
        np.testing.assert_allclose(var.numpy(), p, rtol=1e-9, atol=1e-16)
    assert np.all(var.numpy() != 0)


def test_first_projection_step_is_lr_times_sign():
    """Adam's first step moves every parameter by lr * g / (|g| + eps / sqrt(1 - beta2)) = lr * sign(g) for g >> eps:
    the projected w after one step (no ramp-up, lr 0.1 at step 0) is w_avg +- 0.1 in every component."""
    G = _tiny_generator()
    target = np.zeros([16, 16, 3], np.float32)
    cfg = P.ProjectorConfig(steps=1, w_avg_samples=200, lr_rampup_length=0.0)
    assert P.learning_rate_schedule(0, cfg) == pytest.approx(0.1)
    result = P.project(G, target, cfg, record_w=True)
    w_avg = P.compute_w_stats(G, cfg.w_avg_samples, cfg.seed)[0]
    np.testing.assert_allclose(np.abs(result.w_history[0][0] - w_avg), 0.1, rtol=1e-4)


def _write_snapshot(tmp_path, channels=3):
    from stylegan2_tf.serialization import save_network
    G = _tiny_generator(channels)
    path = str(tmp_path / f"net{channels}.npz")
    save_network(path, G=G, G_ema=G)
    return path


def _run_tool(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, os.path.join(ROOT, "tools", "project.py"), *args], capture_output=True,
                          text=True, env=env, timeout=600)


def test_tool_writes_outputs_and_generate_renders_them(tmp_path):
    from PIL import Image
    net = _write_snapshot(tmp_path)
    target = tmp_path / "photo.png"
    rgb = (np.random.RandomState(0).rand(24, 20, 3) * 255).astype(np.uint8)  # non-square: gets center-cropped
    Image.fromarray(rgb).save(target)
    out = tmp_path / "out"
    res = _run_tool(f"--network={net}", f"--target={target}", f"--outdir={out}", "--steps=20", "--w-avg-samples=200",
                    "--save-video", "--video-every=5")
    assert res.returncode == 0, res.stderr[-3000:]
    for name in ("proj.png", "target.png", "projected_w.npz", "proj.gif"):
        assert (out / name).is_file(), name
    assert Image.open(out / "proj.png").size == (16, 16)
    assert "psnr_db=" in res.stdout and "final_loss=" in res.stdout
    with np.load(out / "projected_w.npz") as data:
        assert data["w"].shape == (1, 6, 16)
    # generate.py renders the saved latent (with its noise maps) to exactly proj.png.
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
    res = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "generate.py"), f"--network={net}",
                          f"--projected-w={out / 'projected_w.npz'}", f"--outdir={out / 'render'}"],
                         capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    np.testing.assert_array_equal(np.asarray(Image.open(out / "render" / "projected.png")),
                                  np.asarray(Image.open(out / "proj.png")))

    seeds_out = tmp_path / "seeds"
    res = _run_tool(f"--network={net}", "--seeds=0-1", f"--outdir={seeds_out}", "--steps=5", "--w-avg-samples=100")
    assert res.returncode == 0, res.stderr[-3000:]
    assert (seeds_out / "seed0000" / "proj.png").is_file() and (seeds_out / "seed0001" / "projected_w.npz").is_file()


@pytest.mark.parametrize("content,mode,match", [
    (b"this is not an image", None, "not a readable image"),
    (None, "RGBA", "4 channel"),
    (None, "L", "1 channel"),
])
def test_bad_targets_are_clear_errors(tmp_path, content, mode, match):
    from PIL import Image
    path = tmp_path / "bad.png"
    if content is not None:
        path.write_bytes(content)
    else:
        Image.new(mode, (8, 8)).save(path)
    with pytest.raises(ValueError, match=match):
        P.load_target_image(str(path), 16, 3)
    with pytest.raises(ValueError, match="not found"):
        P.load_target_image(str(tmp_path / "missing.png"), 16, 3)


def test_tool_reports_bad_target_without_traceback(tmp_path):
    net = _write_snapshot(tmp_path)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"garbage")
    res = _run_tool(f"--network={net}", f"--target={bad}", f"--outdir={tmp_path / 'o'}", "--steps=2")
    assert res.returncode == 2
    assert "not a readable image" in res.stderr and "Traceback" not in res.stderr


def test_tool_with_lpips_weights(tmp_path):
    """The LPIPS path: VGG16 + LPIPS weights in the torchvision/LPIPS .pth formats (random values here)."""
    from stylegan2_tf.metrics import weights as wio
    from stylegan2_tf.metrics.vgg16 import LPIPS_CHANNELS
    from test_metrics_vgg import torchvision_vgg16_state
    rng = np.random.default_rng(0)
    state = torchvision_vgg16_state(0, include_top=False)
    state.update({f"lin{i}.model.1.weight": rng.uniform(0, 1, c).astype(np.float32).reshape(1, -1, 1, 1)
                  for i, c in enumerate(LPIPS_CHANNELS)})
    vgg = tmp_path / "vgg_lpips.pth"
    wio.write_pth(str(vgg), state)
    net = _write_snapshot(tmp_path)
    out = tmp_path / "lp"
    res = _run_tool(f"--network={net}", "--seeds=3", f"--outdir={out}", "--steps=4", "--w-avg-samples=100",
                    f"--vgg={vgg}")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "final_lpips=" in res.stdout and (out / "seed0003" / "proj.png").is_file()
