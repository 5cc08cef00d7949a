#!/usr/bin/env python3
"""Benchmark generation (forward only: mapping + synthesis, noise_mode 'const', inference) and print JSON.

For each (config, impl, precision) it builds the generator of a benchmarks/train_step.py config (random weights:
speed does not depend on them), traces one call, then times ``--steps`` calls and reports the median img/s and the
peak memory (GPU peak if a GPU is used, else the process's peak RSS), each run in its own subprocess;
``--interleave`` times the precisions in one process with alternating calls (see train_step.py).

  python benchmarks/generate.py                                        # config F at 256x256, fp32 vs bf16
  python benchmarks/generate.py --configs f256 --impls auto --precision fp32,bf16 --interleave --batch 8 --steps 5
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

from train_step import CONFIGS, PRECISIONS, network_factories, random_dataset  # noqa: E402


def bench(name, impl, precisions, steps, batch, num_fp16_res):
    """One result per precision; several precisions (--interleave) share the process and alternate their calls."""
    import numpy as np
    import tensorflow as tf
    from stylegan2_tf.training.run_log import peak_memory
    runs = []
    for precision in precisions:
        make_G, _ = network_factories(name, precision, num_fp16_res, impl, random_dataset(name, 1), batch)
        G = make_G()
        z = tf.constant(np.random.RandomState(0).randn(batch, G.z_dim).astype(np.float32))
        generate = tf.function(lambda z, G=G: G(z, noise_mode='const'))
        t0 = time.perf_counter()
        generate(z).numpy()
        out = {'config': name, 'impl': impl, 'precision': precision, 'num_fp16_res': G.num_fp16_res,
               'resolution': G.img_resolution, 'batch': batch, 'trace_sec': time.perf_counter() - t0}
        runs.append((generate, z, out, []))
    for _ in range(steps):
        for generate, z, _, times in runs:
            t0 = time.perf_counter()
            generate(z).numpy()
            times.append(time.perf_counter() - t0)
    memory = {k.split('/')[-1]: v for k, v in peak_memory().items()}
    results = []
    for _, _, out, times in runs:
        sec = float(np.median(times))
        out.update({'img_per_sec': batch / sec, 'sec_per_batch': sec}, **memory)
        if len(runs) > 1:
            out['interleaved_with'] = [p for p in precisions if p != out['precision']]
        out['device'] = 'GPU' if tf.config.list_logical_devices('GPU') else 'CPU'
        from stylegan2_tf.ops import cpu_loops, host_cpu
        out['cpu_loops'] = cpu_loops()  # which copy of the compiled CPU loops ran
        out['cpu'] = host_cpu()  # bfloat16's speed depends on AMX: only figures of one CPU compare
        results.append(out)
    return results


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--configs', default='f256', help='comma list of ' + ','.join(CONFIGS))
    p.add_argument('--impls', default='auto', help='comma list of custom,ref,auto')
    p.add_argument('--precision', default='fp32,bf16', help='comma list of ' + ','.join(PRECISIONS))
    p.add_argument('--num_fp16_res', type=int, default=4, help='highest resolutions in the reduced precision')
    p.add_argument('--batch', type=int, default=4, help='images per call')
    p.add_argument('--steps', type=int, default=3, help='timed calls (median)')
    p.add_argument('--interleave', action='store_true',
                   help='time the --precision list in one process, alternating their calls (fair speed ratios on a '
                        'machine whose speed drifts; the peak memory is then that of all of them together)')
    p.add_argument('--worker', default=None, help=argparse.SUPPRESS)  # 'config:impl:prec[+prec..]'
    args = p.parse_args()
    if args.worker:
        name, impl, precisions = args.worker.split(':')
        for out in bench(name, impl, precisions.split('+'), args.steps, args.batch, args.num_fp16_res):
            print(json.dumps(out))
        return
    precisions = args.precision.split(',')
    groups = ['+'.join(precisions)] if args.interleave else precisions
    runs = [(c, i, x) for c in args.configs.split(',') for i in args.impls.split(',') for x in groups]
    for c, i, x in runs:
        if c not in CONFIGS:
            raise SystemExit(f'unknown config {c!r}; choose from {sorted(CONFIGS)}')
        if i not in ('custom', 'ref', 'auto'):
            raise SystemExit(f'unknown impl {i!r}; choose from custom, ref, auto')
    bad = [x for x in precisions if x not in PRECISIONS]
    if bad:
        raise SystemExit(f'unknown precision {bad[0]!r}; choose from {", ".join(PRECISIONS)}')
    results = []
    for c, i, x in runs:
        cmd = [sys.executable, os.path.abspath(__file__), '--worker', f'{c}:{i}:{x}', '--steps', str(args.steps),
               '--batch', str(args.batch), '--num_fp16_res', str(args.num_fp16_res)]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
        first = len(results)
        if proc.returncode != 0:
            results.append({'config': c, 'impl': i, 'precision': x, 'failed': f'exit status {proc.returncode}'})
        else:
            results.extend(json.loads(line) for line in proc.stdout.strip().splitlines() if line.startswith('{'))
        for out in results[first:]:
            print(json.dumps(out), file=sys.stderr, flush=True)
    print(json.dumps({'results': results}, indent=2))


if __name__ == '__main__':
    main()
