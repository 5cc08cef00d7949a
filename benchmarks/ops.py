#!/usr/bin/env python3
"""Benchmarks the compiled StyleGAN2 ops against the pure-TF reference.

Times forward and forward+backward (gradients w.r.t. every input that has one)
of ``impl='custom'`` vs ``impl='ref'`` through the public API, each compiled
with ``tf.function``, at StyleGAN-sized shapes:

* bias_act:     x [8, 64, 64, 256], lrelu (alpha 0.2, gain sqrt 2), bias on C
* upsample2d:   2x of [8, 32, 32, 256] with the [1, 3, 3, 1] filter
* downsample2d: 2x of [8, 32, 32, 256] with the [1, 3, 3, 1] filter
* affine_resample_bgc: the demo's augmentation geometry (float32 only, shape
  fixed): x [16, 32, 32, 1] -> [16, 76, 76, 1] with the sym6 taps, theta and
  margin as AugmentPipe.from_spec('bgc') makes them at p = 1; its third mode,
  adjoint, times the gradient with respect to x alone (the transpose op)
* filtered_lrelu_sg3_*: the layers of the StyleGAN3-T demo (Fashion-MNIST
  32x32, batch 16, 32 channels; fixed shapes, --batch/--channels do not
  apply): x is the 3x3 conv's full output, bias, clamp 256, Kaiser low-pass
  filters and paddings as the layer schedule sets them (stylegan3.md 2.2):
  36 (up 2, down 2, 12/12 taps), 36 -> 52 (up 4, down 2, 24/12), 52 (up 2,
  down 2) and 52 -> 32 (the cropping critical layers)

Prints one JSON document: per dtype and case the median wall time in
milliseconds over ``--repeats`` runs (after ``--warmup``), and speedup =
ref / custom. ``--dtype`` takes a comma-separated list (float32, bfloat16,
float16, float64); with float32 among several, each other dtype's cases also
get ``custom_speedup_vs_float32`` = float32 custom time / this dtype's.

    python benchmarks/ops.py [--repeats 20] [--warmup 3] [--dtype float32,bfloat16]
                             [--batch 8] [--channels 256] [--cases bias_act_lrelu,upsample2d_2x]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from stylegan2_tf import ops  # noqa: E402


def _time(fns: Dict[str, Callable[[], object]], repeats: int, warmup: int) -> Dict[str, dict]:
    """Median/min wall time (ms) of each fn. The fns are run interleaved, so
    load from other processes on a shared machine hits all of them alike."""
    for _ in range(warmup):
        for fn in fns.values():
            _sync(fn())
    times: Dict[str, list] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            _sync(fn())
            times[k].append((time.perf_counter() - t0) * 1e3)
    return {k: {"median_ms": statistics.median(v), "min_ms": min(v)} for k, v in times.items()}


def _sync(out) -> None:
    # Pull one scalar per output so asynchronous (GPU) work is finished.
    for t in tf.nest.flatten(out):
        t.numpy().ravel()[:1]  # noqa: B018


def _bgc_geometry(n: int, size: int, channels: int) -> tuple:
    """(f, theta, margin, out_size) of the affine_resample call AugmentPipe.from_spec('bgc') makes at p = 1 for a
    batch [n, size, size, channels] (recorded from one call of the pipe, fixed seed)."""
    from stylegan2_tf.training import augment  # pylint: disable=import-outside-toplevel
    pipe = augment.AugmentPipe.from_spec("bgc", impl="ref")
    pipe.p.assign(1.0)
    seen = {}
    original = augment.affine_resample

    def record(x, f, theta, margin, out_size, impl="auto"):
        seen.update(f=f, theta=theta, margin=margin, out_size=out_size)
        return original(x, f, theta, margin, out_size, impl=impl)

    augment.affine_resample = record
    try:
        pipe(tf.zeros([n, size, size, channels]), seed=tf.constant([7, 11], tf.int64))
    finally:
        augment.affine_resample = original
    return (tf.constant(seen["f"]), tf.constant(seen["theta"]), tf.constant(seen["margin"]),
            tuple(seen["out_size"]))


def _cases(batch: int, channels: int, dtype: tf.DType) -> Dict[str, dict]:
    rng = np.random.default_rng(0)
    f = ops.setup_filter([1, 3, 3, 1])

    def mk(*shape):
        return tf.constant(rng.standard_normal(shape), dtype=dtype)

    x64 = mk(batch, 64, 64, channels)
    x32 = mk(batch, 32, 32, channels)
    b = mk(channels)
    cases = {
        "bias_act_lrelu": {
            "shape": [batch, 64, 64, channels],
            "inputs": (x64, b),
            "fn": lambda impl: (lambda x, b: ops.bias_act(x, b, axis=-1, act="lrelu", impl=impl)),
        },
        "upsample2d_2x": {
            "shape": [batch, 32, 32, channels],
            "inputs": (x32,),
            "fn": lambda impl: (lambda x: ops.upsample2d(x, f, up=2, impl=impl)),
        },
        "downsample2d_2x": {
            "shape": [batch, 32, 32, channels],
            "inputs": (x32,),
            "fn": lambda impl: (lambda x: ops.downsample2d(x, f, down=2, impl=impl)),
        },
        "affine_resample_bgc": _affine_case(),
    }
    cases.update(_filtered_lrelu_cases(dtype, rng))
    return cases


def _lowpass(numtaps: int, cutoff: float, width: float, fs: float) -> np.ndarray:
    """Kaiser-windowed sinc with unit DC gain (the design of scipy.signal.firwin(numtaps, cutoff, width=width,
    fs=fs), as StyleGAN3 uses it)."""
    atten = 2.285 * (numtaps - 1) * np.pi * (width / (fs / 2)) + 7.95
    beta = 0.1102 * (atten - 8.7) if atten > 50 else (0.5842 * (atten - 21) ** 0.4 + 0.07886 * (atten - 21)
                                                       if atten > 21 else 0.0)
    m = np.arange(numtaps) - (numtaps - 1) / 2
    h = 2 * cutoff / fs * np.sinc(2 * cutoff / fs * m) * np.kaiser(numtaps, beta)
    return (h / h.sum()).astype(np.float32)


def _filtered_lrelu_cases(dtype: tf.DType, rng) -> Dict[str, dict]:
    """The StyleGAN3-T demo's synthesis layers (res 32, 14 layers, margin 10), one per distinct shape."""
    res, n_layers, n_crit, margin = 32, 14, 2, 10
    e = np.minimum(np.arange(n_layers + 1) / (n_layers - n_crit), 1)
    cutoff = 2 * (res / 2 / 2) ** e
    stop = 2 ** 2.1 * (res / 2 * 2 ** 0.3 / 2 ** 2.1) ** e
    rate = np.exp2(np.ceil(np.log2(np.minimum(stop * 2, res))))
    half_width = np.maximum(stop, rate / 2) - cutoff
    size = (rate + 2 * margin).astype(int)
    size[-2:] = res
    cases = {}
    for name, i in (("36", 1), ("36to52", 5), ("52", 6), ("52to32", 13)):
        j = i - 1
        tmp_rate = max(rate[j], rate[i]) * 2
        up, down = int(tmp_rate / rate[j]), int(tmp_rate / rate[i])
        fu = _lowpass(6 * up, cutoff[j], 2 * half_width[j], tmp_rate) if up > 1 else None
        fd = _lowpass(6 * down, cutoff[i], 2 * half_width[i], tmp_rate) if down > 1 else None
        in_size = int(size[j]) + 2  # the 3x3 conv's "full" output
        pad_total = (int(size[i]) - 1) * down + 1 - in_size * up + (6 * up if fu is not None else 1) + \
            (6 * down if fd is not None else 1) - 2
        lo = (pad_total + up) // 2
        pad = [lo, pad_total - lo, lo, pad_total - lo]
        shape = [16, in_size, in_size, 32]
        x = tf.constant(rng.standard_normal(shape), dtype=dtype)
        b = tf.constant(rng.standard_normal([32]), dtype=dtype)
        cases[f"filtered_lrelu_sg3_{name}"] = {
            "shape": shape, "inputs": (x, b), "up_down_taps": [up, down, 6 * up, 6 * down], "padding": pad,
            "fn": lambda impl, fu=fu, fd=fd, up=up, down=down, pad=pad: (
                lambda x, b: ops.filtered_lrelu(x, fu, fd, b, up=up, down=down, padding=pad, clamp=256,
                                                impl=impl)),
        }
    return cases


def _affine_case() -> dict:
    rng = np.random.default_rng(0)
    geom_f, theta, margin, out_size = _bgc_geometry(16, 32, 1)
    x = tf.constant(rng.uniform(-1, 1, (16, 32, 32, 1)), tf.float32)
    dy = tf.constant(rng.standard_normal((16, *out_size, 1)), tf.float32)

    def fn(impl):
        return lambda x: ops.affine_resample(x, geom_f, theta, margin, out_size, impl=impl)

    def adjoint(impl):
        def run(dy):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = fn(impl)(x)
            return tape.gradient(y, x, output_gradients=dy)  # linear: the forward op is pruned
        return run

    return {"shape": [16, 32, 32, 1], "inputs": (x,), "fn": fn, "float32_only": True,
            "adjoint": {"inputs": (dy,), "fn": adjoint}}


def _fwd(fn):
    return tf.function(fn)


def _fwd_bwd(fn):
    @tf.function
    def run(*inputs):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            y = fn(*inputs)
        dy = tf.ones_like(y) * tf.constant(0.5, y.dtype)
        # Return y too: the input gradients of these ops do not depend on y,
        # so otherwise the forward pass would be pruned from the graph.
        return y, tape.gradient(y, inputs, output_gradients=dy)
    return run


DTYPES = ("float32", "bfloat16", "float16", "float64")


def _run_dtype(dtype: tf.DType, args, wanted: List[str]) -> Dict[str, dict]:
    cases = _cases(args.batch, args.channels, dtype)
    results = {}
    for name in wanted:
        case = cases[name]
        if case.get("float32_only") and dtype != tf.float32:
            continue
        rec = {"input_shape": case["shape"]}
        rec.update({k: case[k] for k in ("up_down_taps", "padding") if k in case})
        modes = [("forward", _fwd, case["fn"], case["inputs"]),
                 ("forward_backward", _fwd_bwd, case["fn"], case["inputs"])]
        if "adjoint" in case:
            modes.append(("adjoint", _fwd, case["adjoint"]["fn"], case["adjoint"]["inputs"]))
        for mode, wrap, make, inputs in modes:
            fns = {impl: wrap(make(impl)) for impl in ("custom", "ref")}
            outs = {impl: fn(*inputs) for impl, fn in fns.items()}
            timing = _time({impl: (lambda fn=fn: fn(*inputs)) for impl, fn in fns.items()},
                           args.repeats, args.warmup)
            # Sanity: both implementations computed the same thing.
            err = max(float(tf.reduce_max(tf.abs(tf.cast(a, tf.float64) - tf.cast(r, tf.float64))))
                      for a, r in zip(tf.nest.flatten(outs["custom"]), tf.nest.flatten(outs["ref"])))
            rec[mode] = {
                "custom_ms": round(timing["custom"]["median_ms"], 3),
                "ref_ms": round(timing["ref"]["median_ms"], 3),
                "custom_min_ms": round(timing["custom"]["min_ms"], 3),
                "ref_min_ms": round(timing["ref"]["min_ms"], 3),
                "speedup": round(timing["ref"]["median_ms"] / timing["custom"]["median_ms"], 2),
                "max_abs_diff": err,
            }
        results[name] = rec
    return results


def main(argv: List[str] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--dtype", default="float32",
                    help=f"comma-separated element types, from {', '.join(DTYPES)}")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--channels", type=int, default=256)
    ap.add_argument("--cases", default="", help="comma-separated subset of case names")
    args = ap.parse_args(argv)
    dtypes = [d.strip() for d in args.dtype.split(",") if d.strip()]
    bad = [d for d in dtypes if d not in DTYPES]
    if not dtypes or bad:
        ap.error(f"--dtype: unknown element type(s) {bad or args.dtype!r}; choose from {', '.join(DTYPES)}")
    known = list(_cases(1, 1, tf.float32))
    wanted = [c for c in args.cases.split(",") if c] or known
    unknown = [c for c in wanted if c not in known]
    if unknown:
        ap.error(f"--cases: unknown case(s) {unknown}; choose from {', '.join(known)}")

    if not ops.custom_ops_available():
        print(json.dumps({"error": f"custom ops unavailable: {ops.load_error()}"}))
        return 1
    results = {d: _run_dtype(tf.as_dtype(d), args, wanted) for d in dtypes}
    if "float32" in results:
        for d, per_case in results.items():
            for name, rec in per_case.items():
                if d == "float32":
                    continue
                for mode in ("forward", "forward_backward"):
                    rec[mode]["custom_speedup_vs_float32"] = round(
                        results["float32"][name][mode]["custom_ms"] / rec[mode]["custom_ms"], 2)
    report = {
        "device": "GPU" if tf.config.list_physical_devices("GPU") else "CPU",
        "library": ops.library_path(),
        "dtypes": dtypes,
        "tensorflow": tf.__version__,
        "cpu_count": os.cpu_count(),
        "cpu": ops.host_cpu(),
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "machine": platform.machine(),
        "repeats": args.repeats,
        "results": results,
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
