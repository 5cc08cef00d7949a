"""Helpers shared by the command-line tools: number-range parsing, seed -> z, class labels, loading a generator.

The image helpers (to_uint8, to_pil, make_grid, save_png, save_gif) are `stylegan2_tf.data.images`, re-exported here
for the tools.
"""
from __future__ import annotations

import re
from typing import List, Sequence

import numpy as np

from stylegan2_tf.atomic_io import atomic_write_bytes  # noqa: F401  (used by the tools)
from stylegan2_tf.data.images import make_grid, save_gif, save_png, to_pil, to_uint8  # noqa: F401  (re-exported)

_RANGE = re.compile(r"^\s*(-?\d+)\s*-\s*(-?\d+)\s*$")


def parse_int_list(text: str, what: str = "value") -> List[int]:
    """'0-3,10' -> [0, 1, 2, 3, 10] (ranges inclusive, order kept, duplicates kept). ValueError on bad text."""
    if text is None or not str(text).strip():
        raise ValueError(f"empty {what} list")
    out: List[int] = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            raise ValueError(f"empty item in {what} list {text!r}")
        m = _RANGE.match(part)
        if m and not part.startswith("-"):
            lo, hi = int(m.group(1)), int(m.group(2))
            if hi < lo:
                raise ValueError(f"descending range {part!r} in {what} list {text!r}")
            out.extend(range(lo, hi + 1))
            continue
        try:
            out.append(int(part))
        except ValueError:
            raise ValueError(f"cannot parse {part!r} in {what} list {text!r} (use e.g. 0-3,10)") from None
    return out


def parse_seeds(text: str) -> List[int]:
    """Seeds must be in [0, 2**32) (numpy RandomState's range)."""
    seeds = parse_int_list(text, "seed")
    bad = [s for s in seeds if not 0 <= s < 2 ** 32]
    if bad:
        raise ValueError(f"seeds must be in [0, 2**32), got {bad[:5]}")
    return seeds


def seed_to_z(seed: int, z_dim: int) -> np.ndarray:
    """The official tools' latent for a seed: np.random.RandomState(seed).randn(1, z_dim) -> [1, z_dim] float32."""
    return np.random.RandomState(seed).randn(1, z_dim).astype(np.float32)


def class_label(c_dim: int, class_idx) -> np.ndarray | None:
    """One-hot [1, c_dim] label for conditional networks (None for unconditional ones)."""
    if c_dim == 0:
        if class_idx is not None:
            raise ValueError("--class given, but the network is unconditional")
        return None
    if class_idx is None:
        raise ValueError(f"the network is conditional ({c_dim} classes): pass --class")
    if not 0 <= int(class_idx) < c_dim:
        raise ValueError(f"--class must be in [0, {c_dim}), got {class_idx}")
    c = np.zeros([1, c_dim], np.float32)
    c[0, int(class_idx)] = 1
    return c


def check_styles(styles: Sequence[int], num_ws: int) -> List[int]:
    bad = [s for s in styles if not 0 <= s < num_ws]
    if bad:
        raise ValueError(f"style layers must be in [0, {num_ws}) for this network, got {bad}")
    return list(styles)


def add_precision_args(parser, default=None) -> None:
    """--precision and --num-fp16-res: the inference precision of the loaded generator.

    default: the --precision default; None keeps the network's own (a StyleGAN2-ADA pickle computes its
    num_fp16_res highest resolutions in float16, a snapshot as it was trained)."""
    keep = "the network's own"
    parser.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default=default,
                        help="compute type of the --num-fp16-res highest-resolution blocks (weights, mapping and the "
                             f"image stay float32) [default: {default or keep}]")
    parser.add_argument("--num-fp16-res", type=int, default=None,
                        help=f"number of highest resolutions computed in --precision [default: {keep}; a network "
                             "trained in float32 has none, so bf16/fp16 need this]")


def load_generator(path: str, impl=None, precision=None, num_fp16_res=None):
    """The generator a tool should use from a network file: G_ema when present, else G (clear error if neither).
    precision / num_fp16_res (None: the file's) choose its inference precision."""
    from stylegan2_tf.serialization import load_network
    net = load_network(path, impl=impl, precision=precision, num_fp16_res=num_fp16_res)
    G = net.G_ema if net.G_ema is not None else net.G
    if G is None:
        raise ValueError(f"{path} holds no generator")
    return G


def parse_vec2(text: str, what: str = "--translate") -> tuple:
    """'0.1,-0.2' -> (0.1, -0.2)."""
    try:
        x, y = (float(v) for v in str(text).split(","))
    except ValueError:
        raise ValueError(f"{what} must be two comma-separated numbers like 0.1,-0.2, got {text!r}") from None
    return x, y


def make_transform(translate=(0.0, 0.0), angle_deg: float = 0.0) -> np.ndarray:
    """The 3x3 image transform of NVlabs/stylegan3's gen_images.py: rotation by angle_deg, then translation by
    `translate` (image widths): [[cos, sin, tx], [-sin, cos, ty], [0, 0, 1]]."""
    s, c = np.sin(np.radians(angle_deg)), np.cos(np.radians(angle_deg))
    return np.array([[c, s, translate[0]], [-s, c, translate[1]], [0.0, 0.0, 1.0]])


def set_output_transform(G, translate=(0.0, 0.0), angle_deg: float = 0.0) -> None:
    """Translate/rotate the images of a StyleGAN3 generator: its input transform becomes the inverse of
    make_transform (upstream's convention). ValueError for generators without a Fourier-feature input."""
    transform = getattr(getattr(getattr(G, "synthesis", None), "input", None), "transform", None)
    if transform is None:
        raise ValueError("--translate/--rotate need a generator with a Fourier-feature input (StyleGAN3); this one "
                         "has none")
    transform.assign(np.linalg.inv(make_transform(translate, angle_deg)).astype(np.float32))
