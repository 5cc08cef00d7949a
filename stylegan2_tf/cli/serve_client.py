#!/usr/bin/env python3
"""Request images for seeds from a generator served by TensorFlow Serving and write them as PNGs.

Examples:
    python tools/serve_client.py --url http://localhost:8501 --model ffhq --seeds 0-7 --outdir out
    python tools/serve_client.py --grpc localhost:8500 --model ffhq --seeds 0-7 --trunc 0.5 --outdir out

Uses the `from_seeds` signature of a model exported by tools/export.py, so OUTDIR/seedNNNN.png equals what
tools/generate.py writes for the same network, seeds and truncation.
"""
from __future__ import annotations

import argparse
import os
import sys



def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", help="REST endpoint, e.g. http://localhost:8501")
    where.add_argument("--grpc", help="gRPC endpoint HOST:PORT, e.g. localhost:8500")
    p.add_argument("--model", required=True, help="model name (TF Serving --model_name)")
    p.add_argument("--version", type=int, default=None, help="model version [default: the server's latest]")
    p.add_argument("--seeds", required=True, help="seeds, e.g. '0-7,42' (ranges inclusive)")
    p.add_argument("--trunc", type=float, default=None, help="truncation psi [default: the export's --trunc]")
    p.add_argument("--class", dest="class_idx", type=int, default=None,
                   help="class index for conditional models (needs --num-classes)")
    p.add_argument("--num-classes", type=int, default=None, help="c_dim of a conditional model")
    p.add_argument("--signature", default="from_seeds", help="signature name [default from_seeds]")
    p.add_argument("--batch", type=int, default=8, help="seeds per request [default 8]")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per request [default 120]")
    p.add_argument("--outdir", required=True, help="output directory")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    from stylegan2_tf.cli_utils import class_label, parse_seeds, save_png
    from stylegan2_tf.serving_client import ServingError, images_from_seeds
    try:
        seeds = parse_seeds(args.seeds)
        if args.batch < 1:
            raise ValueError("--batch must be >= 1")
        c = None
        if args.class_idx is not None or args.num_classes is not None:
            if args.num_classes is None or args.class_idx is None:
                raise ValueError("conditional models need both --class and --num-classes")
            c = class_label(args.num_classes, args.class_idx)
        os.makedirs(args.outdir, exist_ok=True)
        for start in range(0, len(seeds), args.batch):
            chunk = seeds[start:start + args.batch]
            labels = None if c is None else np.repeat(c, len(chunk), axis=0)
            images = images_from_seeds(chunk, args.model, url=args.url, grpc_target=args.grpc,
                                       truncation_psi=args.trunc, labels=labels, signature_name=args.signature,
                                       version=args.version, timeout=args.timeout)
            if len(images) != len(chunk):
                raise ServingError(f"asked for {len(chunk)} images, got {len(images)}")
            for s, im in zip(chunk, images):
                path = os.path.join(args.outdir, f"seed{s:04d}.png")
                save_png(path, im)
                print(path)
    except (ValueError, ImportError, ServingError) as e:
        print(f"serve_client.py: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
