"""upsample_conv2d / conv_downsample2d: equal to their unfused definitions, and custom == reference."""
import numpy as np
import pytest
import tensorflow as tf

from stylegan2_tf import ops
from _half_precision import HALF_DTYPES, assert_within_roundings, conv_roundings, f64, rounded


def _data(k=3, cin=3, cout=5, h=6, w=7):
    r = np.random.default_rng(0)
    return r.standard_normal([2, h, w, cin]), r.standard_normal([k, k, cin, cout])


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("taps", [[1, 3, 3, 1], [1, 2, 1]])
def test_upsample_conv2d_equals_upsample_then_valid_conv(k, taps):
    """Fused form == upfirdn2d(up=2, padding applied once) followed by a VALID convolution with w."""
    x, w = _data(k)
    f = ops.setup_filter(taps)
    fw = len(taps)
    p0, p1 = (fw + 1) // 2 + k // 2, (fw - 2) // 2 + (k - 1) // 2
    expect = tf.nn.conv2d(ops.upfirdn2d(x, f, up=2, padding=[p0, p1, p0, p1], gain=4, impl="ref"), w, 1, "VALID")
    got = ops.upsample_conv2d(x, w, f, up=2, impl="ref")
    assert got.shape == (2, 12, 14, 5)
    np.testing.assert_allclose(got.numpy(), expect.numpy(), rtol=1e-10, atol=1e-10)
    # Away from the border it is exactly upsample2d followed by a SAME convolution.
    unfused = tf.nn.conv2d(ops.upsample2d(x, f, impl="ref"), w, 1, "SAME").numpy()
    np.testing.assert_allclose(got.numpy()[:, 3:-3, 3:-3], unfused[:, 3:-3, 3:-3], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("k", [1, 3])
def test_conv_downsample2d_equals_filter_then_strided_conv(k):
    x, w = _data(k, h=8, w=6)
    f = ops.setup_filter([1, 3, 3, 1])
    p = 2 + (k - 1)
    expect = tf.nn.conv2d(ops.upfirdn2d(x, f, padding=[(p + 1) // 2, p // 2, (p + 1) // 2, p // 2],
                                        impl="ref"), w, 2, "VALID")
    got = ops.conv_downsample2d(x, w, f, down=2, impl="ref")
    assert got.shape == (2, 4, 3, 5)
    np.testing.assert_allclose(got.numpy(), expect.numpy(), rtol=1e-10, atol=1e-10)
    unfused = ops.downsample2d(tf.nn.conv2d(x, w, 1, "SAME"), f, impl="ref").numpy()
    np.testing.assert_allclose(got.numpy()[:, 1:-1, 1:-1], unfused[:, 1:-1, 1:-1], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("fn", ["upsample_conv2d", "conv_downsample2d"])
def test_custom_matches_reference_with_gradients(needs_custom_ops, fn):
    x, w = _data(h=8, w=8)
    f = ops.setup_filter([1, 3, 3, 1])
    results = []
    for impl in ("ref", "custom"):
        xv, wv = tf.constant(x), tf.constant(w)
        with tf.GradientTape() as t2:
            t2.watch([xv, wv])
            with tf.GradientTape() as t1:
                t1.watch([xv, wv])
                y = getattr(ops, fn)(xv, wv, f, impl=impl)
                loss = tf.reduce_sum(tf.square(y))
            gx, gw = t1.gradient(loss, [xv, wv])
            s = tf.reduce_sum(tf.square(gx))
        results.append([y, gx, gw, t2.gradient(s, wv)])
    for a, c in zip(*results):
        np.testing.assert_allclose(c.numpy(), a.numpy(), rtol=1e-10, atol=1e-9)


def test_nchw_matches_nhwc():
    x, w = _data()
    f = ops.setup_filter([1, 3, 3, 1])
    nchw = np.transpose(x, [0, 3, 1, 2])
    for fn in (ops.upsample_conv2d, ops.conv_downsample2d):
        a = fn(x, w, f, impl="ref").numpy()
        b = fn(nchw, w, f, data_format="NCHW", impl="ref").numpy()
        np.testing.assert_allclose(np.transpose(b, [0, 2, 3, 1]), a, rtol=1e-12, atol=1e-12)


def test_bad_arguments():
    x, w = _data()
    f = ops.setup_filter([1, 3, 3, 1])
    with pytest.raises(ValueError, match="channels"):
        ops.upsample_conv2d(x, w[:, :, :2], f)
    with pytest.raises(ValueError, match="up must be"):
        ops.upsample_conv2d(x, w, f, up=0)
    with pytest.raises(ValueError, match="rank 4"):
        ops.conv_downsample2d(x[0], w, f)


# --- conv2d_resample (what the layers call) against plain TensorFlow ------------------------------------------------
def _fir_plain(x, taps, gain):
    """Depthwise VALID correlation with the separable, normalized 2-D filter outer(taps, taps) * gain (plain TF)."""
    t = np.asarray(taps, np.float64)
    k2 = np.outer(t, t) / np.sum(t) ** 2 * gain
    c = x.shape[-1]
    kern = tf.constant(np.tile(k2[:, :, None, None], [1, 1, c, 1]), x.dtype)
    return tf.nn.depthwise_conv2d(x, kern, [1, 1, 1, 1], "VALID")


def _upsample_then_conv(x, w, taps=(1, 3, 3, 1)):
    """Official upsample_conv_2d: zero-insert 2x, pad once, FIR (gain 4), VALID conv — built from plain TF ops."""
    n, h, wd, c = x.shape
    k, fw = w.shape[0], len(taps)
    z = tf.reshape(tf.stack([x, tf.zeros_like(x)], axis=3), [n, h, 2 * wd, c])          # x at even columns
    z = tf.reshape(tf.stack([z, tf.zeros_like(z)], axis=2), [n, 2 * h, 2 * wd, c])      # x at even rows
    p = (fw - 2) + (k - 1)
    p0, p1 = (p + 1) // 2 + 1, p // 2                                                   # (fw+1)//2 + k//2 etc.
    z = tf.pad(z, [[0, 0], [p0, p1], [p0, p1], [0, 0]])
    return tf.nn.conv2d(_fir_plain(z, taps, 4.0), w, 1, "VALID")


def _conv_then_downsample(x, w, taps=(1, 3, 3, 1)):
    """Official conv_downsample_2d: pad once, VALID conv, FIR, keep every second pixel — plain TF ops."""
    k, fw = w.shape[0], len(taps)
    p = (fw - 2) + (k - 1)
    z = tf.pad(x, [[0, 0], [(p + 1) // 2, p // 2], [(p + 1) // 2, p // 2], [0, 0]])
    return _fir_plain(tf.nn.conv2d(z, w, 1, "VALID"), taps, 1.0)[:, ::2, ::2]


def _value_and_grads(fn, x, w, cot):
    xv, wv = tf.constant(x), tf.constant(w)
    with tf.GradientTape() as tape:
        tape.watch([xv, wv])
        y = fn(xv, wv)
        loss = tf.reduce_sum(y * cot)
    return [y.numpy()] + [g.numpy() for g in tape.gradient(loss, [xv, wv])]


@pytest.mark.parametrize("impl", ["ref", "custom"])
@pytest.mark.parametrize("mode", ["up", "down", "none"])
@pytest.mark.parametrize("k", [1, 3])
def test_conv2d_resample_equals_plain_tf(impl, mode, k, request):
    if impl == "custom":
        request.getfixturevalue("needs_custom_ops")
    x, w = _data(k, cin=3, cout=4, h=6, w=6)
    f = ops.setup_filter([1, 3, 3, 1])
    up, down = (2, 1) if mode == "up" else (1, 2) if mode == "down" else (1, 1)
    plain = {"up": _upsample_then_conv, "down": _conv_then_downsample,
             "none": lambda a, b: tf.nn.conv2d(a, b, 1, "SAME")}[mode]
    out_hw = {"up": 12, "down": 3, "none": 6}[mode]
    cot = np.random.default_rng(1).standard_normal([2, out_hw, out_hw, 4])
    got = _value_and_grads(lambda a, b: ops.conv2d_resample(a, b, f, up=up, down=down, impl=impl), x, w, cot)
    expect = _value_and_grads(plain, x, w, cot)
    assert got[0].shape == (2, out_hw, out_hw, 4)
    for g, e in zip(got, expect):    # forward, d/dx, d/dw
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("impl", ["ref", "custom"])
def test_grouped_upsample_equals_per_group_plain_tf(impl, request):
    """The fused modulated conv's grouped 2x up: group g of x with its own weights, as an ungrouped upsample-conv.

    Forward, plus gradients where TF can differentiate grouped convolutions (GPU; on CPU it cannot, which is why
    training uses the non-fused modulated conv)."""
    if impl == "custom":
        request.getfixturevalue("needs_custom_ops")
    r = np.random.default_rng(2)
    groups, cin, cout = 3, 2, 4
    x = r.standard_normal([1, 5, 5, groups * cin])
    w = r.standard_normal([3, 3, cin, groups * cout])
    f = ops.setup_filter([1, 3, 3, 1])
    cot = r.standard_normal([1, 10, 10, groups * cout])

    def grouped(a, b):
        return ops.conv2d_resample(a, b, f, up=2, grouped=True, impl=impl)

    def per_group(a, b):
        return tf.concat([_upsample_then_conv(a[..., g * cin:(g + 1) * cin], b[..., g * cout:(g + 1) * cout])
                          for g in range(groups)], axis=-1)
    if tf.config.list_logical_devices("GPU"):
        got, expect = _value_and_grads(grouped, x, w, cot), _value_and_grads(per_group, x, w, cot)
    else:
        got, expect = [grouped(x, w).numpy()], [per_group(x, w).numpy()]
    assert got[0].shape == (1, 10, 10, groups * cout)
    for g, e in zip(got, expect):
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-10)


def test_conv2d_resample_bad_arguments():
    x, w = _data()
    f = ops.setup_filter([1, 3, 3, 1])
    with pytest.raises(ValueError, match="up=2 or down=2"):
        ops.conv2d_resample(x, w, f, up=2, down=2)
    with pytest.raises(ValueError, match="up=2 or down=2"):
        ops.conv2d_resample(x, w, f, up=4)
    with pytest.raises(ValueError, match="FIR filter"):
        ops.conv2d_resample(x, w, None, down=2)
    with pytest.raises(ValueError, match="not down=2"):
        ops.conv2d_resample(x, w, f, down=2, grouped=True)


# --- bfloat16 / float16 (tolerances: see tests/_half_precision.py) --------------------------------------------------
def _half_value_and_grads(fn, x, w, cot, dtype):
    """fn(x, w) in `dtype`; loss = sum(float32(y) * cot) in float32, so the upstream gradient is cot (exact)."""
    xv, wv = tf.constant(x, dtype), tf.constant(w, dtype)
    with tf.GradientTape() as tape:
        tape.watch([xv, wv])
        y = fn(xv, wv)
        loss = tf.reduce_sum(tf.cast(y, tf.float32) * tf.constant(cot, tf.float32))
    return [y] + tape.gradient(loss, [xv, wv])


@pytest.mark.parametrize("impl", ["ref", "custom"])
@pytest.mark.parametrize("mode", ["up", "down", "none"])
@pytest.mark.parametrize("dtype", HALF_DTYPES)
def test_half_conv2d_resample_matches_float64(dtype, mode, impl, request):
    """conv2d_resample in bf16/fp16 against the plain-TF float64 composition on the same rounded x, w.
    Roundings (each an op output; the [1,3,3,1] / 8 filter and gain 4 are exact): up = transposed conv (1) + two FIR
    passes (2); down = two FIR passes (2) + strided conv (1); none = conv (1). The gradients run the same chain
    backwards (dx, dw: the FIR adjoint passes and one conv backprop), so k is the same. A: the same float64
    computation on |x|, |w|, |cot| (TF's convolutions in these types accumulate in float32; k * u * A also bounds
    their rounding)."""
    if impl == "custom":
        request.getfixturevalue("needs_custom_ops")
    x, w = _data(3, cin=3, cout=4, h=6, w=6)
    x, w = rounded(x, dtype), rounded(w, dtype)
    f = ops.setup_filter([1, 3, 3, 1])
    up, down = (2, 1) if mode == "up" else (1, 2) if mode == "down" else (1, 1)
    plain = {"up": _upsample_then_conv, "down": _conv_then_downsample,
             "none": lambda a, b: tf.nn.conv2d(a, b, 1, "SAME")}[mode]
    k = {"up": 3, "down": 3, "none": 1}[mode]
    out_hw = {"up": 12, "down": 3, "none": 6}[mode]
    # Products per output of y (cin x 3 x 3), dx (cout x 3 x 3) and dw (the conv's pixels, at most 2 x 12 x 12):
    # they count only where TF's kernels here round partial sums to the 16-bit type (conv_roundings).
    terms = {"y": 3 * 9, "dx": 4 * 9, "dw": 2 * 12 * 12}
    cot = rounded(np.random.default_rng(3).standard_normal([2, out_hw, out_hw, 4]), dtype)
    got = _half_value_and_grads(lambda a, b: ops.conv2d_resample(a, b, f, up=up, down=down, impl=impl),
                                x, w, cot, dtype)
    assert [t.dtype for t in got] == [dtype] * 3
    expect = _half_value_and_grads(plain, x, w, cot, tf.float64)
    mag = _half_value_and_grads(plain, np.abs(x), np.abs(w), np.abs(cot), tf.float64)
    for g, e, m, what in zip(got, expect, mag, ("y", "dx", "dw")):
        assert_within_roundings(g, e.numpy(), dtype, k=conv_roundings(dtype, k, terms[what]), mag=m.numpy(),
                                what=f"{mode} {what}")


def test_half_float32_weights_are_cast_to_input_dtype():
    """A float32 weight with a bfloat16 input: the convolution runs in bfloat16 on the rounded weight."""
    x, w = _data(3, cin=3, cout=4, h=6, w=6)
    xb = tf.constant(x, tf.bfloat16)
    wf = tf.constant(w, tf.float32)
    f = ops.setup_filter([1, 3, 3, 1])
    for up, down in ((2, 1), (1, 2), (1, 1)):
        y = ops.conv2d_resample(xb, wf, f, up=up, down=down, impl="ref")
        assert y.dtype == tf.bfloat16
        same = ops.conv2d_resample(xb, tf.cast(wf, tf.bfloat16), f, up=up, down=down, impl="ref")
        np.testing.assert_array_equal(f64(y), f64(same))


@pytest.mark.parametrize("dtype", ["float32"] + HALF_DTYPES)
@pytest.mark.parametrize("k", [1, 3])
def test_full_conv2d_and_its_gradients_match_float64(dtype, k):
    """full_conv2d (StyleGAN3's padding k - 1) and its gradients against conv2d's explicit padding in float64, at a
    StyleGAN3 layer's shape (36x36, 32 channels: a weight gradient sums 4 * 38 * 38 products per tap and channel
    pair). Each result is one rounding of a float32-accumulated convolution (k = 1 of _half_precision; float32:
    the slack alone). TF's explicit-padding gradient kernels (Eigen) miss this bound in bfloat16 and float16 (up to
    4x it, also with padding 0), which is why full_conv2d pads first. Where TF's float16 kernels themselves round
    partial sums to float16 (tf_conv_sums_in: CPUs without AVX512-FP16), y and dx get the bound of that summation."""
    r = np.random.default_rng(7)
    x = r.standard_normal([4, 36, 36, 32])
    w = r.standard_normal([k, k, 32, 32])
    cot = r.standard_normal([4, 35 + k, 35 + k, 32])
    if dtype != "float32":
        x, w, cot = rounded(x, dtype), rounded(w, dtype), rounded(cot, dtype)
    explicit = lambda a, b: tf.nn.conv2d(a, b, 1, [[0, 0], [k - 1, k - 1], [k - 1, k - 1], [0, 0]])  # noqa: E731
    got = _half_value_and_grads(ops.full_conv2d, x, w, cot, dtype)
    assert [t.dtype for t in got] == [dtype] * 3 and got[0].shape == (4, 35 + k, 35 + k, 32)
    expect = _half_value_and_grads(explicit, x, w, cot, tf.float64)
    mag = _half_value_and_grads(explicit, np.abs(x), np.abs(w), np.abs(cot), tf.float64)
    # Products per output (see conv_roundings). dw's 5776 are too many for that bound in float16, and Eigen's filter
    # gradient at this size (a blocked contraction) stays within one rounding: 0.4-0.6 of the bound on the AMD EPYC.
    terms = {"y": 32 * k * k, "dx": 32 * k * k, "dw": 0}
    for g, e, m, what in zip(got, expect, mag, ("y", "dx", "dw")):
        if dtype == "float32":
            err = np.abs(f64(g) - e.numpy())
            assert np.all(err <= 2.0 ** -20 * m.numpy()), (what, float(err.max()))
        else:
            assert_within_roundings(g, e.numpy(), dtype, k=conv_roundings(dtype, 1, terms[what]), mag=m.numpy(),
                                    what=f"full_conv2d {what}")
    with pytest.raises(ValueError, match="x has 3 channels but w expects 32"):
        ops.full_conv2d(x[..., :3], w)
