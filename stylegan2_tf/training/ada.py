"""The adaptive-augmentation (ADA) controller of StyleGAN2-ADA (Karras et al. 2020, section 3; stylegan2-ada-pytorch's
training loop).

D's overfitting heuristic is r_t = E[sign(D(x_real))] over the augmented reals D saw (its main and R1 passes), taken
over all replicas and workers. Every ``interval`` minibatches the augmentation strength moves towards the point where
r_t equals ``target``:

    p <- max(p + sign(r_t - target) * batch * interval / (ada_kimg * 1000), 0)

so p can change by 1 per ``ada_kimg`` thousand real images. As upstream, p has no upper bound (its probabilities
saturate at 1; a p that keeps growing means D overfits whatever the augmentation). The running sums are variables
so that a checkpoint taken between two adjustments resumes exactly.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import tensorflow as tf

DEFAULT_ADA_KIMG = 500.0
RESUME_ADA_KIMG = 100.0  # upstream's default when training starts from another run's networks


def ada_adjustment(rt: float, target: float, batch: int, interval: int, ada_kimg: float) -> float:
    """The step of p after one interval: sign(r_t - target) * batch * interval / (ada_kimg * 1000)."""
    sign = (rt > target) - (rt < target)
    return sign * batch * interval / (ada_kimg * 1000.0)


class AdaController:
    """Adjusts ``p`` (the augmentation pipe's strength variable) from the signs of D's real logits.

    Call ``observe(sign_sum, count)`` after every step with the global sum of sign(D(real)) and the number of logits
    behind it, then ``maybe_adjust(steps_done, batch)``; the sums and p live in variables (checkpointed by the trainer).
    """

    def __init__(self, p: tf.Variable, target: float = 0.6, interval: int = 4, ada_kimg: float = DEFAULT_ADA_KIMG):
        if not 0 <= target <= 1:
            raise ValueError(f'--target must be in [0, 1], got {target}')
        if interval < 1:
            raise ValueError(f'--ada_interval must be >= 1, got {interval}')
        if not ada_kimg > 0:
            raise ValueError(f'--ada_kimg must be > 0, got {ada_kimg}')
        self.p = p
        self.target, self.interval, self.ada_kimg = float(target), int(interval), float(ada_kimg)
        self.sign_sum = tf.Variable(0.0, dtype=tf.float64, trainable=False, name='ada_sign_sum')
        self.count = tf.Variable(0.0, dtype=tf.float64, trainable=False, name='ada_count')

    def observe(self, sign_sum: float, count: float) -> None:
        self.sign_sum.assign_add(float(sign_sum))
        self.count.assign_add(float(count))

    def maybe_adjust(self, steps_done: int, batch: int) -> Optional[float]:
        """After the steps_done-th minibatch: every ``interval`` of them, move p and reset the sums. Returns the r_t
        used, or None when it was not yet time (or nothing was observed)."""
        if steps_done % self.interval != 0:
            return None
        count = float(self.count.numpy())
        if count <= 0:
            return None
        rt = float(self.sign_sum.numpy()) / count
        step = ada_adjustment(rt, self.target, batch, self.interval, self.ada_kimg)
        # float32 arithmetic, as upstream's update of its float32 buffer
        self.p.assign(max(np.float32(self.p.numpy()) + np.float32(step), np.float32(0)))
        self.sign_sum.assign(0.0)
        self.count.assign(0.0)
        return rt

    def variables(self) -> dict:
        return {'sign_sum': self.sign_sum, 'count': self.count}
