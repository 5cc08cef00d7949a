"""scale_bias_act = bias_act(channel_scale(x, s, a), b): the fused op gives the two ops' bits, forward, gradient and
second order (the ops themselves are checked against numpy and their references in test_ops_bias_act.py and
test_ops_channel_scale.py), its derivatives match numerical ones, and the synthesis layer runs it."""
import numpy as np
import pytest
import tensorflow as tf

from stylegan2_tf.ops import bias_act, channel_scale, scale_bias_act
from _half_precision import HALF_DTYPES, f64

# Rows per sample (the middle dims' product) against the gradient's 1024-row chunks: 35 (neither a divisor nor a
# multiple: the fallback through temporaries), 256 (four samples per chunk), 2048 (two chunks per sample), 1; and a
# batch without rows. 130 and 67 channels: 64-channel tiles with tails.
SHAPES = [(3, 5, 7, 130), (5, 16, 16, 67), (2, 32, 64, 20), (4, 1, 1, 70), (2, 9), (2, 0, 3, 5)]


def _inputs(shape, dtype, seed, has_a=True, has_b=True):
    r = np.random.default_rng(seed)
    cast = lambda v: tf.cast(tf.constant(v), dtype)  # noqa: E731
    x = cast(r.standard_normal(shape) * 3)
    s = cast(r.standard_normal((shape[0], shape[-1])))
    a = cast(r.standard_normal(shape[:-1] + (1,))) if has_a else None
    b = cast(r.standard_normal((shape[-1],))) if has_b else None
    dy = cast(r.standard_normal(shape))
    return x, s, a, b, dy


def _fused(x, s, a, b, act, clamp, impl="custom"):
    return scale_bias_act(x, s, a, b, act=act, clamp=clamp, impl=impl)


def _two_ops(x, s, a, b, act, clamp, impl="custom"):
    return bias_act(channel_scale(x, s, a, impl=impl), b, act=act, clamp=clamp, impl=impl)


def _forward_and_grads(fn, x, s, a, b, dy, act, clamp):
    sources = [v for v in (x, s, a, b) if v is not None]
    with tf.GradientTape() as tape:
        tape.watch(sources)
        y = fn(x, s, a, b, act, clamp)
    return [y] + tape.gradient(y, sources, output_gradients=dy)


def _bits(t):
    t = tf.convert_to_tensor(t)
    return tf.bitcast(t, {2: tf.uint16, 4: tf.uint32, 8: tf.uint64}[t.dtype.size]).numpy()


@pytest.mark.parametrize("dtype", ["float32", "float64"] + HALF_DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_same_bits_as_the_two_ops(needs_custom_ops, dtype, shape):
    """y, dx, ds, da and db are bit for bit those of Sg2ChannelScale + Sg2BiasAct and their gradients (the sums in
    the separate ops' orders), with and without the addend and the bias; clamp 1.5 masks part of the gradient."""
    for k, (has_a, has_b) in enumerate([(True, True), (False, True), (True, False), (False, False)]):
        x, s, a, b, dy = _inputs(shape, dtype, k, has_a, has_b)
        got = _forward_and_grads(_fused, x, s, a, b, dy, "lrelu", 1.5)
        want = _forward_and_grads(_two_ops, x, s, a, b, dy, "lrelu", 1.5)
        for name, g, w in zip(["y", "dx", "ds"] + ["da"] * has_a + ["db"] * has_b, got, want):
            assert g.dtype == w.dtype and g.shape == w.shape, name
            np.testing.assert_array_equal(_bits(g), _bits(w), err_msg=f"{name} (addend {has_a}, bias {has_b})")


@pytest.mark.parametrize("act,clamp", [("tanh", 0.5), ("swish", None), ("linear", None)])
def test_same_bits_as_the_two_ops_other_activations(needs_custom_ops, act, clamp):
    for dtype in ("float32", "bfloat16"):
        x, s, a, b, dy = _inputs((3, 8, 16, 37), dtype, 7)
        got = _forward_and_grads(_fused, x, s, a, b, dy, act, clamp)
        want = _forward_and_grads(_two_ops, x, s, a, b, dy, act, clamp)
        for name, g, w in zip(("y", "dx", "ds", "da", "db"), got, want):
            np.testing.assert_array_equal(_bits(g), _bits(w), err_msg=f"{name} {dtype}")


@pytest.mark.parametrize("act", ["lrelu", "tanh"])
def test_numerical_first_and_second_derivatives_float64(needs_custom_ops, act):
    """tf.test.compute_gradient against the op's gradient, and through the gradient op (path-length regularization
    differentiates the generator twice); tanh has a second derivative, so its t path carries one too."""
    x, s, a, b, _ = _inputs((2, 3, 4, 5), "float64", 11)
    fn = lambda x, s, a, b: scale_bias_act(x, s, a, b, act=act, clamp=2.0, impl="custom")  # noqa: E731
    # delta 1e-5: central differences in float64 are then accurate to ~1e-10 (truncation) and ~1e-11 (round-off);
    # no input sits within delta of lrelu's kink or the clamp's edge for this seed (the check would fail if one did).
    theo, num = tf.test.compute_gradient(fn, [x, s, a, b], delta=1e-5)
    for t, n in zip(theo, num):
        np.testing.assert_allclose(t, n, rtol=1e-7, atol=1e-8)

    def first_grads(x, s, a, b):
        vs = [tf.convert_to_tensor(v) for v in (x, s, a, b)]
        with tf.GradientTape() as tape:
            tape.watch(vs)
            loss = tf.reduce_sum(tf.sin(fn(*vs)))  # nonlinear: dy depends on every input
        return tf.concat([tf.reshape(g, [-1]) for g in tape.gradient(loss, vs)], 0)

    theo, num = tf.test.compute_gradient(first_grads, [x, s, a, b], delta=1e-5)
    for t, n in zip(theo, num):
        np.testing.assert_allclose(t, n, rtol=1e-6, atol=1e-8)


def _second_order(fn, x, s, a, b, v, act):
    sources = [x, s, a, b]
    with tf.GradientTape() as outer:
        outer.watch(sources)
        with tf.GradientTape() as inner:
            inner.watch(sources)
            loss = tf.reduce_sum(tf.cast(fn(x, s, a, b, act, None), tf.float32) * v)
        gx, gs = inner.gradient(loss, [x, s])
        second = tf.reduce_sum(tf.square(tf.cast(gx, tf.float32))) + tf.reduce_sum(tf.cast(gs, tf.float32) ** 3)
    return outer.gradient(second, sources)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_second_order_same_numbers_as_the_two_ops(needs_custom_ops, dtype):
    """The gradient of the gradient (composed of the separate ops' gradients) gives the two ops' numbers."""
    x, s, a, b, _ = _inputs((4, 16, 16, 20), dtype, 12)
    v = tf.constant(np.random.default_rng(13).standard_normal((4, 16, 16, 20)), tf.float32)
    for got, want, name in zip(_second_order(_fused, x, s, a, b, v, "lrelu"),
                               _second_order(_two_ops, x, s, a, b, v, "lrelu"), "xsab"):
        np.testing.assert_array_equal(f64(got), f64(want), err_msg=name)


def test_third_order_matches_reference(needs_custom_ops):
    x, s, a, b, _ = _inputs((2, 4, 3, 6), "float64", 14)
    v = tf.constant(np.random.default_rng(15).standard_normal((2, 4, 3, 6)))

    def third(impl):
        sources = [x, s, a, b]
        with tf.GradientTape(persistent=True) as t3:
            t3.watch(sources)
            with tf.GradientTape(persistent=True) as t2:
                t2.watch(sources)
                with tf.GradientTape() as t1:
                    t1.watch(sources)
                    loss = tf.reduce_sum(tf.sin(_fused(x, s, a, b, "tanh", None, impl)) * v)
                gx, gs = t1.gradient(loss, [x, s])
                second = tf.reduce_sum(gx * gx) + tf.reduce_sum(gs ** 3)
            hx, hs = t2.gradient(second, [x, s])
            third_loss = tf.reduce_sum(hx * v) + tf.reduce_sum(hs * hs)
        return [f64(g) for g in t3.gradient(third_loss, sources)]

    for g, rf in zip(third("custom"), third("ref")):
        np.testing.assert_allclose(g, rf, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("impl", ["ref", "auto"])
@pytest.mark.parametrize("s_shape,a_shape,b_shape,match", [
    ((2, 4), None, None, "x has 5 channels but s has 4"),
    ((2, 5), (2, 3, 3, 5), None, "addend a must have x's shape with one channel"),
    ((2, 5), None, (4,), r"bias must have shape \[5\]"),
])
def test_bad_shapes_raise_value_error(impl, s_shape, a_shape, b_shape, match):
    with pytest.raises(ValueError, match=match):
        scale_bias_act(tf.zeros([2, 3, 3, 5]), tf.zeros(s_shape), None if a_shape is None else tf.zeros(a_shape),
                       None if b_shape is None else tf.zeros(b_shape), act="lrelu", impl=impl)


def test_shapes_checked_in_the_kernel(needs_custom_ops):
    @tf.function(input_signature=[tf.TensorSpec([None, None, None, None], tf.float32),
                                  tf.TensorSpec([None], tf.float32)])
    def fn(x, b):
        return scale_bias_act(x, tf.ones([3, 8]), None, b, act="lrelu", impl="custom")

    x = np.ones([3, 4, 4, 8], np.float32)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"b must have shape \[8\] or \[0\] for none"):
        fn(x, np.ones([7], np.float32))
    np.testing.assert_allclose(fn(x, np.full([8], 0.5, np.float32)).numpy(), np.full(x.shape, 1.5 * np.sqrt(2)),
                               rtol=1e-6)


def test_synthesis_layer_runs_the_fused_op(needs_custom_ops):
    """The non-fused modulated conv of a synthesis layer ends in Sg2ScaleBiasAct (its gradient in
    Sg2ScaleBiasActGrad): no separate demodulation or bias_act op is left."""
    from stylegan2_tf.networks.layers import SynthesisLayer
    layer = SynthesisLayer(8, 16, fused_modconv=False, conv_clamp=256, impl="custom")
    x = tf.random.normal([2, 8, 8, 4])
    w = tf.random.normal([2, 16])
    layer(x, w)

    @tf.function
    def step(x, w):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.square(layer(x, w)))
        return tape.gradient(loss, [x] + layer.trainable_variables)

    ops = {op.type for op in step.get_concrete_function(x, w).graph.get_operations()}
    assert {"Sg2ScaleBiasAct", "Sg2ScaleBiasActGrad"} <= ops, sorted(ops)
    assert "Sg2BiasAct" not in ops and "Sg2BiasActGrad" not in ops, sorted(ops)
    assert all(g is not None for g in step(x, w))
