#!/usr/bin/env python3
"""Latent walk: an animated GIF that linearly interpolates in W between the seeds' latents.

Example:
    python tools/interpolate.py --network net.npz --seeds 1,2,3 --frames 60 --out anim.gif

The path visits the seeds in order (and returns to the first with --loop); --frames is the total number of frames,
spread evenly over the path. w of a seed = mapping(np.random.RandomState(seed).randn(1, z_dim)), truncated by --trunc.
"""
from __future__ import annotations

import argparse
import os
import sys


import numpy as np  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--network", required=True, help="network file: project snapshot (.npz) or official .pkl")
    p.add_argument("--seeds", required=True, help="at least two seeds visited in order, e.g. '1,2,3'")
    p.add_argument("--frames", type=int, default=60, help="total number of frames [default 60]")
    p.add_argument("--fps", type=float, default=24, help="frames per second of the GIF [default 24]")
    p.add_argument("--loop", action="store_true", help="return to the first seed at the end")
    p.add_argument("--trunc", type=float, default=1.0, help="truncation psi [default 1.0]")
    p.add_argument("--noise-mode", choices=["const", "random", "none"], default="const", help="[default const]")
    p.add_argument("--class", dest="class_idx", type=int, default=None, help="class index (conditional networks)")
    p.add_argument("--out", required=True, help="output .gif path")
    p.add_argument("--batch", type=int, default=8, help="frames per forward pass [default 8]")
    p.add_argument("--impl", choices=["auto", "custom", "ref"], default=None, help="op implementation override")
    return p


def path_weights(num_points: int, frames: int, loop: bool) -> list:
    """For each frame: (index a, index b, t) meaning lerp(w[a], w[b], t); frames spread evenly over the path."""
    segments = num_points if loop else num_points - 1
    out = []
    for f in range(frames):
        pos = f * segments / frames if loop else (f * segments / (frames - 1) if frames > 1 else 0.0)
        seg = min(int(pos), segments - 1)
        out.append((seg, (seg + 1) % num_points, pos - seg))
    return out


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from stylegan2_tf.cli_utils import class_label, parse_seeds, save_gif, seed_to_z, to_uint8
    from stylegan2_tf.cli_utils import load_generator
    try:
        seeds = parse_seeds(args.seeds)
        if len(seeds) < 2:
            raise ValueError("--seeds needs at least two seeds to interpolate between")
        if args.frames < 2:
            raise ValueError("--frames must be >= 2")
        if args.fps <= 0:
            raise ValueError("--fps must be positive")
        if not args.out.lower().endswith(".gif"):
            raise ValueError("--out must be a .gif path")
        G = load_generator(args.network, impl=args.impl)
        c = class_label(G.c_dim, args.class_idx)
    except (ValueError, FileNotFoundError) as e:
        print(f"interpolate.py: error: {e}", file=sys.stderr)
        return 2
    z = np.concatenate([seed_to_z(s, G.z_dim) for s in seeds])
    cc = None if c is None else np.repeat(c, len(seeds), axis=0)
    ws = G.mapping(z, cc, truncation_psi=args.trunc).numpy()
    ws_path = np.stack([ws[a] + (ws[b] - ws[a]) * t for a, b, t in path_weights(len(seeds), args.frames, args.loop)])
    frames = []
    for start in range(0, len(ws_path), args.batch):
        img = to_uint8(G.synthesis(ws_path[start:start + args.batch], noise_mode=args.noise_mode).numpy())
        frames.extend(img)
    save_gif(args.out, frames, duration_ms=int(round(1000 / args.fps)))
    print(f"{args.out}: {len(frames)} frames")
    return 0


if __name__ == "__main__":
    sys.exit(main())
