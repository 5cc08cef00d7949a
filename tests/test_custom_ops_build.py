"""Build and raw-op checks for the StyleGAN2 custom TensorFlow ops.

(a) custom_ops/build.py produces a CPU library that tf.load_op_library loads and
    that exposes the three ops;
(b) when nvcc is present: the CUDA library builds (nvcc + static cudart) and
    loads here, and the standalone harness compiles;
(c) the raw ops agree with numpy implementations of the op contract.

The full custom-vs-reference comparison through the Python API lives in the
ops tests; here the raw ops are checked directly against numpy formulas.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "custom_ops" / "build.py"
sys.path.insert(0, str(ROOT / "custom_ops"))
import build as sg2_build  # noqa: E402  pylint: disable=wrong-import-position

NVCC = sg2_build.find_nvcc()


@pytest.fixture(scope="module")
def ops_module():
    """Builds (or reuses, when up to date) the CPU library in the package dir."""
    proc = subprocess.run([sys.executable, str(BUILD), "--no-cuda"], capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lib = ROOT / "stylegan2_tf" / "ops" / sg2_build.CPU_LIB
    assert lib.is_file()
    return tf.load_op_library(str(lib))


# --------------------------------------------------------------------------- (a)

def test_cpu_library_exposes_ops(ops_module):
    for name in ("sg2_bias_act", "sg2_bias_act_grad", "sg2_up_fir_dn2d"):
        assert hasattr(ops_module, name), name
    assert hasattr(ops_module, "sg2_filtered_lrelu")


def test_build_left_no_temporary_files(ops_module):
    # Outputs are linked to a temp name and renamed into place.
    leftovers = [p.name for p in (ROOT / "stylegan2_tf" / "ops").iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_build_script_rejects_conflicting_flags():
    proc = subprocess.run([sys.executable, str(BUILD), "--no-cuda", "--cuda-only"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and "exclude each other" in proc.stderr


def test_failed_cuda_build_keeps_cpu_library_and_exits_zero(ops_module, tmp_path):
    # A CPU library that is up to date (mtime preserved) and a stale CUDA one.
    shutil.copy2(ROOT / "stylegan2_tf" / "ops" / sg2_build.CPU_LIB, tmp_path)
    stale = tmp_path / sg2_build.CUDA_LIB
    stale.write_text("stale")
    os.utime(stale, (0, 0))
    proc = subprocess.run([sys.executable, str(BUILD), "--out-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "NVCC": shutil.which("false") or "/bin/false"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "CUDA build FAILED" in proc.stdout
    assert not stale.exists()  # never leave a library built from older sources
    assert (tmp_path / sg2_build.CPU_LIB).is_file()


# --------------------------------------------------------------------------- (b)

needs_nvcc = pytest.mark.skipif(NVCC is None, reason="nvcc not found: CUDA build not testable")


@needs_nvcc
def test_nvcc_compiles_kernels_and_harness(tmp_path):
    """nvcc compiles every .cu.cc kernel file and the standalone harness, which links; its --cpu-only mode (no GPU)
    then checks the 16-bit CPU functors against the float32 functor on the same rounded inputs: each result must be
    the float32 one rounded once (|error| <= u |ref|, u = 2^-11 float16, 2^-8 bfloat16), the same bound the harness
    applies to the CUDA kernels on a GPU."""
    # PTX for one arch: checks the CUDA C++ without the per-arch machine-code
    # pass (the full build and run_harness.sh generate SASS).
    srcs = [ROOT / "custom_ops" / "cc" / s for s in sg2_build.CUDA_SOURCES]  # the harness links every launcher
    srcs.append(ROOT / "custom_ops" / "harness" / "harness.cu.cc")
    procs = []
    for src in srcs:
        obj = tmp_path / (src.name + ".o")
        procs.append((obj, subprocess.Popen(
            [NVCC, "-x", "cu", "-std=c++17", "-O1", "-gencode", "arch=compute_80,code=compute_80",
             "-Xcompiler", "-fPIC", "-I", str(ROOT), "-c", str(src), "-o", str(obj)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)))
    for obj, proc in procs:
        out, _ = proc.communicate(timeout=1800)
        assert proc.returncode == 0, out
        assert obj.is_file() and obj.stat().st_size > 0
    exe = tmp_path / "sg2_harness"
    link = subprocess.run([NVCC] + [str(o) for o, _ in procs] + ["-o", str(exe)],
                          capture_output=True, text=True, timeout=600)
    assert link.returncode == 0, link.stdout + link.stderr
    run = subprocess.run([str(exe), "--cpu-only"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr
    report = json.loads(run.stdout)
    assert report["mode"] == "cpu_only" and report["all_pass"] is True
    cases = report["cases"]
    for op in ("bias_act", "upfirdn2d"):
        for dtype in ("float16", "bfloat16"):
            mine = [c for c in cases if c["op"] == op and c["dtype"] == dtype]
            assert len(mine) >= 26, (op, dtype, len(mine))
            assert all(c["pass"] and c["vs_float32"]["pass"] for c in mine)
            # Round to nearest: never more than u relative (and the check is not vacuous: errors do occur).
            worst = max(c["vs_float32"]["max_err_in_u"] for c in mine)
            assert 0.5 < worst <= 1.0, (op, dtype, worst)
    # channel_scale, 4 shapes: without the addend y, dx, ds; with it y, dx, ds, da; channel_sum: 3 sums.
    for dtype in ("float16", "bfloat16"):
        mine = [c for c in cases if c["op"] in ("channel_scale", "channel_sum") and c["dtype"] == dtype]
        assert len(mine) == 31 and all(c["pass"] and c["vs_float32"]["pass"] for c in mine), (dtype, len(mine))
        assert sum(1 for c in mine if c.get("output") == "da") == 4
        assert 0.5 < max(c["vs_float32"]["max_err_in_u"] for c in mine) <= 1.0
    # scale_bias_act: the CPU functor, which fuses the passes, gives the separate ops' CPU functors' bits (15 cases x
    # forward and gradient, every output, every type; the gradient's chunked and fallback paths).
    fused = [c for c in cases if c["op"] == "scale_bias_act"]
    assert sorted({c["dtype"] for c in fused}) == ["bfloat16", "float16", "float32", "float64"]
    assert len(fused) == 4 * 63 and all(c["pass"] and c["bitwise_equal_to_separate_ops"] for c in fused)
    for dtype in ("float16", "bfloat16"):  # filtered_lrelu: forward and gradient pass, 9 configurations x 2 layouts
        mine = [c for c in cases if c["op"] == "filtered_lrelu" and c["dtype"] == dtype]
        assert len(mine) == 36 and all(c["pass"] and c["vs_float32"]["pass"] for c in mine), (dtype, len(mine))
        assert 0.5 < max(c["vs_float32"]["max_err_in_u"] for c in mine) <= 1.0
    # filtered_lrelu's CUDA tile code run on the host (one thread per block) against the CPU functor, on random
    # configurations: the kernel's index math, tiling and sign-record writes, checked without a GPU.
    emulated = {c["dtype"]: c for c in cases if c["op"] == "filtered_lrelu_cuda_emulated"}
    assert sorted(emulated) == ["bfloat16", "float16", "float32", "float64"]
    assert all(c["pass"] and c["cases"] >= 100 and c["record_mismatch_bytes"] == 0 for c in emulated.values())


@needs_nvcc
def test_cuda_library_loads_into_tensorflow_cpu(tmp_path):
    """The CUDA library (static cudart) has no libcudart dependency and loads
    into tensorflow-cpu here, running the CPU kernels it also holds."""
    lib = ROOT / "stylegan2_tf" / "ops" / sg2_build.CUDA_LIB
    if not sg2_build._up_to_date(lib, "cuda"):  # pylint: disable=protected-access
        # Not built by setup.py / build.py yet: build a PTX-only copy (quicker).
        proc = subprocess.run([sys.executable, str(BUILD), "--cuda-only", "--cuda-arch", "80",
                               "--ptx-only", "--out-dir", str(tmp_path)],
                              capture_output=True, text=True, timeout=3000)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        lib = tmp_path / sg2_build.CUDA_LIB
    assert lib.is_file()
    ldd = subprocess.run(["ldd", str(lib)], capture_output=True, text=True).stdout
    assert "libcudart" not in ldd
    # Loading it next to the CPU library would register the ops twice, so load
    # it in a fresh interpreter.
    code = ("import tensorflow as tf, numpy as np\n"
            f"m = tf.load_op_library({str(lib)!r})\n"
            "y = m.sg2_bias_act(np.array([-1., 2.], np.float32), np.zeros([0], np.float32),"
            " axis=0, act='relu', gain=2.0)\n"
            "assert np.allclose(y.numpy(), [0., 4.]), y\n"
            "print('ok')\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert run.returncode == 0 and "ok" in run.stdout, run.stdout + run.stderr


# --------------------------------------------------------------------------- (c)

SELU_SCALE, SELU_ALPHA = 1.0507009873554805, 1.6732632423543772


def _sig(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free logistic


def np_act(z, act, alpha):
    """(act, d1, d2) in float64 straight from the op contract."""
    s, t, e = _sig(z), np.tanh(z), np.exp(np.minimum(z, 0.0))
    pos = z > 0
    table = {
        "linear": (z, np.ones_like(z), np.zeros_like(z)),
        "relu": (np.maximum(z, 0), pos * 1.0, np.zeros_like(z)),
        "lrelu": (np.where(pos, z, alpha * z), np.where(pos, 1.0, alpha), np.zeros_like(z)),
        "tanh": (t, 1 - t * t, -2 * t * (1 - t * t)),
        "sigmoid": (s, s * (1 - s), s * (1 - s) * (1 - 2 * s)),
        "elu": (np.where(pos, z, alpha * (e - 1)), np.where(pos, 1.0, alpha * e),
                np.where(pos, 0.0, alpha * e)),
        "selu": (SELU_SCALE * np.where(pos, z, SELU_ALPHA * (e - 1)),
                 SELU_SCALE * np.where(pos, 1.0, SELU_ALPHA * e),
                 SELU_SCALE * np.where(pos, 0.0, SELU_ALPHA * e)),
        "softplus": (np.logaddexp(0.0, z), s, s * (1 - s)),
        "swish": (z * s, s * (1 + z * (1 - s)), s * (1 - s) * (2 + z * (1 - 2 * s))),
    }
    return table[act]


ACTS = ["linear", "relu", "lrelu", "tanh", "sigmoid", "elu", "selu", "softplus", "swish"]


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 2e-6)])
def test_bias_act_forward_and_grads(ops_module, act, dtype, tol):
    rng = np.random.default_rng(ACTS.index(act))
    # NCHW-like bias axis 1 (inner > 1) with clamp, values spanning both branches.
    x = rng.normal(0, 3, size=(2, 5, 3, 4)).astype(dtype)
    x[0, 0, 0, :2] = [0.0, 40.0]  # exact zero and a large value
    b = rng.normal(0, 1, size=(5,)).astype(dtype)
    dy = rng.normal(0, 1, size=x.shape).astype(dtype)
    alpha, gain, clamp = 0.3, 1.7, 2.5
    x[0, 0, 0, 0] = -b[0]  # z == 0 exactly: the z <= 0 branch is used
    z = x.astype(np.float64) + b.astype(np.float64).reshape(1, 5, 1, 1)
    attrs = dict(axis=1, act=act, alpha=alpha, gain=gain, clamp=clamp)
    # The attrs are float32 in the op: use their float32 values in the reference.
    alpha, gain, clamp = (float(np.float32(v)) for v in (alpha, gain, clamp))
    a, d1, d2 = np_act(z, act, alpha)
    y_ref = np.clip(gain * a, -clamp, clamp)
    mask = np.abs(gain * a) <= clamp
    y = ops_module.sg2_bias_act(x, b, **attrs).numpy()
    scale = max(1.0, np.abs(y_ref).max())
    np.testing.assert_allclose(y, y_ref, rtol=tol, atol=tol * scale)
    for order, d in ((1, d1), (2, d2)):
        dx_ref = dy * gain * d * mask
        dx = ops_module.sg2_bias_act_grad(dy, x, b, order=order, **attrs).numpy()
        s = max(1.0, np.abs(dx_ref).max())
        np.testing.assert_allclose(dx, dx_ref, rtol=tol, atol=tol * s, err_msg=f"order {order}")


def test_bias_act_channels_last_no_clamp_half(ops_module):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(3, 4, 6, 16)).astype(np.float32)
    b = rng.normal(size=(16,)).astype(np.float32)
    z = x.astype(np.float64) + b
    g, al = float(np.float32(np.sqrt(2))), float(np.float32(0.2))
    ref = g * np.where(z > 0, z, al * z)
    y = ops_module.sg2_bias_act(x, b, axis=3, act="lrelu", alpha=0.2, gain=np.sqrt(2),
                                clamp=-1.0).numpy()
    np.testing.assert_allclose(y, ref, rtol=1e-6, atol=1e-6)
    # float16 computes in float32 and rounds once: within half an ulp of fp16.
    yh = ops_module.sg2_bias_act(x.astype(np.float16), b.astype(np.float16), axis=3,
                                 act="lrelu", alpha=0.2, gain=np.sqrt(2)).numpy()
    zh = x.astype(np.float16).astype(np.float64) + b.astype(np.float16).astype(np.float64)
    refh = np.sqrt(2) * np.where(zh > 0, zh, 0.2 * zh)
    np.testing.assert_allclose(yh.astype(np.float64), refh, rtol=1e-3, atol=1e-3)
    # No bias (length 0): axis is ignored.
    y0 = ops_module.sg2_bias_act(x, np.zeros([0], np.float32), axis=0, act="tanh").numpy()
    np.testing.assert_allclose(y0, np.tanh(x.astype(np.float64)), rtol=1e-6, atol=1e-6)


def test_bias_act_stable_extremes(ops_module):
    x = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0], np.float32)
    nob = np.zeros([0], np.float32)
    sp = ops_module.sg2_bias_act(x, nob, axis=0, act="softplus").numpy()
    np.testing.assert_allclose(sp, [0.0, np.log1p(np.exp(-50.0)), np.log(2.0), 50.0, 1000.0],
                               rtol=1e-6)
    sg = ops_module.sg2_bias_act(x, nob, axis=0, act="sigmoid").numpy()
    assert np.all(np.isfinite(sg)) and sg[0] == 0.0 and sg[-1] == 1.0
    sw = ops_module.sg2_bias_act_grad(np.ones_like(x), x, nob, axis=0, act="swish",
                                      order=2).numpy()
    assert np.all(np.isfinite(sw))


def np_upfirdn2d(x, f, up, down, pad, fmt="NHWC"):
    """Direct float64 implementation of the op contract."""
    upx, upy = up
    downx, downy = down
    px0, px1, py0, py1 = pad
    x = np.asarray(x, np.float64)
    if fmt == "NCHW":
        x = x.transpose(0, 2, 3, 1)
    n, h, w, c = x.shape
    xu = np.zeros((n, h * upy, w * upx, c))
    xu[:, ::upy, ::upx, :] = x
    xp = np.pad(xu, ((0, 0), (max(py0, 0), max(py1, 0)), (max(px0, 0), max(px1, 0)), (0, 0)))
    xp = xp[:, max(-py0, 0): xp.shape[1] - max(-py1, 0), max(-px0, 0): xp.shape[2] - max(-px1, 0)]
    fh, fw = f.shape
    oh = (xp.shape[1] - fh) // downy + 1
    ow = (xp.shape[2] - fw) // downx + 1
    y = np.zeros((n, oh, ow, c))
    for ky in range(fh):
        for kx in range(fw):
            y += f[ky, kx] * xp[:, ky: ky + (oh - 1) * downy + 1: downy,
                                kx: kx + (ow - 1) * downx + 1: downx, :]
    return y.transpose(0, 3, 1, 2) if fmt == "NCHW" else y


UFD_CASES = [
    # (x NHWC shape, f shape, up (x, y), down (x, y), pad (x0, x1, y0, y1))
    ((2, 8, 8, 3), (4, 4), (2, 2), (1, 1), (2, 1, 2, 1)),      # upsample2d 2x
    ((2, 8, 8, 3), (4, 4), (1, 1), (2, 2), (1, 1, 1, 1)),      # downsample2d 2x
    ((1, 7, 5, 2), (3, 5), (3, 2), (2, 1), (-1, 2, 2, 0)),     # odd, crop
    ((3, 6, 10, 4), (1, 4), (2, 1), (1, 1), (2, 1, 0, 0)),     # separable x pass
    ((3, 6, 10, 4), (4, 1), (1, 2), (1, 1), (0, 0, 2, 1)),     # separable y pass
    ((1, 13, 6, 2), (5, 1), (1, 1), (1, 3), (0, 0, -2, 4)),    # y down 3 + crop
    ((2, 5, 4, 1), (2, 3), (4, 3), (3, 2), (-3, 5, 1, -2)),    # mixed
]


@pytest.mark.parametrize("case", range(len(UFD_CASES)))
@pytest.mark.parametrize("fmt", ["NHWC", "NCHW"])
def test_upfirdn2d_matches_numpy(ops_module, case, fmt):
    xs, fs, up, down, pad = UFD_CASES[case]
    rng = np.random.default_rng(case)
    x = rng.normal(size=xs)
    f = rng.normal(size=fs)
    ref = np_upfirdn2d(x, f, up, down, pad)
    xin = x.transpose(0, 3, 1, 2) if fmt == "NCHW" else x
    attrs = dict(upx=up[0], upy=up[1], downx=down[0], downy=down[1], padx0=pad[0],
                 padx1=pad[1], pady0=pad[2], pady1=pad[3], data_format=fmt)
    for dtype, tol in ((np.float64, 1e-12), (np.float32, 1e-5), (np.float16, 4e-3)):
        y = ops_module.sg2_up_fir_dn2d(xin.astype(dtype), f.astype(dtype), **attrs).numpy()
        if fmt == "NCHW":
            y = y.transpose(0, 2, 3, 1)
        # half/float inputs are rounded first; compare with the rounded inputs.
        r = np_upfirdn2d(x.astype(dtype), f.astype(dtype), up, down, pad) if dtype != np.float64 else ref
        assert y.shape == ref.shape
        np.testing.assert_allclose(y.astype(np.float64), r, rtol=tol, atol=tol * np.abs(r).max(),
                                   err_msg=str(dtype))


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_kernels_are_float32_rounded_once(ops_module, dtype):
    """On the CPU the 16-bit kernels run the float32 code on the widened inputs and round the result once, so they
    equal the float32 op's output cast to the type (TensorFlow's cast), bit for bit: rounding edge cases, bias_act
    forward and both gradient orders for every activation (clamp, bias on a middle axis), upfirdn2d in every
    configuration above, NHWC and NCHW."""
    rng = np.random.default_rng(5)

    def both(fn, *inputs):
        half = [tf.cast(tf.constant(v, tf.float32), dtype) for v in inputs]
        got = fn(*half)
        assert got.dtype == dtype
        expect = tf.cast(fn(*[tf.cast(h, tf.float32) for h in half]), dtype)
        np.testing.assert_array_equal(tf.cast(got, tf.float64).numpy(), tf.cast(expect, tf.float64).numpy())

    # Rounding edge cases of x + b (a bias per element): ties to even in either type, overflow to inf (bfloat16
    # 3.39e38 + 3e36, float16 65504 + 16), inf - inf, NaN, -0 + -0, subnormals.
    ex = np.array([1, 1 + 2.0 ** -7, 1, 1 + 2.0 ** -10, 3.38e38, 65504, np.inf, np.nan, -0.0, 1e-40, -3e-8])
    eb = np.array([2.0 ** -8, 2.0 ** -8, 2.0 ** -11, 2.0 ** -11, 3e36, 16, -np.inf, 0, -0.0, 1e-41, 1e-8])
    both(lambda x, b: ops_module.sg2_bias_act(x, b, axis=0, act="linear"), ex, eb)
    x = rng.normal(0, 3, size=(2, 5, 3, 4))
    b, dy = rng.normal(size=(5,)), rng.normal(size=x.shape)
    for act in ACTS:
        attrs = dict(axis=1, act=act, alpha=0.3, gain=1.7, clamp=2.5)
        both(lambda x, b: ops_module.sg2_bias_act(x, b, **attrs), x, b)
        for order in (1, 2):
            both(lambda dy, x, b: ops_module.sg2_bias_act_grad(dy, x, b, order=order, **attrs), dy, x, b)
    for xs, fs, up, down, pad in UFD_CASES:
        attrs = dict(upx=up[0], upy=up[1], downx=down[0], downy=down[1], padx0=pad[0], padx1=pad[1],
                     pady0=pad[2], pady1=pad[3])
        xu, fu = rng.normal(size=xs), rng.normal(size=fs)
        both(lambda x, f: ops_module.sg2_up_fir_dn2d(x, f, **attrs), xu, fu)
        both(lambda x, f: ops_module.sg2_up_fir_dn2d(x, f, data_format="NCHW", **attrs),
             xu.transpose(0, 3, 1, 2), fu)


def test_upfirdn2d_static_shape_and_unknown_batch(ops_module):
    fn = tf.function(lambda x, f: ops_module.sg2_up_fir_dn2d(
        x, f, upx=2, upy=2, padx0=2, padx1=1, pady0=2, pady1=1))
    cf = fn.get_concrete_function(tf.TensorSpec([None, 16, 12, 5], tf.float32),
                                  tf.TensorSpec([4, 4], tf.float32))
    assert cf.outputs[0].shape.as_list() == [None, 32, 24, 5]
    cf = fn.get_concrete_function(tf.TensorSpec([None, None, 12, 5], tf.float32),
                                  tf.TensorSpec([4, 4], tf.float32))
    assert cf.outputs[0].shape.as_list() == [None, None, 24, 5]


def test_invalid_inputs_raise_invalid_argument(ops_module):
    x = np.zeros((1, 4, 4, 2), np.float32)
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError), match="output"):
        ops_module.sg2_up_fir_dn2d(x, np.ones((9, 9), np.float32))
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError), match="rank"):
        ops_module.sg2_up_fir_dn2d(x[0], np.ones((3, 3), np.float32))
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError), match="bias length"):
        ops_module.sg2_bias_act(x, np.zeros([3], np.float32), axis=3)
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError), match="order"):
        ops_module.sg2_bias_act_grad(x, x, np.zeros([2], np.float32), axis=3, order=3)
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError), match="axis"):
        ops_module.sg2_bias_act(x, np.zeros([2], np.float32), axis=7)


def test_empty_inputs(ops_module):
    x = np.zeros((0, 4, 4, 3), np.float32)
    y = ops_module.sg2_up_fir_dn2d(x, np.ones((3, 3), np.float32), upx=2, upy=2, padx0=1,
                                   padx1=1, pady0=1, pady1=1)
    assert y.shape == (0, 8, 8, 3)
    # Zero height but enough padding: the output is all padding, i.e. zeros.
    for fmt, shape in (("NHWC", (2, 0, 3, 4)), ("NCHW", (2, 4, 0, 3))):
        y = ops_module.sg2_up_fir_dn2d(np.ones(shape, np.float32), np.ones((2, 2), np.float32),
                                       pady0=2, pady1=1, data_format=fmt).numpy()
        assert y.shape == ((2, 2, 2, 4) if fmt == "NHWC" else (2, 4, 2, 2))
        assert np.all(y == 0.0)
    y = ops_module.sg2_bias_act(x, np.ones([3], np.float32), axis=3, act="swish")
    assert y.shape == x.shape
    dx = ops_module.sg2_bias_act_grad(x, x, np.ones([3], np.float32), axis=3, act="elu")
    assert dx.shape == x.shape
