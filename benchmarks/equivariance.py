#!/usr/bin/env python3
"""Equivariance (EQ-T, EQ-T_frac, EQ-R) of trained generators side by side, with the floor of each: print JSON.

    python3 benchmarks/equivariance.py --network sg3=runs/demo-sg3t/network-snapshot-000040.npz \\
        --network sg2=runs/demo/network-snapshot-000040.npz --num 5000

For each ``NAME=FILE`` (a snapshot or official pickle; G_ema is used) it computes StyleGAN3's equivariance PSNRs
(``stylegan2_tf.metrics.equivariance``, the metric of ``--metrics=eqt50k_int,...`` on ``--num`` samples):

* ``eq``: the metric itself, for generators with a Fourier-feature input (StyleGAN3). A StyleGAN2 generator has no
  input transform: as in NVlabs/stylegan3, the metric is not defined for it and the entry says so.
* ``static``: the same generator made to ignore the transform (its content cannot move), so the "transformed"
  image is the reference image itself. This is the floor: what the images score against shifted / rotated copies
  of themselves. StyleGAN2 cannot move its content in response to a transform of its input, so this is what it
  scores; for StyleGAN3 the distance between ``eq`` and ``static`` is what its equivariance adds.

The random numbers are numpy's (``--seed``), the same draws for every network.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

from stylegan2_tf.cli_utils import load_generator  # noqa: E402
from stylegan2_tf.metrics.equivariance import compute_equivariance_metrics  # noqa: E402


class StaticView:
    """G with an input transform that its synthesis ignores (G's own transform, if any, stays the identity)."""

    def __init__(self, G):
        self.G = G
        self.z_dim, self.c_dim, self.img_resolution = G.z_dim, G.c_dim, G.img_resolution
        self.synthesis = self
        self.input = self
        self.transform = tf.Variable(tf.eye(3))

    def mapping(self, z, c=None, **kwargs):
        return self.G.mapping(z, c, **kwargs)

    def __call__(self, ws, **kwargs):
        return self.G.synthesis(ws, **kwargs)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--network", action="append", required=True, help="NAME=FILE (repeatable)")
    p.add_argument("--num", type=int, default=5000, help="samples per metric")
    p.add_argument("--batch", type=int, default=4, help="samples per drawn transform (upstream: 4)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--impl", default="auto")
    args = p.parse_args(argv)
    which = dict(eqt_int=True, eqt_frac=True, eqr=True)
    out = []
    for spec in args.network:
        name, sep, path = spec.partition("=")
        if not sep or not os.path.isfile(path):
            raise SystemExit(f"error: --network wants NAME=FILE with an existing file, got {spec!r}")
        G = load_generator(path, impl=args.impl)
        entry = dict(name=name, file=path, num=args.num)
        t0 = time.time()
        if getattr(getattr(G, "synthesis", None), "input", None) is not None and \
                getattr(G.synthesis.input, "transform", None) is not None:
            entry["eq"] = compute_equivariance_metrics(G, args.num, args.batch, seed=args.seed, impl=args.impl,
                                                       **which)
        else:
            entry["eq"] = "not defined: no input transform (a StyleGAN2 generator)"
        entry["static"] = compute_equivariance_metrics(StaticView(G), args.num, args.batch, seed=args.seed,
                                                       impl=args.impl, **which)
        entry["wall_sec"] = round(time.time() - t0, 1)
        print(json.dumps(entry), file=sys.stderr, flush=True)
        out.append(entry)
    print(json.dumps({"num": args.num, "seed": args.seed, "networks": out}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
