"""stylegan2-ada-pytorch networks (NVlabs/stylegan2-ada-pytorch, training/networks.py) from the inert records of a
torch pickle (official/torch_pickle.py) -> this project's Generator / Discriminator with the same weights.

Recognised by structure, not by source text: a Generator whose `synthesis` holds SynthesisBlocks `b4`, `b8`, ...
(StyleGAN3's holds `input` and `L<i>_...` layers instead, see torch_pickle.generator_family), and a Discriminator
of DiscriminatorBlocks `b{res}` plus the DiscriminatorEpilogue `b4` (and a MappingNetwork `mapping` when
conditional). The configuration comes from the modules' `_init_kwargs` with NVIDIA's defaults filled in; unknown
kwargs are refused; then the module tree and every tensor name must be exactly what those kwargs build.

Upstream facts used (restated, see docs/networks.md for the full list):
* channels at resolution r: min(channel_base // r, channel_max) (default 32768, 512) -> our fmap_base =
  channel_base / 2 (the TF1 code's fmap_base is half of it); num_ws = 2 log2(R) - 2 in the same order as ours.
* G mapping (MappingNetwork): num_layers 8, embed_features = layer_features = w_dim, lrelu, lr_multiplier 0.01,
  w_avg_beta 0.995; z and the embedded label are normalised separately and concatenated (our label_embed='embed').
* D label mapping: MappingNetwork(z_dim=0, w_dim=cmap_dim, ...) with the same defaults, i.e. 8 layers with
  lr_multiplier 0.01 unless mapping_kwargs say otherwise; cmap_dim defaults to the 4x4 channel count.
* Layouts: conv weights [O, I, kh, kw] -> ours [kh, kw, I, O]; FC weights [out, in] -> [in, out]; the affine
  (style) bias is initialised to 1 and stored with it, ours without -> subtract 1; const [C, 4, 4] -> [4, 4, C];
  noise_const [H, W] as ours; mapping.w_avg -> dlatent_avg.
* The upsampling convs (SynthesisLayer up=2, G's resnet skip) run with flip_weight=False, i.e. as a convolution,
  where the TF1 code and ours correlate: their weights are flipped in kh and kw (upstream's legacy.py flips TF1
  weights the other way). Everything else correlates in both.
* ToRGB scales the style by 1/sqrt(fan_in) and leaves the weight alone, ours scales the weight: the same product.
* D's epilogue fc consumes the NCHW flattening of the 4x4 features, as ours does.

Upstream configurations our networks cannot express are refused with a message saying why: a resample_filter other
than [1, 3, 3, 1], kernel_size other than 3, a D whose 4x4 fc width (the 4x4 channel count) differs from our
nf(0), different D activations in blocks / epilogue / label mapping, a D label mapping whose embed or layer width
differs from cmap_dim, and a 'skip' D with conv_clamp (upstream leaves the epilogue's fromrgb unclamped, ours
clamps it).
"""
from __future__ import annotations

import math
from typing import Dict, Optional, Tuple

import numpy as np

from stylegan2_tf.networks.channels import nf
from stylegan2_tf.official.common import KwargReader
from stylegan2_tf.official.torch_pickle import (PersistentRecord, TrainingPickle, generator_family, merged_kwargs,
                                                named_tensors, walk_modules)
from stylegan2_tf.serialization import NetworkSnapshot, assign_values, build_network

SOURCE_FORMAT = "stylegan2_ada_pytorch_pickle"
# Activations whose defaults (negative slope 0.2 for lrelu, gain sqrt(2) for relu/lrelu, 1 for linear) upstream's
# bias_act and ours share.
ACTIVATIONS = ("lrelu", "relu", "linear")
ARCHITECTURES = ("orig", "skip", "resnet")
RESAMPLE_FILTER = (1.0, 3.0, 3.0, 1.0)
# Constructor signatures (for positional _init_args).
G_ARGS = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs", "synthesis_kwargs")
D_ARGS = ("c_dim", "img_resolution", "img_channels", "architecture", "channel_base", "channel_max", "num_fp16_res",
          "conv_clamp", "cmap_dim", "block_kwargs", "mapping_kwargs", "epilogue_kwargs")


def _int(value, what: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _float(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{what} must be a number, got {value!r}")
    return float(value)


def _optional_float(value, what: str) -> Optional[float]:
    return None if value is None else _float(value, what)


def _resolution_log2(value, what: str) -> int:
    res = _int(value, what, 4)
    if res & (res - 1):
        raise ValueError(f"{what} must be a power of two, got {res}")
    return int(math.log2(res))


def _sub_kwargs(k: KwargReader, key: str) -> KwargReader:
    value = k.get(key, {})
    if not isinstance(value, dict):
        raise ValueError(f"{k.what}: {key} must be a dict, got {type(value).__name__}")
    return KwargReader(dict(value), f"{k.what} {key}")


def _check_resample_filter(k: KwargReader) -> None:
    value = k.get("resample_filter", list(RESAMPLE_FILTER))
    try:
        taps = tuple(float(v) for v in np.asarray(value, dtype=np.float64).reshape(-1))
    except (TypeError, ValueError):
        taps = None
    if taps != RESAMPLE_FILTER:
        raise ValueError(f"{k.what}: resample_filter={value!r} is not supported (only [1, 3, 3, 1])")


def _precision(num_fp16_res, what: str) -> dict:
    n = _int(num_fp16_res, f"{what}: num_fp16_res")
    return dict(precision="fp16" if n > 0 else "fp32", num_fp16_res=n)


def _fmaps(channel_base, channel_max, resolutions, what: str) -> Tuple[dict, Dict[int, int]]:
    """Our fmap_* for upstream's channel_base / channel_max, checked resolution by resolution; and upstream's
    channel count per resolution."""
    base = _int(channel_base, f"{what}: channel_base", 1)
    cmax = _int(channel_max, f"{what}: channel_max", 1)
    fmaps = dict(fmap_base=base // 2, fmap_decay=1.0, fmap_min=1, fmap_max=cmax)
    channels = {res: min(base // res, cmax) for res in resolutions}
    for res, theirs in channels.items():
        ours = nf(int(math.log2(res)) - 1, **fmaps)
        if ours != theirs:
            raise ValueError(f"{what}: channel_base={base}, channel_max={cmax} gives {theirs} channels at {res}x{res}, "
                             f"which our fmap_base={base // 2} cannot express ({ours})")
    return fmaps, channels


def generator_config(G: PersistentRecord) -> dict:
    """Our Generator config from an upstream Generator's constructor kwargs (NVIDIA's defaults filled in)."""
    what = "stylegan2-ada-pytorch generator"
    k = KwargReader(merged_kwargs(G, G_ARGS, what), what)
    for key in ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels"):
        if k.kwargs.get(key) is None:
            raise ValueError(f"{what}: constructor argument {key} is missing")
    z_dim, c_dim = _int(k.get("z_dim"), "z_dim", 1), _int(k.get("c_dim"), "c_dim")
    w_dim, img_channels = _int(k.get("w_dim"), "w_dim", 1), _int(k.get("img_channels"), "img_channels", 1)
    log2 = _resolution_log2(k.get("img_resolution"), "img_resolution")

    m = _sub_kwargs(k, "mapping_kwargs")
    mapping_layers = _int(m.get("num_layers", 8), "mapping num_layers", 1)
    embed_features = _int(m.get("embed_features", w_dim), "mapping embed_features", 1)
    layer_features = _int(m.get("layer_features", w_dim), "mapping layer_features", 1)
    mapping_act = m.require("activation", ACTIVATIONS, "lrelu")
    mapping_lr = _float(m.get("lr_multiplier", 0.01), "mapping lr_multiplier")
    m.ignore("w_avg_beta")
    w_avg_beta = _optional_float(m.kwargs.get("w_avg_beta", 0.995), "mapping w_avg_beta")  # None: no w_avg
    m.check_unknown()

    s = _sub_kwargs(k, "synthesis_kwargs")
    fmaps, _ = _fmaps(s.get("channel_base", 32768), s.get("channel_max", 512),
                      [2 ** r for r in range(2, log2 + 1)], what)
    precision = _precision(s.get("num_fp16_res", 0), what)
    architecture = s.require("architecture", ARCHITECTURES, "skip")
    _check_resample_filter(s)
    conv_clamp = _optional_float(s.get("conv_clamp", None), "conv_clamp")
    s.ignore("fp16_channels_last")  # memory layout only
    s.require("kernel_size", (3,), 3)
    use_noise = s.require("use_noise", (True, False), True)
    activation = s.require("activation", ACTIVATIONS, "lrelu")
    s.check_unknown()
    k.check_unknown()
    return dict(
        z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, img_resolution=2 ** log2, img_channels=img_channels,
        mapping_layers=mapping_layers, mapping_fmaps=layer_features, mapping_lr_mul=mapping_lr,
        mapping_nonlinearity=mapping_act, normalize_latents=True, label_embed="embed", label_fmaps=embed_features,
        w_avg_beta=w_avg_beta, **fmaps, fmap_const=None, architecture=architecture, nonlinearity=activation,
        resample_kernel=list(RESAMPLE_FILTER), use_noise=bool(use_noise), conv_clamp=conv_clamp, **precision)


def discriminator_config(D: PersistentRecord) -> dict:
    """Our Discriminator config from an upstream Discriminator's constructor kwargs (NVIDIA's defaults filled in);
    a ValueError for configurations ours cannot express."""
    what = "stylegan2-ada-pytorch discriminator"
    k = KwargReader(merged_kwargs(D, D_ARGS, what), what)
    for key in ("c_dim", "img_resolution", "img_channels"):
        if k.kwargs.get(key) is None:
            raise ValueError(f"{what}: constructor argument {key} is missing")
    c_dim, img_channels = _int(k.get("c_dim"), "c_dim"), _int(k.get("img_channels"), "img_channels", 1)
    log2 = _resolution_log2(k.get("img_resolution"), "img_resolution")
    architecture = k.require("architecture", ARCHITECTURES, "resnet")
    fmaps, channels = _fmaps(k.get("channel_base", 32768), k.get("channel_max", 512),
                             [2 ** r for r in range(2, log2 + 1)], what)
    precision = _precision(k.get("num_fp16_res", 0), what)
    conv_clamp = _optional_float(k.get("conv_clamp", None), "conv_clamp")
    cmap_dim = k.get("cmap_dim", channels[4])  # used only with labels (upstream sets it to 0 without)
    cmap_dim = _int(cmap_dim, "cmap_dim", 1) if c_dim else None

    b = _sub_kwargs(k, "block_kwargs")
    block_act = b.require("activation", ACTIVATIONS, "lrelu")
    _check_resample_filter(b)
    b.ignore("fp16_channels_last", "freeze_layers")  # memory layout; which layers train (frozen ones are buffers)
    b.check_unknown()
    e = _sub_kwargs(k, "epilogue_kwargs")
    e.ignore("mbstd_group_size")
    group = e.kwargs.get("mbstd_group_size", 4)  # None: the whole minibatch
    group = None if group is None else _int(group, "mbstd_group_size", 1)
    mbstd_features = _int(e.get("mbstd_num_channels", 1), "mbstd_num_channels")
    epilogue_act = e.require("activation", ACTIVATIONS, "lrelu")
    e.check_unknown()
    m = _sub_kwargs(k, "mapping_kwargs")
    mapping_layers = _int(m.get("num_layers", 8), "D mapping num_layers")
    embed_features, layer_features = m.get("embed_features", cmap_dim), m.get("layer_features", cmap_dim)
    if c_dim:
        embed_features = _int(embed_features, "D mapping embed_features", 1)
        layer_features = _int(layer_features, "D mapping layer_features", 1)
    mapping_act = m.require("activation", ACTIVATIONS, "lrelu")
    mapping_lr = _float(m.get("lr_multiplier", 0.01), "D mapping lr_multiplier")
    m.check_unknown()
    k.check_unknown()

    acts = {"block_kwargs": block_act, "epilogue_kwargs": epilogue_act}
    if c_dim:
        acts["mapping_kwargs"] = mapping_act
    if len(set(acts.values())) > 1:
        raise ValueError(f"{what}: activations {acts} differ; our Discriminator has one nonlinearity")
    ours = nf(0, **fmaps)
    if ours != channels[4]:
        raise ValueError(f"{what}: its 4x4 fc layer has {channels[4]} features (the 4x4 channel count), ours has "
                         f"nf(0) = {ours} for channel_base={fmaps['fmap_base'] * 2}, channel_max={fmaps['fmap_max']} "
                         "(needs channel_max <= channel_base / 4)")
    if architecture == "skip" and conv_clamp is not None:
        raise ValueError(f"{what}: a 'skip' discriminator with conv_clamp leaves its 4x4 fromrgb unclamped, which our "
                         "Discriminator does not express")
    if c_dim and (embed_features != cmap_dim or (mapping_layers and layer_features != cmap_dim)):
        raise ValueError(f"{what}: label mapping widths embed_features={embed_features}, "
                         f"layer_features={layer_features} differ from cmap_dim={cmap_dim}; ours maps at cmap_dim")
    return dict(
        c_dim=c_dim, img_resolution=2 ** log2, img_channels=img_channels, **fmaps, architecture=architecture,
        nonlinearity=block_act, resample_kernel=list(RESAMPLE_FILTER), mbstd_group_size=group,
        mbstd_num_features=mbstd_features, conv_clamp=conv_clamp, label_mapping="embed",
        mapping_layers=mapping_layers if c_dim else 0, mapping_fmaps=cmap_dim if c_dim else None,
        mapping_lr_mul=mapping_lr if c_dim else 0.1, **precision)


# -- tensor layouts --------------------------------------------------------------------------------------------------

def _ndim(a: np.ndarray, n: int, name: str) -> np.ndarray:
    if a.ndim != n:
        raise ValueError(f"{name} must have {n} dimensions, got shape {list(a.shape)}")
    return a


def _same(a, name):
    return a


def _fc_weight(a, name):
    return _ndim(a, 2, name).T


def _conv_weight(a, name):
    return _ndim(a, 4, name).transpose(2, 3, 1, 0)


def _up_conv_weight(a, name):
    # Upstream runs its upsampling convs as convolutions (flip_weight=False), ours correlate: flip kh, kw.
    return _ndim(a, 4, name)[:, :, ::-1, ::-1].transpose(2, 3, 1, 0)


def _affine_bias(a, name):
    return a - 1.0


def _const(a, name):
    return _ndim(a, 3, name).transpose(1, 2, 0)


_FILTER = None  # a resample_filter buffer: checked, not assigned


class _Layout:
    """Upstream module path -> class name, and tensor name -> (our variable name, conversion)."""

    def __init__(self, root_class: str):
        self.modules = {"": root_class}
        self.tensors = {}

    def fc(self, path, ours):
        self.modules[path] = "FullyConnectedLayer"
        self.tensors[f"{path}.weight"] = (f"{ours}/weight", _fc_weight)
        self.tensors[f"{path}.bias"] = (f"{ours}/bias", _same)

    def conv(self, path, ours, bias=True, weight=_conv_weight):
        self.modules[path] = "Conv2dLayer"
        self.tensors[f"{path}.weight"] = (f"{ours}/weight", weight)
        if bias:
            self.tensors[f"{path}.bias"] = (f"{ours}/bias", _same)
        self.tensors[f"{path}.resample_filter"] = (None, _FILTER)

    def modulated(self, path, ours, cls, weight=_conv_weight):
        self.modules[path] = cls
        self.modules[f"{path}.affine"] = "FullyConnectedLayer"
        self.tensors[f"{path}.weight"] = (f"{ours}/weight", weight)
        self.tensors[f"{path}.affine.weight"] = (f"{ours}/mod_weight", _fc_weight)
        self.tensors[f"{path}.affine.bias"] = (f"{ours}/mod_bias", _affine_bias)
        self.tensors[f"{path}.bias"] = (f"{ours}/bias", _same)


def generator_layout(config: dict) -> _Layout:
    L = _Layout("Generator")
    L.modules.update({"mapping": "MappingNetwork", "synthesis": "SynthesisNetwork"})
    if config["c_dim"]:
        L.fc("mapping.embed", "mapping/LabelEmbed")
    for i in range(config["mapping_layers"]):
        L.fc(f"mapping.fc{i}", f"mapping/Dense{i}")
    if config["w_avg_beta"] is not None:
        L.tensors["mapping.w_avg"] = ("dlatent_avg", _same)
    arch, log2 = config["architecture"], int(math.log2(config["img_resolution"]))

    def layer(path, ours, noise_index, up):
        L.modulated(path, ours, "SynthesisLayer", weight=_up_conv_weight if up else _conv_weight)
        L.tensors[f"{path}.resample_filter"] = (None, _FILTER)
        if config["use_noise"]:
            L.tensors[f"{path}.noise_const"] = (f"synthesis/noise{noise_index}", _same)
            L.tensors[f"{path}.noise_strength"] = (f"{ours}/noise_strength", _same)

    for r in range(2, log2 + 1):
        res, block, ours = 2 ** r, f"synthesis.b{2 ** r}", f"synthesis/{2 ** r}x{2 ** r}"
        L.modules[block] = "SynthesisBlock"
        L.tensors[f"{block}.resample_filter"] = (None, _FILTER)
        if res == 4:
            L.tensors[f"{block}.const"] = ("synthesis/4x4/Const/const", _const)
            layer(f"{block}.conv1", "synthesis/4x4/Conv", 0, up=False)
        else:
            layer(f"{block}.conv0", f"{ours}/Conv0_up", 2 * r - 5, up=True)
            layer(f"{block}.conv1", f"{ours}/Conv1", 2 * r - 4, up=False)
            if arch == "resnet":
                L.conv(f"{block}.skip", f"{ours}/Skip", bias=False, weight=_up_conv_weight)
        if arch == "skip" or r == log2:
            L.modulated(f"{block}.torgb", f"{ours}/ToRGB", "ToRGBLayer")
    return L


def discriminator_layout(config: dict) -> _Layout:
    L = _Layout("Discriminator")
    arch, log2 = config["architecture"], int(math.log2(config["img_resolution"]))
    for r in range(log2, 2, -1):
        block, ours = f"b{2 ** r}", f"{2 ** r}x{2 ** r}"
        L.modules[block] = "DiscriminatorBlock"
        L.tensors[f"{block}.resample_filter"] = (None, _FILTER)
        if arch == "skip" or r == log2:
            L.conv(f"{block}.fromrgb", f"{ours}/FromRGB")
        L.conv(f"{block}.conv0", f"{ours}/Conv0")
        L.conv(f"{block}.conv1", f"{ours}/Conv1_down")
        if arch == "resnet":
            L.conv(f"{block}.skip", f"{ours}/Skip", bias=False)
    L.modules["b4"] = "DiscriminatorEpilogue"
    if arch == "skip":
        L.conv("b4.fromrgb", "4x4/FromRGB")
    if config["mbstd_num_features"] > 0:
        L.modules["b4.mbstd"] = "MinibatchStdLayer"
    L.conv("b4.conv", "4x4/Conv")
    L.fc("b4.fc", "4x4/Dense0")
    L.fc("b4.out", "Output")
    if config["c_dim"]:
        L.modules["mapping"] = "MappingNetwork"
        L.fc("mapping.embed", "LabelEmbed")
        for i in range(config["mapping_layers"]):
            L.fc(f"mapping.fc{i}", f"Mapping{i}")
    return L


def _expected_filter() -> np.ndarray:
    f = np.outer(RESAMPLE_FILTER, RESAMPLE_FILTER)
    return f / f.sum()


def convert_values(record: PersistentRecord, layout: _Layout, what: str) -> Dict[str, np.ndarray]:
    """Our variable values from a module tree, after checking that its modules and tensors are exactly the layout's
    (and its resample filters the normalised [1, 3, 3, 1])."""
    found = {path: module.class_name for path, module in walk_modules(record)}
    problems = []
    missing = sorted(set(layout.modules) - set(found))
    unexpected = sorted(set(found) - set(layout.modules))
    wrong = [f"{p or '<root>'} is a {found[p]}, expected {c}" for p, c in layout.modules.items()
             if p in found and found[p] != c]
    tensors = named_tensors(record)
    missing_t = sorted(set(layout.tensors) - set(tensors))
    unexpected_t = sorted(set(tensors) - set(layout.tensors))
    for label, items in (("missing modules", missing), ("unexpected modules", unexpected),
                         ("missing tensors", missing_t), ("unexpected tensors", unexpected_t)):
        if items:
            problems.append(f"{label} {items[:6]}{' ...' if len(items) > 6 else ''}")
    problems += wrong[:4]
    if problems:
        raise ValueError(f"{what} is not the network its kwargs describe: " + "; ".join(problems))
    values = {}
    expected_filter = _expected_filter()
    for name, (ours, convert) in layout.tensors.items():
        value = tensors[name]
        if not np.issubdtype(value.dtype, np.floating):
            raise ValueError(f"{what}: {name} must be floating point, got {value.dtype}")
        if convert is _FILTER:
            if value.shape != expected_filter.shape or not np.allclose(value, expected_filter, rtol=0, atol=1e-6):
                raise ValueError(f"{what}: {name} is not the normalised [1, 3, 3, 1] filter; only that one is "
                                 "supported")
            continue
        values[ours] = np.array(convert(value.astype(np.float32), name), order="C")
    return values


def convert_generator(G: PersistentRecord, what: str, impl=None, fused_modconv=None, precision=None,
                      num_fp16_res=None):
    family = generator_family(G)
    if family != "stylegan2-ada-pytorch":
        raise ValueError(f"{what} is a {family} generator, not a stylegan2-ada-pytorch one")
    config = generator_config(G)
    values = convert_values(G, generator_layout(config), what)
    net = build_network("Generator", config, impl=impl, fused_modconv=fused_modconv, precision=precision,
                        num_fp16_res=num_fp16_res)
    if config["w_avg_beta"] is None:  # upstream tracks no w_avg then (and cannot truncate); ours holds zeros
        values["dlatent_avg"] = np.zeros([config["w_dim"]], np.float32)
    assign_values(net, values, what=what)
    return net


def convert_discriminator(D: PersistentRecord, what: str, impl=None, precision=None, num_fp16_res=None):
    if D.class_name != "Discriminator":
        raise ValueError(f"{what} is a {D.class_name}, not a Discriminator")
    config = discriminator_config(D)
    values = convert_values(D, discriminator_layout(config), what)
    net = build_network("Discriminator", config, impl=impl, precision=precision, num_fp16_res=num_fp16_res)
    assign_values(net, values, what=what)
    return net


def import_ada_pytorch(content: TrainingPickle, metadata: dict, impl: Optional[str] = None, fused_modconv=None,
                       precision: Optional[str] = None, num_fp16_res: Optional[int] = None) -> NetworkSnapshot:
    """G, D, G_ema of a stylegan2-ada-pytorch training pickle as our networks (None where the pickle has none).

    The networks keep the pickle's num_fp16_res (precision 'fp16') and conv_clamp unless precision / num_fp16_res
    override them."""
    prec = dict(impl=impl, precision=precision, num_fp16_res=num_fp16_res)
    out = NetworkSnapshot(metadata=dict(metadata, source_format=SOURCE_FORMAT))
    for key in ("G", "G_ema"):
        record = getattr(content, key)
        if record is not None:
            setattr(out, key, convert_generator(record, f"stylegan2-ada-pytorch {key}", fused_modconv=fused_modconv,
                                                **prec))
    if content.D is not None:
        out.D = convert_discriminator(content.D, "stylegan2-ada-pytorch D", **prec)
    return out
