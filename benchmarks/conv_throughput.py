#!/usr/bin/env python3
"""The machine's 3x3 convolution throughput (GFLOP/s) at the shapes of the benchmarked training steps.

A training step cannot run faster than its convolutions: ``benchmarks/train_step.py`` reports each step's
convolution work (``conv_gflop_per_step``) and the rate at which the whole step gets through it
(``conv_gflop_per_sec``); this script measures what TensorFlow's convolutions alone reach on the same machine, so
that the two can be compared (docs/training.md, "Speed").

For each dtype and shape N x R x C (batch, resolution, channels) it times a 3x3 stride-1 'SAME' convolution
C -> C on [N, R, R, C] and its two gradients (Conv2DBackpropInput, Conv2DBackpropFilter), each compiled with
tf.function, median of ``--repeats`` calls after two warm-up calls. One convolution is 2 * N * R * R * C * C * 9
FLOP, and so is each gradient.

    python benchmarks/conv_throughput.py                                  # c128 and F@64 shapes, fp32 and bf16
    python benchmarks/conv_throughput.py --shapes 32x32x128,32x16x128 --dtypes bfloat16 --repeats 20
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

# The repository's package, also when it is not installed (as train_step.py does).
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

DEFAULT_SHAPES = '32x32x128,32x16x128,4x64x512,4x32x512'


def parse_shape(text: str):
    try:
        n, r, c = (int(v) for v in text.split('x'))
    except ValueError:
        raise SystemExit(f'bad shape {text!r}: expected NxRxC, e.g. 32x32x128')
    if min(n, r, c) < 1:
        raise SystemExit(f'bad shape {text!r}: every size must be >= 1')
    return n, r, c


def measure(n: int, r: int, c: int, dtype: str, repeats: int) -> dict:
    import tensorflow as tf
    dt = tf.as_dtype(dtype)
    x = tf.cast(tf.random.stateless_normal([n, r, r, c], [0, 1]), dt)
    w = tf.cast(tf.random.stateless_normal([3, 3, c, c], [0, 2]) * 0.05, dt)
    strides = [1, 1, 1, 1]
    kinds = {
        'forward': tf.function(lambda x, w: tf.nn.conv2d(x, w, 1, 'SAME')),
        'backprop_input': tf.function(lambda x, w: tf.raw_ops.Conv2DBackpropInput(
            input_sizes=tf.shape(x), filter=w, out_backprop=x, strides=strides, padding='SAME')),
        'backprop_filter': tf.function(lambda x, w: tf.raw_ops.Conv2DBackpropFilter(
            input=x, filter_sizes=tf.shape(w), out_backprop=x, strides=strides, padding='SAME')),
    }
    flop = 2.0 * n * r * r * c * c * 9
    out = {'shape': f'{n}x{r}x{c}', 'dtype': dtype, 'gflop_per_call': flop / 1e9}
    for name, fn in kinds.items():
        for _ in range(2):
            fn(x, w).numpy()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn(x, w).numpy()
            times.append(time.perf_counter() - t0)
        out[f'{name}_gflop_per_sec'] = flop / statistics.median(times) / 1e9
    out['mean_gflop_per_sec'] = 3 / sum(1 / out[f'{k}_gflop_per_sec'] for k in kinds)  # equal work each
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--shapes', default=DEFAULT_SHAPES, help='comma list of NxRxC (batch x resolution x channels)')
    p.add_argument('--dtypes', default='float32,bfloat16', help='comma list of float32, bfloat16, float16')
    p.add_argument('--repeats', type=int, default=10)
    args = p.parse_args()
    shapes = [parse_shape(s) for s in args.shapes.split(',')]
    dtypes = args.dtypes.split(',')
    bad = [d for d in dtypes if d not in ('float32', 'bfloat16', 'float16')]
    if bad:
        raise SystemExit(f'unknown dtype {bad[0]!r}; choose from float32, bfloat16, float16')
    if args.repeats < 1:
        raise SystemExit('--repeats must be >= 1')
    results = []
    for dtype in dtypes:
        for shape in shapes:
            results.append(measure(*shape, dtype, args.repeats))
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    from stylegan2_tf.ops import host_cpu
    print(json.dumps({'cpu': host_cpu(), 'results': results}, indent=2))


if __name__ == '__main__':
    main()
