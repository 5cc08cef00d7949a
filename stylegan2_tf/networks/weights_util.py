"""Copying and averaging the weights of two networks of the same architecture (G -> G_ema, clones).

The single implementation of variable pairing, weight copy and the exponential moving average ("Gs" in the official
code, `setup_as_moving_average_of`); `stylegan2_tf.serialization` and `stylegan2_tf.training.ema` re-export it.
"""
from __future__ import annotations

from typing import List, Tuple

import tensorflow as tf


def paired_variables(src, dst) -> List[Tuple[tf.Variable, tf.Variable, bool]]:
    """(src_var, dst_var, trainable) for two Keras models of the same architecture, in creation order.

    Raises ValueError if the variable lists do not match in number, leaf name or shape.
    """
    s, d = list(src.weights), list(dst.weights)
    if len(s) != len(d):
        raise ValueError(f'models differ: {len(s)} vs {len(d)} variables')
    trainable = {id(v) for v in src.trainable_weights}
    out = []
    for a, b in zip(s, d):
        pa = a.name.split('/')[-1].split(':')[0]
        pb = b.name.split('/')[-1].split(':')[0]
        if tuple(a.shape) != tuple(b.shape) or pa != pb:
            raise ValueError(f'models differ: {pa} {tuple(a.shape)} vs {pb} {tuple(b.shape)}')
        out.append((a, b, id(a) in trainable))
    return out


def update_ema_pairs(pairs, beta) -> None:
    """ema <- w + (ema - w) * beta for trainable weights; buffers (w_avg, noise constants) are copied.

    pairs: output of :func:`paired_variables` (src = G, dst = G_ema), computed once so a tf.function step can reuse
    it; beta: scalar (python or tensor).
    """
    beta = tf.cast(beta, tf.float32)
    for w, ema, trainable in pairs:
        w_val = tf.convert_to_tensor(w)
        if trainable:
            ema.assign(w_val + (tf.convert_to_tensor(ema) - w_val) * tf.cast(beta, w_val.dtype))
        else:
            ema.assign(w_val)


def update_ema(G_ema, G, beta) -> None:
    """G_ema <- moving average of G: trainable variables become G + (G_ema - G) * beta, the others are copied."""
    update_ema_pairs(paired_variables(G, G_ema), beta)


def copy_weights(src, dst) -> None:
    """dst <- src for every variable (initialises G_ema = G; fills clones)."""
    for a, b, _ in paired_variables(src, dst):
        b.assign(tf.convert_to_tensor(a))
