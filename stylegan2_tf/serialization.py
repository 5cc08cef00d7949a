"""Network snapshots: one `.npz` file (no pickle) holding G, D and G_ema with their constructor configs.

Layout of a snapshot file (a zip written by numpy.savez, readable with `np.load(path, allow_pickle=False)`):
  `__header__`        uint8 array: UTF-8 JSON {"format": "stylegan2_tf.snapshot", "version": 1,
                      "networks": {"G": {"class": "Generator", "config": {...}}, "D": ..., "G_ema": ...},
                      "metadata": {...}}
  `<net>/<variable>`  float32 arrays, e.g. `G_ema/synthesis/8x8/Conv0_up/weight`, `D/4x4/Dense0/bias`.
Variable names are the official StyleGAN2 scopes (see docs/networks.md); layouts are this project's (NHWC const
[4, 4, C], noise buffers [H, W]). Files are written atomically (temporary file, then os.replace).

`load_network` is the one loader of network files: it picks the format by the file's first bytes among the registered
ones (snapshots here; the package `stylegan2_tf.official` registers the official pickles — it imports this module,
never the reverse, so imports run one way).
"""
from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Tuple

import numpy as np

from stylegan2_tf.atomic_io import atomic_write as _atomic_write
from stylegan2_tf.networks.weights_util import copy_weights, update_ema  # noqa: F401  (update_ema: public here)

SNAPSHOT_FORMAT = "stylegan2_tf.snapshot"
SNAPSHOT_VERSION = 1
NETWORK_KEYS = ("G", "D", "G_ema")
HEADER_KEY = "__header__"


def _classes() -> Dict[str, type]:
    from stylegan2_tf.networks.stylegan2.discriminator import Discriminator
    from stylegan2_tf.networks.stylegan2.generator import Generator
    from stylegan2_tf.networks.growing.discriminator import GrowingDiscriminator
    from stylegan2_tf.networks.stylegan3.generator import StyleGAN3Generator
    return {"Generator": Generator, "Discriminator": Discriminator, "GrowingDiscriminator": GrowingDiscriminator,
            "StyleGAN3Generator": StyleGAN3Generator}


@dataclass
class NetworkSnapshot:
    """What `load_network` returns: the three networks (None where the file has none) and free-form metadata."""
    G: Optional[object] = None
    D: Optional[object] = None
    G_ema: Optional[object] = None
    metadata: dict = field(default_factory=dict)


def network_values(net) -> Dict[str, np.ndarray]:
    """Stable name -> numpy value of every variable of a network (Generator, Discriminator, StyleGAN3Generator...)."""
    return {name: np.asarray(var.numpy()) for name, var in net.named_variables().items()}


def assign_values(net, values: Mapping[str, np.ndarray], what: str = "network") -> None:
    """Assigns `values` (stable name -> array) to all variables of `net`; the name sets must match exactly.

    Raises ValueError naming missing, unexpected and wrongly shaped variables (nothing is assigned then).
    """
    variables = net.named_variables()
    missing = sorted(set(variables) - set(values))
    unexpected = sorted(set(values) - set(variables))
    bad_shape = [f"{k}: expected {tuple(variables[k].shape)}, got {tuple(np.shape(values[k]))}"
                 for k in sorted(set(variables) & set(values))
                 if tuple(variables[k].shape) != tuple(np.shape(values[k]))]
    problems = []
    if missing:
        problems.append(f"missing variables {missing[:10]}{' ...' if len(missing) > 10 else ''}")
    if unexpected:
        problems.append(f"unexpected variables {unexpected[:10]}{' ...' if len(unexpected) > 10 else ''}")
    if bad_shape:
        problems.append(f"shape mismatch {bad_shape[:10]}{' ...' if len(bad_shape) > 10 else ''}")
    if problems:
        raise ValueError(f"{what} does not match its configuration: " + "; ".join(problems))
    for k, var in variables.items():
        value = np.asarray(values[k])
        if not np.issubdtype(value.dtype, np.floating):
            raise ValueError(f"{what}: variable {k} must be floating point, got dtype {value.dtype}")
        var.assign(value.astype(np.float32))


def network_class_name(net) -> str:
    for name, cls in _classes().items():
        if isinstance(net, cls):
            return name
    raise ValueError(f"cannot save an object of type {type(net).__name__}; expected one of {sorted(_classes())}")


# Networks without reduced-precision blocks (they always compute in float32).
_FLOAT32_ONLY = ("GrowingDiscriminator",)


def precision_overrides(class_name: str, precision: Optional[str] = None, num_fp16_res: Optional[int] = None) -> dict:
    """The precision overrides to pass to build_network for `class_name`: both for Generator/Discriminator; none for
    a float32-only network (a clear error if it is asked for a reduced precision)."""
    if class_name in _FLOAT32_ONLY:
        if precision not in (None, "fp32") or num_fp16_res:
            raise ValueError(f"{class_name} computes in float32 only; precision={precision!r}, "
                             f"num_fp16_res={num_fp16_res} are not available for it")
        return {}
    return {"precision": precision, "num_fp16_res": num_fp16_res}


def build_network(class_name: str, config: dict, **overrides):
    """Constructs a network of one of `_classes()` (Generator, Discriminator, GrowingDiscriminator,
    StyleGAN3Generator) from its `get_config()` dict (plus overrides such as impl=...)."""
    classes = _classes()
    if class_name not in classes:
        raise ValueError(f"unknown network class {class_name!r}; expected one of {sorted(classes)}")
    config = dict(config)
    config.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return classes[class_name](**config)
    except TypeError as e:
        raise ValueError(f"invalid {class_name} configuration: {e}") from None


def clone_network(net, config_changes: Optional[dict] = None, **overrides):
    """A new network with the same config (plus overrides such as impl=..., which skip None values, and
    config_changes, which may set None, e.g. conv_clamp=None) and a copy of every variable value."""
    clone = build_network(network_class_name(net), dict(net.get_config(), **(config_changes or {})), **overrides)
    copy_weights(net, clone)
    return clone


def save_network(path: str, G=None, D=None, G_ema=None, metadata: Optional[dict] = None) -> str:
    """Writes a snapshot of the given networks (at least one) atomically to `path`; returns the path.

    metadata: JSON-serializable dict (e.g. {"kimg": 1200, "dataset": "..."}).
    """
    nets = {k: v for k, v in (("G", G), ("D", D), ("G_ema", G_ema)) if v is not None}
    if not nets:
        raise ValueError("save_network needs at least one of G, D, G_ema")
    header = {"format": SNAPSHOT_FORMAT, "version": SNAPSHOT_VERSION, "networks": {}, "metadata": metadata or {}}
    arrays = {}
    for key, net in nets.items():
        config = dict(net.get_config())
        # Runtime choices are not part of a network's identity: store the portable defaults, and let the loader
        # choose (load_network(..., impl=..., fused_modconv=...)).
        config["impl"] = "auto"
        if "fused_modconv" in config:
            config["fused_modconv"] = "auto"
        header["networks"][key] = {"class": network_class_name(net), "config": config}
        for name, value in network_values(net).items():
            arrays[f"{key}/{name}"] = value
    try:
        header_bytes = json.dumps(header, sort_keys=True).encode("utf-8")
    except TypeError as e:
        raise ValueError(f"snapshot metadata/config must be JSON-serializable: {e}") from None
    arrays[HEADER_KEY] = np.frombuffer(header_bytes, dtype=np.uint8)
    _atomic_write(path, lambda f: np.savez(f, **arrays))
    return path


def load_snapshot(path: str, impl: Optional[str] = None, fused_modconv=None, precision: Optional[str] = None,
                  num_fp16_res: Optional[int] = None) -> NetworkSnapshot:
    """Reads a snapshot written by `save_network`. impl/fused_modconv/precision/num_fp16_res override the stored
    configs if given (precision and num_fp16_res apply to every network of the file)."""
    try:
        data = np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, ValueError, OSError) as e:
        raise ValueError(f"{path} is not a readable stylegan2_tf snapshot: {e}") from None
    with data:
        if HEADER_KEY not in data.files:
            raise ValueError(f"{path} is a .npz file but not a stylegan2_tf snapshot (no {HEADER_KEY} entry)")
        try:
            header = json.loads(bytes(data[HEADER_KEY]).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"{path}: corrupt snapshot header: {e}") from None
        if header.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(f"{path}: unknown snapshot format {header.get('format')!r}")
        if header.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"{path}: unsupported snapshot version {header.get('version')!r} "
                             f"(this code reads version {SNAPSHOT_VERSION})")
        networks = header.get("networks") or {}
        unknown = sorted(set(networks) - set(NETWORK_KEYS))
        if unknown or not networks:
            raise ValueError(f"{path}: snapshot must hold some of {NETWORK_KEYS}, got {sorted(networks)}")
        stray = sorted({f.split("/", 1)[0] for f in data.files if f != HEADER_KEY} - set(networks))
        if stray:
            raise ValueError(f"{path}: variables for networks {stray} that the header does not describe")
        out = NetworkSnapshot(metadata=header.get("metadata") or {})
        for key, entry in networks.items():
            overrides = {"impl": impl, **precision_overrides(entry.get("class"), precision, num_fp16_res)}
            if entry.get("class") == "Generator":
                overrides["fused_modconv"] = fused_modconv
            net = build_network(entry.get("class"), entry.get("config") or {}, **overrides)
            prefix = key + "/"
            values = {f[len(prefix):]: data[f] for f in data.files if f.startswith(prefix)}
            assign_values(net, values, what=f"{path}: {key}")
            setattr(out, key, net)
    return out


# -- one loader for every network file format, chosen by the file's content ------------------------------------------
ZIP_MAGIC = b"PK\x03\x04"      # numpy.savez writes a zip archive
PICKLE_MAGIC = b"\x80"          # pickle protocol >= 2 (TF1 and PyTorch official pickles alike)


@dataclass(frozen=True)
class NetworkFormat:
    """A format `load_network` reads: files starting with `magic` go to
    `load(path, impl=..., fused_modconv=..., precision=..., num_fp16_res=...)`."""
    description: str
    magic: bytes
    load: Callable[..., NetworkSnapshot]


_FORMATS: List[NetworkFormat] = []


def register_format(description: str, magic: bytes, load: Callable[..., NetworkSnapshot]) -> None:
    """Adds a format to `load_network` (modules above this one register theirs, e.g. `official`, so this
    module never imports them). Registering the same magic again replaces the entry."""
    if not magic:
        raise ValueError("a network format needs a non-empty magic prefix")
    _FORMATS[:] = [f for f in _FORMATS if f.magic != magic]
    _FORMATS.append(NetworkFormat(description, bytes(magic), load))


def network_formats() -> Tuple[NetworkFormat, ...]:
    return tuple(_FORMATS)


def load_network(path: str, impl: Optional[str] = None, fused_modconv=None, precision: Optional[str] = None,
                 num_fp16_res: Optional[int] = None) -> NetworkSnapshot:
    """Loads a network file of any registered format, recognised by its first bytes (not its name): a stylegan2_tf
    snapshot (zip, usually .npz) or an official NVIDIA StyleGAN2 / StyleGAN2-ADA / StyleGAN (v1) TensorFlow pickle or a
    stylegan2-ada-pytorch or StyleGAN3 training pickle (usually .pkl).

    Returns a NetworkSnapshot with `.G`, `.D`, `.G_ema` (Keras models; None where absent) and `.metadata`.
    Official pickles are read with a restricted unpickler (no code from the file runs). impl/fused_modconv override
    the runtime choices of the networks built; precision ('fp32', 'bf16', 'fp16') and num_fp16_res override the
    precision the file's networks were saved (or, for StyleGAN2-ADA pickles, built) with.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"network file not found: {path}")
    if os.path.isdir(path):
        raise ValueError(f"{path} is a directory; pass a network file (a .npz snapshot or an official .pkl)")
    with open(path, "rb") as f:
        head = f.read(max((len(fmt.magic) for fmt in _FORMATS), default=0))
    for fmt in _FORMATS:
        if head.startswith(fmt.magic):
            return fmt.load(path, impl=impl, fused_modconv=fused_modconv, precision=precision,
                            num_fp16_res=num_fp16_res)
    accepted = "; ".join(f"{fmt.description} (starts with {fmt.magic!r})" for fmt in _FORMATS)
    raise ValueError(f"{path} is not a network file this package reads (it starts with {head!r}); "
                     f"accepted formats: {accepted}")


register_format("stylegan2_tf snapshot (.npz, a zip archive)", ZIP_MAGIC, load_snapshot)
