"""Element types the ops accept, and how the 16-bit ones are computed.

bfloat16 and float16 ("half types") are stored in 16 bits but computed in float32, by the compiled kernels and by
the pure-TF references alike: inputs widen exactly, the arithmetic and accumulation run in float32, and each op's
output is rounded once to the input's type. Parameters given in another float type (a float32 bias or filter with a
bfloat16 input, as Keras mixed precision keeps its variables) are cast to the input's type, so the kernels see one
element type; the rounding of a bias or filter is one step of the type's unit roundoff like any other input.
"""
from __future__ import annotations

import tensorflow as tf

SUPPORTED_DTYPES = (tf.bfloat16, tf.float16, tf.float32, tf.float64)
HALF_DTYPES = (tf.bfloat16, tf.float16)
_NAMES = "/".join(d.name for d in SUPPORTED_DTYPES)


def check_dtype(x: tf.Tensor, op: str) -> None:
    """Raises a ValueError naming `op` unless x has one of SUPPORTED_DTYPES."""
    if x.dtype not in SUPPORTED_DTYPES:
        raise ValueError(f"{op} supports {_NAMES}, got {x.dtype.name}")


def compute_dtype(dtype: tf.DType) -> tf.DType:
    """The type the arithmetic runs in: float32 for the half types, else `dtype` itself."""
    return tf.float32 if dtype in HALF_DTYPES else dtype


def cast_like(value, dtype: tf.DType, what: str) -> tf.Tensor:
    """`value` (tensor, variable, array or list) as a tensor of `dtype`; Python numbers convert straight to `dtype`.

    Raises a ValueError naming `what` for non-numeric values.
    """
    t = tf.convert_to_tensor(value, dtype_hint=dtype)
    if not (t.dtype.is_floating or t.dtype.is_integer):
        raise ValueError(f"{what} must be numeric, got {t.dtype.name}")
    return tf.cast(t, dtype)
