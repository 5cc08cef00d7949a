"""Projection of an image into the latent space of a generator (StyleGAN2 paper, Appendix D).

Optimizes one w (shared by all layers, as in the paper; optionally one per layer, "W+") together with the constant
noise maps of the synthesis network:
  * w starts at the mean of W (estimated from `w_avg_samples` mapped latents); noise maps start at N(0, 1).
  * Adam (Keras' = TF1's AdamOptimizer, see `make_optimizer`), learning rate `initial_learning_rate` with a cosine
    ramp-down over the last `lr_rampdown_length` of the steps and a linear ramp-up over the first `lr_rampup_length`.
  * Gaussian noise is added to w, of strength sigma_w * initial_noise_factor * max(0, 1 - t / noise_ramp_length)^2,
    where sigma_w^2 is the mean squared distance of w from its mean.
  * Loss = image distance (LPIPS with VGG16 weights from a local file, or pixel MSE) + `regularize_noise_weight` *
    the noise regularizer (squared auto-correlation of each noise map at one-pixel shifts, over a pyramid
    down to 8x8); after every step each noise map is renormalized to zero mean and unit variance.
"""
from __future__ import annotations

import dataclasses
import os
import math
from typing import Callable, Dict, List, Optional

import keras
import numpy as np
import tensorflow as tf

from stylegan2_tf.atomic_io import atomic_write
from stylegan2_tf.training.loss_scale import DynamicLossScale, apply_if

DistanceFn = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]  # (images, target) in [-1, 1] NHWC -> [N]


@dataclasses.dataclass
class ProjectorConfig:
    steps: int = 1000
    initial_learning_rate: float = 0.1
    lr_rampdown_length: float = 0.25
    lr_rampup_length: float = 0.05
    initial_noise_factor: float = 0.05
    noise_ramp_length: float = 0.75
    regularize_noise_weight: float = 1e5
    w_avg_samples: int = 10000
    w_plus: bool = False
    seed: int = 303


@dataclasses.dataclass
class ProjectionResult:
    w: np.ndarray                     # [num_ws, w_dim]: the projected latent, broadcast to every layer unless W+
    noise: Dict[str, np.ndarray]      # noise{i} -> [H, W] optimized noise maps
    image: np.ndarray                 # [H, W, C] float32 raw synthesis output (about [-1, 1])
    losses: List[float]               # total loss per step
    distances: List[float]            # image distance per step
    w_history: Optional[np.ndarray]   # [steps, num_ws, w_dim] if requested


def learning_rate_schedule(step: int, cfg: ProjectorConfig) -> float:
    """Learning rate at `step` (0-based) of `cfg.steps`."""
    t = step / cfg.steps
    ramp = min(1.0, (1.0 - t) / cfg.lr_rampdown_length)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    ramp = ramp * min(1.0, t / cfg.lr_rampup_length) if cfg.lr_rampup_length > 0 else ramp
    return cfg.initial_learning_rate * ramp


def make_optimizer() -> keras.optimizers.Adam:
    """The official projector's optimizer: Adam with beta1 0.9, beta2 0.999, epsilon 1e-8.

    Keras' Adam is TF1's `tf.train.AdamOptimizer` (what the official projector runs): step
    lr * sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + eps). The learning rate is assigned before every step
    from `learning_rate_schedule`.
    """
    return keras.optimizers.Adam(learning_rate=0.0, beta_1=0.9, beta_2=0.999, epsilon=1e-8, name="projector_adam")


def latent_noise_strength(step: int, cfg: ProjectorConfig, w_std: float) -> float:
    t = step / cfg.steps
    return w_std * cfg.initial_noise_factor * max(0.0, 1.0 - t / cfg.noise_ramp_length) ** 2


def noise_regularization(noise_maps: List[tf.Tensor]) -> tf.Tensor:
    """Sum over maps and pyramid levels (down to 8x8) of the squared mean products with 1-pixel shifted copies.

    Each level is the previous one 2x2-average-pooled and multiplied by 2, which keeps unit-variance white noise at
    unit variance. Shifts wrap around (the maps are treated as periodic). Maps are [H, W].
    """
    reg = tf.constant(0.0, tf.float32)
    for n in noise_maps:
        n = tf.cast(n, tf.float32)
        while True:
            reg += tf.square(tf.reduce_mean(n * tf.roll(n, shift=1, axis=1)))
            reg += tf.square(tf.reduce_mean(n * tf.roll(n, shift=1, axis=0)))
            if n.shape[0] <= 8:
                break
            h, w = n.shape
            n = tf.reduce_mean(tf.reshape(n, [h // 2, 2, w // 2, 2]), axis=[1, 3]) * 2.0
    return reg


def mse_distance(images: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """Mean squared pixel difference per image; images and target [N, H, W, C] in [-1, 1]."""
    return tf.reduce_mean(tf.square(images - target), axis=[1, 2, 3])


def lpips_distance(lpips_model) -> DistanceFn:
    """Wraps an LPIPS model (`stylegan2_tf.metrics.vgg16.LPIPS`) as a projector distance.

    Grayscale images are tiled to RGB; images larger than 256 px are area-downsampled to 256 first, as LPIPS was
    calibrated on 64-256 px patches.
    """
    def distance(images: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
        def prep(x):
            if x.shape[-1] == 1:
                x = tf.tile(x, [1, 1, 1, 3])
            if x.shape[1] > 256:
                factor = x.shape[1] // 256
                x = tf.nn.avg_pool2d(x, factor, factor, "VALID")
            return x
        images = prep(images)
        return lpips_model((images, tf.broadcast_to(prep(target), tf.shape(images))))
    return distance


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two images in [-1, 1] (peak-to-peak range 2)."""
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * math.log10(4.0 / mse)


def _noise_variables(G) -> list:
    """The synthesis network's constant noise buffers as tf.Variables (Keras 3 wraps them; tapes need the inner one)."""
    return [getattr(v, "value", v) if not isinstance(v, tf.Variable) else v for v in G.synthesis.noise_const]


def compute_w_stats(G, num_samples: int, seed: int, batch: int = 1000):
    """Mean of w over `num_samples` mapped latents and sigma_w = sqrt(mean ||w - w_mean||^2)."""
    rnd = np.random.RandomState(seed)
    ws = []
    for start in range(0, num_samples, batch):
        z = rnd.randn(min(batch, num_samples - start), G.z_dim).astype(np.float32)
        c = np.zeros([z.shape[0], G.c_dim], np.float32) if G.c_dim else None
        ws.append(G.mapping(z, c).numpy()[:, 0, :].astype(np.float64))
    ws = np.concatenate(ws)
    w_avg = ws.mean(axis=0)
    w_std = float(np.sqrt(np.sum((ws - w_avg) ** 2) / len(ws)))
    return w_avg.astype(np.float32), w_std


def project(G, target: np.ndarray, cfg: ProjectorConfig = ProjectorConfig(), distance: Optional[DistanceFn] = None,
            record_w: bool = False, verbose: bool = False, progress: Optional[Callable[[int, float, float], None]] = None
            ) -> ProjectionResult:
    """Finds w (and noise maps) such that G.synthesis(w, noise_mode='const') reproduces `target`.

    Args:
        G: a Generator (see `stylegan2_tf.networks`); its constant noise buffers are used as the optimized noise and
           restored afterwards.
        target: [H, W, C] float image in [-1, 1] at the network's resolution and channel count.
        distance: image distance (default: pixel MSE).
    """
    target = np.asarray(target, np.float32)
    expected = (G.img_resolution, G.img_resolution, G.img_channels)
    if target.shape != expected:
        raise ValueError(f"target must be {expected} (H, W, C) for this network, got {target.shape}")
    if cfg.steps < 1:
        raise ValueError(f"steps must be >= 1, got {cfg.steps}")
    distance = distance or mse_distance
    w_avg, w_std = compute_w_stats(G, cfg.w_avg_samples, cfg.seed)
    num_ws = G.num_ws if cfg.w_plus else 1
    w_opt = tf.Variable(np.tile(w_avg[None], [num_ws, 1]), dtype=tf.float32, name="w_opt")
    noise_vars = _noise_variables(G)
    saved_noise = [v.numpy() for v in noise_vars]
    rng = np.random.RandomState(cfg.seed)
    for v in noise_vars:
        v.assign(rng.randn(*v.shape).astype(np.float32))
    params = [w_opt] + noise_vars
    opt = make_optimizer()
    opt.build(params)
    target_t = tf.constant(target[None])
    # A float16 synthesis network backpropagates through float16 blocks: dynamic loss scaling as in training.
    scaler = DynamicLossScale("projector_loss_scale") if getattr(G, "precision", "fp32") == "fp16" else None

    @tf.function
    def step_fn(w_noise):
        with tf.GradientTape() as tape:
            tape.watch(noise_vars)
            w = w_opt + w_noise
            ws = tf.broadcast_to(w[tf.newaxis], [1, G.num_ws, G.w_dim]) if num_ws == 1 else w[tf.newaxis]
            img = G.synthesis(ws, noise_mode="const")
            dist = tf.reduce_sum(distance(img, target_t))
            reg = noise_regularization(noise_vars) if noise_vars else tf.constant(0.0)
            loss = dist + cfg.regularize_noise_weight * reg
            scaled = loss if scaler is None else loss * scaler.scale
        grads = tape.gradient(scaled, params)
        if scaler is None:
            opt.apply_gradients(zip(grads, params))
        else:  # a step whose scaled gradients overflowed is skipped, and the scale halved
            finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads])
            apply_if(opt, [g / scaler.scale for g in grads], params, finite)
            scaler.update(finite)
        for n in noise_vars:  # renormalize to zero mean, unit variance
            centered = n - tf.reduce_mean(n)
            n.assign(centered * tf.math.rsqrt(tf.reduce_mean(tf.square(centered))))
        return loss, dist

    losses, distances, history = [], [], []
    try:
        for step in range(cfg.steps):
            strength = latent_noise_strength(step, cfg, w_std)
            w_noise = rng.randn(num_ws, G.w_dim).astype(np.float32) * strength
            opt.learning_rate = learning_rate_schedule(step, cfg)   # assigns the optimizer's variable
            loss, dist = step_fn(tf.constant(w_noise))
            losses.append(float(loss))
            distances.append(float(dist))
            if record_w:
                history.append(np.broadcast_to(w_opt.numpy(), [G.num_ws, G.w_dim]).copy())
            if progress is not None:
                progress(step, losses[-1], distances[-1])
            if verbose and (step % 100 == 0 or step == cfg.steps - 1):
                print(f"step {step + 1:>5d}/{cfg.steps}: dist {dist:<8.5f} loss {loss:<10.5f}", flush=True)
        w_final = np.broadcast_to(w_opt.numpy(), [G.num_ws, G.w_dim]).copy()
        noise = {f"noise{i}": v.numpy() for i, v in enumerate(noise_vars)}
        image = G.synthesis(w_final[None], noise_mode="const").numpy()[0]
    finally:  # the generator keeps its own constant noise
        for v, value in zip(noise_vars, saved_noise):
            v.assign(value)
    return ProjectionResult(w=w_final, noise=noise, image=image, losses=losses, distances=distances,
                            w_history=np.stack(history) if record_w else None)


def load_target_image(path: str, resolution: int, channels: int):
    """Reads an image, checks its channels, center-crops it square and resizes it -> [H, W, C] float32 in [-1, 1]."""
    from PIL import Image, UnidentifiedImageError
    if not os.path.isfile(path):
        raise ValueError(f"target image not found: {path}")
    try:
        img = Image.open(path)
        img.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"target {path} is not a readable image: {exc}") from exc
    if img.mode == "P":
        img = img.convert("RGB")
    if img.mode in ("I;16", "I", "F"):
        raise ValueError(f"target {path} has mode {img.mode}; use an 8-bit grayscale or RGB image")
    have = len(img.getbands())
    if have != channels:
        raise ValueError(f"target {path} has {have} channel(s) ({img.mode}) but the network generates "
                         f"{channels}-channel images; convert it first (e.g. to {'L' if channels == 1 else 'RGB'})")
    w, h = img.size
    s = min(w, h)
    img = img.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
    img = img.resize((resolution, resolution), Image.LANCZOS)
    arr = np.asarray(img, dtype=np.float32).reshape(resolution, resolution, channels)
    return arr / 127.5 - 1.0



def render_projected(G, w: np.ndarray, noise: Optional[Dict[str, np.ndarray]] = None) -> np.ndarray:
    """Renders a saved projection: w [num_ws, w_dim] (or [1, ...]) with its noise maps; returns [H, W, C]."""
    w = np.asarray(w, np.float32).reshape([-1, G.num_ws, G.w_dim])
    noise_vars = _noise_variables(G)
    saved = [v.numpy() for v in noise_vars]
    try:
        if noise:
            for i, v in enumerate(noise_vars):
                key = f"noise{i}"
                if key not in noise:
                    raise ValueError(f"projection file lacks {key}")
                if tuple(noise[key].shape) != tuple(v.shape):
                    raise ValueError(f"{key} has shape {noise[key].shape}, the network expects {tuple(v.shape)}")
                v.assign(noise[key])
        return G.synthesis(w, noise_mode="const").numpy()[0]
    finally:
        for v, value in zip(noise_vars, saved):
            v.assign(value)


def save_projection(path: str, result: ProjectionResult) -> None:
    """Writes projected_w.npz atomically: `w` [1, num_ws, w_dim] and the noise maps."""
    atomic_write(path, lambda f: np.savez(f, w=result.w[None], **result.noise))


def load_projection(path: str):
    """Reads projected_w.npz -> (w [1, num_ws, w_dim], noise dict)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"projected latent file not found: {path}")
    try:
        with np.load(path) as data:
            if "w" not in data:
                raise ValueError(f"{path} has no array 'w'; is it a projected_w.npz written by tools/project.py?")
            return data["w"], {k: data[k] for k in data.files if k.startswith("noise")}
    except (OSError, ValueError) as exc:
        if isinstance(exc, ValueError) and "has no array" in str(exc):
            raise
        raise ValueError(f"cannot read projected latent file {path}: {exc}") from exc
