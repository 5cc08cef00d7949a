"""filtered_lrelu: the compiled Sg2FilteredLrelu op against the pure-TF reference and an independent numpy statement
(forward, sign record, first- and second-order gradients, 16-bit types, errors).

Tolerances. A is the same computation on absolute values (|x + b| through |fu| and |fd|, the activation replaced by
its largest gain |gain| * max(1, |slope|)), elementwise; every float rounding inside the op is at most 2^-p of a
partial sum bounded by A. A pass adds m roundings in sequence: the up-filter taps per output (fu_taps / up per axis),
the down-filter taps (fd_taps per axis), and the bias add, gain and slope (3). So two float computations of the same
result differ by at most 2 * m * eps * A (eps = 2^-53 float64, 2^-24 float32). The 16-bit types compute in float32
and round once: |y - exact| <= u * |exact| + (1 + u) * m * 2^-24 * A (+ 2^-25 per float16 subnormal rounding), with
u = 2^-8 (bfloat16) or 2^-11 (float16).
"""
import math

import numpy as np
import pytest
import tensorflow as tf

from stylegan2_tf.ops import _library, filtered_lrelu
from _half_precision import HALF_DTYPES, UNIT_ROUNDOFF, f64, rounded
from _upfirdn_numpy import upfirdn2d_numpy

SQRT2 = math.sqrt(2)


def _filter(spec, seed):
    """None, ('1d', taps) or ('2d', fh, fw): random float32 taps (not symmetric, so flips matter)."""
    if spec is None:
        return None
    r = np.random.default_rng(seed)
    shape = spec[1:] if spec[0] == "2d" else spec[1:2]
    f = r.standard_normal(shape) + 1.0
    return (f / f.sum()).astype(np.float32)


def _taps(f, axis):
    if f is None:
        return 1
    return f.shape[0] if f.ndim == 1 else f.shape[axis]


# name: (format, x NHWC shape, fu, fd, up, down, padding, gain, slope, clamp, flip_filter, bias)
CASES = {
    "sg3_up2_down2": ("NHWC", (2, 10, 11, 5), ("1d", 12), ("1d", 12), 2, 2, (9, 8, 9, 8), SQRT2, 0.2, None, False, True),
    "sg3_up2_down2_nchw_clamp": ("NCHW", (2, 10, 11, 5), ("1d", 12), ("1d", 12), 2, 2, (9, 8, 9, 8), SQRT2, 0.2, 0.6,
                                 False, True),
    "sg3_up4_down2": ("NHWC", (2, 12, 12, 3), ("1d", 24), ("1d", 12), 4, 2, (9, 8, 9, 8), SQRT2, 0.2, 0.6, False,
                      True),
    "sg3_crop": ("NHWC", (2, 20, 21, 3), ("1d", 12), ("1d", 12), 2, 2, (-5, -6, -6, -5), SQRT2, 0.2, None, False,
                 True),
    "no_filters_clamp_c1": ("NHWC", (2, 9, 10, 1), None, None, 1, 1, 0, SQRT2, 0.2, 0.5, False, False),
    "up2_down1_relu_even": ("NHWC", (2, 7, 8, 4), ("1d", 6), None, 2, 1, (3, 2, 3, 2), SQRT2, 0.0, None, False, True),
    "up1_down2_linear_odd": ("NCHW", (2, 9, 8, 3), None, ("1d", 5), 1, 2, (2, 2, 2, 2), 1.0, 1.0, 0.8, False, True),
    "2d_filters_crop_flip": ("NCHW", (1, 7, 9, 6), ("2d", 5, 4), ("2d", 3, 6), 2, 2, (-1, 3, 2, -2), 1.3, 0.3, 1.0,
                             True, True),
    "sep_up_2d_down_flip": ("NHWC", (2, 6, 7, 4), ("1d", 7), ("2d", 4, 4), 2, 1, (3, 4, 4, 3), SQRT2, 0.2, None,
                            True, True),
    "linear_no_record": ("NHWC", (2, 6, 7, 4), ("1d", 4), ("1d", 4), 2, 2, (2, 1, 2, 1), SQRT2, 1.0, None, False,
                         True),
    "up3_general": ("NHWC", (1, 6, 7, 3), ("1d", 9), ("1d", 5), 3, 2, (4, 3, 4, 3), SQRT2, 0.2, None, False, True),
    "tiles_x_and_bands": ("NHWC", (1, 30, 150, 20), ("1d", 12), ("1d", 12), 2, 2, (9, 8, 9, 8), SQRT2, 0.2, 1.5,
                          False, True),
    "c1_record_along_x_clamp": ("NHWC", (2, 9, 10, 1), ("1d", 4), ("1d", 4), 2, 2, (2, 1, 3, 2), SQRT2, 0.2, 0.7,
                                False, True),
}


def _inputs(case, dtype, seed=0):
    fmt, shape, fu, fd, up, down, pad, gain, slope, clamp, flip, bias = CASES[case]
    r = np.random.default_rng(seed)
    x = r.standard_normal(shape)
    b = r.standard_normal(shape[3]) if bias else None
    if dtype in HALF_DTYPES:
        x = rounded(x, dtype)
        b = None if b is None else rounded(b, dtype)
    fu, fd = _filter(fu, seed + 1), _filter(fd, seed + 2)
    kw = dict(fu=fu, fd=fd, up=up, down=down, padding=pad, gain=gain, slope=slope, clamp=clamp, flip_filter=flip,
              data_format=fmt)
    return x, b, kw


def _to_fmt(a, fmt):
    return a if a is None or fmt == "NHWC" or np.ndim(a) != 4 else np.transpose(a, [0, 3, 1, 2])


def _from_fmt(a, fmt):
    return a if fmt == "NHWC" else np.transpose(a, [0, 2, 3, 1])


def _run(x, b, kw, impl, dtype, proj=None, seed=3):
    """y and (dx, db) of sum(float32(y) * proj) (NHWC numpy float64; proj exactly representable in dtype)."""
    fmt = kw["data_format"]
    xt = tf.constant(_to_fmt(x, fmt), dtype)
    bt = None if b is None else tf.constant(b, dtype)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        if bt is not None:
            tape.watch(bt)
        y = filtered_lrelu(xt, b=bt, impl=impl, **kw)
        if proj is None:
            p = np.random.default_rng(seed).standard_normal(_from_fmt(y.numpy(), fmt).shape)
            proj = rounded(p, dtype.name if dtype.name in HALF_DTYPES else "bfloat16")
        loss = tf.reduce_sum(tf.cast(y, tf.float32) * tf.constant(_to_fmt(proj, fmt), tf.float32))
    assert y.dtype == dtype
    dx, db = tape.gradient(loss, [xt, bt]) if bt is not None else (tape.gradient(loss, xt), None)
    assert dx.dtype == dtype and (db is None or db.dtype == dtype)
    out = [_from_fmt(f64(y), fmt), _from_fmt(f64(dx), fmt), None if db is None else f64(db)]
    return out, proj


def _magnitudes(x, b, kw, proj):
    """A for y, dx and db (see the module docstring), by the float64 reference on absolute values."""
    fmt = kw["data_format"]
    akw = dict(kw, fu=None if kw["fu"] is None else np.abs(kw["fu"]), fd=None if kw["fd"] is None else np.abs(kw["fd"]),
               gain=abs(kw["gain"]) * max(1.0, abs(kw["slope"])), slope=1.0, clamp=None)
    z = np.abs(x + (0 if b is None else b))
    xt = tf.constant(_to_fmt(z, fmt))
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = filtered_lrelu(xt, impl="ref", **akw)
        loss = tf.reduce_sum(y * tf.constant(_to_fmt(np.abs(proj), fmt)))
    a_dx = _from_fmt(tape.gradient(loss, xt).numpy(), fmt)
    a_db = None if b is None else a_dx.sum(axis=(0, 1, 2))
    return _from_fmt(y.numpy(), fmt), a_dx, a_db


def _roundings(kw):
    up, down, fu, fd = kw["up"], kw["down"], kw["fu"], kw["fd"]
    return sum(-(-_taps(fu, a) // up) for a in (0, 1)) + sum(_taps(fd, a) for a in (0, 1)) + 3


def _assert_close(got, ref, mag, tol, what):
    err = np.abs(got - ref)
    bound = tol * mag
    assert np.all(err <= bound), f"{what}: max error {err.max():.3g}, max error/bound {np.max(err / np.maximum(bound, 1e-300)):.3g}"


@pytest.mark.parametrize("case", sorted(CASES))
def test_custom_matches_reference_float64(needs_custom_ops, case):
    """Forward, dx and db of the compiled op and of the reference (bias_act + upfirdn2d + bias_act + upfirdn2d).
    Both are float64 computations of the same sums: within 2 * m * 2^-53 * A. The activation gain is a float32
    attribute in both, but the op folds up^2 into it (one float32 product, exact for up = 1, 2, 4): for up = 3 the two
    gains differ by up to 2^-24 relative."""
    x, b, kw = _inputs(case, tf.float64)
    (y, dx, db), proj = _run(x, b, kw, "custom", tf.float64)
    (ry, rdx, rdb), _ = _run(x, b, kw, "ref", tf.float64, proj)
    ay, adx, adb = _magnitudes(x, b, kw, proj)
    assert ry.shape == y.shape and np.abs(ry).max() > 0 and np.abs(rdx).max() > 0
    tol = 2 * _roundings(kw) * 2.0 ** -53 + (2.0 ** -23 if kw["up"] & (kw["up"] - 1) else 0.0)
    _assert_close(y, ry, ay, tol, "y")
    _assert_close(dx, rdx, adx, tol, "dx")
    if b is not None:
        _assert_close(db, rdb, adb, tol, "db")


@pytest.mark.parametrize("case", ["sg3_up2_down2", "sg3_up2_down2_nchw_clamp", "sg3_up4_down2", "sg3_crop",
                                  "2d_filters_crop_flip"])
def test_custom_matches_reference_float32(needs_custom_ops, case):
    """float32: the two implementations sum in different orders; each is within m * 2^-24 * A of the exact value."""
    x, b, kw = _inputs(case, tf.float32)
    x, b = x.astype(np.float32).astype(np.float64), None if b is None else b.astype(np.float32).astype(np.float64)
    (y, dx, db), proj = _run(x, b, kw, "custom", tf.float32)
    (ry, rdx, rdb), _ = _run(x, b, kw, "ref", tf.float32, proj)
    ay, adx, adb = _magnitudes(x, b, kw, proj)
    tol = 2 * _roundings(kw) * 2.0 ** -24
    _assert_close(y, ry, ay, tol, "y")
    _assert_close(dx, rdx, adx, tol, "dx")
    if b is not None:
        _assert_close(db, rdb, adb, tol * 2, "db")


def _numpy_filtered_lrelu(x, b, fu, fd, up, down, padding, gain, slope, clamp, flip_filter):
    """Straight from the definition, NHWC float64 (tests/_upfirdn_numpy.py's direct loops). Returns y and the
    pre-activation grid the op's sign record describes."""
    pad = (padding,) * 4 if isinstance(padding, int) else padding
    z = x + (0 if b is None else b)
    u = upfirdn2d_numpy(z, [[1.0]] if fu is None else fu, up=(up, up), pad=pad, flip_filter=flip_filter,
                        gain=up ** 2)
    f32 = lambda v: float(np.float32(v))  # noqa: E731  (float32 attributes)
    v = np.where(u > 0, u, u * f32(slope)) * f32(gain)
    if clamp is not None:
        v = np.clip(v, -f32(clamp), f32(clamp))
    y = upfirdn2d_numpy(v, [[1.0]] if fd is None else fd, down=(down, down), flip_filter=flip_filter)
    return y, u


@pytest.mark.parametrize("case", ["sg3_up2_down2", "sg3_up4_down2", "2d_filters_crop_flip", "up1_down2_linear_odd",
                                  "c1_record_along_x_clamp"])
def test_forward_and_sign_record_match_numpy_definition(needs_custom_ops, case):
    """The raw op against direct numpy loops over the definition: y, and the sign record (2 bits per grid element,
    0: u > 0, 1: u <= 0, 2: clamped; 4 channels per byte, or 4 columns per byte for one lane), decoded."""
    x, b, kw = _inputs(case, tf.float64)
    fmt = kw["data_format"]
    ey, u = _numpy_filtered_lrelu(x, b, kw["fu"], kw["fd"], kw["up"], kw["down"], kw["padding"], kw["gain"],
                                  kw["slope"], kw["clamp"], kw["flip_filter"])
    y = filtered_lrelu(tf.constant(_to_fmt(x, fmt)), b=b, impl="custom", **kw)
    ay, _, _ = _magnitudes(x, b, kw, np.zeros_like(ey))
    _assert_close(_from_fmt(y.numpy(), fmt), ey, ay, 2 * _roundings(kw) * 2.0 ** -53, "y")
    # The record, through the raw op (correlation filters: flip_filter=False passes them reversed).
    from stylegan2_tf.ops._filtered_lrelu_custom import _reverse
    up, down, pad = kw["up"], kw["down"], kw["padding"]
    pad = (pad,) * 4 if isinstance(pad, int) else pad
    fu = tf.ones([1]) if kw["fu"] is None else tf.constant(kw["fu"])
    fd = tf.ones([1]) if kw["fd"] is None else tf.constant(kw["fd"])
    if not kw["flip_filter"]:
        fu, fd = _reverse(fu), _reverse(fd)
    clamp = -1.0 if kw["clamp"] is None else kw["clamp"]
    _, so = _library.get_library().sg2_filtered_lrelu(
        _to_fmt(x, fmt), fu, fd, np.zeros([0]) if b is None else b, tf.zeros([0, 0, 0], tf.uint8), up=up, down=down,
        padx0=pad[0], padx1=pad[1], pady0=pad[2], pady1=pad[3], gain=kw["gain"] * up * up, slope=kw["slope"],
        clamp=clamp, data_format=fmt)
    n, _, _, c = x.shape
    th, tw = (ey.shape[1] - 1) * down + _taps(kw["fd"], 0), (ey.shape[2] - 1) * down + _taps(kw["fd"], 1)
    u = u[:, :th, :tw, :]
    act = np.where(u > 0, u, u * np.float32(kw["slope"])) * np.float32(kw["gain"])
    expect = np.where(np.abs(act) > (np.inf if kw["clamp"] is None else np.float32(kw["clamp"])), 2, (u <= 0) * 1)
    so = so.numpy()
    lanes = 1 if fmt == "NCHW" else c
    if lanes == 1:  # [planes, th, ceil(tw / 4)]: column tx in byte tx // 4
        assert so.shape == ((n * c if fmt == "NCHW" else n), th, -(-tw // 4))
        codes = (so[..., np.arange(tw) // 4] >> (2 * (np.arange(tw) % 4))) & 3
        codes = codes.reshape(n, c, th, tw).transpose(0, 2, 3, 1) if fmt == "NCHW" else codes[..., None]
    else:  # [n, th, tw * ceil(c / 4)]: channel k of pixel tx in byte tx * ceil(c / 4) + k // 4
        lb = -(-c // 4)
        assert so.shape == (n, th, tw * lb)
        so = so.reshape(n, th, tw, lb)
        codes = (so[..., np.arange(c) // 4] >> (2 * (np.arange(c) % 4))) & 3
    np.testing.assert_array_equal(codes, expect)
    assert (expect == 1).any() and (expect == 0).any() and (kw["clamp"] is None or (expect == 2).any())


def test_no_record_when_linear_and_unclamped(needs_custom_ops):
    """slope 1 and no clamp: the derivative is the constant gain, so the forward writes no record."""
    lib = _library.get_library()
    x = np.random.default_rng(0).standard_normal([1, 5, 6, 4]).astype(np.float32)
    _, so = lib.sg2_filtered_lrelu(x, tf.ones([3]), tf.ones([3]), tf.zeros([0]), tf.zeros([0, 0, 0], tf.uint8),
                                   up=2, down=2, padx0=2, padx1=2, pady0=2, pady1=2, slope=1.0, clamp=-1.0)
    assert so.shape == (0, 0, 0)


@pytest.mark.parametrize("case", ["sg3_up2_down2_nchw_clamp", "2d_filters_crop_flip"])
def test_numerical_gradients_first_and_second_order(needs_custom_ops, case):
    """tf.test.compute_gradient (float64) for x and b, and for the gradient itself (second order: d/d(x, b) of
    <d sum(y^2 w)/d(x, b), v>, nonzero since the loss is quadratic in y). Small inputs, so no finite-difference step
    crosses a kink of the activation or the clamp (piecewise linear, so central differences are exact elsewhere)."""
    x, b, kw = _inputs(case, tf.float64, seed=5)
    fmt = kw["data_format"]
    x = _to_fmt(x[:1, :5, :6, :2], fmt)
    b = b[:2]
    theo, num = tf.test.compute_gradient(lambda x, b: filtered_lrelu(x, b=b, impl="custom", **kw),
                                         [tf.constant(x), tf.constant(b)], delta=1e-6)
    for t, n in zip(theo, num):
        np.testing.assert_allclose(t, n, rtol=1e-6, atol=1e-6)
    y = filtered_lrelu(x, b=b, impl="custom", **kw)
    r = np.random.default_rng(6)
    w, v = tf.constant(r.standard_normal(y.shape)), tf.constant(r.standard_normal(x.shape))

    def first_grad(x, b):
        x, b = tf.convert_to_tensor(x), tf.convert_to_tensor(b)
        with tf.GradientTape() as tape:
            tape.watch([x, b])
            loss = tf.reduce_sum(tf.square(filtered_lrelu(x, b=b, impl="custom", **kw)) * w)
        gx, gb = tape.gradient(loss, [x, b])
        return tf.concat([tf.reshape(gx * v, [-1]), gb], 0)

    theo, num = tf.test.compute_gradient(first_grad, [tf.constant(x), tf.constant(b)], delta=1e-6)
    assert max(np.abs(t).max() for t in theo) > 0
    for t, n in zip(theo, num):
        np.testing.assert_allclose(t, n, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", ["sg3_up4_down2", "2d_filters_crop_flip"])
def test_second_order_matches_reference(needs_custom_ops, case):
    """R1-like: d/d(x, b) of sum((dD/dx)^2) with D = sum(y^2 * w): the compiled gradient differentiated again vs the
    reference's autodiff, float64."""
    x, b, kw = _inputs(case, tf.float64, seed=7)
    fmt = kw["data_format"]
    out = {}
    for impl in ("custom", "ref"):
        xt, bt = tf.constant(_to_fmt(x, fmt)), tf.constant(b)
        with tf.GradientTape() as outer:
            outer.watch([xt, bt])
            with tf.GradientTape() as inner:
                inner.watch(xt)
                y = filtered_lrelu(xt, b=bt, impl=impl, **kw)
                d = tf.reduce_sum(tf.square(y) * tf.constant(np.random.default_rng(8).standard_normal(y.shape)))
            gx = inner.gradient(d, xt)
            r1 = tf.reduce_sum(tf.square(gx))
        out[impl] = [g.numpy() for g in outer.gradient(r1, [xt, bt])]
    for c, r in zip(out["custom"], out["ref"]):
        assert np.abs(r).max() > 0
        np.testing.assert_allclose(c, r, rtol=1e-9, atol=1e-9 * np.abs(r).max())


HALF_CASES = ["sg3_up2_down2", "sg3_up2_down2_nchw_clamp", "sg3_up4_down2", "2d_filters_crop_flip",
              "c1_record_along_x_clamp"]


@pytest.mark.parametrize("case", HALF_CASES)
@pytest.mark.parametrize("dtype", HALF_DTYPES)
def test_half_within_one_rounding_of_float64(needs_custom_ops, dtype, case):
    """bfloat16/float16: y and dx are the exact results on the same (rounded) inputs rounded once:
    |error| <= u * |exact| + (1 + u) * m * 2^-24 * A. db sums the rounded dx in float32 and rounds once:
    |error| <= u * (sum |dx| + |db|) + m * 2^-24 * sum A_dx. Outputs and gradients come back in x's dtype (a float32
    bias keeps its own dtype: see test_half_float32_bias)."""
    x, b, kw = _inputs(case, dtype)
    (y, dx, db), proj = _run(x, b, kw, "custom", tf.as_dtype(dtype))
    (ry, rdx, rdb), _ = _run(x, b, kw, "ref", tf.float64, proj)
    ay, adx, adb = _magnitudes(x, b, kw, proj)
    u, m = UNIT_ROUNDOFF[dtype], _roundings(kw)
    sub = 2.0 ** -25 if dtype == "float16" else 0.0
    for got, ref, a, what in ((y, ry, ay, "y"), (dx, rdx, adx, "dx")):
        err, bound = np.abs(got - ref), u * np.abs(ref) + (1 + u) * m * 2.0 ** -24 * a + sub
        assert np.all(err <= bound), f"{what}: max error/bound {np.max(err / np.maximum(bound, 1e-300)):.3g}"
        assert np.max(err / np.maximum(bound, 1e-300)) > 0.25  # the bound is not vacuous
    err = np.abs(db - rdb)
    bound = u * (np.abs(rdx).sum(axis=(0, 1, 2)) + np.abs(rdb)) + 2 * m * 2.0 ** -24 * adb + sub * x[..., 0].size
    assert np.all(err <= bound), f"db: max error/bound {np.max(err / bound):.3g}"


def test_half_float32_bias(needs_custom_ops):
    """A float32 bias with a bfloat16 x is rounded to bfloat16 first; its gradient keeps float32."""
    x = tf.constant(np.random.default_rng(0).standard_normal([1, 6, 6, 4]), tf.bfloat16)
    b = tf.Variable(np.linspace(-0.3, 0.3, 4, dtype=np.float32))
    with tf.GradientTape() as tape:
        y = filtered_lrelu(x, b=b, fu=[1, 3, 3, 1], fd=[1, 3, 3, 1], up=2, down=2, padding=2, impl="custom")
    assert y.dtype == tf.bfloat16 and tape.gradient(y, b).dtype == tf.float32
    y16 = filtered_lrelu(x, b=tf.cast(b, tf.bfloat16), fu=[1, 3, 3, 1], fd=[1, 3, 3, 1], up=2, down=2, padding=2,
                         impl="custom")
    np.testing.assert_array_equal(f64(y), f64(y16))


def test_static_shapes_and_unknown_batch(needs_custom_ops):
    @tf.function(input_signature=[tf.TensorSpec([None, 38, 38, 8], tf.float32)])
    def fn(x):
        y = filtered_lrelu(x, fu=np.ones(12) / 12, fd=np.ones(12) / 12, b=tf.zeros([8]), up=2, down=2,
                           padding=[9, 8, 9, 8], clamp=256, impl="custom")
        assert y.shape.as_list() == [None, 36, 36, 8], y.shape
        return y

    assert fn(tf.zeros([2, 38, 38, 8])).shape == (2, 36, 36, 8)


@pytest.mark.parametrize("kwargs,match", [
    (dict(fu=np.ones(12), up=1, padding=0), "smaller than the filters"),
    (dict(fd=np.ones(9), down=2, padding=[-2, 0, 0, 0]), "smaller than the filters"),
    (dict(padding=[1, 2, 3]), "padding must be"),
    (dict(padding="same"), "padding must be"),
    (dict(b=np.zeros(3, np.float32)), r"b must be \[2\]"),
    (dict(up=0), "up must be >= 1"),
    (dict(clamp=-1.0), "clamp must be"),
])
def test_bad_arguments_raise_one_line_errors(needs_custom_ops, kwargs, match):
    with pytest.raises(ValueError, match=match) as info:
        filtered_lrelu(np.zeros([1, 4, 4, 2], np.float32), impl="custom", **kwargs)
    assert "\n" not in str(info.value)


def test_raw_op_rejects_bad_shapes(needs_custom_ops):
    lib = _library.get_library()
    x, none = np.zeros([1, 4, 4, 2], np.float32), tf.zeros([0, 0, 0], tf.uint8)
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError), match="output (height|width|size) would be"):
        lib.sg2_filtered_lrelu(x, tf.ones([12]), tf.ones([1]), tf.zeros([0]), none)
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError), match=r"bias length 3|b must be \[0\] or \[2\]"):
        lib.sg2_filtered_lrelu(x, tf.ones([1]), tf.ones([1]), tf.zeros([3]), none)
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError), match="sign record"):
        lib.sg2_filtered_lrelu(x, tf.ones([1]), tf.ones([1]), tf.zeros([0]), none, read_signs=True)


def test_gradient_of_dynamic_spatial_size_is_a_clear_error(needs_custom_ops):
    @tf.function(input_signature=[tf.TensorSpec([1, None, None, 2], tf.float32)])
    def grad(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = filtered_lrelu(x, fu=[1, 1], up=2, padding=1, impl="custom")
        return tape.gradient(y, x)

    with pytest.raises(ValueError, match="static spatial sizes"):
        grad.get_concrete_function()
