"""Exponential moving average of the generator weights (G_ema, "Gs" in the official code).

The import point of the training code; the implementation is `stylegan2_tf.networks.weights_util`. Note that
`update_ema` here is the pair-list form `update_ema(pairs, beta)` (pairs from `paired_variables(G, G_ema)`, built
once per run), while `stylegan2_tf.update_ema(G_ema, G, beta)` is the network form.
"""

from __future__ import annotations

from stylegan2_tf.networks.weights_util import copy_weights, paired_variables
from stylegan2_tf.networks.weights_util import update_ema_pairs as update_ema

__all__ = ["copy_weights", "paired_variables", "update_ema"]
