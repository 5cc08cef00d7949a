"""Mixed precision of the networks: which blocks compute in a reduced type, and the casts around them.

As in StyleGAN2-ADA, `num_fp16_res` N puts the blocks of the N highest resolutions into the reduced type:
a block at resolution r computes in it iff r >= max(2 ** (log2(img_resolution) + 1 - N), 8), so the 4x4 block
(and with it the discriminator's epilogue: minibatch stddev, 4x4 conv, dense layers) always stays float32.
`precision` names the reduced type: 'fp32' (nothing is reduced, whatever N), 'bf16' (bfloat16: float32's
range, 8 significant bits) or 'fp16' (float16: 11 significant bits, overflows above 65504, so it wants
conv_clamp and, in training, loss scaling).

What stays float32 everywhere: the variables (weights are cast to the compute type where they are used), the
mapping network, the styles and demodulation coefficients of the modulated convs, the image (ToRGB outputs and
the skip accumulation), the discriminator's 4x4 epilogue and everything after the networks (losses, regularizer
reductions).
"""
from __future__ import annotations

import math
import numpy as np
import tensorflow as tf

PRECISIONS = ("fp32", "bf16", "fp16")
_DTYPES = {"fp32": tf.float32, "bf16": tf.bfloat16, "fp16": tf.float16}
# Activation dtypes a layer computes in; anything else it receives (float64 tensors, numpy arrays) becomes float32.
COMPUTE_DTYPES = (tf.float32, tf.bfloat16, tf.float16)


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return precision


def check_num_fp16_res(num_fp16_res, precision: str) -> int:
    """num_fp16_res as an int >= 0; a reduced precision needs at least one reduced resolution."""
    try:
        n = int(num_fp16_res)
    except (TypeError, ValueError):
        raise ValueError(f"num_fp16_res must be an integer >= 0, got {num_fp16_res!r}") from None
    if n < 0 or n != num_fp16_res:
        raise ValueError(f"num_fp16_res must be an integer >= 0, got {num_fp16_res!r}")
    if precision != "fp32" and n == 0:
        raise ValueError(f"precision={precision!r} computes the num_fp16_res highest resolutions in "
                         f"{reduced_dtype(precision).name}, but num_fp16_res is 0; set num_fp16_res >= 1 "
                         "(or precision='fp32')")
    return n


def reduced_dtype(precision: str) -> tf.DType:
    """The dtype of the reduced blocks: float32, bfloat16 or float16."""
    return _DTYPES[check_precision(precision)]


def fp16_resolution(img_resolution: int, num_fp16_res: int) -> int:
    """The lowest resolution computed in the reduced type: max(2 ** (log2(R) + 1 - N), 8) (StyleGAN2-ADA's rule);
    larger than img_resolution when N is 0."""
    return max(2 ** (int(round(math.log2(img_resolution))) + 1 - int(num_fp16_res)), 8)


def block_dtype(resolution: int, img_resolution: int, num_fp16_res: int, precision: str) -> tf.DType:
    """The dtype the block working at `resolution` computes in."""
    if precision == "fp32" or num_fp16_res <= 0:
        return tf.float32
    return reduced_dtype(precision) if resolution >= fp16_resolution(img_resolution, num_fp16_res) else tf.float32


def as_compute(x) -> tf.Tensor:
    """A float32/bfloat16/float16 tensor stays as it is (a layer computes in its input's type); any other tensor,
    array or list becomes float32."""
    if (tf.is_tensor(x) or isinstance(x, tf.Variable)) and x.dtype in COMPUTE_DTYPES:
        return x
    if tf.is_tensor(x) or isinstance(x, tf.Variable):
        return tf.cast(x, tf.float32)
    return tf.convert_to_tensor(np.asarray(x, dtype=np.float32))


def cast(x, dtype: tf.DType) -> tf.Tensor:
    """tf.cast that leaves a tensor of the right type untouched (keeps the float32 graphs exactly as they were)."""
    if tf.is_tensor(x) and x.dtype == dtype:
        return x
    return tf.cast(x, dtype)

