#!/usr/bin/env python3
"""Project real (or generated) images into the latent space of a StyleGAN2 generator.

Examples:
    python tools/project.py --network net.npz --target photo.png --outdir out [--steps 1000] [--seed 303] [--save-video]
    python tools/project.py --network net.npz --seeds 0-3 --outdir out     # project generated images (paper's test)

Writes target.png, proj.png and projected_w.npz (w [1, num_ws, w_dim] plus the optimized noise maps; render it again
with `tools/generate.py --network net.npz --projected-w out/projected_w.npz`), and proj.gif (target | projection
during the optimization) with --save-video. The loss is LPIPS with VGG16 weights from --vgg (or $STYLEGAN2_TF_VGG16);
without weights it is pixel MSE.
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
    src.add_argument("--target", help="target image file; center-cropped and resized to the network's resolution")
    src.add_argument("--seeds", help="project images generated from these seeds instead, e.g. '0-3'")
    p.add_argument("--outdir", required=True, help="output directory (one subdirectory per seed with --seeds)")
    p.add_argument("--steps", type=int, default=1000, help="optimization steps [default 1000]")
    p.add_argument("--seed", type=int, default=303, help="random seed of the projection [default 303]")
    p.add_argument("--w-plus", action="store_true", help="optimize one w per layer (W+) instead of one shared w")
    p.add_argument("--save-video", action="store_true", help="write proj.gif: target | projection while optimizing")
    p.add_argument("--video-every", type=int, default=10, help="steps between frames of proj.gif [default 10]")
    p.add_argument("--vgg", default=None, help="LPIPS VGG16 weight file (default $STYLEGAN2_TF_VGG16; none: pixel MSE)")
    p.add_argument("--w-avg-samples", type=int, default=10000, help="latents used to estimate the mean of W")
    p.add_argument("--impl", choices=["auto", "custom", "ref"], default=None, help="op implementation override")
    from stylegan2_tf.cli_utils import add_precision_args
    add_precision_args(p)
    return p


def project_one(G, target, outdir, args, distance, distance_name) -> dict:
    from stylegan2_tf import projector
    from stylegan2_tf.cli_utils import save_gif, save_png, to_uint8
    os.makedirs(outdir, exist_ok=True)
    cfg = projector.ProjectorConfig(steps=args.steps, seed=args.seed, w_plus=args.w_plus,
                                    w_avg_samples=args.w_avg_samples)
    result = projector.project(G, target, cfg, distance=distance, record_w=args.save_video, verbose=True)
    save_png(os.path.join(outdir, "target.png"), to_uint8(target[None])[0])
    save_png(os.path.join(outdir, "proj.png"), to_uint8(result.image[None])[0])
    projector.save_projection(os.path.join(outdir, "projected_w.npz"), result)
    if args.save_video:
        frames = []
        for step in sorted(set(range(0, cfg.steps, max(1, args.video_every))) | {cfg.steps - 1}):
            img = projector.render_projected(G, result.w_history[step], result.noise)
            frames.append(to_uint8(np.concatenate([target, img], axis=1)))
        save_gif(os.path.join(outdir, "proj.gif"), frames, duration_ms=50)
    stats = {"final_loss": result.losses[-1], f"final_{distance_name}": result.distances[-1],
             "psnr_db": projector.psnr(result.image, target)}
    print(" ".join(f"{k}={v:.6g}" for k, v in stats.items()), flush=True)
    return stats


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from stylegan2_tf import projector
    from stylegan2_tf.cli_utils import parse_seeds, seed_to_z
    from stylegan2_tf.cli_utils import load_generator
    try:
        if args.steps < 1:
            raise ValueError("--steps must be >= 1")
        G = load_generator(args.network, impl=args.impl, precision=args.precision,
                           num_fp16_res=args.num_fp16_res)
        if G.c_dim:
            raise ValueError("projection of conditional networks is not supported")
        vgg = args.vgg or os.environ.get("STYLEGAN2_TF_VGG16")
        if vgg:
            from stylegan2_tf.metrics.vgg16 import load_lpips
            distance, distance_name = projector.lpips_distance(load_lpips(vgg)), "lpips"
        else:
            distance, distance_name = projector.mse_distance, "mse"
            print("note: no VGG16 weights (--vgg); projecting with pixel MSE instead of LPIPS", flush=True)
        if args.target:
            target = projector.load_target_image(args.target, G.img_resolution, G.img_channels)
            project_one(G, target, args.outdir, args, distance, distance_name)
        else:
            for seed in parse_seeds(args.seeds):
                target = G(seed_to_z(seed, G.z_dim), noise_mode="const").numpy()[0]
                print(f"projecting seed {seed}", flush=True)
                project_one(G, target, os.path.join(args.outdir, f"seed{seed:04d}"), args, distance, distance_name)
    except (ValueError, FileNotFoundError) as exc:
        print(f"project.py: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
