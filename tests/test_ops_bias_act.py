"""bias_act: compiled op vs pure-TF reference (forward, 1st and 2nd order gradients) and numerical gradients."""
import itertools
import math

import numpy as np
import pytest
import tensorflow as tf

from stylegan2_tf.ops import ACTIVATIONS, bias_act
from _half_precision import HALF_DTYPES, assert_nearly_identical, assert_within_roundings, f64, rounded

ACTS = sorted(ACTIVATIONS)


def _grads(x, b, order, **kw):
    """Returns y and gradients of order 1 and 2 of a random projection of y wrt (x, b)."""
    xv, bv = tf.constant(x), (None if b is None else tf.constant(b))
    wrt = [xv] if bv is None else [xv, bv]
    r = np.random.default_rng(7)
    proj = tf.constant(r.standard_normal(x.shape), dtype=xv.dtype)
    vecs = [tf.constant(r.standard_normal(v.shape), dtype=v.dtype) for v in wrt]
    with tf.GradientTape(persistent=True) as t2:
        t2.watch(wrt)
        with tf.GradientTape() as t1:
            t1.watch(wrt)
            y = bias_act(xv, bv, **kw)
            loss = tf.reduce_sum(y * proj)
        g1 = t1.gradient(loss, wrt)
        s = tf.add_n([tf.reduce_sum(g * v) for g, v in zip(g1, vecs)])
    g2 = t2.gradient(s, wrt, unconnected_gradients="zero") if order >= 2 else []
    return [y] + list(g1) + list(g2)


CASES = list(itertools.product(ACTS, [False, True], [None, 0.5]))


@pytest.mark.parametrize("act,with_bias,clamp", CASES)
def test_custom_matches_reference_float64(needs_custom_ops, act, with_bias, clamp):
    r = np.random.default_rng(0)
    x = r.standard_normal([3, 5, 4, 6]) * 2
    b = r.standard_normal([6]) if with_bias else None
    kw = dict(act=act, clamp=clamp)
    ref = _grads(x, b, 2, impl="ref", **kw)
    cus = _grads(x, b, 2, impl="custom", **kw)
    for i, (a, c) in enumerate(zip(ref, cus)):
        np.testing.assert_allclose(c.numpy(), a.numpy(), rtol=1e-10, atol=1e-10, err_msg=f"output {i}")


@pytest.mark.parametrize("act,alpha,gain,axis", [("lrelu", 0.1, 3.0, 1), ("elu", 0.7, 0.5, 1), ("relu", None, 1.0, 0),
                                                 ("swish", None, 2.0, -1), ("tanh", None, 1.7, 2)])
def test_non_default_alpha_gain_axis(needs_custom_ops, act, alpha, gain, axis):
    r = np.random.default_rng(1)
    x = r.standard_normal([4, 3, 5])
    b = r.standard_normal([x.shape[axis]])
    kw = dict(act=act, alpha=alpha, gain=gain, axis=axis, clamp=0.8)
    for a, c in zip(_grads(x, b, 2, impl="ref", **kw), _grads(x, b, 2, impl="custom", **kw)):
        np.testing.assert_allclose(c.numpy(), a.numpy(), rtol=1e-10, atol=1e-10)


def _np_act(z, act, alpha):
    s = 1 / (1 + np.exp(-z))
    return {"linear": z, "relu": np.maximum(z, 0), "lrelu": np.where(z > 0, z, alpha * z), "tanh": np.tanh(z),
            "sigmoid": s, "elu": np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0))),
            "selu": 1.0507009873554805 * np.where(z > 0, z, 1.6732632423543772 * np.expm1(np.minimum(z, 0))),
            "softplus": np.log1p(np.exp(z)), "swish": z * s}[act]


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("impl", ["ref", "custom"])
def test_forward_matches_numpy_formula(act, impl, request):
    if impl == "custom":
        request.getfixturevalue("needs_custom_ops")
    r = np.random.default_rng(2)
    x, b = r.standard_normal([7, 9]), r.standard_normal([9])
    spec = ACTIVATIONS[act]
    f32 = lambda v: float(np.float32(v))  # noqa: E731  (op attributes are float32)
    expect = np.clip(_np_act(x + b, act, f32(spec.def_alpha)) * f32(spec.def_gain), -f32(1.3), f32(1.3))
    got = bias_act(x, b, act=act, clamp=1.3, impl=impl).numpy()
    np.testing.assert_allclose(got, expect, rtol=1e-12, atol=1e-12)


def test_default_gains_are_conventional():
    assert ACTIVATIONS["lrelu"].def_gain == pytest.approx(math.sqrt(2))
    assert ACTIVATIONS["lrelu"].def_alpha == pytest.approx(0.2)
    assert ACTIVATIONS["relu"].def_gain == pytest.approx(math.sqrt(2))
    assert ACTIVATIONS["linear"].def_gain == 1.0


@pytest.mark.parametrize("act", ["lrelu", "tanh", "softplus", "swish", "elu"])
def test_numerical_gradients_float64(needs_custom_ops, act):
    r = np.random.default_rng(3)
    x = tf.constant(r.standard_normal([2, 3, 4]))
    b = tf.constant(r.standard_normal([4]))
    theo, num = tf.test.compute_gradient(lambda x, b: bias_act(x, b, act=act, impl="custom"), [x, b])
    for t, n in zip(theo, num):
        np.testing.assert_allclose(t, n, rtol=1e-6, atol=1e-6)

    # The gradient function itself (second order): d/dx of <dL/dx, v>.
    v = tf.constant(r.standard_normal([2, 3, 4]))

    def first_grad(x, b):
        x, b = tf.convert_to_tensor(x), tf.convert_to_tensor(b)  # the checker passes numpy arrays
        with tf.GradientTape() as tape:
            tape.watch([x, b])
            loss = tf.reduce_sum(bias_act(x, b, act=act, impl="custom") * v)
        gx, gb = tape.gradient(loss, [x, b])
        return tf.concat([tf.reshape(gx, [-1]), gb], 0)

    theo, num = tf.test.compute_gradient(first_grad, [x, b])
    for t, n in zip(theo, num):
        np.testing.assert_allclose(t, n, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("act", ["lrelu", "tanh", "swish"])
def test_float16_and_float32_match_reference(needs_custom_ops, act):
    r = np.random.default_rng(4)
    x, b = r.standard_normal([4, 8, 8, 16]), r.standard_normal([16])
    for dtype, tol in ((np.float32, 1e-6), (np.float16, 2e-3)):
        ref = bias_act(x.astype(dtype), b.astype(dtype), act=act, clamp=2.0, impl="ref").numpy()
        cus = bias_act(x.astype(dtype), b.astype(dtype), act=act, clamp=2.0, impl="custom").numpy()
        assert cus.dtype == dtype
        np.testing.assert_allclose(cus.astype(np.float64), ref.astype(np.float64), rtol=tol, atol=tol)


def test_tf_function_matches_eager_and_infers_shape(needs_custom_ops):
    r = np.random.default_rng(5)
    x, b = r.standard_normal([3, 4, 4, 8]).astype(np.float32), r.standard_normal([8]).astype(np.float32)

    @tf.function(input_signature=[tf.TensorSpec([None, 4, 4, 8], tf.float32), tf.TensorSpec([8], tf.float32)])
    def fn(x, b):
        y = bias_act(x, b, act="lrelu", impl="custom")
        assert y.shape.as_list() == [None, 4, 4, 8]
        return y

    np.testing.assert_array_equal(fn(x, b).numpy(), bias_act(x, b, act="lrelu", impl="custom").numpy())


@pytest.mark.parametrize("kwargs,match", [
    (dict(act="gelu"), "unknown activation"),
    (dict(act="lrelu", clamp=-1), "clamp"),
    (dict(act="lrelu", axis=5), "axis"),
    (dict(act="lrelu", impl="fast"), "impl"),
])
def test_bad_arguments_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        bias_act(np.zeros([2, 3], np.float32), **kwargs)


def test_bad_bias_shape_and_dtype():
    with pytest.raises(ValueError, match="elements"):
        bias_act(np.zeros([2, 3], np.float32), np.zeros([4], np.float32))
    with pytest.raises(ValueError, match="rank 1"):
        bias_act(np.zeros([2, 3], np.float32), np.zeros([1, 3], np.float32))
    with pytest.raises(ValueError, match="float16/float32/float64"):
        bias_act(np.zeros([2, 3], np.int32))


# --- bfloat16 / float16 (tolerances: see tests/_half_precision.py) --------------------------------------------------
HALF_ACTS = ["lrelu", "tanh", "swish", "softplus"]


def _impl_or_skip(impl, request):
    if impl == "custom":
        request.getfixturevalue("needs_custom_ops")


def _half_inputs(dtype, seed=11, shape=(2, 6, 5, 16)):
    """x, b, proj rounded to `dtype` (float64 arrays, exactly representable in dtype and float32)."""
    r = np.random.default_rng(seed)
    return (rounded(r.standard_normal(shape) * 2, dtype), rounded(r.standard_normal(shape[-1:]), dtype),
            rounded(r.standard_normal(shape), dtype))


@pytest.mark.parametrize("act", HALF_ACTS)
@pytest.mark.parametrize("impl", ["ref", "custom"])
@pytest.mark.parametrize("dtype", HALF_DTYPES)
def test_half_forward_within_one_rounding_of_float64(dtype, impl, act, request):
    """y = bias_act in bf16/fp16 is the exact result on the same inputs rounded once (k = 1): the op computes in
    float32. A float32 bias is cast to x's dtype first, so the reference uses the rounded bias. clamp = 0.7 * gain
    is not representable in either type: the clipped values are clamp rounded once."""
    _impl_or_skip(impl, request)
    x, _, _ = _half_inputs(dtype)
    b32 = np.random.default_rng(12).standard_normal([16]).astype(np.float32)  # float32, not representable
    spec = ACTIVATIONS[act]
    f32 = lambda v: float(np.float32(v))  # noqa: E731  (op attributes are float32)
    clamp = 0.7 * spec.def_gain
    y = bias_act(tf.cast(x, dtype), b32, act=act, clamp=clamp, impl=impl)
    assert y.dtype == dtype
    z = x + rounded(b32, dtype)
    expect = np.clip(_np_act(z, act, f32(spec.def_alpha)) * f32(spec.def_gain), -f32(clamp), f32(clamp))
    assert np.any(np.abs(expect) == f32(clamp))  # the clamp is exercised
    assert_within_roundings(y, expect, dtype, k=1, what=f"{act} forward")


def _half_loss_grads(x, b, proj, dtype, impl, act):
    """y = bias_act(x, b) in `dtype`; loss = sum(float32(y) * proj) in float32 (as a mixed-precision loss), so the
    upstream gradient is exactly proj. Returns y, dloss/dx, dloss/db."""
    xv, bv = tf.constant(x, dtype), tf.constant(b, dtype)
    with tf.GradientTape() as tape:
        tape.watch([xv, bv])
        y = bias_act(xv, bv, act=act, impl=impl)
        loss = tf.reduce_sum(tf.cast(y, tf.float32) * tf.constant(proj, tf.float32))
    return [y] + tape.gradient(loss, [xv, bv])


@pytest.mark.parametrize("act", ["lrelu", "swish"])
@pytest.mark.parametrize("impl", ["ref", "custom"])
@pytest.mark.parametrize("dtype", HALF_DTYPES)
def test_half_first_order_gradients_match_float64(dtype, impl, act, request):
    """dx = round(proj * gain * act'(z)) (k = 1, elementwise); db sums the float32 values of dx over N, H, W and
    rounds: |error| <= u * (sum |dx| + |db|), so A = sum |dx| + |db|. Gradients come back in x's and b's dtype."""
    _impl_or_skip(impl, request)
    x, b, proj = _half_inputs(dtype)
    _, gx, gb = _half_loss_grads(x, b, proj, dtype, impl, act)
    assert gx.dtype == dtype and gb.dtype == dtype
    _, rx, rb = _half_loss_grads(x, b, proj, tf.float64, "ref", act)  # same inputs, float64 reference
    rx, rb = rx.numpy(), rb.numpy()
    assert_within_roundings(gx, rx, dtype, k=1, what="dx")
    assert_within_roundings(gb, rb, dtype, k=1, mag=np.abs(rx).sum(axis=(0, 1, 2)) + np.abs(rb), what="db")


def _r1_grads(x, b, w, dtype, impl, act):
    """R1-like: D = sum(float32(bias_act(x, b)) * w); r1 = sum(float32(dD/dx)^2); returns dr1/d(x, b, w)."""
    xv, bv, wv = tf.constant(x, dtype), tf.constant(b, dtype), tf.constant(w, tf.float32)
    with tf.GradientTape() as outer:
        outer.watch([xv, bv, wv])
        with tf.GradientTape() as inner:
            inner.watch(xv)
            d = tf.reduce_sum(tf.cast(bias_act(xv, bv, act=act, impl=impl), tf.float32) * wv)
        gx = inner.gradient(d, xv)
        assert gx.dtype == xv.dtype
        r1 = tf.reduce_sum(tf.square(tf.cast(gx, tf.float32)))
    return outer.gradient(r1, [xv, bv, wv], unconnected_gradients="zero")  # lrelu: act'' = 0


@pytest.mark.parametrize("act", ["lrelu", "softplus"])
@pytest.mark.parametrize("impl", ["ref", "custom"])
@pytest.mark.parametrize("dtype", HALF_DTYPES)
def test_half_second_order_r1_matches_float64(dtype, impl, act, request):
    """The gradient of a gradient norm (as R1): dD/dx = round(w * h1) (1 rounding), its cotangent 2 * dD/dx is
    exact; dr1/dw = round(2 dD/dx * h1) (k = 2); dr1/dx = round(round(2 dD/dx * w) * h2) (k = 3, zero for lrelu);
    dr1/db sums dr1/dx in float32 (A = sum |dr1/dx| + |dr1/db|). h1, h2: gain * act', act''."""
    _impl_or_skip(impl, request)
    x, b, w = _half_inputs(dtype, seed=13)
    gx, gb, gw = _r1_grads(x, b, w, dtype, impl, act)
    assert gx.dtype == dtype and gb.dtype == dtype and gw.dtype == tf.float32
    rx, rb, rw = (g.numpy() for g in _r1_grads(x, b, w, tf.float64, "ref", act))
    assert np.abs(rw).max() > 0 and (act == "lrelu" or np.abs(rx).max() > 0)
    assert_within_roundings(gw, rw, dtype, k=2, what="dr1/dw")
    assert_within_roundings(gx, rx, dtype, k=3, what="dr1/dx")
    assert_within_roundings(gb, rb, dtype, k=3, mag=np.abs(rx).sum(axis=(0, 1, 2)) + np.abs(rb), what="dr1/db")


@pytest.mark.parametrize("act", HALF_ACTS)
@pytest.mark.parametrize("dtype", HALF_DTYPES)
def test_half_custom_and_reference_nearly_identical(needs_custom_ops, dtype, act):
    """Both implementations compute in float32 from the same rounded inputs and round at the same points (output,
    dx), so they agree bit for bit except where float32 differences straddle a rounding boundary."""
    x, b, proj = _half_inputs(dtype, seed=14)
    ref = _half_loss_grads(x, b, proj, dtype, "ref", act)
    cus = _half_loss_grads(x, b, proj, dtype, "custom", act)
    assert_nearly_identical(cus[0], ref[0], dtype, what="y")
    # tanh' = 1 - tanh^2 cancels near saturation: there float32 has only an absolute accuracy (2^-24 of
    # |dy| * gain), and TF's and the kernel's tanh differ by a few float32 ulps, so a few percent of the float16 dx
    # differ by more than one ulp of their (tiny) value.
    gain = ACTIVATIONS[act].def_gain
    assert_nearly_identical(cus[1], ref[1], dtype, what="dx", min_identical=0.95, mag=np.abs(proj) * gain)


def test_half_bias_dtype_follows_input():
    """A float32 (or float64) bias with a bfloat16 x is cast to bfloat16; its gradient keeps the bias's dtype."""
    x = tf.constant(np.ones([2, 3]), tf.bfloat16)
    for bdt in (tf.float32, tf.float64):
        b = tf.Variable(tf.constant([0.1, 0.2, 0.3], bdt))
        with tf.GradientTape() as tape:
            y = bias_act(x, b, impl="ref")
        assert y.dtype == tf.bfloat16
        assert tape.gradient(y, b).dtype == bdt
        b16 = tf.cast(tf.cast(b, tf.bfloat16), tf.float32)  # the bias rounded to bfloat16, then one output rounding
        np.testing.assert_array_equal(f64(y), f64(tf.cast(tf.cast(x, tf.float32) + b16, tf.bfloat16)))



def _bf16_special_inputs(rng, shape):
    """bfloat16 values around an output rounding's edge cases, scattered through normal ones: float denormals, +-inf,
    NaN, values whose product with the gain overflows, exact ties of the bfloat16 rounding, and signed zeros."""
    x = rng.standard_normal(shape).astype(np.float32)
    specials = np.array([1e-39, -5e-40, 3e-39, -1.2e-38, 2 ** -133, np.inf, -np.inf, np.nan, 3.3e38, -3.3e38,
                         1.0 + 2 ** -8, 1.0 + 3 * 2 ** -8, 0.0, -0.0], np.float32)
    flat = x.reshape(-1)
    idx = rng.choice(flat.size, size=flat.size // 5, replace=False)
    flat[idx] = specials[np.arange(idx.size) % specials.size]
    return tf.cast(tf.constant(x), tf.bfloat16)


def _assert_same_bits(got, want):
    """Bit equality of two bfloat16 tensors, except that NaN payloads may differ and -0 equals +0 (the reference's
    lrelu gradient adds tf.where's two branches, and +0 + -0 is +0)."""
    nan = np.isnan(f64(want))
    np.testing.assert_array_equal(np.isnan(f64(got)), nan)
    g, w = (np.where(t == 0x8000, 0, t)[~nan] for t in (tf.bitcast(v, tf.uint16).numpy() for v in (got, want)))
    np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("act,gain,clamp", [("linear", 0.3, None), ("lrelu", None, None), ("lrelu", None, 256.0)])
def test_bfloat16_edge_values_bit_identical_to_reference(needs_custom_ops, act, gain, clamp):
    """The compiled op stages float32 results and narrows them to bfloat16 in vector loops (with AVX512-BF16's
    instruction where the CPU has it). Forward and gradient must keep every bit of the reference (float32 TF ops and
    TF's cast) on ties, overflow, infinities, NaN and denormals. 64 channels: whole vectors of 16 and the scalar tail
    path. (TF's CPU threads flush denormals to zero, in both implementations alike; the narrowing of denormals
    themselves is tested below.)"""
    rng = np.random.default_rng(5)
    x = _bf16_special_inputs(rng, [6, 5, 64])
    dy = _bf16_special_inputs(rng, [6, 5, 64])
    b = tf.cast(tf.constant(np.where(np.arange(64) % 3 == 0, 0.0, rng.standard_normal(64)), tf.float32), tf.bfloat16)
    out = {}
    for impl in ("custom", "ref"):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = bias_act(x, b, act=act, gain=gain, clamp=clamp, impl=impl)
        out[impl] = (y, tape.gradient(y, x, dy))
    for got, want in zip(out["custom"], out["ref"]):
        _assert_same_bits(got, want)


def test_bfloat16_narrowing_keeps_denormals_nan_and_ties(needs_custom_ops):
    """NarrowToBFloat16 (custom_ops/cc/kernels/sg2_common.h), which every bfloat16 element loop of the ops ends in,
    called through the library's C entry point on a thread that does not flush denormals. Its vector path converts
    with VCVTNEPS2BF16 where the CPU has it, which flushes denormals to zero, so vectors holding one must take the
    scalar path. Checked against the float32 -> bfloat16 conversion of ml_dtypes (numpy's bfloat16), which rounds to
    nearest even and keeps denormals; NaN must stay NaN."""
    import ctypes
    from stylegan2_tf.ops import _library
    lib = ctypes.CDLL(_library.library_path())
    fn = lib.Sg2NarrowToBFloat16
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
    rng = np.random.default_rng(3)
    bits = rng.integers(0, 2 ** 32, size=4099, dtype=np.uint64).astype(np.uint32)  # every exponent, 4099: a tail
    src = bits.view(np.float32).copy()
    src[:64] = np.array([1e-39, -5e-40, 1.17e-38, 1.1754942e-38, 2 ** -149, -(2 ** -149), 3.4028235e38, -3.4028235e38,
                         np.inf, -np.inf, np.nan, 1.0 + 2 ** -8, 1.0 + 3 * 2 ** -8, -(1.0 + 2 ** -8), 0.0, -0.0] * 4,
                        np.float32)
    src[100:116] = rng.standard_normal(16).astype(np.float32)  # one whole vector without specials
    src[130] = 1e-40                                             # one denormal among 15 normal values
    dst = np.zeros(src.size, np.uint16)
    fn(src.ctypes.data, dst.ctypes.data, src.size)
    with np.errstate(invalid="ignore"):
        want = src.astype(tf.bfloat16.as_numpy_dtype)
    nan = np.isnan(src)
    assert nan.any() and (np.abs(src[~nan]) < 1.1754944e-38).sum() > 8
    np.testing.assert_array_equal(np.isnan(dst.view(tf.bfloat16.as_numpy_dtype).astype(np.float32)), nan)
    np.testing.assert_array_equal(dst[~nan], want.view(np.uint16)[~nan])
