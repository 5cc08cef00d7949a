#!/usr/bin/env python3
"""Image quality against training progress: train a flag file from fixed seeds, evaluate its snapshots, print JSON.

    python3 benchmarks/quality.py --flagfile configs/demo.flags --kimg 100 --eval-kimg 10 --seeds 0,1
    python3 benchmarks/quality.py ... --outdir runs/quality-before      # keep the runs; a rerun resumes/reuses them

This is how a change to training shows that it did not hurt image quality: run it before and after, at equal kimg,
and compare the curves against the spread between seeds. For each seed it runs ``tools/train.py`` in a subprocess
(``--seed S --total_kimg K``, a snapshot every ``--eval-kimg``, metrics off during training so that img/s is the
training speed), then evaluates every snapshot with ``--metrics`` (default ``fd_fmnist10k,kid_fmnist10k``: the
offline Fashion-MNIST metrics, so the flag file must train 32x32x1 Fashion-MNIST). Output::

    {"flagfile": ..., "kimg": K, "metrics": [...], "runs": [{"seed": S, "img_per_sec": ..., "train_wall_sec": ...,
      "eval_wall_sec": ..., "curve": [{"kimg": 10, "fd_fmnist10k": ..., "kid_fmnist10k": ...}, ...]}, ...],
     "spread": [{"kimg": 10, "fd_fmnist10k_mean": ..., "fd_fmnist10k_min": ..., "fd_fmnist10k_max": ...}, ...]}

img/s is the median of the ticks' ``Timing/img_per_sec`` after the first tick (which includes tracing).
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')


def flagfile_value(path: str, name: str, default: float) -> float:
    """The last ``--name=value`` in a flag file (``default`` when absent)."""
    value = default
    with open(path) as f:
        for line in f:
            m = re.match(rf'\s*--{name}=(\S+)', line)
            if m:
                value = float(m.group(1))
    return value


def train(flagfile: str, seed: int, kimg: float, eval_kimg: float, outdir: str, extra) -> float:
    """Run tools/train.py; returns its wall time."""
    kimg_per_tick = flagfile_value(flagfile, 'kimg_per_tick', 4.0)
    snap = max(1, int(round(eval_kimg / kimg_per_tick)))
    cmd = [sys.executable, os.path.join(ROOT, 'tools', 'train.py'), f'--flagfile={flagfile}', f'--outdir={outdir}',
           f'--seed={seed}', f'--total_kimg={kimg}', f'--snap={snap}', f'--ckpt_ticks={snap}', '--metrics=',
           '--resume=auto'] + list(extra)
    start = time.time()
    log_path = os.path.join(outdir, 'benchmark-train.log')
    os.makedirs(outdir, exist_ok=True)
    with open(log_path, 'a') as log:
        p = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT)
    if p.returncode != 0:
        with open(log_path) as f:
            tail = f.read()[-3000:]
        raise SystemExit(f'error: training seed {seed} failed (exit {p.returncode}); {log_path}:\n{tail}')
    return time.time() - start


def training_speed(outdir: str) -> float:
    rates = []
    path = os.path.join(outdir, 'stats.jsonl')
    if os.path.isfile(path):
        with open(path) as f:
            for line in f:
                rec = json.loads(line)
                v = rec.get('Timing/img_per_sec')
                if v is not None:
                    rates.append(float(v))
    rates = rates[1:] or rates
    return sorted(rates)[len(rates) // 2] if rates else float('nan')


def evaluate(outdir: str, metrics, num_gen, cache_dir) -> dict:
    """{kimg: {metric: value}} for every snapshot of the run (already evaluated ones are read back)."""
    from stylegan2_tf.metrics import metric_main
    from stylegan2_tf.metrics.cache import StatsCache
    from stylegan2_tf.metrics.detectors import FeatureNetworks
    from stylegan2_tf.metrics.plot import read_metric_log
    from stylegan2_tf.serialization import load_network
    networks = FeatureNetworks()
    cache = StatsCache(cache_dir)
    done = {}
    for m in metrics:
        path = os.path.join(outdir, f'metric-{m}.jsonl')
        if os.path.isfile(path):
            for key, points in read_metric_log(path).items():
                for kimg, v in points:
                    done.setdefault(kimg, {})[key] = v
    for snap in sorted(glob.glob(os.path.join(outdir, 'network-snapshot-*.npz'))):
        kimg = float(re.search(r'network-snapshot-(\d+)', snap).group(1))
        todo = [m for m in metrics if m not in done.get(kimg, {})]
        G = load_network(snap).G_ema if todo else None
        for m in todo:
            opts = metric_main.MetricOptions(G=G, networks=networks, num_gen=num_gen, cache=cache, progress=False)
            result = metric_main.calc_metric(m, opts)
            with contextlib.redirect_stdout(sys.stderr):  # stdout carries only the JSON
                metric_main.report_metric(result, run_dir=outdir, snapshot_pkl=os.path.basename(snap), kimg=kimg)
            done.setdefault(kimg, {}).update(result['results'])
    return done


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--flagfile', default=os.path.join(ROOT, 'configs', 'demo.flags'))
    p.add_argument('--kimg', type=float, default=100.0, help='train this many kimg per seed')
    p.add_argument('--eval-kimg', type=float, default=10.0, help='snapshot (and evaluate) every this many kimg')
    p.add_argument('--seeds', default='0,1', help='comma-separated training seeds')
    p.add_argument('--metrics', default='fd_fmnist10k,kid_fmnist10k')
    p.add_argument('--num-gen', type=int, default=None, help='override the generated-image count (quick runs only)')
    p.add_argument('--outdir', default=None, help='keep the runs here (default: a temporary directory)')
    p.add_argument('--cache-dir', default=None, help='statistics cache (default: the metrics default)')
    p.add_argument('--train-arg', action='append', default=[], help='extra tools/train.py argument (repeatable)')
    args = p.parse_args(argv)
    if not os.path.isfile(args.flagfile):
        p.error(f'--flagfile {args.flagfile}: no such file')
    seeds = [int(s) for s in args.seeds.split(',') if s.strip()]
    metrics = [m.strip() for m in args.metrics.split(',') if m.strip()]
    from stylegan2_tf.metrics import metric_main
    bad = [m for m in metrics if not metric_main.is_valid_metric(m)]
    if bad:
        p.error(f'unknown metric(s) {bad}')
    root = args.outdir or tempfile.mkdtemp(prefix='sg2-quality-')
    runs = []
    for seed in seeds:
        outdir = os.path.join(root, f'seed{seed}')
        train_wall = train(args.flagfile, seed, args.kimg, args.eval_kimg, outdir, args.train_arg)
        t0 = time.time()
        values = evaluate(outdir, metrics, args.num_gen, args.cache_dir)
        curve = [dict(kimg=k, **v) for k, v in sorted(values.items()) if k <= args.kimg]
        runs.append(dict(seed=seed, outdir=outdir, img_per_sec=training_speed(outdir), train_wall_sec=train_wall,
                         eval_wall_sec=time.time() - t0, curve=curve))
    spread = []
    kimgs = sorted(set.intersection(*[{c['kimg'] for c in r['curve']} for r in runs])) if runs else []
    for k in kimgs:
        row = {'kimg': k}
        for key in sorted({key for r in runs for c in r['curve'] for key in c if key != 'kimg'}):
            vals = [c[key] for r in runs for c in r['curve'] if c['kimg'] == k and key in c]
            if vals:
                row.update({f'{key}_mean': sum(vals) / len(vals), f'{key}_min': min(vals), f'{key}_max': max(vals)})
        spread.append(row)
    print(json.dumps(dict(flagfile=os.path.relpath(args.flagfile, ROOT), kimg=args.kimg, eval_kimg=args.eval_kimg,
                          metrics=metrics, num_gen=args.num_gen, runs=runs, spread=spread), indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
