"""Tolerances for bfloat16 / float16 results, derived from the types' unit roundoff.

Rounding to nearest in a type with p significant bits has relative error at most u = 2^-p: bfloat16 has p = 8
(u = 2^-8 = 3.9e-3), float16 p = 11 (u = 2^-11 = 4.9e-4). The ops compute in float32 and round each output once.
So, from inputs that are exactly representable in the type, a result that went through k roundings differs from the
exact (float64) computation on the same inputs by at most

    k * u * A  +  2^-20 * A  (+ k * 2^-25 for float16)

where A bounds the magnitudes the roundings act on: |ref| for an elementwise result, and for a linear map (a FIR
filter, a convolution, a bias-gradient sum) the same map applied to absolute values, since a rounding error of an
intermediate is carried through the rest of the computation with at most that gain. 2^-20 * A (16 float32 ulps) allows
for float32 arithmetic itself (summation order, libm); float16 subnormals (below 2^-14) round with an absolute error up
to 2^-25. (To first order: products of (1 + u) factors add up to k*u + O(u^2), which the 2^-20 term covers for k <= 10.)
"""
from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf

UNIT_ROUNDOFF = {"bfloat16": 2.0 ** -8, "float16": 2.0 ** -11}
HALF_DTYPES = sorted(UNIT_ROUNDOFF)
_F32_SLACK = 2.0 ** -20
_F16_SUBNORMAL = 2.0 ** -25


def f64(t) -> np.ndarray:
    """Any tensor/array as float64 numpy (bfloat16 included)."""
    return tf.cast(tf.convert_to_tensor(t), tf.float64).numpy()


def rounded(a, dtype: str) -> np.ndarray:
    """float64 array of `a` rounded to `dtype` (so it is exactly representable there and in float32)."""
    return f64(tf.cast(tf.constant(np.asarray(a, np.float32)), dtype))


def bound(dtype: str, k: int, mag) -> np.ndarray:
    mag = np.abs(np.asarray(mag, np.float64))
    return k * UNIT_ROUNDOFF[dtype] * mag + _F32_SLACK * mag + (k * _F16_SUBNORMAL if dtype == "float16" else 0.0)


def assert_within_roundings(got, ref, dtype: str, k: int, mag=None, what: str = "") -> float:
    """|got - ref| <= bound(dtype, k, mag) elementwise (mag defaults to |ref|); returns max error / bound."""
    got, ref = f64(got), np.asarray(ref, np.float64)
    assert got.shape == ref.shape, (what, got.shape, ref.shape)
    b = bound(dtype, k, np.abs(ref) if mag is None else mag)
    err = np.abs(got - ref)
    with np.errstate(divide="ignore", invalid="ignore"):  # b == 0 where the exact result is 0 (bfloat16)
        ratio = float(np.max(np.where(err == 0, 0.0, err / b))) if err.size else 0.0
    assert np.all(err <= b), (f"{what} ({dtype}, k={k}): {int(np.sum(err > b))}/{err.size} elements beyond "
                              f"k*u*A; max error/bound {ratio:.3g}, max error {err.max():.3g}")
    return ratio


def assert_nearly_identical(a, b, dtype: str, what: str = "", min_identical: float = 0.99, mag=None) -> None:
    """Two 16-bit results from the same rounded inputs and the same rounding points: float32 differences only flip
    a rounding where a value lies within a few float32 ulps of a rounding boundary (probability ~2^-13 per element
    for float16, ~2^-16 for bfloat16). So at least `min_identical` of the elements are bit-identical and the rest
    differ by at most one ulp (2u relative) plus the float32 slack 2^-20 * mag (mag defaults to |b|; pass a larger
    one where float32 itself has only an absolute accuracy, as 1 - tanh^2 near saturation)."""
    a, b = f64(a), f64(b)
    assert a.shape == b.shape
    same = float(np.mean(a == b))
    assert same >= min_identical, f"{what}: only {same:.4f} of the {dtype} elements are identical"
    err = np.abs(a - b)
    mag = np.abs(b) if mag is None else np.abs(np.asarray(mag, np.float64))
    tol = 2 * UNIT_ROUNDOFF[dtype] * np.abs(b) + _F32_SLACK * mag + _F16_SUBNORMAL * 2
    assert np.all(err <= tol), f"{what}: differences beyond one {dtype} ulp (max {err.max():.3g})"



@functools.lru_cache(maxsize=None)
def tf_conv_sums_in(dtype: str) -> bool:
    """Whether one of TensorFlow's convolution kernels (Conv2D and its two gradients) on this CPU adds products in
    `dtype` itself instead of float32. oneDNN accumulates in float32, but TF hands float16 to oneDNN only on CPUs
    with AVX512-FP16 ("oneDNN supports DT_HALF only on platforms with AVX-512"); elsewhere (a 2-core AMD EPYC with
    AVX-512 but not AVX512-FP16, 2026-12-07) it falls back to Eigen, whose float16 gradient kernels round partial
    sums to float16. Probed, not looked up by CPU model: 2048 plus sixteen 1s is 2064 summed in float32, but stays
    2048 when each sum is rounded to bfloat16 or float16 (their spacing at 2048 is 16 and 2)."""
    dt = tf.as_dtype(dtype)
    big_then_ones = np.ones([1, 1, 1, 17])
    big_then_ones[..., 0] = 2048
    x = tf.constant(big_then_ones, dt)
    ones = tf.ones([1, 1, 1, 17], dt)
    y = tf.nn.conv2d(x, tf.reshape(ones, [1, 1, 17, 1]), 1, "VALID")
    dx = tf.raw_ops.Conv2DBackpropInput(input_sizes=[1, 1, 1, 1], filter=ones, out_backprop=x, strides=[1, 1, 1, 1],
                                        padding="VALID")
    dw = tf.raw_ops.Conv2DBackpropFilter(input=tf.reshape(x, [1, 1, 17, 1]), filter_sizes=[1, 1, 1, 1],
                                         out_backprop=tf.reshape(ones, [1, 1, 17, 1]), strides=[1, 1, 1, 1],
                                         padding="VALID")
    return any(float(tf.reshape(t, [-1])[0]) != 2064.0 for t in (y, dx, dw))


def conv_roundings(dtype: str, k: int, terms: int) -> int:
    """The k of `bound` for a convolution result over `terms` products that went through k roundings when TF's
    convolutions accumulate in float32. Where they may round partial sums to `dtype` (tf_conv_sums_in), the bound is
    that of recursive summation with every addition rounded, k + terms roundings, taken as gamma = n u / (1 - n u)
    so that it holds beyond first order."""
    if terms == 0 or not tf_conv_sums_in(dtype):
        return k
    n = k + terms
    u = UNIT_ROUNDOFF[dtype]
    assert n * u < 0.5, f"{terms} terms are too many for a {dtype} bound"
    return int(np.ceil(n / (1 - n * u)))
