#!/usr/bin/env python3
"""Generate images from a StyleGAN2 or StyleGAN3 network (project snapshot .npz or official NVIDIA .pkl).

Example:
    python tools/generate.py --network net.npz --seeds 0-3,10 --trunc 0.5 --noise-mode const --outdir out --grid

    python tools/generate.py --network net.npz --projected-w out/projected_w.npz --outdir out
    python tools/generate.py --network stylegan3-t.pkl --seeds 0-3 --translate 0.1,0 --rotate 15 --outdir out

Writes OUTDIR/seedNNNN.png for every seed (and OUTDIR/grid.png with --grid), or OUTDIR/projected.png for a latent
saved by tools/project.py (rendered with its optimized noise maps). The latent of seed s is
np.random.RandomState(s).randn(1, z_dim), as in NVIDIA's tools, so a seed gives the same image for the same network.
"""
from __future__ import annotations

import argparse
import os
import sys


import numpy as np  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--network", required=True, help="network file: project snapshot (.npz) or official .pkl")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--seeds", help="seeds, e.g. '0-3,10' (ranges inclusive)")
    src.add_argument("--projected-w", help="render a projected_w.npz written by tools/project.py instead of seeds")
    p.add_argument("--trunc", type=float, default=1.0, help="truncation psi (1 = no truncation) [default 1.0]")
    p.add_argument("--trunc-cutoff", type=int, default=None,
                   help="truncate only the first N style layers [default: all]")
    p.add_argument("--noise-mode", choices=["const", "random", "none"], default="const",
                   help="per-pixel noise: stored constant buffers, fresh random, or none [default const]")
    p.add_argument("--class", dest="class_idx", type=int, default=None, help="class index (conditional networks)")
    p.add_argument("--translate", default="0,0", help="StyleGAN3: translate the images by X,Y image widths")
    p.add_argument("--rotate", type=float, default=0.0, help="StyleGAN3: rotate the images by this many degrees")
    p.add_argument("--outdir", required=True, help="output directory")
    p.add_argument("--grid", action="store_true", help="also write all images as OUTDIR/grid.png")
    p.add_argument("--batch", type=int, default=8, help="images per forward pass [default 8]")
    p.add_argument("--impl", choices=["auto", "custom", "ref"], default=None, help="op implementation override")
    from stylegan2_tf.cli_utils import add_precision_args
    add_precision_args(p)
    return p


def render_projected_w(args) -> int:
    from stylegan2_tf.cli_utils import save_png, to_uint8
    from stylegan2_tf.projector import load_projection, render_projected
    from stylegan2_tf.cli_utils import load_generator
    try:
        w, noise = load_projection(args.projected_w)
        G = load_generator(args.network, impl=args.impl, precision=args.precision,
                           num_fp16_res=args.num_fp16_res)
        if w.shape[-2:] != (G.num_ws, G.w_dim):
            raise ValueError(f"{args.projected_w} holds w of shape {w.shape}, the network needs "
                             f"[1, {G.num_ws}, {G.w_dim}]")
        image = render_projected(G, w, noise)
    except (ValueError, FileNotFoundError) as e:
        print(f"generate.py: error: {e}", file=sys.stderr)
        return 2
    os.makedirs(args.outdir, exist_ok=True)
    path = os.path.join(args.outdir, "projected.png")
    save_png(path, to_uint8(image[None])[0])
    print(path)
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from stylegan2_tf.cli_utils import (class_label, make_grid, parse_seeds, parse_vec2, save_png, seed_to_z,
                                        set_output_transform, to_uint8)
    from stylegan2_tf.cli_utils import load_generator
    if args.projected_w:
        return render_projected_w(args)
    try:
        seeds = parse_seeds(args.seeds)
        if args.batch < 1:
            raise ValueError("--batch must be >= 1")
        G = load_generator(args.network, impl=args.impl, precision=args.precision,
                           num_fp16_res=args.num_fp16_res)
        c = class_label(G.c_dim, args.class_idx)
        translate = parse_vec2(args.translate)
        if translate != (0.0, 0.0) or args.rotate != 0:
            set_output_transform(G, translate, args.rotate)
    except (ValueError, FileNotFoundError) as e:
        print(f"generate.py: error: {e}", file=sys.stderr)
        return 2
    os.makedirs(args.outdir, exist_ok=True)
    images = []
    for start in range(0, len(seeds), args.batch):
        chunk = seeds[start:start + args.batch]
        z = np.concatenate([seed_to_z(s, G.z_dim) for s in chunk])
        cc = None if c is None else np.repeat(c, len(chunk), axis=0)
        img = to_uint8(G(z, cc, truncation_psi=args.trunc, truncation_cutoff=args.trunc_cutoff,
                         noise_mode=args.noise_mode).numpy())
        for s, im in zip(chunk, img):
            path = os.path.join(args.outdir, f"seed{s:04d}.png")
            save_png(path, im)
            print(path)
        images.append(img)
    if args.grid:
        path = os.path.join(args.outdir, "grid.png")
        save_png(path, make_grid(np.concatenate(images)))
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
