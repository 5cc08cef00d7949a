"""channel_scale (y = x * s[n, c]) and channel_sum (the bias gradient): the compiled ops against numpy, the
reference and numerical derivatives."""
import numpy as np
import pytest
import tensorflow as tf

from stylegan2_tf.ops import channel_scale, channel_sum
from _half_precision import HALF_DTYPES, assert_within_roundings, f64, rounded

ROWS_PER_CHUNK = 1024  # kChannelScaleRows in custom_ops/cc/kernels/channel_scale.h: part of ds's summation order

# Odd channel counts exercise the 64-channel tiles' tails; 33 x 40 = 1320 rows per sample makes two row chunks.
SHAPES = [(3, 5, 7, 130), (2, 33, 40, 3), (4, 1, 1, 70), (2, 9), (2, 6, 37), (1, 2, 3, 4, 5)]


def _grads(x, s, dy, impl):
    with tf.GradientTape() as tape:
        tape.watch([x, s])
        y = channel_scale(x, s, impl=impl)
    dx, ds = tape.gradient(y, [x, s], output_gradients=dy)
    return y, dx, ds


def _sequential_sum(terms, dtype):
    """The kernels' summation order over axis 1 of float32 `terms` [n, rows, c], stated in numpy: row by row within
    chunks of ROWS_PER_CHUNK rows, then the chunk sums in order; rounded once to dtype."""
    out = np.zeros((terms.shape[0], terms.shape[2]), np.float32)
    for k in range(0, terms.shape[1], ROWS_PER_CHUNK):
        # cumsum in float32 adds strictly in order; its last row is the sequential sum of the chunk
        chunk = np.cumsum(terms[:, k:k + ROWS_PER_CHUNK], axis=1, dtype=np.float32)[:, -1]
        out = chunk if k == 0 else (out + chunk).astype(np.float32)
    return f64(tf.cast(tf.constant(out), dtype))


def _sequential_ds(dy, x, dtype):
    """The kernels' ds: float32 products (exact for the 16-bit types) summed in the kernels' order."""
    n, c = dy.shape[0], dy.shape[-1]
    return _sequential_sum((dy.astype(np.float32) * x.astype(np.float32)).reshape(n, -1, c), dtype)


@pytest.mark.parametrize("shape", SHAPES)
def test_custom_matches_numpy_and_reference_float64(needs_custom_ops, shape):
    r = np.random.default_rng(1)
    x, dy = r.standard_normal(shape), r.standard_normal(shape)
    s = r.standard_normal((shape[0], shape[-1]))
    s_b = s.reshape((shape[0],) + (1,) * (len(shape) - 2) + (shape[-1],))
    ref = [f64(t) for t in _grads(tf.constant(x), tf.constant(s), tf.constant(dy), "ref")]
    got = [f64(t) for t in _grads(tf.constant(x), tf.constant(s), tf.constant(dy), "custom")]
    expected = [x * s_b, dy * s_b, (dy * x).reshape(shape[0], -1, shape[-1]).sum(axis=1)]
    for name, g, rf, e in zip(("y", "dx", "ds"), got, ref, expected):
        if name == "ds":  # a sum: the order differs, float64 round-off only
            np.testing.assert_allclose(g, e, rtol=1e-13, atol=1e-13, err_msg=name)
            np.testing.assert_allclose(rf, e, rtol=1e-13, atol=1e-13, err_msg=name)
        else:  # one multiply per element: bit-identical
            np.testing.assert_array_equal(g, e, err_msg=name)
            np.testing.assert_array_equal(rf, e, err_msg=name)


@pytest.mark.parametrize("dtype", ["float32"] + HALF_DTYPES)
def test_products_exact_and_ds_in_the_stated_order(needs_custom_ops, dtype):
    """y and dx are bit-identical to TF's broadcasting Mul (what the layers used before) and to the reference; ds is
    the float32 sum in the documented chunk order, to the bit, rounded once."""
    r = np.random.default_rng(2)
    shape = (2, 33, 40, 67)  # 2 row chunks per sample, a 64-channel tile and a tail of 3
    x, dy = (rounded(r.standard_normal(shape) * 3, dtype) for _ in range(2))
    s = rounded(r.standard_normal((2, 67)), dtype)
    xt, st, dyt = (tf.cast(tf.constant(v), dtype) for v in (x, s, dy))
    y, dx, ds = (f64(t) for t in _grads(xt, st, dyt, "custom"))
    np.testing.assert_array_equal(y, f64(xt * st[:, None, None, :]))
    np.testing.assert_array_equal(dx, f64(dyt * st[:, None, None, :]))
    ry, rdx, rds = (f64(t) for t in _grads(xt, st, dyt, "ref"))
    np.testing.assert_array_equal(y, ry)
    np.testing.assert_array_equal(dx, rdx)
    np.testing.assert_array_equal(ds, _sequential_ds(dy, x, dtype))
    if dtype != "float32":  # the reference sums in float32 too (another order): within one rounding of float64
        exact = np.einsum("nhwc,nhwc->nc", dy, x)
        mag = np.einsum("nhwc,nhwc->nc", np.abs(dy), np.abs(x))
        assert_within_roundings(ds, exact, dtype, k=1, mag=mag, what="custom ds")
        assert_within_roundings(rds, exact, dtype, k=1, mag=mag, what="ref ds")


def test_numerical_first_and_second_derivatives_float64(needs_custom_ops):
    r = np.random.default_rng(3)
    x = tf.constant(r.standard_normal([2, 3, 4, 5]))
    s = tf.constant(r.standard_normal([2, 5]))
    # delta 1e-5: central differences in float64 are then accurate to ~1e-10 (truncation) and ~1e-11 (round-off).
    theo, num = tf.test.compute_gradient(lambda x, s: channel_scale(x, s, impl="custom"), [x, s], delta=1e-5)
    for t, n in zip(theo, num):
        np.testing.assert_allclose(t, n, rtol=1e-7, atol=1e-8)

    # Through the gradient op (as path-length regularization differentiates the generator twice): a nonlinear loss
    # makes dy depend on x and s, so every input of Sg2ChannelScaleGrad carries a derivative.
    def first_grads(x, s):
        x, s = tf.convert_to_tensor(x), tf.convert_to_tensor(s)
        with tf.GradientTape() as tape:
            tape.watch([x, s])
            loss = tf.reduce_sum(tf.tanh(channel_scale(x, s, impl="custom")))
        gx, gs = tape.gradient(loss, [x, s])
        return tf.concat([tf.reshape(gx, [-1]), tf.reshape(gs, [-1])], 0)

    theo, num = tf.test.compute_gradient(first_grads, [x, s], delta=1e-5)
    for t, n in zip(theo, num):
        np.testing.assert_allclose(t, n, rtol=1e-7, atol=1e-8)


def test_third_order_matches_reference(needs_custom_ops):
    r = np.random.default_rng(4)
    x = tf.constant(r.standard_normal([2, 4, 3, 6]))
    s = tf.constant(r.standard_normal([2, 6]))
    v = tf.constant(r.standard_normal([2, 4, 3, 6]))

    def third(impl):
        with tf.GradientTape(persistent=True) as t3:
            t3.watch([x, s])
            with tf.GradientTape(persistent=True) as t2:
                t2.watch([x, s])
                with tf.GradientTape() as t1:
                    t1.watch([x, s])
                    loss = tf.reduce_sum(tf.sin(channel_scale(x, s, impl=impl)) * v)
                gx, gs = t1.gradient(loss, [x, s])
                second = tf.reduce_sum(gx * gx) + tf.reduce_sum(gs ** 3)
            hx, hs = t2.gradient(second, [x, s])
            third_loss = tf.reduce_sum(hx * v) + tf.reduce_sum(hs * hs)
        return [f64(g) for g in t3.gradient(third_loss, [x, s])]

    for g, rf in zip(third("custom"), third("ref")):
        np.testing.assert_allclose(g, rf, rtol=1e-11, atol=1e-11)


def test_tf_function_unknown_batch_infers_shape(needs_custom_ops):
    r = np.random.default_rng(5)
    x, s = r.standard_normal([3, 4, 4, 8]).astype(np.float32), r.standard_normal([3, 8]).astype(np.float32)

    @tf.function(input_signature=[tf.TensorSpec([None, 4, 4, 8], tf.float32), tf.TensorSpec([None, 8], tf.float32)])
    def fn(x, s):
        y = channel_scale(x, s, impl="custom")
        assert y.shape.as_list() == [None, 4, 4, 8]
        return y

    np.testing.assert_array_equal(fn(x, s).numpy(), x * s[:, None, None, :])
    with pytest.raises(tf.errors.InvalidArgumentError, match="s must have shape"):
        fn(x, s[:2])


@pytest.mark.parametrize("x_shape,s_shape,match", [
    ((4,), (4, 1), "rank >= 2"),
    ((2, 3, 3, 5), (2, 5, 1), r"s of shape \[N, C\]"),
    ((2, 3, 3, 5), (3, 5), "2 batch but s has 3"),
    ((2, 3, 3, 5), (2, 4), "5 channels but s has 4"),
])
@pytest.mark.parametrize("impl", ["ref", "auto"])
def test_bad_shapes_raise_value_error(impl, x_shape, s_shape, match):
    with pytest.raises(ValueError, match=match):
        channel_scale(tf.zeros(x_shape), tf.zeros(s_shape), impl=impl)


def test_bad_dtype():
    with pytest.raises(ValueError, match="channel_scale supports"):
        channel_scale(tf.zeros([2, 3], tf.int32), tf.zeros([2, 3]))


@pytest.mark.parametrize("dtype", ["float32"] + HALF_DTYPES)
def test_channel_sum_in_the_stated_order(needs_custom_ops, dtype):
    r = np.random.default_rng(6)
    x = rounded(r.standard_normal((4, 30, 25, 131)) * 3, dtype)  # 3000 rows: 3 chunks; 3 tiles, the last of 3
    xt = tf.cast(tf.constant(x), dtype)
    got = f64(channel_sum(xt, impl="custom"))
    np.testing.assert_array_equal(got, _sequential_sum(x.astype(np.float32).reshape(1, -1, 131), dtype)[0])
    ref = f64(channel_sum(xt, impl="ref"))
    exact, mag = x.reshape(-1, 131).sum(0), np.abs(x).reshape(-1, 131).sum(0)
    if dtype == "float32":
        np.testing.assert_allclose(got, exact, rtol=0, atol=3000 * 2.0 ** -24 * mag.max())
        np.testing.assert_allclose(ref, exact, rtol=0, atol=3000 * 2.0 ** -24 * mag.max())
    else:
        assert_within_roundings(got, exact, dtype, k=1, mag=mag, what="custom sum")
        assert_within_roundings(ref, exact, dtype, k=1, mag=mag, what="ref sum")


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (7, 3), (6,), (0, 4), (2, 0, 3)])
def test_channel_sum_float64_and_gradient(needs_custom_ops, shape):
    r = np.random.default_rng(7)
    x = tf.constant(r.standard_normal(shape))
    expected = np.asarray(x).reshape(-1, shape[-1]).sum(0)
    np.testing.assert_allclose(f64(channel_sum(x, impl="custom")), expected, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(f64(channel_sum(x, impl="ref")), expected, rtol=1e-14, atol=1e-14)
    if x.shape.num_elements():
        theo, num = tf.test.compute_gradient(lambda x: channel_sum(x, impl="custom"), [x], delta=1e-5)
        np.testing.assert_allclose(theo[0], num[0], rtol=1e-7, atol=1e-8)


def test_channel_sum_bad_input():
    with pytest.raises(ValueError, match="rank >= 1"):
        channel_sum(tf.constant(1.0))
    with pytest.raises(ValueError, match="channel_sum supports"):
        channel_sum(tf.zeros([2, 3], tf.int32))


# ---------------------------------------------------------------------------------------------------------------------
# The addend a [N, ..., 1]: y = T(T(x * s) + a), da = sum over the channels of dy.

CHANNEL_TILE = 64  # kChannelScaleTile: da sums each tile in 16 lanes, then the tiles in order


def _lane_row_sums(dy: np.ndarray, dtype) -> np.ndarray:
    """The kernels' da, stated in numpy: for each row of float32 dy [rows, C] and each tile of 64 channels, lane j
    adds channels j, j + 16, ... of the tile in order; the lanes combine by halving (lane j += lane j + h for h = 8,
    4, 2, 1); the tile sums add in tile order. Everything in float32, rounded once to dtype."""
    dy = dy.astype(np.float32)
    rows, c = dy.shape
    total = np.zeros(rows, np.float32)
    for t0 in range(0, c, CHANNEL_TILE):
        tile = dy[:, t0:t0 + CHANNEL_TILE]
        lanes = np.zeros((rows, 16), np.float32)
        for k in range(tile.shape[1]):
            lanes[:, k % 16] = (lanes[:, k % 16] + tile[:, k]).astype(np.float32)
        h = 8
        while h >= 1:
            lanes[:, :h] = (lanes[:, :h] + lanes[:, h:2 * h]).astype(np.float32)
            h //= 2
        total = lanes[:, 0] if t0 == 0 else (total + lanes[:, 0]).astype(np.float32)
    return f64(tf.cast(tf.constant(total), dtype))


def _grads_add(x, s, a, dy, impl):
    with tf.GradientTape() as tape:
        tape.watch([x, s, a])
        y = channel_scale(x, s, a, impl=impl)
    return [y] + tape.gradient(y, [x, s, a], output_gradients=dy)


@pytest.mark.parametrize("dtype", ["float32"] + HALF_DTYPES)
def test_addend_is_mul_then_add_and_da_in_the_stated_order(needs_custom_ops, dtype):
    """With the addend, y is bit-identical to TF's Mul followed by its broadcasting AddV2 in x's dtype (what the
    synthesis layer computed before the add moved into the op) and to the reference; dx and ds are those of the op
    without the addend; da is the float32 sum in the documented lane order, to the bit, rounded once."""
    r = np.random.default_rng(6)
    shape = (2, 33, 40, 131)  # 2 row chunks per sample, two 64-channel tiles and a tail of 3
    x, dy = (rounded(r.standard_normal(shape) * 3, dtype) for _ in range(2))
    s = rounded(r.standard_normal((2, 131)), dtype)
    a = rounded(r.standard_normal(shape[:-1] + (1,)) * 2, dtype)
    xt, st, at, dyt = (tf.cast(tf.constant(v), dtype) for v in (x, s, a, dy))
    y, dx, ds, da = (f64(t) for t in _grads_add(xt, st, at, dyt, "custom"))
    np.testing.assert_array_equal(y, f64(xt * st[:, None, None, :] + at))
    ry, rdx, rds, rda = (f64(t) for t in _grads_add(xt, st, at, dyt, "ref"))
    np.testing.assert_array_equal(y, ry)
    np.testing.assert_array_equal(dx, rdx)
    np.testing.assert_array_equal(dx, f64(dyt * st[:, None, None, :]))
    np.testing.assert_array_equal(ds, _sequential_ds(dy, x, dtype))
    np.testing.assert_array_equal(da, _lane_row_sums(dy.reshape(-1, 131), dtype).reshape(a.shape))
    exact = dy.sum(axis=-1, keepdims=True)
    if dtype == "float32":
        np.testing.assert_allclose(da, exact, rtol=0, atol=1e-4)
    else:  # one rounding of the float32 sum, as the reference's (another order)
        mag = np.abs(dy).sum(axis=-1, keepdims=True)
        assert_within_roundings(da, exact, dtype, k=1, mag=mag, what="custom da")
        assert_within_roundings(rda, exact, dtype, k=1, mag=mag, what="ref da")


def test_addend_numerical_derivatives_float64(needs_custom_ops):
    """First and second derivatives with respect to x, s and a against central differences, and the third order
    against the reference (autodiff of standard ops)."""
    r = np.random.default_rng(7)
    x = tf.constant(r.standard_normal([2, 3, 4, 70]))  # two channel tiles
    s = tf.constant(r.standard_normal([2, 70]))
    a = tf.constant(r.standard_normal([2, 3, 4, 1]))
    theo, num = tf.test.compute_gradient(lambda x, s, a: channel_scale(x, s, a, impl="custom"), [x, s, a],
                                         delta=1e-5)
    for t, n in zip(theo, num):
        np.testing.assert_allclose(t, n, rtol=1e-7, atol=1e-8)

    def first_grads(x, s, a):
        x, s, a = (tf.convert_to_tensor(v) for v in (x, s, a))
        with tf.GradientTape() as tape:
            tape.watch([x, s, a])
            loss = tf.reduce_sum(tf.tanh(channel_scale(x, s, a, impl="custom")))
        gx, gs, ga = tape.gradient(loss, [x, s, a])
        return tf.concat([tf.reshape(gx, [-1]), tf.reshape(gs, [-1]), tf.reshape(ga, [-1])], 0)

    theo, num = tf.test.compute_gradient(first_grads, [x, s, a], delta=1e-5)
    for t, n in zip(theo, num):
        np.testing.assert_allclose(t, n, rtol=1e-7, atol=1e-8)

    v = tf.constant(r.standard_normal([2, 3, 4, 70]))

    def third(impl):
        with tf.GradientTape(persistent=True) as t3:
            t3.watch([x, s, a])
            with tf.GradientTape(persistent=True) as t2:
                t2.watch([x, s, a])
                with tf.GradientTape() as t1:
                    t1.watch([x, s, a])
                    loss = tf.reduce_sum(tf.sin(channel_scale(x, s, a, impl=impl)) * v)
                gx, gs, ga = t1.gradient(loss, [x, s, a])
                second = tf.reduce_sum(gx * gx) + tf.reduce_sum(gs ** 3) + tf.reduce_sum(tf.sin(ga))
            hx, hs, ha = t2.gradient(second, [x, s, a])
            third_loss = tf.reduce_sum(hx * v) + tf.reduce_sum(hs * hs) + tf.reduce_sum(ha * ha)
        return [f64(g) for g in t3.gradient(third_loss, [x, s, a])]

    for g, rf in zip(third("custom"), third("ref")):
        np.testing.assert_allclose(g, rf, rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("impl", ["ref", "auto"])
def test_bad_addend_shape_raises_value_error(impl):
    with pytest.raises(ValueError, match="addend a must have x's shape with one channel"):
        channel_scale(tf.zeros([2, 3, 3, 5]), tf.zeros([2, 5]), tf.zeros([2, 3, 3, 5]), impl=impl)


def test_addend_shape_checked_in_the_kernel(needs_custom_ops):
    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 8], tf.float32),
                                  tf.TensorSpec([None, None, None, None], tf.float32)])
    def fn(x, a):
        return channel_scale(x, tf.ones([3, 8]), a, impl="custom")

    x = np.ones([3, 4, 4, 8], np.float32)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"addend a must have shape \[3,4,4,1\]"):
        fn(x, np.ones([3, 4, 5, 1], np.float32))
    np.testing.assert_array_equal(fn(x, np.full([3, 4, 4, 1], 0.5, np.float32)).numpy(), x + 0.5)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_addend_gradient_when_dx_reuses_dys_buffer(needs_custom_ops, dtype):
    """Inside a graph, dy made by an op that nothing else reads can be handed to dx as its buffer (TF's input
    forwarding); da must still be the sum of dy, not of dx = dy * s."""
    from stylegan2_tf.ops import _library
    lib = _library.get_library()
    r = np.random.default_rng(8)
    shape = (2, 6, 5, 70)
    x, g = (tf.cast(r.standard_normal(shape), dtype) for _ in range(2))
    s = tf.cast(r.standard_normal((2, 70)), dtype)
    a = tf.zeros(shape[:-1] + (1,), dtype)

    @tf.function
    def grads(g, x, s, a):
        dy = g * tf.cast(2, dtype)  # only the grad op reads it
        return lib.sg2_channel_scale_grad(dy, x, s, a)

    dx, ds, da = grads(g, x, s, a)
    dy = f64(g) * 2
    np.testing.assert_array_equal(f64(dx), f64(tf.cast(dy, dtype) * s[:, None, None, :]))
    np.testing.assert_array_equal(f64(da), _lane_row_sums(dy.reshape(-1, 70), dtype).reshape(shape[:-1] + (1,)))
