#!/usr/bin/env python3
"""Compute quality metrics of a trained generator.

Example::

    python tools/calc_metrics.py --network runs/00000/network-snapshot-001000.pkl --data ffhq.zip \\
        --metrics fid50k_full,kid50k_full,pr50k3_full,ppl_wend,is50k \\
        --inception classify_image_graph_def.pb --vgg vgg16-397923af.pth --lpips vgg.pth

Feature-network weights are never downloaded; give them with --inception/--vgg/--lpips or the
environment variables STYLEGAN2_TF_INCEPTION / STYLEGAN2_TF_VGG16 / STYLEGAN2_TF_LPIPS.
``--allow-random-weights`` runs with random feature networks (a smoke test: the numbers are NOT
comparable to anything).  ``--num-gen`` / ``--max-real`` shrink the image counts for quick runs.
Results are appended to ``<run-dir>/metric-<name>.jsonl`` (default run dir: the network's folder)
and logged to TensorBoard there.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

BANNER = "!" * 78


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    from stylegan2_tf.metrics import metric_main

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--network", required=True, help="network pickle/snapshot (stylegan2_tf.serialization)")
    p.add_argument("--data", default=None, help="dataset path (stylegan2_tf.data.open_dataset); needed by all "
                                               "metrics except PPL of unconditional networks")
    p.add_argument("--metrics", default="fid50k_full",
                   help="comma-separated list; valid: " + ",".join(metric_main.list_valid_metrics()))
    p.add_argument("--run-dir", default=None, help="where metric-<name>.jsonl goes (default: network's folder)")
    p.add_argument("--inception", default=None, help="Inception weights: classify_image_graph_def.pb or "
                                                    "pt_inception-2015-12-05-*.pth")
    p.add_argument("--vgg", default=None, help="VGG16 weights: torchvision vgg16-397923af.pth")
    p.add_argument("--lpips", default=None, help="LPIPS linear layers: lpips v0.1 vgg.pth")
    p.add_argument("--allow-random-weights", action="store_true",
                   help="use random feature networks when a weight file is missing (smoke tests only)")
    p.add_argument("--num-gen", type=int, default=None, help="override the number of generated images/samples")
    p.add_argument("--max-real", type=int, default=None, help="cap the number of real images")
    p.add_argument("--batch", type=int, default=32, help="images per batch")
    p.add_argument("--cache-dir", default=None, help="dataset statistics cache (default $STYLEGAN2_TF_CACHE or "
                                                    "~/.cache/stylegan2_tf/metrics)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the statistics cache")
    p.add_argument("--truncation-psi", type=float, default=1.0)
    p.add_argument("--noise-mode", default=None, choices=["random", "const", "none"],
                   help="noise mode for generating images (default: the generator's default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress output")
    args = p.parse_args(argv)
    args.metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    bad = [m for m in args.metrics if not metric_main.is_valid_metric(m)]
    if bad:
        p.error(f"unknown metric(s) {', '.join(bad)}; valid: {', '.join(metric_main.list_valid_metrics())}")
    for name in ("num_gen", "max_real", "batch"):
        v = getattr(args, name)
        if v is not None and v < 1:
            p.error(f"--{name.replace('_', '-')} must be positive")
    return args


def run(args: argparse.Namespace, G=None, dataset=None) -> List[dict]:
    """Compute and report the metrics; ``G`` / ``dataset`` may be given directly (tests)."""
    from stylegan2_tf.metrics import metric_main
    from stylegan2_tf.metrics.cache import StatsCache
    from stylegan2_tf.metrics.detectors import FeatureNetworks

    if G is None:
        if not os.path.isfile(args.network):
            raise FileNotFoundError(f"network file not found: {args.network}")
        from stylegan2_tf.serialization import load_network
        G = load_network(args.network).G_ema
    if dataset is None and args.data is not None:
        from stylegan2_tf.data import open_dataset
        dataset = open_dataset(args.data)
    if dataset is not None and (dataset.resolution != G.img_resolution or dataset.num_channels != G.img_channels):
        raise ValueError(f"dataset is {dataset.resolution}px x{dataset.num_channels}ch but the generator makes "
                         f"{G.img_resolution}px x{G.img_channels}ch images")
    networks = FeatureNetworks(inception=args.inception, vgg=args.vgg, lpips=args.lpips,
                               allow_random_weights=args.allow_random_weights, seed=args.seed)
    # Fail early, before any slow work, if a needed weight file is missing.
    for m in args.metrics:
        for kind in metric_main.required_networks(m):
            networks._path(kind)
    G_kwargs = dict(truncation_psi=args.truncation_psi)
    if args.noise_mode is not None:
        G_kwargs["noise_mode"] = args.noise_mode
    opts = metric_main.MetricOptions(G=G, dataset=dataset, networks=networks, G_kwargs=G_kwargs,
                                     batch_size=args.batch, num_gen=args.num_gen, max_real=args.max_real,
                                     cache=None if args.no_cache else StatsCache(args.cache_dir), seed=args.seed,
                                     progress=not args.quiet)
    run_dir = args.run_dir or os.path.dirname(os.path.abspath(args.network))
    import tensorflow as tf
    os.makedirs(run_dir, exist_ok=True)
    writer = tf.summary.create_file_writer(run_dir)
    results = []
    for name in args.metrics:
        result = metric_main.calc_metric(name, opts)
        if result["random_weights"]:
            print(f"{BANNER}\n!! {name}: computed with RANDOM feature-network weights - NOT comparable to "
                  f"published numbers\n{BANNER}", flush=True)
        metric_main.report_metric(result, run_dir=run_dir, snapshot_pkl=os.path.basename(args.network),
                                  summary_writer=writer)
        results.append(result)
    writer.close()
    return results


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if args.allow_random_weights:
        print(f"{BANNER}\n!! --allow-random-weights: missing feature networks get RANDOM weights; the "
              f"results only exercise the code path\n{BANNER}", flush=True)
    try:
        run(args)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
