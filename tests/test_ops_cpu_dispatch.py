"""The compiled CPU loops exist three times (AVX baseline, AVX2+FMA, AVX-512), chosen at run time: see
SG2_CPU_DISPATCH in custom_ops/cc/kernels/sg2_common.h. A fourth level, avx512bf16, runs the AVX-512 copy and narrows
float results to bfloat16 with AVX512-BF16's conversion instruction (Winograd's transforms: float32 and float64). All levels must give bit-identical outputs and
gradients, and the widest one the CPU supports must be the one that runs (avx512bf16 on this project's Xeons)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Computes every op/dtype/layout case in one process and writes them to an npz; prints cpu_loops().
_PROBE = r'''
import sys
import numpy as np
import tensorflow as tf
from stylegan2_tf import ops
out = {}
rng = np.random.RandomState(0)
for dt in ("float32", "bfloat16", "float16", "float64"):
    x = tf.cast(rng.randn(3, 9, 11, 37) * 3, dt)      # odd sizes: vector loops plus their scalar tails
    b = tf.cast(rng.randn(37), dt)
    dy = tf.cast(rng.randn(3, 9, 11, 37), dt)
    for act, clamp in (("lrelu", None), ("lrelu", 2.5), ("linear", None), ("tanh", 1.0), ("swish", None)):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = ops.bias_act(x, b, act=act, clamp=clamp, impl="custom")
        out[f"bias_act/{dt}/{act}/{clamp}"] = tf.cast(y, tf.float64).numpy()
        out[f"bias_act_grad/{dt}/{act}/{clamp}"] = tf.cast(tape.gradient(y, x, dy), tf.float64).numpy()
    s = tf.cast(rng.randn(3, 37), dt)                  # channel_scale: 99 rows of 37 channels; 2 row chunks below
    xl = tf.cast(rng.randn(2, 33, 40, 37), dt)
    for name, xi in (("small", x), ("chunks", xl)):
        with tf.GradientTape() as tape:
            tape.watch([xi, s])
            y = ops.channel_scale(xi, s[:xi.shape[0]], impl="custom")
        g = tape.gradient(y, [xi, s], tf.ones_like(y) * tf.cast(0.75, y.dtype) + tf.cast(xi, y.dtype))
        out[f"channel_scale/{dt}/{name}"] = tf.cast(y, tf.float64).numpy()
        out[f"channel_scale_dx/{dt}/{name}"] = tf.cast(g[0], tf.float64).numpy()
        out[f"channel_scale_ds/{dt}/{name}"] = tf.cast(g[1], tf.float64).numpy()
        a = tf.cast(rng.randn(*xi.shape[:-1], 1), dt)  # with the per-row addend (the synthesis noise)
        with tf.GradientTape() as tape:
            tape.watch([xi, s, a])
            y = ops.channel_scale(xi, s[:xi.shape[0]], a, impl="custom")
        g = tape.gradient(y, [xi, s, a], tf.ones_like(y) * tf.cast(0.75, y.dtype) + tf.cast(xi, y.dtype))
        for k, v in zip(("y", "dx", "ds", "da"), [y] + g):
            out[f"channel_scale_add_{k}/{dt}/{name}"] = tf.cast(v, tf.float64).numpy()
    for name, shape in (("divisor", (3, 8, 16, 37)), ("multiple", (2, 32, 64, 37)), ("neither", (3, 9, 11, 37))):
        # scale_bias_act: the gradient's row chunks hold several samples, parts of one, or (fallback) neither
        xs = tf.cast(rng.randn(*shape) * 3, dt)
        ss = tf.cast(rng.randn(shape[0], 37), dt)
        a = tf.cast(rng.randn(*shape[:-1], 1), dt)
        for act, clamp in (("lrelu", 2.5), ("swish", None)):
            with tf.GradientTape() as tape:
                tape.watch([xs, ss, a, b])
                y = ops.scale_bias_act(xs, ss, a, b, act=act, clamp=clamp, impl="custom")
            g = tape.gradient(y, [xs, ss, a, b], tf.cast(rng.randn(*shape), dt))
            for k, v in zip(("y", "dx", "ds", "da", "db"), [y] + g):
                out[f"scale_bias_act_{k}/{dt}/{name}/{act}"] = tf.cast(v, tf.float64).numpy()
    xn = tf.transpose(x, [0, 3, 1, 2])
    for name, kw in (("up", dict(up=2, padding=(2, 1))), ("down", dict(down=2, padding=1)),
                     ("blur", dict(padding=(2, 1))), ("updown", dict(up=2, down=2, padding=1))):
        f = ops.setup_filter([1, 3, 3, 1])
        for fmt, xi in (("NHWC", x), ("NCHW", xn)):
            with tf.GradientTape() as tape:
                tape.watch(xi)
                y = ops.upfirdn2d(xi, f, data_format=fmt, impl="custom", **kw)
            out[f"upfirdn2d/{dt}/{name}/{fmt}"] = tf.cast(y, tf.float64).numpy()
            out[f"upfirdn2d_grad/{dt}/{name}/{fmt}"] = tf.cast(
                tape.gradient(y, xi, tf.ones_like(y) * tf.cast(0.5, y.dtype)), tf.float64).numpy()
    for fmt, xi in (("NHWC", x), ("NCHW", xn)):  # filtered_lrelu: 37 channels (vector tails), clamp, 2 layouts
        fl = dict(fu=np.hanning(14)[1:-1], fd=np.hanning(14)[1:-1], up=2, down=2, padding=(9, 8, 9, 8), clamp=2.0)
        with tf.GradientTape() as tape:
            tape.watch(xi)
            y = ops.filtered_lrelu(xi, b=b, data_format=fmt, impl="custom", **fl)
        out[f"filtered_lrelu/{dt}/{fmt}"] = tf.cast(y, tf.float64).numpy()
        out[f"filtered_lrelu_grad/{dt}/{fmt}"] = tf.cast(tape.gradient(y, xi, tf.ones_like(y)), tf.float64).numpy()
from stylegan2_tf.ops import winograd
odd = np.round(rng.randn(3, 5) * 4) / 4  # a shape the loops read at run time
for dt in ("float32", "float64"):          # Winograd's tile transforms: both compiled shapes, 37 channels
    x = tf.cast(rng.randn(2, 12, 8, 37), dt)
    for name, matrix, stride, pad in (("input", winograd._BT, 4, 1), ("output", winograd._A, 4, 0), ("odd", odd, 2, 2)):
        xi = x[:, :11, :7] if name == "odd" else x
        t = winograd.to_tiles(xi, matrix, stride, pad, impl="custom")
        out[f"winograd_to_tiles/{dt}/{name}"] = tf.cast(t, tf.float64).numpy()
        back = winograd.from_tiles(t * 0.5 + 1, matrix, stride, pad, xi.shape[1], xi.shape[2], impl="custom")
        out[f"winograd_from_tiles/{dt}/{name}"] = tf.cast(back, tf.float64).numpy()
np.savez(sys.argv[1], **out)
print(ops.cpu_loops())
'''


def _run(tmp_path, name, cap):
    env = dict(os.environ, SG2_REQUIRE_OPS="1", CUDA_VISIBLE_DEVICES="-1", TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("SG2_CPU_LOOPS", None)
    if cap:
        env["SG2_CPU_LOOPS"] = cap
    path = str(tmp_path / f"{name}.npz")
    p = subprocess.run([sys.executable, "-c", _PROBE, path], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-4000:]
    return p.stdout.strip().splitlines()[-1], dict(np.load(path))


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def test_every_copy_of_the_cpu_loops_gives_the_same_bits(tmp_path):
    from stylegan2_tf import ops
    if not ops.custom_ops_available():
        pytest.fail(f"the compiled ops are required here: {ops.load_error()}")
    flags = _cpu_flags()
    levels = ["baseline"]
    if {"avx2", "fma"} <= flags:
        levels.append("avx2")
        if {"avx512f", "avx512bw", "avx512vl"} <= flags:
            levels.append("avx512")
            if {"avx512dq", "avx512_bf16"} <= flags:
                levels.append("avx512bf16")
    loops_base, base = _run(tmp_path, "base", "baseline")
    assert loops_base == "baseline"
    assert sorted(base) and len(base) == 4 * 5 * 2 + 4 * 2 * (3 + 4) + 4 * 3 * 2 * 5 + 4 * 4 * 2 * 2 + 4 * 2 * 2 + 2 * 3 * 2
    # The widest level (no cap), then each level below it as a cap: every level this CPU has runs once.
    for cap, expected in [(None, levels[-1])] + [(lv, lv) for lv in levels[1:-1]]:
        loops, got = _run(tmp_path, cap or "widest", cap)
        assert loops == expected, (cap, loops, sorted(flags & {"avx", "avx2", "fma", "avx512f", "avx512bw",
                                                               "avx512dq", "avx512_bf16"}))
        assert sorted(got) == sorted(base)
        differing = {k: float(np.max(np.abs(got[k] - base[k]))) for k in got
                     if not np.array_equal(got[k], base[k], equal_nan=True)}
        assert not differing, (loops, json.dumps(differing, indent=1))
