"""Import NVIDIA's official StyleGAN2 / StyleGAN2-ADA (and StyleGAN v1) TensorFlow 1 pickles without TF1 and without
running their code (the TensorFlow half of `stylegan2_tf.official`, which reads the file and dispatches here).

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

import pickle
from typing import Dict, Optional, Tuple

import numpy as np

from stylegan2_tf.official.common import COMMON_GLOBALS, KwargReader, read_bytes, restricted_load
from stylegan2_tf.serialization import NetworkSnapshot, assign_values, build_network, precision_overrides


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


# The globals a TF1 pickle names besides the common ones (dnnlib's EasyDict, numpy arrays).
TF1_GLOBALS = {("dnnlib.tflib.network", "Network"): OfficialNetworkState}


def tf1_networks(obj) -> Optional[Tuple[OfficialNetworkState, ...]]:
    """(G, D, Gs) or (Gs,) if an unpickled object is a TF1 network pickle's content, else None."""
    if isinstance(obj, OfficialNetworkState):
        return (obj,)
    if isinstance(obj, tuple) and len(obj) == 3 and all(isinstance(o, OfficialNetworkState) for o in obj):
        return obj
    return None


def read_official_pickle(path_or_file) -> Tuple[OfficialNetworkState, ...]:
    """Returns (G, D, Gs) states (or (Gs,) for a single-network pickle). Raises ValueError on a foreign pickle."""
    obj = restricted_load(read_bytes(path_or_file), {**COMMON_GLOBALS, **TF1_GLOBALS})
    nets = tf1_networks(obj)
    if nets is None:
        raise ValueError(f"expected an official pickle holding (G, D, Gs) dnnlib Networks, got {type(obj).__name__}")
    return nets


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


# Build functions we import: generator -> {synthesis build function -> variant}, discriminator -> variant.
# StyleGAN2: networks_stylegan2 (G_synthesis_stylegan_revised / D_stylegan: configs B-D, with progressive growing);
# StyleGAN2-ADA: G_synthesis / D_main under G_main; StyleGAN (v1) networks_stylegan: G_style / D_basic (config A).
_G_FUNCS = {
    "G_main": {"G_synthesis_stylegan2": "stylegan2", "G_synthesis": "ada", "G_synthesis_stylegan_revised": "revised"},
    "G_style": {"G_synthesis": "stylegan1"},
}
_D_FUNCS = {"D_stylegan2": "stylegan2", "D_main": "ada", "D_stylegan": "revised", "D_basic": "stylegan1"}
_GROWING_VARIANTS = ("revised", "stylegan1")
# StyleGAN (v1) pickles were written by dnnlib's Network.__getstate__ version 3 (2 for older ones).
_MIN_VERSION = {"stylegan1": 2, "stylegan2": 4, "ada": 4, "revised": 4}
# The structures whose template graph holds every lod's ToRGB/FromRGB ('fixed' would hold only the last ones).
_GROWING_STRUCTURES = ("auto", "linear", "recursive")
# G_style's baked-in truncation defaults (applied by its Gs at run time; ours leave it to --trunc/--trunc-cutoff).
V1_TRUNCATION_DEFAULTS = {"truncation_psi": 0.7, "truncation_cutoff": 8}


def _check_version(net: OfficialNetworkState, variant: str, what: str) -> None:
    if net.version < _MIN_VERSION[variant]:
        raise ValueError(f"official {what} pickle version {net.version} is too old for {net.build_func_name} "
                         f"(need >= {_MIN_VERSION[variant]})")


def generator_variant(G: OfficialNetworkState) -> str:
    """'stylegan2', 'ada', 'revised' or 'stylegan1' from the build functions of G and its components."""
    if G.build_func_name not in _G_FUNCS:
        raise ValueError(f"unsupported generator build function {G.build_func_name!r}; supported: {sorted(_G_FUNCS)}")
    comps = G.components
    if set(comps) != {"mapping", "synthesis"}:
        raise ValueError(f"generator components must be mapping and synthesis, got {sorted(comps)}")
    syn_funcs = _G_FUNCS[G.build_func_name]
    syn_func = comps["synthesis"].build_func_name
    if syn_func not in syn_funcs:
        raise ValueError(f"unsupported synthesis network {syn_func!r} under {G.build_func_name}; supported: "
                         f"{sorted(syn_funcs)}")
    if comps["mapping"].build_func_name != "G_mapping":
        raise ValueError(f"unsupported mapping network {comps['mapping'].build_func_name!r} (expected G_mapping)")
    variant = syn_funcs[syn_func]
    _check_version(G, variant, "generator")
    return variant


def discriminator_variant(D: OfficialNetworkState) -> str:
    if D.build_func_name not in _D_FUNCS:
        raise ValueError(f"unsupported discriminator build function {D.build_func_name!r}; supported: "
                         f"{sorted(_D_FUNCS)}")
    if D.components:
        raise ValueError(f"unexpected discriminator components {sorted(D.components)}")
    variant = _D_FUNCS[D.build_func_name]
    _check_version(D, variant, "discriminator")
    return variant


def _w_avg_beta(kwargs: dict) -> Optional[float]:
    beta = kwargs.get("dlatent_avg_beta", kwargs.get("w_avg_beta", 0.995))  # None (or 1) disables the w_avg update
    return None if beta is None or beta == 1 else float(beta)


def _blur_filter(k: "KwargReader") -> Optional[list]:
    k.ignore("blur_filter")
    value = k.kwargs.get("blur_filter", [1, 2, 1])  # an explicit None turns the blur off
    return None if value is None else list(value)


def _stylegan1_generator_config(k: "KwargReader") -> dict:
    """G_style = G_mapping + G_synthesis of networks_stylegan (defaults as there: fmap_base 8192, ...)."""
    k.ignore("truncation_psi", "truncation_cutoff", "truncation_psi_val", "truncation_cutoff_val",
             "style_mixing_prob", "randomize_noise", "dtype", "is_template_graph", "dlatent_broadcast",
             "dlatent_avg_beta", "is_training", "is_validation")
    for key, allowed, default in (("use_styles", (True,), True), ("const_input_layer", (True,), True),
                                  ("use_pixel_norm", (False,), False), ("use_instance_norm", (True,), True),
                                  ("use_wscale", (True,), True), ("normalize_latents", (True, False), True),
                                  ("structure", _GROWING_STRUCTURES, "auto")):
        k.require(key, allowed, default)
    config = dict(
        z_dim=int(k.get("latent_size", 512)), c_dim=int(k.get("label_size", 0)), w_dim=int(k.get("dlatent_size", 512)),
        img_resolution=int(k.get("resolution", 1024)), img_channels=int(k.get("num_channels", 3)),
        mapping_layers=int(k.get("mapping_layers", 8)), mapping_fmaps=int(k.get("mapping_fmaps", 512)),
        mapping_lr_mul=float(k.get("mapping_lrmul", 0.01)),
        mapping_nonlinearity=k.require("mapping_nonlinearity", ("lrelu", "relu"), "lrelu"),
        normalize_latents=bool(k.kwargs.get("normalize_latents", True)), label_embed="concat",
        w_avg_beta=_w_avg_beta(k.kwargs), fmap_base=int(k.get("fmap_base", 8192)),
        fmap_decay=float(k.get("fmap_decay", 1.0)), fmap_max=int(k.get("fmap_max", 512)),
        structure="growing", architecture="stylegan1",
        nonlinearity=k.require("nonlinearity", ("lrelu", "relu"), "lrelu"),
        use_noise=bool(k.get("use_noise", True)), blur_filter=_blur_filter(k),
        fused_scale=k.require("fused_scale", ("auto", True, False), "auto"),
    )
    k.check_unknown()
    return config


def _precision_config(k: "KwargReader") -> dict:
    """StyleGAN2-ADA's num_fp16_res N: its N highest-resolution blocks computed in float16 whatever `dtype` says;
    so do ours (precision 'fp16'). StyleGAN2 pickles have no such kwarg: float32."""
    n = k.get("num_fp16_res", 0)
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
        raise ValueError(f"{k.what}: num_fp16_res must be an integer >= 0, got {n!r}")
    return dict(precision="fp16" if n > 0 else "fp32", num_fp16_res=int(n))


def generator_config(G: OfficialNetworkState) -> dict:
    """Generator constructor config from an official G state (its and its components' static kwargs)."""
    variant = generator_variant(G)
    kwargs = dict(G.static_kwargs)
    for comp in G.components.values():
        kwargs.update(comp.static_kwargs)
    k = KwargReader(kwargs, "generator")
    if variant == "stylegan1":
        return _stylegan1_generator_config(k)
    syn_func = G.components["synthesis"].build_func_name
    k.ignore("truncation_psi", "truncation_cutoff", "truncation_psi_val", "truncation_cutoff_val",
             "style_mixing_prob", "randomize_noise", "fused_modconv", "dtype", "is_template_graph",
             "dlatent_broadcast")
    k.require("mapping_func", ("G_mapping",), "G_mapping")
    k.require("synthesis_func", (syn_func,), syn_func)
    k.require("structure", _GROWING_STRUCTURES if variant == "revised" else ("auto", "fixed"), "auto")
    k.require("normalize_latents", (True, False), True)
    dlatent_size = int(k.get("dlatent_size", 512))
    k.ignore("dlatent_avg_beta", "w_avg_beta")
    config = dict(
        z_dim=int(k.get("latent_size", 512)), c_dim=int(k.get("label_size", 0)), w_dim=dlatent_size,
        img_resolution=int(k.get("resolution", 1024)), img_channels=int(k.get("num_channels", 3)),
        mapping_layers=int(k.get("mapping_layers", 8)),
        mapping_fmaps=int(k.get("mapping_fmaps", dlatent_size if variant == "ada" else 512)),
        mapping_lr_mul=float(k.get("mapping_lrmul", 0.01)),
        mapping_nonlinearity=k.get("mapping_nonlinearity", "lrelu"),
        normalize_latents=bool(kwargs.get("normalize_latents", True)),
        label_embed="embed" if variant == "ada" else "concat",
        label_fmaps=k.get("label_fmaps", None),
        w_avg_beta=_w_avg_beta(kwargs),
        fmap_base=int(k.get("fmap_base", 16384)), fmap_decay=float(k.get("fmap_decay", 1.0)),
        fmap_min=int(k.get("fmap_min", 1)), fmap_max=int(k.get("fmap_max", 512)),
        fmap_const=k.get("fmap_const", None),
        architecture=k.get("architecture", "skip"), nonlinearity=k.get("nonlinearity", "lrelu"),
        resample_kernel=list(k.get("resample_kernel", [1, 3, 3, 1])),
        use_noise=bool(k.get("use_noise", True)), conv_clamp=k.get("conv_clamp", None),
        **_precision_config(k),
    )
    if variant != "ada":
        k.require("use_noise", (True,), True)
    if variant == "revised":  # G_synthesis_stylegan_revised has no architecture kwarg (G_main passes it along)
        config.update(architecture="orig", structure="growing")
    k.check_unknown()
    return config


def official_truncation(G: OfficialNetworkState) -> Optional[dict]:
    """G_style's baked-in truncation (psi, cutoff) from its static kwargs or defaults; None for other generators."""
    if G.build_func_name != "G_style":
        return None
    kwargs = G.static_kwargs
    return {key: kwargs.get(key, default) for key, default in V1_TRUNCATION_DEFAULTS.items()}


def discriminator_config(D: OfficialNetworkState) -> Tuple[str, dict]:
    """(class name, constructor config) from an official D state: Discriminator for StyleGAN2(-ADA),
    GrowingDiscriminator for D_stylegan (architecture 'orig') and StyleGAN's D_basic ('stylegan1')."""
    variant = discriminator_variant(D)
    k = KwargReader(D.static_kwargs, "discriminator")
    k.ignore("dtype", "augment_strength", "freeze_layers", "pagan_num", "pagan_fade",
             "is_template_graph")
    if variant in _GROWING_VARIANTS:
        v1 = variant == "stylegan1"
        k.require("structure", _GROWING_STRUCTURES, "auto")
        group = int(k.get("mbstd_group_size", 4))
        features = int(k.get("mbstd_num_features", 1)) if group > 1 else 0  # the layer exists for groups > 1 only
        config = dict(
            c_dim=int(k.get("label_size", 0)), img_resolution=int(k.get("resolution", 32 if v1 else 1024)),
            img_channels=int(k.get("num_channels", 1 if v1 else 3)), architecture="stylegan1" if v1 else "orig",
            fmap_base=int(k.get("fmap_base", 8192 if v1 else 16384)), fmap_decay=float(k.get("fmap_decay", 1.0)),
            fmap_min=1 if v1 else int(k.get("fmap_min", 1)), fmap_max=int(k.get("fmap_max", 512)),
            nonlinearity=k.require("nonlinearity", ("lrelu", "relu"), "lrelu") if v1 else k.get("nonlinearity",
                                                                                                   "lrelu"),
            mbstd_group_size=max(group, 1), mbstd_num_features=features)
        if v1:
            k.require("use_wscale", (True,), True)
            k.require("fused_scale", ("auto", True, False), "auto")  # same function either way (module docstring)
            config["blur_filter"] = _blur_filter(k)
        else:
            config["resample_kernel"] = list(k.get("resample_kernel", [1, 3, 3, 1]))
        k.check_unknown()
        return "GrowingDiscriminator", config
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
        **_precision_config(k),
    )
    k.check_unknown()
    return "Discriminator", config


def _convert_values(values: Dict[str, np.ndarray], what: str, keep_lod: bool = False) -> Dict[str, np.ndarray]:
    """Official layouts -> ours: const [1, C, 4, 4] -> [4, 4, C]; noise{i} [1, 1, H, W] -> [H, W]; `lod` is dropped
    unless keep_lod (the growing networks keep theirs)."""
    out = {}
    for name, value in values.items():
        leaf = name.rsplit("/", 1)[-1]
        if leaf == "lod" and not keep_lod:  # level of detail of progressive growing; StyleGAN2 networks ignore it
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


def convert_generator(G: OfficialNetworkState, impl: Optional[str] = None, fused_modconv=None,
                      precision: Optional[str] = None, num_fp16_res: Optional[int] = None):
    """Official G (or Gs) state -> Generator with the same weights (precision/num_fp16_res override the pickle's)."""
    config = generator_config(G)
    net = build_network("Generator", config, impl=impl, fused_modconv=fused_modconv, precision=precision,
                        num_fp16_res=num_fp16_res)
    values = collect_variables(G)
    growing = config.get("structure") == "growing"
    if growing:
        # G_main / G_style assign their own `lod` to the synthesis network's before every evaluation, so G's value
        # is the one that governs the output; the synthesis network's copy is replaced by it.
        if "lod" not in values:
            raise ValueError(f"official {G.name}: a progressive-growing generator must hold a 'lod' variable")
        values["synthesis/lod"] = values.pop("lod")
    assign_values(net, _convert_values(values, "generator", keep_lod=growing), what=f"official {G.name}")
    return net


def convert_discriminator(D: OfficialNetworkState, impl: Optional[str] = None, precision: Optional[str] = None,
                          num_fp16_res: Optional[int] = None):
    """Official D state -> Discriminator (StyleGAN2, ADA) or GrowingDiscriminator (D_stylegan, D_basic)."""
    class_name, config = discriminator_config(D)
    net = build_network(class_name, config, impl=impl,
                        **precision_overrides(class_name, precision=precision, num_fp16_res=num_fp16_res))
    assign_values(net, _convert_values(collect_variables(D), "discriminator",
                                       keep_lod=class_name == "GrowingDiscriminator"), what=f"official {D.name}")
    return net


def import_tf1(nets: Tuple[OfficialNetworkState, ...], source: str, impl: Optional[str] = None, fused_modconv=None,
               precision: Optional[str] = None, num_fp16_res: Optional[int] = None) -> NetworkSnapshot:
    """A TF1 pickle's (G, D, Gs) (or (Gs,)) as a NetworkSnapshot (G, D, G_ema = Gs); a Gs-only pickle gives only G_ema.

    StyleGAN2-ADA networks keep their num_fp16_res (float16 blocks) and conv_clamp unless precision/num_fp16_res
    override them (e.g. precision='fp32' for float32 everywhere).

    For StyleGAN (v1) generators the metadata records G_style's baked-in truncation defaults under
    `official_truncation` (psi 0.7 on the first 8 layers unless the pickle's kwargs say otherwise); our networks do
    not apply them by themselves: pass them to the tools (--trunc 0.7 --trunc-cutoff 8) to reproduce NVIDIA's images.
    """
    meta = {"source": source, "source_format": "official_tf_pickle"}
    gs = nets[-1]
    names = ("G", "D", "Gs") if len(nets) == 3 else ("Gs",)
    meta["official_build_functions"] = {name: net.build_func_name for name, net in zip(names, nets)}
    truncation = official_truncation(gs)
    if truncation is not None:
        meta["official_truncation"] = truncation
    prec = dict(precision=precision, num_fp16_res=num_fp16_res)
    if len(nets) == 1:
        return NetworkSnapshot(G_ema=convert_generator(gs, impl, fused_modconv, **prec), metadata=meta)
    G, D, Gs = nets
    return NetworkSnapshot(G=convert_generator(G, impl, fused_modconv, **prec),
                           D=convert_discriminator(D, impl, **prec),
                           G_ema=convert_generator(Gs, impl, fused_modconv, **prec), metadata=meta)
