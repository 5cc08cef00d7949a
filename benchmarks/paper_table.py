#!/usr/bin/env python3
"""The paper's table 1 on Fashion-MNIST: configs A-F at 32x32 with demo-size networks and an equal image budget.

    python3 benchmarks/paper_table.py                       # A-F, 100 kimg each, seed 0 (about 1.5 h on 2 cores)
    python3 benchmarks/paper_table.py --configs a,f --kimg 20 --outdir runs/table   # a rerun reuses finished runs

Each config trains ``configs/<c>.flags`` through tools/train.py with the same scaling to the demo's size applied to
all (``scaled_args``): the demo's small networks (z/w 64, 2 mapping layers, at most 32 channels; fmap_base 256 for
F and half that for A-E, as the paper's 16384 vs 8192), the demo's batch, learning rate and R1 weight relative to
the paper's (batch 16 for E/F, the growing configs' per-resolution batches halved, learning rates doubled, R1 gamma
/ 100), and, for A-D, the growing schedule scaled to the budget: 8x8 -> 32x32 in phases of kimg/6 stable plus kimg/6
fade-in, so the full resolution is reached at 2/3 of the budget. Every ``--eval-kimg`` the snapshot is measured with
the offline metrics: ``fd_fmnist10k`` (image quality, the paper's FID column) and ``ppl_fmnist_wend`` (the paper's
path length column, in the classifier's features instead of LPIPS; docs/metrics.md). img/s is the median tick
speed after the first tick. Prints JSON:

    {"kimg": K, "seed": S, "rows": [{"config": "a", "fd_fmnist10k": ..., "ppl_fmnist_wend": ..., "img_per_sec": ...,
      "train_wall_sec": ..., "curve": [{"kimg": ..., "fd_fmnist10k": ..., "ppl_fmnist_wend": ...}, ...]}, ...]}

The paper's table 1 (FFHQ 1024x1024) predicts FID falling from A to F, with the largest steps at E (no growing,
skip G / resnet D) and F (larger networks), and the path length falling with weight demodulation (B) and most with
the path-length regularizer (D), rising a little again with F's larger networks.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from quality import evaluate, train, training_speed  # noqa: E402  (benchmarks/quality.py)

CONFIGS = ('a', 'b', 'c', 'd', 'e', 'f')
METRICS = ('fd_fmnist10k', 'ppl_fmnist_wend')
FMNIST = '/usr/share/datasets/fashion-mnist'


def scaled_args(config: str, kimg: float, data: str = FMNIST) -> list:
    """tools/train.py arguments (after --flagfile=configs/<config>.flags) that shrink the config to the demo."""
    common = [f'--data={data}', '--z_dim=64', '--w_dim=64', '--mapping_layers=2', '--fmap_max=32', '--ema_kimg=2',
              '--ema_rampup=0.05', '--grid=16x10']
    if config == 'f':  # the demo itself (configs/demo.flags' networks and training)
        return common + ['--fmap_base=256', '--batch=16', '--g_lr=0.004', '--d_lr=0.004', '--gamma=0.1']
    if config == 'e':  # paper: F with fmap_base halved and gamma 100
        return common + ['--fmap_base=128', '--batch=16', '--g_lr=0.004', '--d_lr=0.004', '--gamma=1']
    # A-D: paper lr 0.001 (demo x2), batch {8: 256, 16: 128, 32: 64} (demo x1/2), gamma 10 (demo /100).
    phase = kimg / 6
    return common + ['--fmap_base=128', '--batch=16', '--batch_dict=8:128,16:64,32:32', '--g_lr=0.002',
                     '--d_lr=0.002', '--gamma=0.1', f'--lod_training_kimg={phase:g}', f'--lod_transition_kimg={phase:g}']


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--configs', default=','.join(CONFIGS), help='comma list of a,b,c,d,e,f')
    p.add_argument('--kimg', type=float, default=100.0, help='image budget per config, in kimg')
    p.add_argument("--eval-kimg", type=float, default=20.0, help='snapshot and evaluate every this many kimg')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--data', default=FMNIST, help='Fashion-MNIST IDX directory')
    p.add_argument('--num-gen', type=int, default=None, help='override the metrics\' sample counts (quick runs)')
    p.add_argument('--outdir', default=None, help='keep the runs here (default: a temporary directory)')
    p.add_argument('--cache-dir', default=None, help='statistics cache (default: the metrics default)')
    p.add_argument('--train-arg', action='append', default=[], help='extra tools/train.py argument (repeatable)')
    args = p.parse_args(argv)
    configs = [c.strip().lower() for c in args.configs.split(',') if c.strip()]
    bad = [c for c in configs if c not in CONFIGS]
    if bad:
        p.error(f'unknown config(s) {bad}; choose from {",".join(CONFIGS)}')
    if args.kimg <= 0 or args.eval_kimg <= 0:
        p.error('--kimg and --eval-kimg must be > 0')
    root = args.outdir or tempfile.mkdtemp(prefix='sg2-paper-table-')
    rows = []
    for config in configs:
        outdir = os.path.join(root, f'config-{config}')
        flagfile = os.path.join(ROOT, 'configs', f'{config}.flags')
        extra = scaled_args(config, args.kimg, args.data) + list(args.train_arg)
        train_wall = train(flagfile, args.seed, args.kimg, args.eval_kimg, outdir, extra)
        t0 = time.time()
        values = evaluate(outdir, list(METRICS), args.num_gen, args.cache_dir)
        curve = [dict(kimg=k, **v) for k, v in sorted(values.items()) if k <= args.kimg]
        last = curve[-1] if curve else {}
        rows.append(dict(config=config, **{m: last.get(m) for m in METRICS}, img_per_sec=training_speed(outdir),
                         train_wall_sec=train_wall, eval_wall_sec=time.time() - t0, outdir=outdir,
                         args=extra, curve=curve))
        print(json.dumps({k: rows[-1][k] for k in ('config', *METRICS, 'img_per_sec')}), file=sys.stderr, flush=True)
    print(json.dumps(dict(kimg=args.kimg, eval_kimg=args.eval_kimg, seed=args.seed, num_gen=args.num_gen, rows=rows),
                     indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
