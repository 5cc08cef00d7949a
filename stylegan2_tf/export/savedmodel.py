"""Export of a generator as a TensorFlow Serving SavedModel (tag `serve`, versioned directory layout).

Signatures (B = batch, free):
  serving_default  z float32 [B, z_dim], truncation_psi float32 [] (default: the export's psi),
                   labels float32 [B, c_dim] (conditional models only)       -> images uint8 [B, H, W, C]
  from_seeds       seeds int64 [B] (0 .. 2**32-1), truncation_psi, labels   -> images uint8 [B, H, W, C]
                   (z = np.random.RandomState(seed).randn(z_dim), reproduced in the graph; see mt19937.py)
  mapping          z, truncation_psi, labels                                -> ws float32 [B, num_ws, w_dim]
  synthesis        ws float32 [B, num_ws, w_dim]                            -> images uint8 [B, H, W, C]
uint8 images are `clip(x * 127.5 + 128, 0, 255)` truncated to uint8, as tools/generate.py writes PNGs.

The generator is rebuilt with the pure-TensorFlow reference ops (impl='ref') and the non-fused modulated conv (runs
on CPU and GPU servers alike), in float32 unless another precision is asked for, its weights copied, and the saved
graph is checked to contain only standard ops.
"""
from __future__ import annotations

import contextlib
import os
import re
from typing import Iterator, List, Optional

import numpy as np
import tensorflow as tf

from stylegan2_tf.export import graph_check, mt19937
from stylegan2_tf.atomic_io import atomic_directory, atomic_write_text

NOISE_MODES = ("const", "random", "none")
SIGNATURES = ("serving_default", "from_seeds", "mapping", "synthesis")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def to_uint8(images: tf.Tensor) -> tf.Tensor:
    """Raw generator output (about [-1, 1]) -> uint8: clip(x*127.5+128, 0, 255).

    The TF-graph twin of `stylegan2_tf.data.images.to_uint8` (which the tools use to write PNGs): it has to be a TF
    op inside the SavedModel; tests/test_images.py checks that both give the same bytes."""
    return tf.cast(tf.clip_by_value(images * 127.5 + 128.0, 0.0, 255.0), tf.uint8)


def reference_generator(G, precision: Optional[str] = "fp32", num_fp16_res: Optional[int] = None):
    """A copy of generator G built with impl='ref' (standard TF ops only) and fused_modconv=False, same weights,
    computing in `precision` (default float32 whatever G's; None: G's own) with `num_fp16_res` (None: G's)."""
    from stylegan2_tf.serialization import clone_network
    G_ref = clone_network(G, impl="ref", fused_modconv=False, precision=precision, num_fp16_res=num_fp16_res)
    # Belt and braces: every variable of the clone must have received a value from G (same count, same shapes).
    if len(G_ref.variables) != len(G.variables):
        raise ValueError(f"rebuilt generator has {len(G_ref.variables)} variables, the original {len(G.variables)}")
    return G_ref


class _Holder:
    """Plain (non-trackable) container, so tf.Module does not track what it holds."""

    def __init__(self, G):
        self.G = G


class GeneratorServingModule(tf.Module):
    """tf.Module holding the reference generator and the four serving functions."""

    def __init__(self, G, truncation_psi: float = 1.0, truncation_cutoff: Optional[int] = None,
                 noise_mode: str = "const"):
        super().__init__(name="stylegan2_generator")
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        if truncation_cutoff is not None and not 0 < int(truncation_cutoff) <= G.num_ws:
            raise ValueError(f"truncation_cutoff must be in [1, {G.num_ws}] (or None), got {truncation_cutoff}")
        if not np.isfinite(truncation_psi):
            raise ValueError(f"truncation_psi must be finite, got {truncation_psi}")
        # The Keras model is kept out of TensorFlow's object tracking (behind a plain holder) and its underlying
        # tf.Variables are tracked directly: tracking Keras 3 variable wrappers gives a SavedModel whose session-based
        # loading (TF Serving, saved_model_cli run) restores different handles than the functions read.
        self._holder = _Holder(G)
        self.variables_to_serve = [getattr(v, "value", v) for v in G.variables]
        self.noise_mode = noise_mode
        self.truncation_cutoff = None if truncation_cutoff is None else int(truncation_cutoff)
        self.default_psi = float(truncation_psi)
        self.z_dim, self.c_dim, self.num_ws, self.w_dim = G.z_dim, G.c_dim, G.num_ws, G.w_dim
        self.img_resolution, self.img_channels = G.img_resolution, G.img_channels
        self._build_functions()

    @property
    def G(self):
        return self._holder.G

    # -- graph pieces ---------------------------------------------------------------------------------------------
    def _map(self, z, psi, labels):
        return self.G.mapping(z, labels, truncation_psi=psi, truncation_cutoff=self.truncation_cutoff)

    def _synth(self, ws):
        return to_uint8(self.G.synthesis(ws, noise_mode=self.noise_mode))

    def _build_functions(self) -> None:
        z_spec = tf.TensorSpec([None, self.z_dim], tf.float32, name="z")
        psi_spec = tf.TensorSpec([], tf.float32, name="truncation_psi")
        seeds_spec = tf.TensorSpec([None], tf.int64, name="seeds")
        ws_spec = tf.TensorSpec([None, self.num_ws, self.w_dim], tf.float32, name="ws")
        psi_default = tf.constant(self.default_psi, tf.float32)
        z_dim = self.z_dim

        if self.c_dim:
            labels_spec = tf.TensorSpec([None, self.c_dim], tf.float32, name="labels")

            # Python defaults of a signature's trailing arguments become SignatureDef.defaults, which TF Serving
            # (and saved_model_cli) use when a request omits the input. labels precede psi so psi can be optional.
            def serving_default(z, labels, truncation_psi=psi_default):
                return {"images": self._synth(self._map(z, truncation_psi, labels))}

            def from_seeds(seeds, labels, truncation_psi=psi_default):
                z = mt19937.randn_from_seeds(seeds, z_dim, dtype=tf.float32)
                return {"images": self._synth(self._map(z, truncation_psi, labels))}

            def mapping(z, labels, truncation_psi=psi_default):
                return {"ws": self._map(z, truncation_psi, labels)}

            sig = {"serving_default": [z_spec, labels_spec, psi_spec], "from_seeds": [seeds_spec, labels_spec, psi_spec],
                   "mapping": [z_spec, labels_spec, psi_spec]}
        else:
            def serving_default(z, truncation_psi=psi_default):
                return {"images": self._synth(self._map(z, truncation_psi, None))}

            def from_seeds(seeds, truncation_psi=psi_default):
                z = mt19937.randn_from_seeds(seeds, z_dim, dtype=tf.float32)
                return {"images": self._synth(self._map(z, truncation_psi, None))}

            def mapping(z, truncation_psi=psi_default):
                return {"ws": self._map(z, truncation_psi, None)}

            sig = {"serving_default": [z_spec, psi_spec], "from_seeds": [seeds_spec, psi_spec],
                   "mapping": [z_spec, psi_spec]}

        def synthesis(ws):
            return {"images": self._synth(ws)}

        sig["synthesis"] = [ws_spec]
        fns = {"serving_default": serving_default, "from_seeds": from_seeds, "mapping": mapping,
               "synthesis": synthesis}
        for name, fn in fns.items():
            setattr(self, name, tf.function(fn, input_signature=sig[name]))

    def signatures(self) -> dict:
        # The tf.functions themselves (not their concrete functions): only then does the saver record the Python
        # default of truncation_psi in SignatureDef.defaults.
        return {name: getattr(self, name) for name in SIGNATURES}


# -- atomic versioned layout ------------------------------------------------------------------------------------------
def check_name_version(name: str, version: int) -> int:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(f"model name must be letters, digits, '_', '-', '.' (not starting with '.'), got {name!r}")
    try:
        version = int(version)
    except (TypeError, ValueError):
        raise ValueError(f"version must be a positive integer, got {version!r}") from None
    if version <= 0:
        raise ValueError(f"version must be a positive integer (TF Serving versions), got {version}")
    return version


@contextlib.contextmanager
def atomic_version_dir(out_dir: str, name: str, version: int) -> Iterator[str]:
    """Yields a hidden temporary directory `out_dir/name/.tmp-<version>-XXXX` to write a version into; on success it
    is renamed to `out_dir/name/<version>` (`atomic_io.atomic_directory`: a server polling `out_dir/name/` sees the
    whole version or none; TF Serving ignores non-numeric entries). Existing versions are never replaced.
    """
    version = check_name_version(name, version)
    final = os.path.join(os.path.abspath(out_dir), name, str(version))
    if os.path.exists(final):
        raise FileExistsError(f"{final} already exists; TF Serving versions are immutable, pick a new --version")
    # 0755: a server running as another user must be able to read the version.
    with atomic_directory(final, replace=False, mode=0o755) as tmp:
        yield tmp


def list_versions(model_dir: str) -> List[int]:
    """Numeric version subdirectories of a TF Serving model directory (what the server would load)."""
    if not os.path.isdir(model_dir):
        return []
    return sorted(int(d) for d in os.listdir(model_dir) if d.isdigit() and os.path.isdir(os.path.join(model_dir, d)))


def models_config_text(out_dir: str, base_path_prefix: Optional[str] = None) -> str:
    """A TF Serving `--model_config_file` listing every model directory under out_dir with at least one version.

    base_path_prefix replaces out_dir in the base paths (e.g. '/models' for the Docker image)."""
    out_dir = os.path.abspath(out_dir)
    prefix = out_dir if base_path_prefix is None else base_path_prefix.rstrip("/")
    names = sorted(d for d in os.listdir(out_dir) if list_versions(os.path.join(out_dir, d)))
    entries = "".join(
        f"  config {{\n    name: '{n}'\n    base_path: '{prefix}/{n}'\n    model_platform: 'tensorflow'\n  }}\n"
        for n in names)
    return f"model_config_list {{\n{entries}}}\n"


def write_text_atomic(path: str, text: str) -> None:
    atomic_write_text(path, text, file_mode=0o644)  # TF Serving must be able to read it


def write_models_config(out_dir: str) -> List[str]:
    """Writes out_dir/models.config (host paths) and out_dir/models.docker.config (paths under /models)."""
    paths = []
    for fname, prefix in (("models.config", None), ("models.docker.config", "/models")):
        path = os.path.join(out_dir, fname)
        write_text_atomic(path, models_config_text(out_dir, prefix))
        paths.append(path)
    return paths


# -- export -----------------------------------------------------------------------------------------------------------
def export_savedmodel(G, out_dir: str, name: str, version: int, truncation_psi: float = 1.0,
                      truncation_cutoff: Optional[int] = None, noise_mode: str = "const",
                      precision: Optional[str] = "fp32", num_fp16_res: Optional[int] = None,
                      _after_save=None) -> str:
    """Exports generator G to `out_dir/name/version/` (atomically) and writes the models.config examples.

    The served graph computes in float32 unless `precision` asks for 'bf16'/'fp16' blocks (see reference_generator);
    inputs and outputs are the same in every precision.

    Returns the version directory. Raises graph_check.NonStandardOpError (and publishes nothing) if the saved graph
    contains an op that stock TensorFlow Serving does not have. `_after_save(tmp_dir)` is a test hook called between
    saving and publishing.
    """
    version = check_name_version(name, version)
    module = GeneratorServingModule(reference_generator(G, precision, num_fp16_res), truncation_psi,
                                    truncation_cutoff, noise_mode)
    with atomic_version_dir(out_dir, name, version) as tmp:
        tf.saved_model.save(module, tmp, signatures=module.signatures())
        graph_check.check_saved_model(tmp)
        if _after_save is not None:
            _after_save(tmp)
    write_models_config(out_dir)
    return os.path.join(os.path.abspath(out_dir), name, str(version))
