#!/usr/bin/env python3
"""Benchmark generation (forward only: mapping + synthesis, noise_mode 'const', inference) and print JSON.

For each (config, impl, precision) it builds the generator of a benchmarks/train_step.py config (random weights:
speed does not depend on them), traces one call, then times ``--steps`` calls and reports the median img/s and the
peak memory (GPU peak if a GPU is used, else the process's peak RSS), each run in its own subprocess.

  python benchmarks/generate.py                                        # config F at 256x256, fp32 vs bf16
  python benchmarks/generate.py --configs f256 --impls auto --precision fp32,bf16 --batch 8 --steps 5
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from train_step import CONFIGS, PRECISIONS, network_kwargs  # noqa: E402


def bench(name, impl, precision, steps, batch, num_fp16_res):
    import numpy as np
    import tensorflow as tf
    from stylegan2_tf.networks import Generator
    from stylegan2_tf.training.run_log import peak_memory
    g_kw, _ = network_kwargs(name, precision, num_fp16_res, impl)
    G = Generator(**g_kw, name='G')
    z = tf.constant(np.random.RandomState(0).randn(batch, G.z_dim).astype(np.float32))
    generate = tf.function(lambda z: G(z, noise_mode='const'))
    t0 = time.perf_counter()
    generate(z).numpy()
    trace = time.perf_counter() - t0
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        generate(z).numpy()
        times.append(time.perf_counter() - t0)
    sec = float(np.median(times))
    out = {'config': name, 'impl': impl, 'precision': precision, 'num_fp16_res': g_kw['num_fp16_res'],
           'resolution': g_kw['img_resolution'], 'batch': batch, 'img_per_sec': batch / sec, 'sec_per_batch': sec,
           'trace_sec': trace}
    out.update({k.split('/')[-1]: v for k, v in peak_memory().items()})
    out['device'] = 'GPU' if tf.config.list_logical_devices('GPU') else 'CPU'
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--configs', default='f256', help='comma list of ' + ','.join(CONFIGS))
    p.add_argument('--impls', default='auto', help='comma list of custom,ref,auto')
    p.add_argument('--precision', default='fp32,bf16', help='comma list of ' + ','.join(PRECISIONS))
    p.add_argument('--num_fp16_res', type=int, default=4, help='highest resolutions in the reduced precision')
    p.add_argument('--batch', type=int, default=4, help='images per call')
    p.add_argument('--steps', type=int, default=3, help='timed calls (median)')
    p.add_argument('--worker', default=None, help=argparse.SUPPRESS)  # 'config:impl:precision'
    args = p.parse_args()
    if args.worker:
        name, impl, precision = args.worker.split(':')
        print(json.dumps(bench(name, impl, precision, args.steps, args.batch, args.num_fp16_res)))
        return
    runs = [(c, i, x) for c in args.configs.split(',') for i in args.impls.split(',')
            for x in args.precision.split(',')]
    for c, i, x in runs:
        if c not in CONFIGS:
            raise SystemExit(f'unknown config {c!r}; choose from {sorted(CONFIGS)}')
        if i not in ('custom', 'ref', 'auto'):
            raise SystemExit(f'unknown impl {i!r}; choose from custom, ref, auto')
        if x not in PRECISIONS:
            raise SystemExit(f'unknown precision {x!r}; choose from {", ".join(PRECISIONS)}')
    results = []
    for c, i, x in runs:
        cmd = [sys.executable, os.path.abspath(__file__), '--worker', f'{c}:{i}:{x}', '--steps', str(args.steps),
               '--batch', str(args.batch), '--num_fp16_res', str(args.num_fp16_res)]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            results.append({'config': c, 'impl': i, 'precision': x, 'failed': f'exit status {proc.returncode}'})
        else:
            results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    print(json.dumps({'results': results}, indent=2))


if __name__ == '__main__':
    main()
