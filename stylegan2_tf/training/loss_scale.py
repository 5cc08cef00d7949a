"""Dynamic loss scaling for networks that compute in float16, and an optimizer step that can be skipped.

float16 represents magnitudes from about 6e-8 (subnormal) to 65504: gradients flowing back through float16 blocks
underflow to zero when small, and overflow to inf when large. Loss scaling multiplies the objective by a scale S
before differentiating, so every gradient in the backward pass is S times larger, and divides the (float32)
gradients of the variables by S before the optimizer step. The scale is dynamic (as Keras' LossScaleOptimizer and
NVIDIA's TF1 optimizer do): a phase whose scaled gradients contain inf or NaN takes no optimizer step and halves S
(never below `min_scale`); after `growth_interval` consecutive good phases S doubles. bfloat16 has float32's
range and needs none of this.

Regularizers differentiate twice: R1 and the path length are built from an inner gradient (of D's logits w.r.t. the
images, of the images w.r.t. w). That inner gradient runs backwards through the same float16 blocks, so it is taken
of S * output and divided by S before its squared norm (see loss.r1_penalty / loss.path_lengths): the penalty is the
unscaled value, and the outer gradient of S * objective is S times the true one, as for the main losses.
"""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf

DEFAULT_INITIAL_SCALE = 2.0 ** 15
DEFAULT_GROWTH_INTERVAL = 2000


class DynamicLossScale(tf.Module):
    """The loss scale of one network: `scale` (float32), `good_steps` (phases since the last change) and `skipped`
    (phases skipped so far), all checkpointed. Updated in replica context with the same value on every replica
    (the finiteness it depends on is all-reduced), hence ONLY_FIRST_REPLICA aggregation."""

    def __init__(self, name: str, initial_scale: float = DEFAULT_INITIAL_SCALE,
                 growth_interval: int = DEFAULT_GROWTH_INTERVAL, min_scale: float = 1.0):
        super().__init__(name=name)
        if not initial_scale >= min_scale > 0:
            raise ValueError(f'loss scale: need initial_scale >= min_scale > 0, got {initial_scale}, {min_scale}')
        if growth_interval < 1:
            raise ValueError(f'loss scale: growth_interval must be >= 1, got {growth_interval}')
        self.growth_interval = int(growth_interval)
        self.min_scale = float(min_scale)
        agg = tf.VariableAggregation.ONLY_FIRST_REPLICA
        self.scale = tf.Variable(float(initial_scale), dtype=tf.float32, trainable=False, name='scale',
                                 aggregation=agg)
        self.good_steps = tf.Variable(0, dtype=tf.int64, trainable=False, name='good_steps', aggregation=agg)
        self.skipped = tf.Variable(0, dtype=tf.int64, trainable=False, name='skipped', aggregation=agg)

    def update(self, finite: tf.Tensor) -> tf.Tensor:
        """After a phase: grow or shrink the scale. Returns True where the phase could not be rescued (its gradients
        were not finite although the scale was already at its minimum): a genuine divergence."""
        finite = tf.convert_to_tensor(finite, tf.bool)
        scale = tf.convert_to_tensor(self.scale)
        good = tf.where(finite, self.good_steps + 1, tf.zeros_like(self.good_steps))
        grow = finite & (good >= self.growth_interval)
        shrunk = tf.maximum(scale * 0.5, self.min_scale)
        self.scale.assign(tf.where(finite, tf.where(grow, scale * 2.0, scale), shrunk))
        self.good_steps.assign(tf.where(grow, tf.zeros_like(good), good))
        self.skipped.assign_add(tf.cast(~finite, tf.int64))
        return ~finite & (scale <= self.min_scale)


def apply_if(optimizer, grads: Sequence[tf.Tensor], variables: Sequence, condition: tf.Tensor) -> None:
    """optimizer.apply_gradients(zip(grads, variables)) where ``condition`` (a bool, equal on every replica) holds;
    otherwise nothing: no variable, slot or iteration count changes. Call in replica context.

    The optimizer's step all-reduces (a merge_call under MirroredStrategy), and a cond whose branch calls merge_call
    is not allowed in replica context, so under such strategies the cond runs in cross-replica context (the
    approach of Keras' LossScaleOptimizer)."""
    grads = list(grads)

    def step(g):
        optimizer.apply_gradients(zip(g, variables))

    if tf.__internal__.distribute.strategy_supports_no_merge_call():
        tf.cond(condition, lambda: step(grads), lambda: None)
        return

    def cross_replica(distribution, grads, condition):
        first = distribution.experimental_local_results(condition)[0]
        tf.cond(first, lambda: distribution.extended.call_for_each_replica(step, args=(grads,)), lambda: None)

    tf.distribute.get_replica_context().merge_call(cross_replica, args=(grads, condition))

