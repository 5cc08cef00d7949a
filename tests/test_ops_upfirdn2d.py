"""upfirdn2d and its helpers: reference vs a numpy oracle, compiled op vs reference (values and gradients)."""
import itertools

import numpy as np
import pytest
import tensorflow as tf

from stylegan2_tf import ops
from _half_precision import HALF_DTYPES, assert_nearly_identical, assert_within_roundings, rounded
from _upfirdn_numpy import upfirdn2d_numpy

FILTERS = {
    "sep4": np.array([1, 3, 3, 1], np.float64),
    "sep3": np.array([1, 2, 1], np.float64),
    "sep5": np.array([1, 4, 6, 4, 1], np.float64) / 4,
    "full3x2": np.array([[1.0, -2.0], [0.5, 3.0], [2.0, 1.0]]),
    "full4": np.arange(16, dtype=np.float64).reshape(4, 4) / 10 - 0.3,
}

# (up, down, padding) cases: symmetric, asymmetric, negative (crop), anisotropic factors.
GEOMETRY = [
    (1, 1, 0), (2, 1, [2, 1, 2, 1]), (1, 2, [1, 1, 1, 1]), (4, 1, [3, 2, 1, 0]), (1, 4, [2, 2, 3, 3]),
    (2, 2, [1, 2, 0, 3]), (4, 2, [-1, 3, 2, -2]), ([2, 1], [1, 2], [3, -1, 2, 2]), (1, 1, [-1, -1, 2, -1]),
]


def _to_nchw(a):
    return np.transpose(a, [0, 3, 1, 2])


def _expand(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _pad4(p):
    return (p,) * 4 if isinstance(p, int) else tuple(p)


@pytest.mark.parametrize("fname,geom", list(itertools.product(["sep4", "sep3", "full3x2"], GEOMETRY)))
@pytest.mark.parametrize("flip", [False, True])
def test_reference_matches_numpy_oracle(fname, geom, flip):
    up, down, pad = geom
    r = np.random.default_rng(0)
    x = r.standard_normal([2, 5, 7, 3])
    f = FILTERS[fname]
    got = ops.upfirdn2d(x, f, up=up, down=down, padding=pad, flip_filter=flip, gain=1.5, impl="ref").numpy()
    expect = upfirdn2d_numpy(x, f, _expand(up), _expand(down), _pad4(pad), flip, 1.5)
    np.testing.assert_allclose(got, expect, rtol=1e-12, atol=1e-12)


def _value_and_grads(x, f, impl, data_format, **kw):
    xv = tf.constant(x)
    r = np.random.default_rng(9)
    with tf.GradientTape() as t2:
        t2.watch(xv)
        with tf.GradientTape() as t1:
            t1.watch(xv)
            y = ops.upfirdn2d(xv, f, data_format=data_format, impl=impl, **kw)
            proj = tf.constant(r.standard_normal(y.shape))
            loss = tf.reduce_sum(tf.square(y) * proj)  # square: makes the 2nd-order gradient depend on the op
        g = t1.gradient(loss, xv)
        s = tf.reduce_sum(g * tf.constant(r.standard_normal(x.shape)))
    gg = t2.gradient(s, xv)
    return y.numpy(), g.numpy(), gg.numpy()


@pytest.mark.parametrize("fname,geom", list(itertools.product(sorted(FILTERS), GEOMETRY)))
@pytest.mark.parametrize("data_format", ["NHWC", "NCHW"])
def test_custom_matches_reference(needs_custom_ops, fname, geom, data_format):
    up, down, pad = geom
    r = np.random.default_rng(1)
    x = r.standard_normal([2, 6, 7, 3])  # non-square
    if data_format == "NCHW":
        x = _to_nchw(x)
    kw = dict(up=up, down=down, padding=pad, flip_filter=fname == "full4", gain=0.7)
    for a, c in zip(_value_and_grads(x, FILTERS[fname], "ref", data_format, **kw),
                    _value_and_grads(x, FILTERS[fname], "custom", data_format, **kw)):
        np.testing.assert_allclose(c, a, rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("geom", [(2, 1, [2, 1, 2, 1]), (1, 2, [1, 1, 1, 1]), (2, 2, [1, -1, 2, 0])])
@pytest.mark.parametrize("impl,fname", [("ref", "full3x2"), ("custom", "full3x2"),
                                        ("custom", "sep3")])  # sep3: the separable op, passes reversed in its grad
def test_numerical_gradients_float64(geom, impl, fname, request):
    if impl == "custom":
        request.getfixturevalue("needs_custom_ops")
    up, down, pad = geom
    x = tf.constant(np.random.default_rng(2).standard_normal([1, 4, 5, 2]))
    f = FILTERS[fname]
    theo, num = tf.test.compute_gradient(lambda x: ops.upfirdn2d(x, f, up, down, pad, impl=impl), [x])
    np.testing.assert_allclose(theo[0], num[0], rtol=1e-7, atol=1e-7)
    # The gradient is itself an upfirdn2d: check its gradient numerically too.
    v = tf.constant(np.random.default_rng(3).standard_normal(ops.upfirdn2d(x, f, up, down, pad, impl="ref").shape))

    def grad_fn(x):
        x = tf.convert_to_tensor(x)  # the checker passes numpy arrays
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.square(ops.upfirdn2d(x, f, up, down, pad, impl=impl)) * v)
        return tape.gradient(loss, x)

    theo, num = tf.test.compute_gradient(grad_fn, [x])
    np.testing.assert_allclose(theo[0], num[0], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype,tol", [(np.float32, 1e-5), (np.float16, 5e-3)])
def test_float32_float16_custom_matches_reference(needs_custom_ops, dtype, tol):
    x = np.random.default_rng(4).standard_normal([2, 8, 8, 16]).astype(dtype)
    f = ops.setup_filter([1, 3, 3, 1])
    for fn in (ops.upsample2d, ops.downsample2d, ops.filter2d):
        ref = fn(x, f, impl="ref").numpy().astype(np.float64)
        cus = fn(x, f, impl="custom").numpy()
        assert cus.dtype == dtype
        np.testing.assert_allclose(cus.astype(np.float64), ref, rtol=tol, atol=tol)


def test_tf_function_matches_eager_and_unknown_batch(needs_custom_ops):
    x = np.random.default_rng(5).standard_normal([3, 8, 8, 4]).astype(np.float32)
    f = ops.setup_filter([1, 3, 3, 1])

    @tf.function(input_signature=[tf.TensorSpec([None, 8, 8, 4], tf.float32)])
    def fn(x):
        y = ops.upsample2d(x, f, impl="custom")
        assert y.shape.as_list() == [None, 16, 16, 4], y.shape
        z = ops.downsample2d(x, f, impl="custom")
        assert z.shape.as_list() == [None, 4, 4, 4], z.shape
        return y, z

    y, z = fn(x)
    np.testing.assert_array_equal(y.numpy(), ops.upsample2d(x, f, impl="custom").numpy())
    np.testing.assert_array_equal(z.numpy(), ops.downsample2d(x, f, impl="custom").numpy())


@pytest.mark.parametrize("impl", ["ref", "custom"])
def test_helpers_sizes_and_mean_preservation(impl, request):
    if impl == "custom":
        request.getfixturevalue("needs_custom_ops")
    f = ops.setup_filter([1, 3, 3, 1])
    x = np.full([1, 8, 6, 2], 3.0, np.float32)
    up = ops.upsample2d(x, f, impl=impl).numpy()
    down = ops.downsample2d(x, f, impl=impl).numpy()
    same = ops.filter2d(x, f, impl=impl).numpy()
    assert up.shape == (1, 16, 12, 2) and down.shape == (1, 4, 3, 2) and same.shape == x.shape
    # Away from the zero-padded border a normalized filter keeps a constant image constant.
    np.testing.assert_allclose(up[:, 2:-2, 2:-2], 3.0, rtol=1e-6)
    np.testing.assert_allclose(down[:, 1:-1, 1:-1], 3.0, rtol=1e-6)
    np.testing.assert_allclose(same[:, 2:-2, 2:-2], 3.0, rtol=1e-6)


def test_setup_filter():
    f = ops.setup_filter([1, 3, 3, 1]).numpy()
    np.testing.assert_allclose(f, np.array([1, 3, 3, 1]) / 8)
    f2 = ops.setup_filter([1, 3, 3, 1], separable=False, gain=4).numpy()
    np.testing.assert_allclose(f2, np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64 * 4, rtol=1e-6)
    np.testing.assert_allclose(ops.setup_filter([1, 2], flip_filter=True).numpy(), [2 / 3, 1 / 3], rtol=1e-6)
    np.testing.assert_allclose(ops.setup_filter(None).numpy(), [1.0])
    with pytest.raises(ValueError, match="1-D or 2-D"):
        ops.setup_filter(np.ones([2, 2, 2]))


@pytest.mark.parametrize("kwargs,match", [
    (dict(up=0), "up must be >= 1"),
    (dict(down=[1, 0]), "down must be >= 1"),
    (dict(padding=[1, 2, 3]), "padding must be"),
    (dict(padding=-4), "nothing along|removes the whole"),
    (dict(data_format="HWNC"), "data_format"),
])
def test_bad_arguments_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ops.upfirdn2d(np.zeros([1, 4, 4, 1], np.float32), [1, 1], **kwargs)


def test_bad_rank_and_filter():
    with pytest.raises(ValueError, match="rank-4"):
        ops.upfirdn2d(np.zeros([4, 4, 1], np.float32), [1, 1])
    with pytest.raises(ValueError, match="1-D .*or 2-D"):
        ops.upfirdn2d(np.zeros([1, 4, 4, 1], np.float32), np.ones([2, 2, 2]))


# --- bfloat16 / float16 (tolerances: see tests/_half_precision.py) --------------------------------------------------
# (name, filter, up, down, padding, flip, gain, passes). The separable [1,3,3,1] / 8 filter and gain 4 are exact in
# both types, so each pass rounds only its output (k = 2 passes); the 2-D filter is neither: it is flipped and
# scaled in float32 and rounded once to x's dtype, and the reference uses that rounded filter (k = 1 pass).
HALF_CASES = [
    ("sep4_up2", np.array([1, 3, 3, 1]) / 8, 2, 1, [2, 1, 2, 1], False, 4.0, 2),
    ("full4_down2", FILTERS["full4"], 1, 2, [1, 2, 0, 3], True, 0.7, 1),
]


def _half_filter(f, flip, gain, dtype):
    """The filter the op applies (as a correlation-free `upfirdn2d_numpy` argument with flip_filter=`flip`, gain 1):
    for a 2-D filter, float32(f) * float32(gain) rounded to dtype; a separable one is returned as given (exact)."""
    if f.ndim == 1:
        return f, gain
    return rounded(np.float32(f) * np.float32(gain), dtype), 1.0


@pytest.mark.parametrize("case", HALF_CASES, ids=[c[0] for c in HALF_CASES])
@pytest.mark.parametrize("impl", ["ref", "custom"])
@pytest.mark.parametrize("dtype", HALF_DTYPES)
def test_half_forward_within_roundings_of_numpy(dtype, impl, case, request):
    """Each pass accumulates in float32 and rounds once: |y - exact| <= passes * u * A, A = the same filter applied
    to |x| with |f| (numpy oracle in float64 on the same rounded x and filter)."""
    if impl == "custom":
        request.getfixturevalue("needs_custom_ops")
    _, f, up, down, pad, flip, gain, passes = case
    x = rounded(np.random.default_rng(20).standard_normal([2, 6, 7, 8]), dtype)
    y = ops.upfirdn2d(tf.constant(x, dtype), f, up=up, down=down, padding=pad, flip_filter=flip, gain=gain,
                      impl=impl)
    assert y.dtype == dtype
    fr, g = _half_filter(f, flip, gain, dtype)
    args = (_expand(up), _expand(down), _pad4(pad), flip, g)
    expect = upfirdn2d_numpy(x, fr, *args)
    assert_within_roundings(y, expect, dtype, k=passes, mag=upfirdn2d_numpy(np.abs(x), np.abs(fr), *args))
    if impl == "custom":  # same rounding points as the reference: nearly bit-identical
        ref = ops.upfirdn2d(tf.constant(x, dtype), f, up=up, down=down, padding=pad, flip_filter=flip, gain=gain,
                            impl="ref")
        assert_nearly_identical(y, ref, dtype, what="custom vs ref")


def _half_r1(x, f, proj, dtype, impl, case):
    """y = upfirdn2d(x); loss = sum(float32(y)^2 * proj); g = dloss/dx; s = sum(float32(g)^2); returns g, ds/dx."""
    _, _, up, down, pad, flip, gain, _ = case
    xv = tf.constant(x, dtype)
    with tf.GradientTape() as outer:
        outer.watch(xv)
        with tf.GradientTape() as inner:
            inner.watch(xv)
            y = ops.upfirdn2d(xv, f, up=up, down=down, padding=pad, flip_filter=flip, gain=gain, impl=impl)
            loss = tf.reduce_sum(tf.square(tf.cast(y, tf.float32)) * tf.constant(proj, tf.float32))
        g = inner.gradient(loss, xv)
        s = tf.reduce_sum(tf.square(tf.cast(g, tf.float32)))
    return g, outer.gradient(s, xv)


@pytest.mark.parametrize("case", HALF_CASES, ids=[c[0] for c in HALF_CASES])
@pytest.mark.parametrize("impl", ["ref", "custom"])
@pytest.mark.parametrize("dtype", HALF_DTYPES)
def test_half_first_and_second_order_gradients_match_float64(dtype, impl, case, request):
    """g = L^T(2 y proj) and ds/dx = 8 L^T P L L^T P L x (L the op, P = diag(proj)). Roundings: y (p passes),
    the cast of 2 y proj to x's dtype (1), g (p): k = 2p + 1 for g; then L (p), the cast back (1) and L^T (p):
    k = 4p + 2 for ds/dx. A: the same computation in float64 with |x|, |f|, |proj|. Gradients keep x's dtype."""
    if impl == "custom":
        request.getfixturevalue("needs_custom_ops")
    _, f, _, _, _, flip, gain, passes = case
    r = np.random.default_rng(21)
    x = rounded(r.standard_normal([1, 6, 7, 4]), dtype)
    fr, g = _half_filter(f, flip, gain, dtype)
    case64 = case[:5] + (flip, g, passes)
    y_shape = ops.upfirdn2d(x, f, up=case[2], down=case[3], padding=case[4], impl="ref").shape
    proj = rounded(r.standard_normal(y_shape), dtype)
    gx, ggx = _half_r1(x, f, proj, dtype, impl, case)
    assert gx.dtype == dtype and ggx.dtype == dtype
    ex, eggx = (t.numpy() for t in _half_r1(x, fr, proj, tf.float64, "ref", case64))
    ax, aggx = (t.numpy() for t in _half_r1(np.abs(x), np.abs(fr), np.abs(proj), tf.float64, "ref", case64))
    assert_within_roundings(gx, ex, dtype, k=2 * passes + 1, mag=ax, what="dloss/dx")
    assert_within_roundings(ggx, eggx, dtype, k=4 * passes + 2, mag=aggx, what="d|g|^2/dx")


_BITS = {tf.float64: tf.int64, tf.float32: tf.int32, tf.bfloat16: tf.uint16, tf.float16: tf.uint16}


@pytest.mark.parametrize("dtype", [tf.float64, tf.float32, tf.bfloat16, tf.float16])
@pytest.mark.parametrize("data_format", ["NHWC", "NCHW"])
def test_separable_op_gives_the_bits_of_two_passes(needs_custom_ops, dtype, data_format):
    """Sg2UpFirDn2dSeparable (what a 1-D filter runs) against two Sg2UpFirDn2d passes with the filters [1, fw] and
    [fh, 1], bit for bit, in both orders: random sizes, channel counts (1 to 128: vector tails), filters, up/down
    factors and pads, crops included. On NHWC the CPU kernel keeps the intermediate rows in a per-thread ring."""
    from stylegan2_tf.ops import _library
    lib = _library.get_library()
    r = np.random.default_rng(11)
    checked = 0
    while checked < 24:
        n, c = int(r.integers(1, 4)), int(r.choice([1, 3, 16, 37, 128]))
        h, w, fh, fw = [int(v) for v in r.integers(1, 12, 2)] + [int(v) for v in r.integers(1, 7, 2)]
        upx, upy, downx, downy = (int(v) for v in r.choice([1, 1, 2, 3], 4))
        px0, px1, py0, py1 = (int(v) for v in r.integers(-2, 6, 4))
        if min(h * upy + min(py0, 0) + min(py1, 0), w * upx + min(px0, 0) + min(px1, 0)) <= 0:
            continue
        if (h * upy + py0 + py1 - fh) // downy < 0 or (w * upx + px0 + px1 - fw) // downx < 0:
            continue
        shape = [n, h, w, c] if data_format == "NHWC" else [n, c, h, w]
        x = tf.cast(r.standard_normal(shape), dtype)
        fx, fy = tf.cast(r.standard_normal(fw), dtype), tf.cast(r.standard_normal(fh), dtype)
        xa = dict(upx=upx, downx=downx, padx0=px0, padx1=px1, data_format=data_format)
        ya = dict(upy=upy, downy=downy, pady0=py0, pady1=py1, data_format=data_format)
        both = dict(xa, **ya)
        for y_first in (False, True):
            if y_first:
                two = lib.sg2_up_fir_dn2d(lib.sg2_up_fir_dn2d(x, tf.reshape(fy, [fh, 1]), **ya),
                                          tf.reshape(fx, [1, fw]), **xa)
            else:
                two = lib.sg2_up_fir_dn2d(lib.sg2_up_fir_dn2d(x, tf.reshape(fx, [1, fw]), **xa),
                                          tf.reshape(fy, [fh, 1]), **ya)
            one = lib.sg2_up_fir_dn2d_separable(x, fx, fy, y_first=y_first, **both)
            assert one.shape == two.shape
            np.testing.assert_array_equal(tf.bitcast(one, _BITS[dtype]).numpy(), tf.bitcast(two, _BITS[dtype]).numpy(),
                                          err_msg=f"{shape} f {fh}x{fw} {xa} {ya} y_first={y_first}")
        checked += 1


def test_separable_op_rejects_bad_filters(needs_custom_ops):
    from stylegan2_tf.ops import _library
    lib = _library.get_library()
    x = tf.zeros([1, 4, 4, 2])
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError), match="rank 1"):
        lib.sg2_up_fir_dn2d_separable(x, tf.ones([1, 3]), tf.ones([3]))
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError), match="output size would be 2x-1"):
        lib.sg2_up_fir_dn2d_separable(x, tf.ones([6]), tf.ones([3]))
