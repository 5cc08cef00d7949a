#!/usr/bin/env python3
"""Check that a change to the ops or the trainer leaves training bit-identical.

Trains a benchmark config's networks (default: the demo's) for a few steps on random data with deterministic ops
(R1 at steps 0 and 16, path length every 4th step, so 17 steps cover both regularizers) and saves every weight of G,
D and G_ema. Run it in the two checkouts to compare, then compare the files:

  python3 benchmarks/exact_steps.py --precision bf16 --out /tmp/before_bf16.npz      # in the old checkout
  python3 benchmarks/exact_steps.py --precision bf16 --out /tmp/after_bf16.npz       # in the new one
  python3 benchmarks/exact_steps.py --compare /tmp/before_bf16.npz /tmp/after_bf16.npz

--compare prints how many arrays differ and the largest difference, and exits 1 if any differs. A change that only
makes things faster must give 0: then the image-quality curves measured before it still hold.
"""

import argparse
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')


def train_and_save(config: str, precision: str, steps: int, out: str) -> None:
    import dataclasses
    import numpy as np
    import keras
    import tensorflow as tf
    import train_step as bench
    from stylegan2_tf.training.config import TrainConfig
    from stylegan2_tf.training.trainer import Trainer
    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(0)
    if 'flagfile' in bench.CONFIGS[config]:  # c128_1ch: the flag file's training options
        train_config = dataclasses.replace(bench.flagfile_configs(bench.CONFIGS[config]['flagfile'])[1],
                                           total_kimg=1e9)
    else:
        train_config = TrainConfig(batch=bench.CONFIGS[config]['batch'], total_kimg=1e9, gamma=0.1)
    batch = train_config.batch
    dataset = bench.random_dataset(config, 4 * batch)
    make_g, make_d = bench.network_factories(config, precision, 4, 'auto', dataset, batch)
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(tf.distribute.get_strategy(), make_g, make_d, dataset, run_dir, train_config)
        for _ in range(steps):
            trainer.train_step()
        weights = trainer.G.weights + trainer.D.weights + trainer.G_ema.weights
        np.savez(out, **{f'{i:04d}_{w.path}': w.numpy() for i, w in enumerate(weights)})
    print(f'{len(weights)} arrays after {steps} {precision} steps of {config} -> {out}')


def compare(a_path: str, b_path: str) -> int:
    import numpy as np
    a, b = np.load(a_path), np.load(b_path)
    if sorted(a.files) != sorted(b.files):
        print(f'different weights: {sorted(set(a.files) ^ set(b.files))[:10]}')
        return 1
    differing = {k: float(np.max(np.abs(a[k].astype(np.float64) - b[k].astype(np.float64))))
                 for k in a.files if not np.array_equal(a[k], b[k], equal_nan=True)}
    print(f'{len(a.files)} arrays, {len(differing)} differ' +
          (f'; largest difference {max(differing.values()):.3g} in {max(differing, key=differing.get)}'
           if differing else ' (bit-identical)'))
    return 1 if differing else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--config', default='demo', help='a config of benchmarks/train_step.py (default demo)')
    p.add_argument('--precision', default='fp32', choices=['fp32', 'bf16', 'fp16'])
    p.add_argument('--steps', type=int, default=17)
    p.add_argument('--out', help='where to save the weights (.npz)')
    p.add_argument('--compare', nargs=2, metavar=('A', 'B'), help='compare two saved files instead of training')
    args = p.parse_args()
    if args.compare:
        return compare(*args.compare)
    if not args.out:
        p.error('--out is required unless --compare is given')
    train_and_save(args.config, args.precision, args.steps, args.out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
