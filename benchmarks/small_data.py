#!/usr/bin/env python3
"""Small-dataset evidence on Fashion-MNIST: image quality against kimg with and without augmentation, and transfer.

    python3 benchmarks/small_data.py subsets --subsets 1000,200,50 --modes noaug,ada,fixed0.2 --kimg 400 \\
        --outdir runs/small                         # the demo networks on fixed random subsets
    python3 benchmarks/small_data.py transfer --class-index 7 --images 500 --kimg 100 --source-kimg 200 \\
        --outdir runs/transfer                      # fine-tuning from the full-data demo onto 500 images of one class
    python3 benchmarks/small_data.py report --outdir runs/small      # JSON of the runs already there
    python3 benchmarks/small_data.py floor --subsets 1000,200,50     # FD of the subsets themselves (see below)

Every run is ``tools/train.py --flagfile=configs/demo.flags`` in a subprocess with the offline metric
``fd_fmnist10k`` computed during training every ``--eval-kimg`` (a snapshot each time), so each run directory holds
``metric-fd_fmnist10k.jsonl`` / ``.png`` (with p drawn beside the curve) and ``stats.jsonl``. Runs that exist are
resumed (``--resume auto``), finished ones are only read. ``--parallel N`` runs N trainings at a time, each with
``--threads`` TensorFlow threads (default: the cores divided among them); their img/s are then not speed figures.

``subsets``: for each subset size and mode: ``noaug``; ``ada`` (adaptive p from 0, target 0.6, bgc); ``fixedP``
(constant p = P). FD is measured against the 60,000 training images (the full set, not the subset).

``transfer``: writes an IDX dataset of one class (its 6,000 training and 1,000 test images; FD is then measured
against the 6,000 training images of that class), trains a source demo run on the full dataset for
``--source-kimg``, then trains on a ``--images`` subset of the class for ``--kimg``: from scratch with ADA, fine-tuned
from the source's snapshot with ADA, and fine-tuned with ADA and ``--freezed``.

``floor``: the FD of each subset's own images against the 60,000 training images (the same features and
statistics as ``fd_fmnist10k``): what a generator that reproduced its training subset exactly would score.

Output: JSON on stdout, one entry per run: its flags, FD curve [[kimg, fd], ...], p curve (augmentation strength at
each tick), the curves of D's loss and of r_t = E[sign(D(real))] (tick means), and the median img/s.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import struct
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(ROOT, 'tools', 'train.py')
DEMO = os.path.join(ROOT, 'configs', 'demo.flags')
FMNIST = os.environ.get('STYLEGAN2_TF_FMNIST', '/usr/share/datasets/fashion-mnist')


def mode_flags(mode: str) -> list:
    if mode == 'noaug':
        return ['--aug=noaug']
    if mode == 'ada':
        return ['--aug=ada']
    if mode.startswith('fixed'):
        return ['--aug=fixed', f'--p={float(mode[5:])}']
    raise SystemExit(f'unknown mode {mode!r}: noaug, ada or fixedP (e.g. fixed0.2)')


def train(outdir: str, args: list, kimg: float, eval_kimg: float, threads: int) -> dict:
    """Run (or resume, or just read) one training; returns its summary."""
    os.makedirs(outdir, exist_ok=True)
    snap = max(1, int(round(eval_kimg)))   # demo ticks are 1 kimg
    cmd = [sys.executable, TRAIN, f'--flagfile={DEMO}', f'--outdir={outdir}', f'--total_kimg={kimg}', f'--snap={snap}',
           f'--ckpt_ticks={snap}', '--metrics=fd_fmnist10k', '--metrics_snaps=1', '--resume=auto'] + args
    done = os.path.join(outdir, 'done.json')
    if not (os.path.isfile(done) and json.load(open(done)).get('kimg') == kimg):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', TF_NUM_INTRAOP_THREADS=str(threads),
                   TF_NUM_INTEROP_THREADS=str(threads))
        with open(os.path.join(outdir, 'benchmark-train.log'), 'a') as log:
            p = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        if p.returncode != 0:
            raise SystemExit(f'error: {outdir} failed (exit {p.returncode}); see {outdir}/benchmark-train.log')
        with open(done, 'w') as f:
            json.dump({'kimg': kimg, 'cmd': cmd[1:]}, f)
    return summarize(outdir, args)


def summarize(outdir: str, args=None) -> dict:
    fd, ticks = [], []
    path = os.path.join(outdir, 'metric-fd_fmnist10k.jsonl')
    if os.path.isfile(path):
        for line in open(path):
            rec = json.loads(line)
            fd.append([rec['kimg'], rec['results']['fd_fmnist10k']])
    path = os.path.join(outdir, 'stats.jsonl')
    if os.path.isfile(path):
        ticks = [json.loads(line) for line in open(path)]

    def curve(key):
        return [[round(t['kimg'], 3), round(t[key], 5)] for t in ticks if key in t]
    rates = sorted(t['Timing/img_per_sec'] for t in ticks[1:] if 'Timing/img_per_sec' in t)
    return dict(outdir=outdir, args=args, fd=sorted(fd), p=curve('Progress/augment'), d_loss=curve('Loss/D/loss'),
                rt=curve('Loss/signs/real'), img_per_sec=rates[len(rates) // 2] if rates else None)


def subset_floors(sizes: list, seeds: list) -> list:
    """FD between the features of each --subset=size (seed) of Fashion-MNIST and the full training set, whose
    statistics are computed once."""
    import numpy as np
    sys.path.insert(0, ROOT)
    from stylegan2_tf.data import open_dataset
    from stylegan2_tf.metrics import math as mm
    from stylegan2_tf.metrics.fmnist_classifier import FMNISTFeatures
    features = FMNISTFeatures()

    def stats(dataset):
        f = np.concatenate([features(images) for images, _ in dataset.iterate(1000)])
        return np.mean(f, axis=0), np.cov(f, rowvar=False)
    full = stats(open_dataset(FMNIST))
    return [dict(subset=n, seed=seed, fd=mm.frechet_distance(*stats(open_dataset(FMNIST, subset=n, subset_seed=seed)),
                                                             *full))
            for n in sizes for seed in seeds]


def markdown_table(runs: list) -> str:
    """FD of every run against kimg (rows), with p in parentheses for runs that augment, then each run's best."""
    names = [os.path.basename(r['outdir'].rstrip('/')) for r in runs]
    kimgs = sorted({k for r in runs for k, _ in r['fd']})

    def cell(r, k):
        fd = dict((kk, v) for kk, v in r['fd']).get(k)
        if fd is None:
            return ''
        p = [v for kk, v in r['p'] if abs(kk - k) < 0.51]
        return f'{fd:.1f}' + (f' ({p[-1]:.3f})' if p and any(v for _, v in r['p']) else '')
    lines = ['| kimg | ' + ' | '.join(names) + ' |', '| --- ' * (len(names) + 1) + '|']
    lines += [f'| {k:g} | ' + ' | '.join(cell(r, k) for r in runs) + ' |' for k in kimgs]
    best = [min(((v, k) for k, v in r['fd']), default=None) for r in runs]
    lines.append('| best | ' + ' | '.join(f'{b[0]:.1f} @ {b[1]:g}' if b else '' for b in best) + ' |')
    return '\n'.join(lines)


def run_all(jobs, parallel: int) -> list:
    with concurrent.futures.ThreadPoolExecutor(max_workers=parallel) as pool:
        futures = [pool.submit(train, *job) for job in jobs]
        out = []
        for f in futures:
            out.append(f.result())
            print(json.dumps({k: out[-1][k] for k in ('outdir', 'fd')}), file=sys.stderr, flush=True)
    return out


def write_class_idx(dest: str, class_index: int) -> None:
    """An IDX directory with only one class's images (train and t10k), as the dataset and metric readers expect."""
    sys.path.insert(0, ROOT)
    from stylegan2_tf.data.sources import find_idx_pairs, read_idx
    os.makedirs(dest, exist_ok=True)
    for images_path, labels_path in find_idx_pairs(FMNIST):
        images, labels = read_idx(images_path), read_idx(labels_path)
        keep = labels == class_index
        for path, data in ((images_path, images[keep]), (labels_path, labels[keep])):
            name = os.path.basename(path)
            if name.endswith('.gz'):
                name = name[:-3]
            header = struct.pack('>HBB', 0, 0x08, data.ndim) + b''.join(struct.pack('>I', d) for d in data.shape)
            with open(os.path.join(dest, name), 'wb') as f:
                f.write(header + data.astype('uint8').tobytes())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('what', choices=('subsets', 'transfer', 'report', 'floor'))
    p.add_argument('--outdir', help='the runs (subsets, transfer, report)')
    p.add_argument('--subsets', default='1000,200')
    p.add_argument('--modes', default='noaug,ada,fixed0.2')
    p.add_argument('--seeds', default='0')
    p.add_argument('--kimg', type=float, default=400)
    p.add_argument('--eval-kimg', type=float, default=20)
    p.add_argument('--class-index', type=int, default=7, help='transfer: the class (7 = sneaker)')
    p.add_argument('--images', type=int, default=500, help='transfer: images of the class to train on')
    p.add_argument('--source-kimg', type=float, default=200, help='transfer: kimg of the source run')
    p.add_argument('--parallel', type=int, default=1)
    p.add_argument('--threads', type=int, default=None)
    p.add_argument('--markdown', action='store_true', help='report: a table of FD (and p) against kimg instead of JSON')
    p.add_argument('--train-arg', action='append', default=[], help='extra tools/train.py argument (repeatable)')
    args = p.parse_args(argv)
    threads = args.threads or max(1, (os.cpu_count() or 2) // args.parallel)
    seeds = [int(s) for s in args.seeds.split(',')]
    if args.what != 'floor' and not args.outdir:
        raise SystemExit(f'error: {args.what} needs --outdir')
    if args.what == 'floor':
        floors = subset_floors([int(n) for n in args.subsets.split(',')], seeds)
        print(json.dumps({'what': 'floor', 'floors': floors}, indent=1))
        return 0
    if args.what == 'report':
        runs = [summarize(os.path.join(args.outdir, d)) for d in sorted(os.listdir(args.outdir))
                if os.path.isfile(os.path.join(args.outdir, d, 'stats.jsonl'))]
    elif args.what == 'subsets':
        jobs = []
        for subset in (int(s) for s in args.subsets.split(',')):
            for mode in args.modes.split(','):
                for seed in seeds:
                    flags = [f'--subset={subset}', f'--seed={seed}'] + mode_flags(mode) + args.train_arg
                    jobs.append((os.path.join(args.outdir, f'subset{subset}-{mode}-seed{seed}'), flags, args.kimg,
                                 args.eval_kimg, threads))
        runs = run_all(jobs, args.parallel)
    else:
        data = os.path.join(args.outdir, f'fmnist-class{args.class_index}')
        if not os.path.isdir(data):
            write_class_idx(data, args.class_index)
        source_dir = os.path.join(args.outdir, 'source-full')
        source = train(source_dir, ['--seed=0'] + args.train_arg, args.source_kimg, args.eval_kimg, threads)
        snaps = sorted(f for f in os.listdir(source_dir) if f.startswith('network-snapshot-'))
        snapshot = os.path.join(source_dir, snaps[-1])
        common = [f'--data={data}', f'--subset={args.images}', '--aug=ada'] + args.train_arg
        jobs = []
        for seed in seeds:
            jobs += [(os.path.join(args.outdir, f'scratch-ada-seed{seed}'), common + [f'--seed={seed}'], args.kimg,
                      args.eval_kimg, threads),
                     (os.path.join(args.outdir, f'finetune-ada-seed{seed}'),
                      common + [f'--seed={seed}', f'--resume={snapshot}'], args.kimg, args.eval_kimg, threads),
                     (os.path.join(args.outdir, f'finetune-ada-freezed-seed{seed}'),
                      common + [f'--seed={seed}', f'--resume={snapshot}', '--freezed=4'], args.kimg, args.eval_kimg,
                      threads)]
        runs = [source] + run_all(jobs, args.parallel)
    if args.markdown:
        print(markdown_table(runs))
    else:
        print(json.dumps({'what': args.what, 'runs': runs}, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
