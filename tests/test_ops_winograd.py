"""winograd_conv2d, F(4x4, 3x3): the direct convolution's numbers in float64 (outputs, both gradients, second
order), within a stated round-off bound in float32, the compiled tile transforms against their TF statement and
their adjoint identity, and conv2d_resample choosing it only where it is meant to."""
import numpy as np
import pytest
import tensorflow as tf

from stylegan2_tf import ops
from stylegan2_tf.ops import winograd

# (N, H, W, Cin, Cout): channels below, at and between the kernels' 16-float vectors; one tile; not square.
SHAPES = [(2, 8, 12, 5, 7), (1, 4, 4, 16, 3), (3, 16, 8, 37, 20)]


def _data(shape, dtype=np.float64, seed=0):
    n, h, w, cin, cout = shape
    r = np.random.default_rng(seed)
    return (tf.constant(r.standard_normal([n, h, w, cin]), dtype), tf.constant(r.standard_normal([3, 3, cin, cout]),
                                                                               dtype),
            tf.constant(r.standard_normal([n, h, w, cout]), dtype))


def _conv_with_gradients(conv, x, w, dy):
    """y, dx, dw and the R1-style second order d/dw ||dx||^2 (the gradient of a gradient)."""
    with tf.GradientTape() as outer:
        outer.watch(w)
        with tf.GradientTape() as inner:
            inner.watch([x, w])
            y = conv(x, w)
        dx, dw = inner.gradient(y, [x, w], dy)
        penalty = tf.reduce_sum(tf.square(dx))
    return [y, dx, dw, outer.gradient(penalty, w)]


def _direct(x, w):
    return tf.nn.conv2d(x, w, 1, "SAME")


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("impl", ["ref", "custom"])
def test_float64_gives_the_direct_convolution_and_its_gradients(shape, impl, request):
    """In float64 the transforms' round-off is ~1e-16 relative: outputs, input and weight gradients and the second
    order agree with tf.nn.conv2d's to 1e-12 of their scale."""
    if impl == "custom":
        request.getfixturevalue("needs_custom_ops")
    x, w, dy = _data(shape)
    got = _conv_with_gradients(lambda a, b: winograd.winograd_conv2d(a, b, impl=impl), x, w, dy)
    want = _conv_with_gradients(_direct, x, w, dy)
    for name, g, e in zip(("y", "dx", "dw", "d2w"), got, want):
        assert g.shape == e.shape, name
        scale = np.max(np.abs(e.numpy()))
        np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=0, atol=1e-12 * scale, err_msg=name)


def test_gradients_match_finite_differences(needs_custom_ops):
    x, w, _ = _data((1, 4, 8, 3, 2))
    for fn, arg in ((lambda a: winograd.winograd_conv2d(a, w, impl="custom"), x),
                    (lambda b: winograd.winograd_conv2d(x, b, impl="custom"), w)):
        theoretical, numerical = tf.test.compute_gradient(fn, [arg])
        np.testing.assert_allclose(theoretical[0], numerical[0], rtol=1e-7, atol=1e-7)


def test_float32_error_within_the_transforms_bound(needs_custom_ops):
    """|y32 - y| <= gamma_n E elementwise, the first-order bound of the algorithm's own sums: E is the computation
    with every matrix, input and weight replaced by its absolute value (so no cancellation), and n counts the
    roundings along the longest path: 2 x 6 (input transform), 2 x 3 + 2 (filter transform, its coefficients 1/6,
    1/12, 1/24 rounded), Cin (the product), 2 x 6 (output transform); gamma_n = n u / (1 - n u), u = 2^-24."""
    shape = (4, 16, 16, 64, 64)
    x64, w64, _ = _data(shape, seed=3)
    exact = tf.nn.conv2d(x64, w64, 1, "SAME").numpy()
    got = winograd.winograd_conv2d(tf.cast(x64, tf.float32), tf.cast(w64, tf.float32), impl="custom").numpy()
    bt, g, a = np.abs(winograd._BT), np.abs(winograd._G), np.abs(winograd._A)
    v = winograd._to_tiles_ref(tf.abs(x64), bt, 4, 1)
    u = tf.reshape(tf.einsum("pa,abio,qb->pqio", g, tf.abs(w64), g), [36, shape[3], shape[4]])
    e = winograd._from_tiles_ref(tf.matmul(v, u), a, 4, 0, shape[1], shape[2]).numpy()
    n = 2 * 6 + 2 * 3 + 2 + shape[3] + 2 * 6
    unit = 2.0 ** -24
    bound = n * unit / (1 - n * unit) * e
    ratio = np.abs(got - exact) / bound
    assert np.all(ratio <= 1), f"max error / bound = {ratio.max():.3g}"
    # The bound is not vacuous: the error reaches a visible part of it.
    assert ratio.max() > 1e-3, ratio.max()


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_compiled_transforms_match_their_tf_statement(needs_custom_ops, dtype):
    """The ops against `_to_tiles_ref` / `_from_tiles_ref` (strided slices and small matmuls: the same sums in
    another order), for both F(4x4, 3x3) matrices and a rectangular one that runs the loops sized at run time."""
    r = np.random.default_rng(5)
    odd = np.round(r.standard_normal([3, 5]) * 4) / 4  # exact in float32
    cases = [(winograd._BT, 4, 1, (2, 12, 8, 37)), (winograd._A, 4, 0, (3, 8, 8, 17)), (odd, 2, 2, (2, 7, 9, 19))]
    tol = 1e-13 if dtype == tf.float64 else 2e-6
    for matrix, stride, pad, shape in cases:
        x = tf.constant(r.standard_normal(shape), dtype)
        got = winograd.to_tiles(x, matrix, stride, pad, impl="custom")
        want = winograd.to_tiles(x, matrix, stride, pad, impl="ref")
        assert got.shape == want.shape
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=0, atol=tol * np.abs(want.numpy()).max())
        v = tf.constant(r.standard_normal(want.shape), dtype)
        got = winograd.from_tiles(v, matrix, stride, pad, shape[1], shape[2], impl="custom")
        want = winograd.from_tiles(v, matrix, stride, pad, shape[1], shape[2], impl="ref")
        assert got.shape == shape
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=0, atol=tol * np.abs(want.numpy()).max())
        # Adjoint identity, and each op's registered gradient is the other.
        lhs = tf.reduce_sum(winograd.to_tiles(x, matrix, stride, pad, impl="custom") * v).numpy()
        rhs = tf.reduce_sum(x * got).numpy()
        assert abs(lhs - rhs) <= 1e-4 * tf.reduce_sum(tf.abs(x * got)).numpy()
        with tf.GradientTape() as tape:
            tape.watch(x)
            t = winograd.to_tiles(x, matrix, stride, pad, impl="custom")
        np.testing.assert_array_equal(tape.gradient(t, x, v).numpy(), got.numpy())


def test_conv2d_resample_uses_winograd_where_preferred(needs_custom_ops):
    """float32, compiled ops, >= 64 channels in and out, >= 16x16: Winograd (and its result is the convolution's);
    anything else: tf.nn.conv2d."""
    def op_types(x, w, impl="custom"):
        fn = tf.function(lambda a, b: ops.conv2d_resample(a, b, impl=impl))
        graph = fn.get_concrete_function(tf.TensorSpec(x.shape, x.dtype), tf.TensorSpec(w.shape, w.dtype)).graph
        return {o.type for o in graph.get_operations()}

    x, w, _ = _data((2, 16, 16, 64, 64), np.float32)
    assert "Sg2WinogradToTiles" in op_types(x, w)
    np.testing.assert_allclose(ops.conv2d_resample(x, w, impl="custom").numpy(), _direct(x, w).numpy(),
                               rtol=0, atol=1e-5 * np.abs(_direct(x, w).numpy()).max())
    for xs, ws, impl in ((x, w, "ref"), (tf.cast(x, tf.bfloat16), w, "custom"), (x[..., :32], w[:, :, :32], "custom"),
                         (x, w[..., :32], "custom"), (x[:, :8, :8], w, "custom"), (x[:, :, :14], w, "custom"),
                         (tf.cast(x, tf.float64), w, "custom"),
                         (tf.concat([x, x], 3), w, "custom")):  # grouped (the fused modulated conv): 2 groups
        types = op_types(xs, ws, impl)
        assert "Sg2WinogradToTiles" not in types and "Conv2D" in types, (xs.shape, xs.dtype, ws.shape, impl)


def test_bad_input_is_named(needs_custom_ops):
    x, w, _ = _data((1, 6, 8, 3, 2), np.float32)
    with pytest.raises(ValueError, match="multiples of 4"):
        winograd.winograd_conv2d(x, w)
    with pytest.raises(ValueError, match="not covered exactly"):
        winograd.to_tiles(x, winograd._BT, 4, 1)
    lib = ops._library.get_library()
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError), match="not covered exactly"):
        lib.sg2_winograd_to_tiles(x, matrix=winograd._BT.reshape(-1).tolist(), window=6, stride=4, pad=1)
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError), match="Sg2WinogradFromTiles"):
        lib.sg2_winograd_from_tiles(tf.zeros([36, 5, 3]), matrix=winograd._A.reshape(-1).tolist(), window=4,
                                    stride=4, pad=0, height=8, width=8)
