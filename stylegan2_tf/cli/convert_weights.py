#!/usr/bin/env python3
"""Convert feature-network weights between the accepted formats (no PyTorch needed).

    python tools/convert_weights.py --inception-pb classify_image_graph_def.pb --out pt_inception-2015-12-05.pth

writes the Inception constants of the frozen 2015-12-05 TensorFlow graph as a PyTorch state dict with the
pytorch-fid key names (``Conv2d_1a_3x3.conv.weight``, ``Mixed_5b.branch1x1.bn.running_var``, ``fc.weight``, ...),
loadable by ``torch.load`` / pytorch-fid and by ``--inception``.  Not needed for computing metrics: both
formats are read directly.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--inception-pb", required=True, help="classify_image_graph_def.pb")
    p.add_argument("--out", required=True, help="output .pth")
    p.add_argument("--legacy", action="store_true", help="write the pre-PyTorch-1.6 stream format instead of zip")
    args = p.parse_args(argv)
    import numpy as np
    from stylegan2_tf.metrics import inception as inc
    from stylegan2_tf.metrics import weights as wio
    try:
        state, scale_after, (shift, scale) = inc.inception_state_from_graphdef(
            wio.load_graphdef(args.inception_pb), source=args.inception_pb)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if abs(shift - 128.0) > 1e-6 or abs(scale - 1 / 128) > 1e-9:
        print(f"error: the graph normalizes inputs with ({shift}, {scale}), which a state dict cannot express",
              file=sys.stderr)
        return 2
    if not scale_after:
        # pytorch-fid always multiplies by bn.weight; the graph ignores gamma: store ones.
        for k in state:
            if k.endswith(".bn.weight"):
                state[k] = np.ones_like(state[k])
    wio.write_pth(args.out, state, legacy=args.legacy)
    print(f"wrote {len(state)} tensors to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
