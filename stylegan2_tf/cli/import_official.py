#!/usr/bin/env python3
"""Convert an official NVIDIA pickle into a project snapshot: StyleGAN2 / StyleGAN2-ADA / StyleGAN (v1) TensorFlow
pickles, stylegan2-ada-pytorch and StyleGAN3 training pickles.

Example:
    python tools/import_official.py --pkl stylegan2-ffhq-config-f.pkl --out imported/

Writes OUT/<pkl name>.npz (or OUT itself when it ends in .npz) holding G, D and G_ema (= Gs for TF1 pickles), which
`stylegan2_tf.load_network`, the generation tools and training's --resume accept. A stylegan2-ada-pytorch (or
StyleGAN3) pickle's training_set_kwargs and augment_pipe (its probability p and kwargs) go into the snapshot's
metadata. The pickle is read with a restricted unpickler: no code from it is executed, and anything but network
states, tensors and arrays is refused.
"""
from __future__ import annotations

import argparse
import os
import sys



def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pkl", required=True, help="official network pickle (TF1: tuple G, D, Gs or a lone Gs; "
                                               "stylegan2-ada-pytorch / StyleGAN3: dict with G, D, G_ema)")
    p.add_argument("--out", required=True, help="output directory (or a .npz file path)")
    return p


def output_path(pkl: str, out: str) -> str:
    if out.endswith(".npz"):
        return out
    stem = os.path.splitext(os.path.basename(pkl))[0]
    return os.path.join(out, stem + ".npz")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from stylegan2_tf.official import import_official_pickle
    from stylegan2_tf.serialization import save_network
    try:
        net = import_official_pickle(args.pkl)
    except (ValueError, FileNotFoundError) as e:
        print(f"import_official.py: error: {e}", file=sys.stderr)
        return 2
    path = output_path(args.pkl, args.out)
    save_network(path, G=net.G, D=net.D, G_ema=net.G_ema, metadata=net.metadata)
    G = net.G_ema
    print(f"{path}: {G.img_resolution}x{G.img_resolution}x{G.img_channels}, z_dim {G.z_dim}, c_dim {G.c_dim}, "
          f"networks {[k for k in ('G', 'D', 'G_ema') if getattr(net, k) is not None]}")
    pipe = net.metadata.get("augment_pipe")
    if pipe is not None:
        print(f"augment_pipe p={pipe['p']:.6g} and its kwargs kept in the snapshot's metadata (augment_pipe)")
    trunc = net.metadata.get("official_truncation") or {}
    if None not in (trunc.get("truncation_psi"), trunc.get("truncation_cutoff")):  # G_style applied it itself
        print(f"note: the official generator applied truncation psi {trunc['truncation_psi']} to the first "
              f"{trunc['truncation_cutoff']} layers by default; pass --trunc {trunc['truncation_psi']} "
              f"--trunc-cutoff {trunc['truncation_cutoff']} to the tools to reproduce it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
