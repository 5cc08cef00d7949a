"""affine_resample: the compiled Sg2AffineResample op and its adjoint against the pure-TF reference (values), the
adjoint identity, first- and second-order gradients, errors, shapes, and that impl='auto' now runs the compiled op.

Tolerances: the op computes in float32 from float64 positions, summing (T/2 + 1)^2 = 49 products per channel for 12
taps in another order than the reference (which materialises the upsampled image), so outputs agree to float32
rounding: |custom - ref| <= 1e-5 * max |ref| (measured: a few 1e-7). Dot products of the adjoint identity are
accumulated in float64 and agree to 1e-5 of sum |op(x) * y| (measured: ~1e-8)."""
import importlib
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from stylegan2_tf import ops
from stylegan2_tf.training.augment import SYM6

ar = importlib.import_module("stylegan2_tf.ops.affine_resample")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _lib():
    return ops._library.get_library()  # pylint: disable=protected-access


def _theta(rng, n, in_hw, out_hw, scale=(0.5, 2.0), reach=6.0):
    """[n, 2, 3] float64: output pixel -> upsampled index; any rotation, per-axis scales in `scale`, the output
    centre mapped near the upsampled image's centre +- `reach` upsampled pixels (some samples leave the padded
    image)."""
    (h, w), (oh, ow) = in_hw, out_hw
    a = rng.uniform(-np.pi, np.pi, n)
    sx, sy = rng.uniform(*scale, n), rng.uniform(*scale, n)
    m = np.stack([np.stack([np.cos(a) * sx, -np.sin(a) * sy], -1), np.stack([np.sin(a) * sx, np.cos(a) * sy], -1)],
                 1)                                                                      # [n, 2, 2]
    centre = np.array([w - 0.5, h - 0.5]) + rng.uniform(-reach, reach, (n, 2))
    shift = centre - m @ np.array([(ow - 1) / 2, (oh - 1) / 2])
    return np.concatenate([m, shift[:, :, None]], axis=2)


def _filter(rng, taps):
    f = np.asarray(ops.setup_filter(SYM6), np.float32) if taps == "sym6" else rng.normal(size=taps)
    return (np.asarray(f) / np.sum(f)).astype(np.float32)


# (N, H, W, C, taps, margin [x0, x1, y0, y1], out (h, w), scale range, reach)
CASES = [
    (3, 8, 8, 1, "sym6", [7, 7, 7, 7], (18, 18), (0.6, 1.6), 4),          # largest margins
    (2, 7, 10, 3, "sym6", [0, 9, 6, 0], (16, 23), (0.5, 2.0), 10),       # non-square, asymmetric, reaching outside
    (2, 9, 6, 2, 12, [2, 0, 0, 8], (21, 13), (0.8, 3.0), 16),            # random 12 taps, zoom out
    (2, 6, 5, 3, 8, [1, 3, 4, 2], (11, 12), (0.4, 1.2), 5),              # 8 taps (runtime window on the CPU)
    (1, 5, 7, 5, 12, [3, 4, 2, 1], (9, 15), (0.7, 1.5), 3),              # 5 channels (runtime shape on the CPU)
    (2, 4, 4, 1, 4, [0, 0, 0, 0], (9, 10), (0.9, 1.1), 2),               # no margin
    (1, 2, 3, 2, 2, [1, 2, 1, 0], (5, 7), (0.3, 1.0), 1),                # smallest image, 2 taps
    (2, 12, 12, 3, 16, [5, 11, 0, 7], (26, 26), (0.5, 2.5), 12),         # 16 taps
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_compiled_matches_reference(needs_custom_ops, case):
    n, h, w, c, taps, margin, out, scale, reach = CASES[case]
    rng = np.random.default_rng(case)
    x = rng.uniform(-1, 1, (n, h, w, c)).astype(np.float32)
    f = _filter(rng, taps)
    theta = _theta(rng, n, (h, w), out, scale, reach)
    got = ops.affine_resample(x, f, theta, np.int32(margin), out, impl="custom").numpy()
    want = ops.affine_resample(x, f, theta, np.int32(margin), out, impl="ref").numpy()
    assert got.shape == want.shape == (n, *out, c)
    scale_y = np.abs(want).max()
    assert scale_y > 0.1 and np.mean(want == 0) < 0.9           # not vacuous: mostly inside, some outside
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * scale_y)


def test_pipe_theta_and_outside_samples(needs_custom_ops):
    """The geometry the augmentation pipe produces (bgc at p = 1, 32x32, sym6), plus a sample translated far outside
    the padded image (zeros, in the reference and the op) and one with a NaN in theta (zeros from the op; the
    reference's gather rejects the index such a position gives)."""
    from stylegan2_tf.training import augment
    pipe = augment.AugmentPipe.from_spec("bgc", impl="custom")
    seen = {}
    original = augment.affine_resample

    def record(x, f, theta, margin, out_size, impl="auto"):
        seen.update(f=f, theta=theta, margin=margin, out_size=out_size)
        return original(x, f, theta, margin, out_size, impl=impl)

    x = np.random.default_rng(3).uniform(-1, 1, (6, 32, 32, 1)).astype(np.float32)
    augment.affine_resample = record
    try:
        pipe(x, seed=tf.constant([7, 11], tf.int64))
    finally:
        augment.affine_resample = original
    theta = seen["theta"].numpy().copy()
    theta[4, :, 2] += 1e4
    args = (x, seen["f"], theta, seen["margin"], seen["out_size"])
    got = ops.affine_resample(*args, impl="custom").numpy()
    want = ops.affine_resample(*args, impl="ref").numpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * np.abs(want).max())
    assert np.all(got[4] == 0) and np.all(np.abs(got[:4]).max(axis=(1, 2, 3)) > 0.1)
    theta[5, 0, 0] = np.nan
    got = ops.affine_resample(x, seen["f"], theta, seen["margin"], seen["out_size"], impl="custom").numpy()
    assert np.all(got[4:] == 0)
    dx = _lib().sg2_affine_resample_adjoint(np.ones_like(got), seen["f"], theta, seen["margin"], in_h=32, in_w=32)
    assert np.all(dx.numpy()[4:] == 0) and np.all(np.isfinite(dx.numpy()))


@pytest.mark.parametrize("case", [0, 1, 3, 4])
def test_adjoint_identity(needs_custom_ops, case):
    """<op(x), y> = <x, adjoint(y)> (float64 dot products of the float32 results)."""
    n, h, w, c, taps, margin, out, scale, reach = CASES[case]
    rng = np.random.default_rng(10 + case)
    f = _filter(rng, taps)
    theta = _theta(rng, n, (h, w), out, scale, reach)
    for _ in range(3):
        x = rng.normal(size=(n, h, w, c)).astype(np.float32)
        y = rng.normal(size=(n, *out, c)).astype(np.float32)
        ax = _lib().sg2_affine_resample(x, f, theta, np.int32(margin), out_h=out[0], out_w=out[1]).numpy()
        aty = _lib().sg2_affine_resample_adjoint(y, f, theta, np.int32(margin), in_h=h, in_w=w).numpy()
        lhs = np.sum(ax.astype(np.float64) * y)
        rhs = np.sum(x.astype(np.float64) * aty)
        assert abs(lhs - rhs) <= 1e-5 * np.sum(np.abs(ax.astype(np.float64) * y)), (lhs, rhs)


def test_adjoint_is_deterministic(needs_custom_ops):
    n, h, w, c, taps, margin, out, scale, reach = CASES[1]
    rng = np.random.default_rng(2)
    f, theta = _filter(rng, taps), _theta(rng, n, (h, w), out, scale, reach)
    y = rng.normal(size=(n, *out, c)).astype(np.float32)
    runs = [_lib().sg2_affine_resample_adjoint(y, f, theta, np.int32(margin), in_h=h, in_w=w).numpy()
            for _ in range(3)]
    assert all(np.array_equal(runs[0], r) for r in runs[1:])


def test_gradient_matches_finite_differences(needs_custom_ops):
    rng = np.random.default_rng(4)
    n, h, w, c, out, margin = 2, 5, 4, 2, (8, 9), np.int32([2, 1, 0, 3])
    f, theta = _filter(rng, "sym6"), _theta(rng, n, (h, w), out, (0.6, 1.5), 3)
    x = tf.constant(rng.normal(size=(n, h, w, c)), tf.float32)
    # Linear op: differences with a large step are exact up to the rounding of the outputs.
    theoretical, numerical = tf.test.compute_gradient(
        lambda a: ops.affine_resample(a, f, theta, margin, out, impl="custom"), [x], delta=0.5)
    assert np.abs(theoretical[0]).max() > 0.1
    np.testing.assert_allclose(theoretical[0], numerical[0], atol=2e-5)
    # The adjoint's own gradient is the op.
    dy = tf.constant(rng.normal(size=(n, *out, c)), tf.float32)
    theoretical, numerical = tf.test.compute_gradient(
        lambda a: _lib().sg2_affine_resample_adjoint(a, f, theta, margin, in_h=h, in_w=w), [dy], delta=0.5)
    np.testing.assert_allclose(theoretical[0], numerical[0], atol=2e-5)


def _r1(x, w, impl, f, theta, margin, out):
    """||d/dx sum(softplus(conv(op(x), w)))||^2: R1 of a tiny conv D through the resampling."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        s = tf.reduce_sum(tf.nn.softplus(tf.nn.conv2d(ops.affine_resample(x, f, theta, margin, out, impl=impl), w, 1,
                                                      "SAME")))
    return tf.reduce_sum(tf.square(tape.gradient(s, x)))


def test_second_order_gradient(needs_custom_ops):
    """d/dw of R1 through the op (its gradient runs the adjoint, whose gradient runs the op) against central
    differences along a random direction, and against the reference's second-order gradient."""
    rng = np.random.default_rng(5)
    n, h, w, c, out, margin = 2, 8, 8, 3, (14, 14), np.int32([3, 5, 2, 7])
    f, theta = _filter(rng, "sym6"), _theta(rng, n, (h, w), out, (0.7, 1.4), 3)
    x = tf.constant(rng.uniform(-1, 1, (n, h, w, c)), tf.float32)
    w0 = tf.constant(rng.standard_normal((3, 3, 3, 4)) * 0.3, tf.float32)
    direction = tf.constant(rng.standard_normal((3, 3, 3, 4)), tf.float32)
    grads = {}
    for impl in ("custom", "ref"):
        with tf.GradientTape() as outer:
            outer.watch(w0)
            value = _r1(x, w0, impl, f, theta, margin, out)
        grads[impl] = outer.gradient(value, w0).numpy()
    assert np.abs(grads["custom"]).max() > 0
    np.testing.assert_allclose(grads["custom"], grads["ref"], rtol=1e-4, atol=1e-4 * np.abs(grads["ref"]).max())
    eps = 1e-2
    fd = (_r1(x, w0 + eps * direction, "custom", f, theta, margin, out)
          - _r1(x, w0 - eps * direction, "custom", f, theta, margin, out)) / (2 * eps)
    np.testing.assert_allclose(float(np.sum(grads["custom"] * direction.numpy())), float(fd), rtol=2e-2)


def test_no_gradient_for_filter_theta_margin(needs_custom_ops):
    rng = np.random.default_rng(6)
    x = tf.constant(rng.normal(size=(1, 4, 4, 1)), tf.float32)
    f = tf.constant(_filter(rng, 4))
    theta = tf.constant(_theta(rng, 1, (4, 4), (6, 6)))
    with tf.GradientTape() as tape:
        tape.watch([x, f, theta])
        y = ops.affine_resample(x, f, theta, np.int32([1, 1, 1, 1]), (6, 6), impl="custom")
    gx, gf, gt = tape.gradient(y, [x, f, theta])
    assert gx is not None and gf is None and gt is None


def test_auto_runs_the_compiled_op_and_static_shapes(needs_custom_ops):
    f = ops.setup_filter(SYM6)
    fn = tf.function(lambda x, theta, m: ops.affine_resample(x, f, theta, m, (20, 22), impl="auto"))
    cf = fn.get_concrete_function(tf.TensorSpec([None, 8, 9, 3], tf.float32), tf.TensorSpec([None, 2, 3], tf.float64),
                                  tf.TensorSpec([4], tf.int32))
    assert cf.outputs[0].shape.as_list() == [None, 20, 22, 3]
    assert "Sg2AffineResample" in {op.type for op in cf.graph.get_operations()}
    # Empty batch.
    y = ops.affine_resample(np.zeros((0, 8, 9, 3), np.float32), f, np.zeros((0, 2, 3)), np.int32([0, 0, 0, 0]),
                            (5, 6), impl="custom")
    assert y.shape == (0, 5, 6, 3)


def test_clear_errors(needs_custom_ops):
    x = np.zeros((2, 6, 5, 1), np.float32)
    f = np.full([12], 1 / 12, np.float32)
    theta = np.zeros((2, 2, 3))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"margin .* must lie in \[0, W - 1 = 4\]"):
        ops.affine_resample(x, f, theta, np.int32([0, 5, 0, 0]), (4, 4), impl="custom")
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"margin .* \[0, H - 1 = 5\] along y"):
        ops.affine_resample(x, f, theta, np.int32([0, 0, -1, 0]), (4, 4), impl="custom")
    with pytest.raises(ValueError, match="even number"):
        ops.affine_resample(x, f[:11], theta, np.int32([0, 0, 0, 0]), (4, 4), impl="custom")
    with pytest.raises(ValueError, match=r"theta must be \[N, 2, 3\]"):
        ops.affine_resample(x, f, np.zeros((2, 3, 3)), np.int32([0, 0, 0, 0]), (4, 4), impl="custom")
    # The raw ops check the same things themselves.
    lib = _lib()
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError), match="even number of taps"):
        lib.sg2_affine_resample(x, f[:11], theta, np.int32([0, 0, 0, 0]), out_h=4, out_w=4)
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError), match="taps in"):
        lib.sg2_affine_resample(x, np.ones([34], np.float32), theta, np.int32([0, 0, 0, 0]), out_h=4, out_w=4)
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError)):
        lib.sg2_affine_resample(x, f, np.zeros((3, 2, 3)), np.int32([0, 0, 0, 0]), out_h=4, out_w=4)
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError)):
        lib.sg2_affine_resample(x, f, theta, np.int32([0, 0, 0]), out_h=4, out_w=4)
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError), match="at least 2x2"):
        lib.sg2_affine_resample(np.zeros((2, 1, 5, 1), np.float32), f, theta, np.int32([0, 0, 0, 0]), out_h=4,
                                out_w=4)
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError), match="in_w"):
        lib.sg2_affine_resample_adjoint(np.zeros((2, 4, 4, 1), np.float32), f, theta, np.int32([0, 0, 0, 0]),
                                        in_h=6, in_w=1)


def test_every_copy_of_the_cpu_loops_gives_the_same_bits(needs_custom_ops, tmp_path):
    """The forward and adjoint loops exist in AVX, AVX2 and AVX-512 copies (SG2_CPU_LOOPS caps the choice): the
    widest one (this process) and the AVX one (a subprocess) give the same bits, for the compile-time shapes (12 taps,
    1 and 3 channels) and the runtime one (8 taps, 2 channels)."""
    probe = r'''
import sys
import numpy as np
from stylegan2_tf import ops
from stylegan2_tf.training.augment import SYM6
lib = ops._library.get_library()
rng = np.random.RandomState(0)
out = {}
for c, taps in ((1, 12), (3, 12), (2, 8)):
    f = np.float32(ops.setup_filter(SYM6)) if taps == 12 else np.float32(rng.randn(taps))
    x = np.float32(rng.randn(3, 11, 9, c))
    th = np.stack([np.float64([[1.3, -0.4, 2.0], [0.5, 1.1, -3.0]])] * 3) + rng.randn(3, 2, 3) * 0.1
    m = np.int32([8, 3, 5, 10])
    y = lib.sg2_affine_resample(x, f, th, m, out_h=23, out_w=19).numpy()
    out[f"y{c}"] = y
    out[f"dx{c}"] = lib.sg2_affine_resample_adjoint(y, f, th, m, in_h=11, in_w=9).numpy()
if __name__ == "__main__":
    np.savez(sys.argv[1], **out)
    print(ops.cpu_loops())
'''
    scope = {"__name__": "probe"}
    exec(compile(probe, "probe", "exec"), scope)  # pylint: disable=exec-used
    widest = scope["out"]
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="-1", TF_CPP_MIN_LOG_LEVEL="2", SG2_CPU_LOOPS="baseline")
    path = str(tmp_path / "baseline.npz")
    p = subprocess.run([sys.executable, "-c", probe, path], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-4000:]
    assert p.stdout.strip().splitlines()[-1] == "baseline"
    base = dict(np.load(path))
    assert sorted(base) == sorted(widest)
    for key, value in base.items():
        np.testing.assert_array_equal(widest[key], value, err_msg=f"{ops.cpu_loops()} vs baseline: {key}")
