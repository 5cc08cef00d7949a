"""StyleGAN2 losses and regularizers (Karras et al. 2020, sections 2-3 and appendix B).

:class:`StyleGAN2Loss` has one method per phase (G main, G regularization, D main, D regularization), each
returning its objective and stats; the pure formulas below it do the arithmetic. Phases know nothing of
strategies or optimizers: the trainer hands them their random inputs and a :class:`BatchReducer`.

All functions return *per-sample* values; the training step reduces them with the global batch size so
that gradients summed over replicas equal the gradients of the global-batch mean.

* non-saturating logistic loss: G minimises softplus(-D(G(z))); D minimises softplus(D(G(z))) + softplus(-D(x)).
* R1 (Mescheder et al. 2018): ||grad_x D(x)||^2 on reals, weighted by gamma/2.
* path-length regularization: for y ~ N(0, I) / sqrt(H*W) in image space, a = ||J_w^T y||_2 with the norm
  taken over w_dim and averaged over the num_ws layers (official: sqrt(mean_layers(sum_dim(g^2)))),
  penalty (a - a_mean)^2 where a_mean is an exponential moving average with decay ``pl_decay``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Sequence, Tuple

import tensorflow as tf

from stylegan2_tf.networks.stylegan2.generator import mix_styles, style_mixing_cutoff
from stylegan2_tf.ops import filter2d


def g_nonsaturating_loss(fake_logits: tf.Tensor) -> tf.Tensor:
    """softplus(-D(G(z))) per sample. fake_logits [N, 1] -> [N]."""
    return tf.reshape(tf.nn.softplus(-fake_logits), [-1])


def d_logistic_loss(real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tf.Tensor:
    """softplus(D(fake)) + softplus(-D(real)) per sample. [N, 1], [N, 1] -> [N]."""
    return tf.reshape(tf.nn.softplus(fake_logits), [-1]) + tf.reshape(tf.nn.softplus(-real_logits), [-1])


def _scaled(x: tf.Tensor, grad_scale) -> tf.Tensor:
    return x if grad_scale is None else x * tf.cast(grad_scale, x.dtype)


def _unscaled(g: tf.Tensor, grad_scale) -> tf.Tensor:
    return g if grad_scale is None else g / tf.cast(grad_scale, g.dtype)


def r1_penalty(d_fn: Callable[[tf.Tensor], tf.Tensor], reals: tf.Tensor,
               grad_scale=None) -> Tuple[tf.Tensor, tf.Tensor]:
    """R1: squared L2 norm of the gradient of D's logits w.r.t. the real images, per sample.

    d_fn: images [N, H, W, C] -> logits [N, 1] (labels already bound).
    grad_scale: loss scale S for a float16 D (see loss_scale.py): the gradient is taken of S * sum(logits), so that
    it does not underflow in D's float16 blocks, and divided by S (in float32) before it is squared.
    Returns (penalty [N], real_logits [N, 1]). The gradient of sum(logits) gives each sample's own
    gradient because samples do not interact (up to minibatch-stddev, as in the official code).
    """
    reals = tf.convert_to_tensor(reals)
    with tf.GradientTape() as tape:
        tape.watch(reals)
        logits = d_fn(reals)
        total = _scaled(tf.reduce_sum(logits), grad_scale)
    grads = _unscaled(tape.gradient(total, reals), grad_scale)
    return tf.reduce_sum(tf.square(grads), axis=list(range(1, grads.shape.rank))), logits


def blur_filter(sigma, max_sigma: float) -> tf.Tensor:
    """StyleGAN3's blur of D's inputs (config R, at the start of training): taps 2^(-(x / sigma)^2) for integer
    |x| <= floor(3 sigma), normalised. Laid out on the fixed support |x| <= floor(3 max_sigma) (zeros beyond
    floor(3 sigma)) so that one graph serves every sigma of the fade; filtering with it equals filtering with the
    short filter. sigma: float32 scalar tensor > 0."""
    reach = int(math.floor(3 * max_sigma))
    x = tf.range(-reach, reach + 1, dtype=tf.float32)
    taps = tf.where(tf.abs(x) <= tf.floor(3 * sigma), tf.pow(2.0, -tf.square(x / sigma)), 0.0)
    return taps / tf.reduce_sum(taps)


def path_length_noise(image_shape, seed) -> tf.Tensor:
    """y ~ N(0, 1) / sqrt(H * W) with the image's shape [N, H, W, C] (stateless, from ``seed`` [2])."""
    image_shape = tf.convert_to_tensor(image_shape)
    hw = tf.cast(image_shape[1] * image_shape[2], tf.float32)
    return tf.random.stateless_normal(image_shape, seed=seed) / tf.sqrt(hw)


def path_lengths(synthesis_fn: Callable[[tf.Tensor], tf.Tensor], ws: tf.Tensor,
                 noise: Optional[tf.Tensor] = None, seed=None, grad_scale=None) -> Tuple[tf.Tensor, tf.Tensor]:
    """Per-sample path length ||J_w^T y|| (official reduction).

    synthesis_fn: ws [N, num_ws, w_dim] -> images [N, H, W, C].
    noise: y with the image's shape; drawn from ``seed`` with :func:`path_length_noise` if None.
    grad_scale: loss scale S for a float16 G: J^T (S y) is computed and divided by S (as in :func:`r1_penalty`).
    Returns (lengths [N], images).
    """
    ws = tf.convert_to_tensor(ws)
    with tf.GradientTape() as tape:
        tape.watch(ws)
        images = synthesis_fn(ws)
        if noise is None:
            noise = path_length_noise(tf.shape(images), seed)
        total = _scaled(tf.reduce_sum(images * tf.cast(noise, images.dtype)), grad_scale)
    grads = _unscaled(tape.gradient(total, ws), grad_scale)  # J^T y, [N, num_ws, w_dim]
    return tf.sqrt(tf.reduce_mean(tf.reduce_sum(tf.square(grads), axis=2), axis=1)), images


def update_pl_mean(pl_mean: tf.Tensor, batch_mean_length: tf.Tensor, decay: float) -> tf.Tensor:
    """Exponential moving average: pl_mean + decay * (mean_length - pl_mean)."""
    return pl_mean + decay * (batch_mean_length - pl_mean)


def path_length_penalty(lengths: tf.Tensor, pl_mean: tf.Tensor) -> tf.Tensor:
    """(a - a_mean)^2 per sample; a_mean is the *updated* moving average as in the official code.

    Both official codes keep the updated mean differentiable: its batch-mean part passes gradient to the
    lengths (only the stored copy of the average is detached).
    """
    return tf.square(lengths - pl_mean)


def style_mix(ws: tf.Tensor, ws2: tf.Tensor, prob: float, seed, active_ws=None) -> tf.Tensor:
    """With probability ``prob`` take ws2 from a random crossover layer in [1, active_ws) on (one draw per batch).

    ws, ws2: [N, num_ws, w_dim]; seed: stateless seed [2]; active_ws: the layers in use (growing networks at a
    level of detail lod use num_ws - 2 * floor(lod), as the official G_style / G_main); default num_ws. Without a
    mix the cutoff is active_ws (the official code then gives the unused layers ws2). Delegates to the networks'
    crossover.
    """
    if prob <= 0:
        return ws
    if active_ws is None:
        active_ws = ws.shape[1] if ws.shape[1] is not None else tf.shape(ws)[1]
    return mix_styles(ws, ws2, style_mixing_cutoff(active_ws, prob, seed))


# ------------------------------------------------------------------------------------------------
# The loss object: one method per phase.


@dataclass
class BatchReducer:
    """How a phase turns per-sample values on this replica into contributions to global-batch means.

    mean(x [n]) = sum(x) / (n * num_replicas): summed over replicas (as gradients and stats are) it is the mean
    over the global batch. global_mean(x [n]) is that global mean itself, on every replica (differentiable).
    The default is one device.
    """
    num_replicas: int = 1
    all_reduce_sum: Callable[[tf.Tensor], tf.Tensor] = lambda x: x

    def mean(self, x: tf.Tensor) -> tf.Tensor:
        n = tf.cast(tf.shape(x)[0], x.dtype)
        return tf.reduce_sum(x) / (n * self.num_replicas)

    def global_mean(self, x: tf.Tensor) -> tf.Tensor:
        return self.all_reduce_sum(self.mean(x))


@dataclass
class GenInputs:
    """The random inputs of one generator evaluation on this replica (drawn by the trainer).

    z, z2 [n, z_dim] (z2: the style-mixing latent); c [n, c_dim] or None; mix_seed: stateless seed [2] of the
    crossover draw; noise: per-layer noise [n, H, W, 1] (see SynthesisNetwork.noise_shapes) or None; active_ws: int32
    scalar, the style layers in use at the current level of detail (progressive growing), or None for all.
    """
    z: tf.Tensor
    z2: tf.Tensor
    c: Optional[tf.Tensor]
    mix_seed: tf.Tensor
    noise: Optional[Sequence[tf.Tensor]] = None
    active_ws: Optional[tf.Tensor] = None


class StyleGAN2Loss:
    """The StyleGAN2 objectives, one method per phase term (stylegan2-ada's Gmain/Greg/Dmain/Dreg).

    Each term returns ``(objective, stats)``: ``objective`` is this replica's contribution to the global-batch
    mean (scaled by its weight), ``stats`` a dict of scalars in the same convention. ``augment(images, seed)``
    (an AugmentPipe, see augment.py) wraps every image D sees, reals and fakes, with fresh parameters per call drawn
    from the stateless ``aug_seed`` [2] a term receives; R1 differentiates with respect to the un-augmented reals,
    through the augmentation. The D terms also report 'Loss/signs/real', the mean sign of D's logits on the
    (augmented) reals, ADA's overfitting heuristic. ``lod_level``: for growing networks, the static floor(lod) the step
    is traced for (their graph without tf.cond, which second-order gradients need; see networks/growing.py); None
    otherwise.
    """

    def __init__(self, G, D, *, r1_gamma: float = 10.0, pl_weight: float = 2.0, pl_decay: float = 0.01,
                 style_mixing_prob: float = 0.9, augment: Optional[Callable[..., tf.Tensor]] = None,
                 lod_level: Optional[int] = None, blur_sigma: float = 0.0):
        self.G, self.D = G, D
        self.r1_gamma, self.pl_weight, self.pl_decay = float(r1_gamma), float(pl_weight), float(pl_decay)
        self.style_mixing_prob = float(style_mixing_prob)
        self.augment = augment
        self.max_blur_sigma = float(blur_sigma)   # the blur's start; the step passes the current sigma
        self._net_kw = {} if lod_level is None else {'lod_level': int(lod_level)}
        # StyleGAN3 (as NVlabs/stylegan3's loss): the moving averages of the generator (w_avg, the layers' input
        # magnitudes) are updated only by the G evaluation of D's phase; StyleGAN2 updates w_avg at every training
        # mapping call (TF1's G_main).
        self.emas_in_d_phase_only = bool(getattr(G, 'updates_emas_in_d_phase_only', False))

    # -- networks in training mode -----------------------------------------------------------------
    def _update_emas(self, phase: str) -> bool:
        return phase == 'D' or not self.emas_in_d_phase_only

    def styles(self, inputs: GenInputs, phase: str = 'G') -> tf.Tensor:
        """ws [n, num_ws, w_dim] (style-mixed); the unmixed w updates w_avg (as both official codes do; StyleGAN3 in
        D's phase only)."""
        ws = self.G.mapping(inputs.z, inputs.c, training=True, update_w_avg=self._update_emas(phase))
        if self.style_mixing_prob > 0:
            ws2 = self.G.mapping(inputs.z2, inputs.c, training=True, update_w_avg=False)
            ws = style_mix(ws, ws2, self.style_mixing_prob, inputs.mix_seed, inputs.active_ws)
        return ws

    def synthesize(self, ws: tf.Tensor, inputs: GenInputs, phase: str = 'G') -> tf.Tensor:
        kw = dict(self._net_kw)
        if self.emas_in_d_phase_only:
            kw['update_emas'] = self._update_emas(phase)
        return self.G.synthesis(ws, noise_mode='random', training=True, noise_inputs=inputs.noise, **kw)

    def run_D(self, images: tf.Tensor, c: Optional[tf.Tensor], aug_seed=None, call: int = 0,
              blur_sigma=None) -> tf.Tensor:
        """D's logits [n, 1] of images: blurred first while ``blur_sigma`` (a float32 scalar tensor, StyleGAN3-R's
        fade) is given, then augmented if the loss has a pipe (parameters from aug_seed folded with ``call``, so that
        each evaluation in a term draws its own)."""
        if blur_sigma is not None:
            images = filter2d(images, blur_filter(blur_sigma, self.max_blur_sigma))
        if self.augment is not None:
            seed = None if aug_seed is None else tf.random.experimental.stateless_fold_in(aug_seed, call)
            images = self.augment(images, seed=seed)
        return self.D(images, c, training=True, **self._net_kw)

    # -- phase terms ---------------------------------------------------------------------------------
    def g_main(self, gen: GenInputs, reduce: BatchReducer, aug_seed=None,
               blur_sigma=None) -> Tuple[tf.Tensor, Dict[str, tf.Tensor]]:
        """Non-saturating loss softplus(-D(G(z))); G's gradient passes through the augmentation."""
        fake_logits = self.run_D(self.synthesize(self.styles(gen), gen), gen.c, aug_seed, blur_sigma=blur_sigma)
        loss = reduce.mean(g_nonsaturating_loss(fake_logits))
        return loss, {'Loss/G/loss': loss, 'Loss/scores/fake_G': reduce.mean(tf.reshape(fake_logits, [-1]))}

    def g_reg(self, gen: GenInputs, pl_noise: tf.Tensor, pl_mean: tf.Tensor, reduce: BatchReducer,
              multiplier: float = 1.0, grad_scale=None) -> Tuple[tf.Tensor, Dict[str, tf.Tensor], tf.Tensor]:
        """Path-length penalty * pl_weight * multiplier. Returns (objective, stats, updated pl_mean).

        pl_noise [n, R, R, C]: the image-space direction y. The updated pl_mean is computed from the global batch
        and stays differentiable inside the objective; the returned copy is for storing (detached).
        grad_scale: the loss scale of a float16 G, for the inner gradient (see :func:`path_lengths`).
        """
        ws = self.styles(gen)
        lengths, _ = path_lengths(lambda w: self.synthesize(w, gen), ws, noise=pl_noise, grad_scale=grad_scale)
        new_mean = update_pl_mean(pl_mean, reduce.global_mean(lengths), self.pl_decay)
        penalty = path_length_penalty(lengths, new_mean)
        objective = reduce.mean(penalty) * (self.pl_weight * multiplier)
        stats = {'Loss/pl_penalty': reduce.mean(penalty), 'Loss/G/reg': objective}
        return objective, stats, tf.stop_gradient(new_mean)

    def d_main(self, gen: GenInputs, reals: tf.Tensor, real_c: Optional[tf.Tensor], reduce: BatchReducer,
               aug_seed=None, blur_sigma=None) -> Tuple[tf.Tensor, Dict[str, tf.Tensor]]:
        """Logistic loss softplus(D(G(z))) + softplus(-D(x)); the fakes carry no gradient to G."""
        fakes = tf.stop_gradient(self.synthesize(self.styles(gen, 'D'), gen, 'D'))
        fake_logits = self.run_D(fakes, gen.c, aug_seed, call=0, blur_sigma=blur_sigma)
        real_logits = self.run_D(reals, real_c, aug_seed, call=1, blur_sigma=blur_sigma)
        loss = reduce.mean(d_logistic_loss(real_logits, fake_logits))
        return loss, {'Loss/D/loss': loss, 'Loss/scores/real': reduce.mean(tf.reshape(real_logits, [-1])),
                      'Loss/scores/fake': reduce.mean(tf.reshape(fake_logits, [-1])),
                      'Loss/signs/real': reduce.mean(tf.sign(tf.reshape(real_logits, [-1])))}

    def d_reg(self, reals: tf.Tensor, real_c: Optional[tf.Tensor], reduce: BatchReducer, multiplier: float = 1.0,
              grad_scale=None, aug_seed=None, blur_sigma=None) -> Tuple[tf.Tensor, Dict[str, tf.Tensor]]:
        """R1 * gamma / 2 * multiplier on the reals (grad_scale: the loss scale of a float16 D, see r1_penalty)."""
        r1, real_logits = r1_penalty(lambda x: self.run_D(x, real_c, aug_seed, call=2, blur_sigma=blur_sigma), reals,
                                     grad_scale=grad_scale)
        objective = reduce.mean(r1) * (self.r1_gamma / 2 * multiplier)
        return objective, {'Loss/r1_penalty': reduce.mean(r1), 'Loss/D/reg': objective,
                           'Loss/signs/real': reduce.mean(tf.sign(tf.reshape(real_logits, [-1])))}
