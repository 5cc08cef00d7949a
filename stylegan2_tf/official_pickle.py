"""Import NVIDIA's official StyleGAN2 / StyleGAN2-ADA TensorFlow 1 pickles without TF1 and without running their code.

Format facts (from the official `dnnlib.tflib.network.Network.__getstate__`): a network pickle is a tuple (G, D, Gs)
of `dnnlib.tflib.network.Network` objects whose state is a dict with keys `version`, `name`, `static_kwargs` (the
build kwargs), `components` (name -> sub-network, e.g. G's `mapping` and `synthesis`), `build_module_src` (the
Python source of the networks, which we never execute), `build_func_name` and `variables` (a list of
(name, numpy array) pairs relative to the network's scope).

Layouts: NCHW activations; conv weights [kh, kw, in, out]; dense weights [in, out]; the modulation bias `mod_bias` is
stored without the +1 added at run time (ours too); `G_synthesis` holds the constant noise buffers `noise{i}`
[1, 1, H, W]; `dlatent_avg` lives in G; the 4x4 const is [1, C, 4, 4]; the upsampling conv weights are given in
conv2d orientation and the official op flips them for its transposed conv (our `upsample_conv2d` does the same, so
they load unchanged); D's `Dense0` consumes the NCHW flattening of the 4x4 features (our D flattens the same way).
"""
from __future__ import annotations

import collections
import io
import os
import pickle
from typing import Dict, Optional, Tuple

import numpy as np

from stylegan2_tf.serialization import PICKLE_MAGIC, NetworkSnapshot, assign_values, build_network, register_format

# Functions numpy pickles refer to, looked up through public reduce protocols rather than private modules.
_NP_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1))[0]
_NP_SCALAR = np.float32(0).__reduce__()[0]


class OfficialNetworkState:
    """Inert stand-in for `dnnlib.tflib.network.Network`: keeps the pickled state dict, runs nothing."""

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise pickle.UnpicklingError("a dnnlib Network state must be a dict")
        missing = [k for k in ("version", "name", "static_kwargs", "build_func_name", "variables") if k not in state]
        if missing:
            raise pickle.UnpicklingError(f"dnnlib Network state lacks {missing}")
        self.state = state

    @property
    def name(self) -> str:
        return self.state["name"]

    @property
    def version(self) -> int:
        return self.state["version"]

    @property
    def static_kwargs(self) -> dict:
        return dict(self.state["static_kwargs"])

    @property
    def components(self) -> dict:
        return dict(self.state.get("components") or {})

    @property
    def build_func_name(self) -> str:
        return self.state["build_func_name"]

    @property
    def variables(self) -> list:
        return list(self.state["variables"])


class _EasyDict(dict):
    """Stand-in for dnnlib's EasyDict (a plain dict subclass)."""


_ALLOWED = {
    ("dnnlib.tflib.network", "Network"): OfficialNetworkState,
    ("dnnlib.util", "EasyDict"): _EasyDict,
    ("dnnlib", "EasyDict"): _EasyDict,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _NP_RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _NP_RECONSTRUCT,
    ("numpy.core.multiarray", "scalar"): _NP_SCALAR,
    ("numpy._core.multiarray", "scalar"): _NP_SCALAR,
}


def _codecs_encode(text, encoding="utf-8"):
    # Python-2-compatible byte strings inside numpy pickles are written as _codecs.encode(str, 'latin1').
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1", "utf-8", "utf8"):
        raise pickle.UnpicklingError("refusing _codecs.encode with unexpected arguments")
    return text.encode(encoding)


_ALLOWED[("_codecs", "encode")] = _codecs_encode


class RestrictedUnpickler(pickle.Unpickler):
    """Admits only dnnlib Network states, dicts and numpy arrays; anything else is refused with a clear error."""

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name}: official network pickles contain only dnnlib Network states "
                f"and numpy arrays, and this loader never runs code from a pickle") from None

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refusing persistent ids: not an official network pickle")


def read_official_pickle(path_or_file) -> Tuple[OfficialNetworkState, ...]:
    """Returns (G, D, Gs) states (or (Gs,) for a single-network pickle). Raises ValueError on a foreign pickle."""
    if isinstance(path_or_file, (str, os.PathLike)):
        if not os.path.exists(path_or_file):
            raise FileNotFoundError(f"network pickle not found: {path_or_file}")
        with open(path_or_file, "rb") as f:
            data = f.read()
    else:
        data = path_or_file.read()
    try:
        obj = RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    except pickle.UnpicklingError as e:
        raise ValueError(f"not a loadable official StyleGAN2 pickle: {e}") from None
    except (EOFError, AttributeError, TypeError, IndexError, KeyError) as e:
        raise ValueError(f"corrupt or unsupported pickle: {type(e).__name__}: {e}") from None
    if isinstance(obj, OfficialNetworkState):
        return (obj,)
    if isinstance(obj, tuple) and len(obj) == 3 and all(isinstance(o, OfficialNetworkState) for o in obj):
        return obj
    raise ValueError(f"expected an official pickle holding (G, D, Gs) dnnlib Networks, got {type(obj).__name__}")


def collect_variables(net: OfficialNetworkState, prefix: str = "") -> Dict[str, np.ndarray]:
    """Flattens a network's own variables and its components' (prefixed 'component/')."""
    out = {}
    for entry in net.variables:
        if not (isinstance(entry, (tuple, list)) and len(entry) == 2 and isinstance(entry[0], str)):
            raise ValueError(f"{net.name}: malformed variable entry {entry!r:.80}")
        name, value = entry
        # Scalar variables (lod, noise_strength) come out of the TF1 session as numpy scalars, the rest as arrays.
        if not isinstance(value, (np.ndarray, np.generic)) or not (np.issubdtype(value.dtype, np.floating)
                                                                   or np.issubdtype(value.dtype, np.integer)):
            raise ValueError(f"{net.name}: variable {name} is not a numeric numpy array")
        out[prefix + name] = np.asarray(value)
    for comp_name, comp in net.components.items():
        if not isinstance(comp, OfficialNetworkState):
            raise ValueError(f"{net.name}: component {comp_name!r} is not a dnnlib Network")
        out.update(collect_variables(comp, prefix + comp_name + "/"))
    return out


class _KwargReader:
    """Reads static kwargs, remembering which were consumed so leftovers can be reported."""

    def __init__(self, kwargs: dict, what: str):
        self.kwargs = kwargs
        self.what = what
        self.known = set()

    def get(self, key, default=None):
        self.known.add(key)
        value = self.kwargs.get(key, default)
        return default if value is None else value

    def ignore(self, *keys):
        self.known.update(keys)

    def require(self, key, allowed, default):
        value = self.get(key, default)
        if value not in allowed:
            raise ValueError(f"{self.what}: unsupported {key}={value!r} (supported: {allowed})")
        return value

    def check_unknown(self):
        unknown = sorted(set(self.kwargs) - self.known)
        if unknown:
            raise ValueError(f"{self.what}: unknown official kwargs {unknown}; refusing to guess their meaning")


_SYNTHESIS_FUNCS = {"G_synthesis_stylegan2": "stylegan2", "G_synthesis": "ada"}
_D_FUNCS = {"D_stylegan2": "stylegan2", "D_main": "ada"}


def generator_config(G: OfficialNetworkState) -> dict:
    """Generator constructor config from an official G state (its and its components' static kwargs)."""
    if G.version < 4:
        raise ValueError(f"official pickle version {G.version} is too old (need >= 4: StyleGAN2)")
    if G.build_func_name != "G_main":
        raise ValueError(f"unsupported generator build function {G.build_func_name!r} (expected G_main)")
    comps = G.components
    if set(comps) != {"mapping", "synthesis"}:
        raise ValueError(f"generator components must be mapping and synthesis, got {sorted(comps)}")
    syn_func = comps["synthesis"].build_func_name
    if syn_func not in _SYNTHESIS_FUNCS:
        raise ValueError(f"unsupported synthesis network {syn_func!r}; supported: {sorted(_SYNTHESIS_FUNCS)} "
                         "(progressive-growing StyleGAN1-style synthesis is not supported)")
    if comps["mapping"].build_func_name != "G_mapping":
        raise ValueError(f"unsupported mapping network {comps['mapping'].build_func_name!r}")
    variant = _SYNTHESIS_FUNCS[syn_func]
    kwargs = dict(G.static_kwargs)
    for comp in comps.values():
        kwargs.update(comp.static_kwargs)
    k = _KwargReader(kwargs, "generator")
    k.ignore("truncation_psi", "truncation_cutoff", "truncation_psi_val", "truncation_cutoff_val",
             "style_mixing_prob", "randomize_noise", "fused_modconv", "dtype", "num_fp16_res", "is_template_graph",
             "dlatent_broadcast")
    k.require("mapping_func", ("G_mapping",), "G_mapping")
    k.require("synthesis_func", (syn_func,), syn_func)
    k.require("structure", ("auto", "fixed"), "auto")
    k.require("normalize_latents", (True, False), True)
    dlatent_size = int(k.get("dlatent_size", 512))
    k.ignore("dlatent_avg_beta", "w_avg_beta")
    beta = kwargs.get("dlatent_avg_beta", kwargs.get("w_avg_beta", 0.995))  # None (or 1) disables the w_avg update
    config = dict(
        z_dim=int(k.get("latent_size", 512)), c_dim=int(k.get("label_size", 0)), w_dim=dlatent_size,
        img_resolution=int(k.get("resolution", 1024)), img_channels=int(k.get("num_channels", 3)),
        mapping_layers=int(k.get("mapping_layers", 8)),
        mapping_fmaps=int(k.get("mapping_fmaps", 512 if variant == "stylegan2" else dlatent_size)),
        mapping_lr_mul=float(k.get("mapping_lrmul", 0.01)),
        mapping_nonlinearity=k.get("mapping_nonlinearity", "lrelu"),
        normalize_latents=bool(kwargs.get("normalize_latents", True)),
        label_embed="concat" if variant == "stylegan2" else "embed",
        label_fmaps=k.get("label_fmaps", None),
        w_avg_beta=None if beta is None or beta == 1 else float(beta),
        fmap_base=int(k.get("fmap_base", 16384)), fmap_decay=float(k.get("fmap_decay", 1.0)),
        fmap_min=int(k.get("fmap_min", 1)), fmap_max=int(k.get("fmap_max", 512)),
        fmap_const=k.get("fmap_const", None),
        architecture=k.get("architecture", "skip"), nonlinearity=k.get("nonlinearity", "lrelu"),
        resample_kernel=list(k.get("resample_kernel", [1, 3, 3, 1])),
        use_noise=bool(k.get("use_noise", True)), conv_clamp=k.get("conv_clamp", None),
    )
    if variant == "stylegan2":
        k.require("use_noise", (True,), True)
    k.check_unknown()
    return config


def discriminator_config(D: OfficialNetworkState) -> dict:
    """Discriminator constructor config from an official D state."""
    if D.version < 4:
        raise ValueError(f"official pickle version {D.version} is too old (need >= 4: StyleGAN2)")
    if D.build_func_name not in _D_FUNCS:
        raise ValueError(f"unsupported discriminator {D.build_func_name!r}; supported: {sorted(_D_FUNCS)}")
    if D.components:
        raise ValueError(f"unexpected discriminator components {sorted(D.components)}")
    variant = _D_FUNCS[D.build_func_name]
    k = _KwargReader(D.static_kwargs, "discriminator")
    k.ignore("dtype", "num_fp16_res", "augment_strength", "freeze_layers", "pagan_num", "pagan_fade")
    k.require("structure", ("auto", "fixed"), "auto")
    k.require("use_pagan", (False,), False)
    k.require("use_spectral_norm", (False,), False)
    k.require("adaptive_dropout", (0, 0.0), 0)
    k.require("score_size", (1,), 1)
    k.require("score_max", (1,), 1)
    if variant == "stylegan2":
        group = int(k.get("mbstd_group_size", 4))
        features = int(k.get("mbstd_num_features", 1))
        if group <= 1:  # the official StyleGAN2 D skips the layer for group sizes <= 1
            features = 0
        group = max(group, 1)
    else:
        group = k.get("mbstd_group_size", None)
        group = None if group is None else int(group)
        features = int(k.get("mbstd_num_features", 1))
    config = dict(
        c_dim=int(k.get("label_size", 0)), img_resolution=int(k.get("resolution", 1024)),
        img_channels=int(k.get("num_channels", 3)), fmap_base=int(k.get("fmap_base", 16384)),
        fmap_decay=float(k.get("fmap_decay", 1.0)), fmap_min=int(k.get("fmap_min", 1)),
        fmap_max=int(k.get("fmap_max", 512)), architecture=k.get("architecture", "resnet"),
        nonlinearity=k.get("nonlinearity", "lrelu"), resample_kernel=list(k.get("resample_kernel", [1, 3, 3, 1])),
        mbstd_group_size=group, mbstd_num_features=features, conv_clamp=k.get("conv_clamp", None),
        label_mapping="project" if variant == "stylegan2" else "embed",
        mapping_layers=int(k.get("mapping_layers", 0)) if variant == "ada" else 0,
        mapping_fmaps=k.get("mapping_fmaps", None) if variant == "ada" else None,
        mapping_lr_mul=float(k.get("mapping_lrmul", 0.1)) if variant == "ada" else 0.1,
    )
    k.check_unknown()
    return config


def _convert_values(values: Dict[str, np.ndarray], what: str) -> Dict[str, np.ndarray]:
    """Official layouts -> ours: const [1, C, 4, 4] -> [4, 4, C]; noise{i} [1, 1, H, W] -> [H, W]; drop `lod`."""
    out = {}
    for name, value in values.items():
        leaf = name.rsplit("/", 1)[-1]
        if leaf == "lod":  # progressive-growing level of detail; StyleGAN2 networks ignore it
            continue
        value = np.asarray(value, dtype=np.float32)
        if name.endswith("Const/const"):
            if value.ndim != 4 or value.shape[0] != 1:
                raise ValueError(f"{what}: {name} must be [1, C, 4, 4], got {value.shape}")
            value = value[0].transpose(1, 2, 0)
        elif leaf.startswith("noise") and leaf[5:].isdigit():
            if value.ndim != 4 or value.shape[:2] != (1, 1):
                raise ValueError(f"{what}: {name} must be [1, 1, H, W], got {value.shape}")
            value = value[0, 0]
        out[name] = value
    return out


def convert_generator(G: OfficialNetworkState, impl: Optional[str] = None, fused_modconv=None):
    """Official G (or Gs) state -> Generator with the same weights."""
    config = generator_config(G)
    net = build_network("Generator", config, impl=impl, fused_modconv=fused_modconv)
    assign_values(net, _convert_values(collect_variables(G), "generator"), what=f"official {G.name}")
    return net


def convert_discriminator(D: OfficialNetworkState, impl: Optional[str] = None):
    """Official D state -> Discriminator with the same weights."""
    config = discriminator_config(D)
    net = build_network("Discriminator", config, impl=impl)
    assign_values(net, _convert_values(collect_variables(D), "discriminator"), what=f"official {D.name}")
    return net


def import_official_pickle(path, impl: Optional[str] = None, fused_modconv=None) -> NetworkSnapshot:
    """Reads an official pickle into a NetworkSnapshot (G, D, G_ema = Gs); a Gs-only pickle gives only G_ema."""
    nets = read_official_pickle(path)
    meta = {"source": os.path.basename(os.fspath(path)) if isinstance(path, (str, os.PathLike)) else "<stream>",
            "source_format": "official_tf_pickle"}
    if len(nets) == 1:
        return NetworkSnapshot(G_ema=convert_generator(nets[0], impl, fused_modconv), metadata=meta)
    G, D, Gs = nets
    return NetworkSnapshot(G=convert_generator(G, impl, fused_modconv), D=convert_discriminator(D, impl),
                           G_ema=convert_generator(Gs, impl, fused_modconv), metadata=meta)


# Imports run one way (this module -> serialization): serialization's load_network learns about pickles from here.
register_format("official NVIDIA StyleGAN2 / StyleGAN2-ADA TensorFlow pickle (.pkl)", PICKLE_MAGIC,
                import_official_pickle)
