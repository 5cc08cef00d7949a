#!/usr/bin/env python3
"""Style-mixing grid: column seeds' styles replace the row seeds' styles on the chosen layers.

Example:
    python tools/style_mixing.py --network net.npz --rows 85,100,75 --cols 55,821,1789 --styles 0-6 --trunc 1 --outdir out

Writes OUTDIR/grid.png (top row: column images; left column: row images; cell (r, c): row seed's w with the layers
in --styles taken from column seed's w) and every individual image as OUTDIR/{row}-{col}.png (mixed) and
OUTDIR/{seed}-{seed}.png (unmixed row/column images).
"""
from __future__ import annotations

import argparse
import os
import sys


import numpy as np  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--network", required=True, help="network file: project snapshot (.npz) or official .pkl")
    p.add_argument("--rows", required=True, help="row seeds, e.g. '85,100,75'")
    p.add_argument("--cols", required=True, help="column seeds, e.g. '55,821,1789'")
    p.add_argument("--styles", default="0-6", help="style layers taken from the column seeds [default 0-6]")
    p.add_argument("--trunc", type=float, default=1.0, help="truncation psi [default 1.0]")
    p.add_argument("--trunc-cutoff", type=int, default=None, help="truncate only the first N layers")
    p.add_argument("--noise-mode", choices=["const", "random", "none"], default="const", help="[default const]")
    p.add_argument("--class", dest="class_idx", type=int, default=None, help="class index (conditional networks)")
    p.add_argument("--outdir", required=True, help="output directory")
    p.add_argument("--impl", choices=["auto", "custom", "ref"], default=None, help="op implementation override")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from stylegan2_tf.cli_utils import (check_styles, class_label, parse_int_list, parse_seeds, save_png, seed_to_z,
                                        to_uint8)
    from stylegan2_tf.cli_utils import load_generator
    try:
        rows, cols = parse_seeds(args.rows), parse_seeds(args.cols)
        G = load_generator(args.network, impl=args.impl)
        styles = check_styles(parse_int_list(args.styles, "style"), G.num_ws)
        c = class_label(G.c_dim, args.class_idx)
    except (ValueError, FileNotFoundError) as e:
        print(f"style_mixing.py: error: {e}", file=sys.stderr)
        return 2
    os.makedirs(args.outdir, exist_ok=True)
    seeds = sorted(set(rows + cols))
    z = np.concatenate([seed_to_z(s, G.z_dim) for s in seeds])
    cc = None if c is None else np.repeat(c, len(seeds), axis=0)
    ws = G.mapping(z, cc, truncation_psi=args.trunc, truncation_cutoff=args.trunc_cutoff).numpy()
    w_of = dict(zip(seeds, ws))

    def render(w_batch):
        return to_uint8(G.synthesis(np.stack(w_batch), noise_mode=args.noise_mode).numpy())

    images = dict(zip(((s, s) for s in seeds), render([w_of[s] for s in seeds])))
    pairs = [(r, q) for r in rows for q in cols]
    mixed = []
    for r, q in pairs:
        w = w_of[r].copy()
        w[styles] = w_of[q][styles]
        mixed.append(w)
    for pair, img in zip(pairs, render(mixed)):
        images[pair] = img
    for (r, q), img in images.items():
        save_png(os.path.join(args.outdir, f"{r}-{q}.png"), img)
    h, w_, ch = images[(seeds[0], seeds[0])].shape
    grid = np.zeros([(len(rows) + 1) * h, (len(cols) + 1) * w_, ch], np.uint8)
    for j, q in enumerate(cols):
        grid[0:h, (j + 1) * w_:(j + 2) * w_] = images[(q, q)]
    for i, r in enumerate(rows):
        grid[(i + 1) * h:(i + 2) * h, 0:w_] = images[(r, r)]
        for j, q in enumerate(cols):
            grid[(i + 1) * h:(i + 2) * h, (j + 1) * w_:(j + 2) * w_] = images[(r, q)]
    path = os.path.join(args.outdir, "grid.png")
    save_png(path, grid)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
