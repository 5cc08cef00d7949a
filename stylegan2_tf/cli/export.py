#!/usr/bin/env python3
"""Export a StyleGAN2 generator for serving: a TensorFlow Serving SavedModel (default) or an ONNX model.

Example:
    python tools/export.py --network net.npz --out models --name ffhq --version 1 --trunc 0.7

writes models/ffhq/1/ (saved_model.pb + variables/, tag 'serve', signatures serving_default, from_seeds, mapping,
synthesis; see docs/serving.md) atomically, and models/models.config (+ models.docker.config) for
`tensorflow_model_server --model_config_file=...`. With --format onnx it writes models/ffhq/1/model.onnx instead
(needs `pip install tf2onnx onnxruntime`) and checks it against TensorFlow with onnxruntime.
"""
from __future__ import annotations

import argparse
import os
import sys



def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--network", required=True, help="network file: project snapshot (.npz) or official .pkl")
    p.add_argument("--out", required=True, help="model base directory (TF Serving's parent of NAME/)")
    p.add_argument("--name", required=True, help="model name (directory OUT/NAME, TF Serving --model_name)")
    p.add_argument("--version", required=True, type=int, help="version number (directory OUT/NAME/VERSION)")
    p.add_argument("--trunc", type=float, default=1.0,
                   help="default truncation psi of the signatures (requests may override it) [default 1.0]")
    p.add_argument("--trunc-cutoff", type=int, default=None,
                   help="truncate only the first N style layers (fixed in the export) [default: all]")
    p.add_argument("--noise-mode", choices=["const", "random", "none"], default="const",
                   help="per-pixel noise in the exported graph: stored constant buffers (deterministic), fresh "
                        "random noise per request, or none [default const]")
    p.add_argument("--format", choices=["savedmodel", "onnx"], default="savedmodel", help="[default savedmodel]")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (--format onnx) [default 17]")
    from stylegan2_tf.cli_utils import add_precision_args
    add_precision_args(p, default="fp32")  # a served model is float32 unless asked
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from stylegan2_tf.export import graph_check, savedmodel
    from stylegan2_tf.cli_utils import load_generator
    try:
        savedmodel.check_name_version(args.name, args.version)
        G = load_generator(args.network, impl="ref")
        prec = dict(precision=args.precision, num_fp16_res=args.num_fp16_res)
        if args.format == "onnx":
            from stylegan2_tf.export import onnx_export
            path, diff = onnx_export.export_onnx(G, args.out, args.name, args.version, args.trunc,
                                                 args.trunc_cutoff, args.noise_mode, opset=args.opset, **prec)
            print(f"{path}  (onnxruntime vs TensorFlow max abs difference {diff:.3g})")
        else:
            path = savedmodel.export_savedmodel(G, args.out, args.name, args.version, args.trunc,
                                                args.trunc_cutoff, args.noise_mode, **prec)
            print(path)
            print(os.path.join(os.path.abspath(args.out), "models.config"))
    except (ValueError, FileNotFoundError, FileExistsError, ImportError, graph_check.NonStandardOpError) as e:
        print(f"export.py: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
