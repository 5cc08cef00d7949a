"""StyleGAN2 losses and regularizers (Karras et al. 2020, sections 2-3 and appendix B).

All functions return *per-sample* values; the training step reduces them with the global batch size so
that gradients summed over replicas equal the gradients of the global-batch mean.

* non-saturating logistic loss: G minimises softplus(-D(G(z))); D minimises softplus(D(G(z))) + softplus(-D(x)).
* R1 (Mescheder et al. 2018): ||grad_x D(x)||^2 on reals, weighted by gamma/2.
* path-length regularization: for y ~ N(0, I) / sqrt(H*W) in image space, a = ||J_w^T y||_2 with the norm
  taken over w_dim and averaged over the num_ws layers (official: sqrt(mean_layers(sum_dim(g^2)))),
  penalty (a - a_mean)^2 where a_mean is an exponential moving average with decay ``pl_decay``.
"""

from __future__ import annotations

from typing import Callable, Optional, Tuple

import tensorflow as tf

from stylegan2_tf.networks.generator import mix_styles, style_mixing_cutoff


def g_nonsaturating_loss(fake_logits: tf.Tensor) -> tf.Tensor:
    """softplus(-D(G(z))) per sample. fake_logits [N, 1] -> [N]."""
    return tf.reshape(tf.nn.softplus(-fake_logits), [-1])


def d_logistic_loss(real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tf.Tensor:
    """softplus(D(fake)) + softplus(-D(real)) per sample. [N, 1], [N, 1] -> [N]."""
    return tf.reshape(tf.nn.softplus(fake_logits), [-1]) + tf.reshape(tf.nn.softplus(-real_logits), [-1])


def r1_penalty(d_fn: Callable[[tf.Tensor], tf.Tensor], reals: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
    """R1: squared L2 norm of the gradient of D's logits w.r.t. the real images, per sample.

    d_fn: images [N, H, W, C] -> logits [N, 1] (labels already bound).
    Returns (penalty [N], real_logits [N, 1]). The gradient of sum(logits) gives each sample's own
    gradient because samples do not interact (up to minibatch-stddev, as in the official code).
    """
    reals = tf.convert_to_tensor(reals)
    with tf.GradientTape() as tape:
        tape.watch(reals)
        logits = d_fn(reals)
        total = tf.reduce_sum(logits)
    grads = tape.gradient(total, reals)
    return tf.reduce_sum(tf.square(grads), axis=list(range(1, grads.shape.rank))), logits


def path_length_noise(image_shape, seed) -> tf.Tensor:
    """y ~ N(0, 1) / sqrt(H * W) with the image's shape [N, H, W, C] (stateless, from ``seed`` [2])."""
    image_shape = tf.convert_to_tensor(image_shape)
    hw = tf.cast(image_shape[1] * image_shape[2], tf.float32)
    return tf.random.stateless_normal(image_shape, seed=seed) / tf.sqrt(hw)


def path_lengths(synthesis_fn: Callable[[tf.Tensor], tf.Tensor], ws: tf.Tensor,
                 noise: Optional[tf.Tensor] = None, seed=None) -> Tuple[tf.Tensor, tf.Tensor]:
    """Per-sample path length ||J_w^T y|| (official reduction).

    synthesis_fn: ws [N, num_ws, w_dim] -> images [N, H, W, C].
    noise: y with the image's shape; drawn from ``seed`` with :func:`path_length_noise` if None.
    Returns (lengths [N], images).
    """
    ws = tf.convert_to_tensor(ws)
    with tf.GradientTape() as tape:
        tape.watch(ws)
        images = synthesis_fn(ws)
        if noise is None:
            noise = path_length_noise(tf.shape(images), seed)
        total = tf.reduce_sum(images * tf.cast(noise, images.dtype))
    grads = tape.gradient(total, ws)  # J^T y, [N, num_ws, w_dim]
    return tf.sqrt(tf.reduce_mean(tf.reduce_sum(tf.square(grads), axis=2), axis=1)), images


def update_pl_mean(pl_mean: tf.Tensor, batch_mean_length: tf.Tensor, decay: float) -> tf.Tensor:
    """Exponential moving average: pl_mean + decay * (mean_length - pl_mean)."""
    return pl_mean + decay * (batch_mean_length - pl_mean)


def path_length_penalty(lengths: tf.Tensor, pl_mean: tf.Tensor) -> tf.Tensor:
    """(a - a_mean)^2 per sample; a_mean is the *updated* moving average as in the official code."""
    return tf.square(lengths - tf.stop_gradient(pl_mean))


def style_mix(ws: tf.Tensor, ws2: tf.Tensor, prob: float, seed) -> tf.Tensor:
    """With probability ``prob`` take ws2 from a random crossover layer in [1, num_ws) on (one draw per batch).

    ws, ws2: [N, num_ws, w_dim]; seed: stateless seed [2]. Delegates to the networks' crossover.
    """
    if prob <= 0:
        return ws
    num_ws = ws.shape[1] if ws.shape[1] is not None else tf.shape(ws)[1]
    return mix_styles(ws, ws2, style_mixing_cutoff(num_ws, prob, seed))
