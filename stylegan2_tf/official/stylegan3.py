"""StyleGAN3 networks (NVlabs/stylegan3, training/networks_stylegan3.py) from the inert records of a torch pickle
(official/torch_pickle.py) -> this project's StyleGAN3Generator (G, G_ema) and StyleGAN2 Discriminator (D).

Recognised by structure, not by source text: a Generator whose `synthesis` holds a SynthesisInput `input` and the
SynthesisLayers `L<i>_<size>_<channels>` (torch_pickle.generator_family). The configuration comes from the
Generator's `_init_kwargs` (z_dim, c_dim, w_dim, img_resolution, img_channels, mapping_kwargs and the synthesis
kwargs, which upstream's Generator takes flat) with NVIDIA's defaults filled in; unknown kwargs are refused. Then:

* the module tree (paths, class names) and the tensor names must be exactly what those kwargs build;
* the schedule is cross-checked against what the pickle's modules recorded: the synthesis network's layer_names,
  num_ws and num_fp16_res, the input's channels, size, sampling rate and bandwidth, and per layer the channels, sizes,
  sampling rates, cutoffs, half-widths, up/down factors, taps, padding, radial flag, fp16 flag, conv kernel, clamp
  and magnitude EMA beta, and the filter buffers against our numpy design. Any difference is refused with a one-line
  error naming the layer (rather than guessing which side is right).

Layouts: FC weights [out, in] -> [in, out] (biases as stored: upstream's affine biases include their init 1, and so
do ours); conv weights [O, I, k, k] -> [k, k, I, O] (both correlate); SynthesisInput.weight [C_out, C_in] -> its
transpose; freqs [C, 2], phases [C], transform [3, 3], magnitude_ema [] and mapping.w_avg [w_dim] as they are. The
discriminator is networks_stylegan2.Discriminator, the network stylegan2-ada-pytorch pickles hold: ada_pytorch.py
converts it.

Precision: upstream's float16 layers (num_fp16_res, default 4) become precision 'fp16' with the same num_fp16_res
(the same layers), as for stylegan2-ada-pytorch pickles; load_network(..., precision='fp32') overrides it.
"""
from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np

from stylegan2_tf.networks.stylegan3.schedule import DEFAULTS, Schedule, synthesis_schedule
from stylegan2_tf.official import ada_pytorch
from stylegan2_tf.official.common import KwargReader
from stylegan2_tf.official.torch_pickle import (PersistentRecord, TrainingPickle, generator_family, merged_kwargs,
                                                named_tensors, walk_modules)
from stylegan2_tf.serialization import NetworkSnapshot, assign_values, build_network

SOURCE_FORMAT = "stylegan3_pickle"
G_ARGS = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs")
# NVIDIA's defaults of the kwargs the Generator passes on to SynthesisNetwork / SynthesisLayer.
SYNTHESIS_DEFAULTS = dict(channel_base=32768, channel_max=512, output_scale=0.25, num_fp16_res=4, conv_clamp=256,
                          magnitude_ema_beta=0.999, **DEFAULTS)
MAPPING_DEFAULTS = dict(num_layers=2, lr_multiplier=0.01, w_avg_beta=0.998)
_INT_KEYS = ("channel_base", "channel_max", "num_layers", "num_critical", "margin_size", "num_fp16_res",
             "conv_kernel", "filter_size", "lrelu_upsampling")
_FLOAT_KEYS = ("first_cutoff", "first_stopband", "last_stopband_rel", "output_scale", "magnitude_ema_beta")


def _int(value, what: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _float(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{what} must be a number, got {value!r}")
    return float(value)


def generator_config(G: PersistentRecord, what: str) -> dict:
    """Our StyleGAN3Generator config from an upstream Generator's constructor kwargs (NVIDIA's defaults filled in)."""
    k = KwargReader(merged_kwargs(G, G_ARGS, what), what)
    for key in ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels"):
        if k.kwargs.get(key) is None:
            raise ValueError(f"{what}: constructor argument {key} is missing")
    config = dict(z_dim=_int(k.get("z_dim"), "z_dim", 1), c_dim=_int(k.get("c_dim"), "c_dim"),
                  w_dim=_int(k.get("w_dim"), "w_dim", 1), img_resolution=_int(k.get("img_resolution"),
                                                                               "img_resolution", 4),
                  img_channels=_int(k.get("img_channels"), "img_channels", 1))
    m = k.get("mapping_kwargs", {})
    if not isinstance(m, dict):
        raise ValueError(f"{what}: mapping_kwargs must be a dict, got {type(m).__name__}")
    m = KwargReader(dict(m), f"{what} mapping_kwargs")
    config["mapping_layers"] = _int(m.get("num_layers", MAPPING_DEFAULTS["num_layers"]), "mapping num_layers", 1)
    config["mapping_lr_mul"] = _float(m.get("lr_multiplier", MAPPING_DEFAULTS["lr_multiplier"]),
                                      "mapping lr_multiplier")
    config["w_avg_beta"] = _float(m.get("w_avg_beta", MAPPING_DEFAULTS["w_avg_beta"]), "mapping w_avg_beta")
    m.check_unknown()
    for key in _INT_KEYS:
        config[key] = _int(k.get(key, SYNTHESIS_DEFAULTS[key]), key, 0 if key in ("margin_size", "num_fp16_res")
                           else 1)
    for key in _FLOAT_KEYS:
        config[key] = _float(k.get(key, SYNTHESIS_DEFAULTS[key]), key)
    radial = k.kwargs.get("use_radial_filters", False)
    k.ignore("use_radial_filters")
    if not isinstance(radial, (bool, np.bool_)):
        raise ValueError(f"{what}: use_radial_filters must be a bool, got {radial!r}")
    config["use_radial_filters"] = bool(radial)
    k.ignore("conv_clamp")
    clamp = k.kwargs.get("conv_clamp", SYNTHESIS_DEFAULTS["conv_clamp"])  # None: no clamping
    config["conv_clamp"] = None if clamp is None else _float(clamp, "conv_clamp")
    k.check_unknown()
    n = config["num_fp16_res"]
    config.update(precision="fp16" if n > 0 else "fp32")
    return config


def _schedule(config: dict) -> Schedule:
    keys = ("channel_base", "channel_max", "num_layers", "num_critical", "first_cutoff", "first_stopband",
            "last_stopband_rel", "margin_size", "conv_kernel", "filter_size", "lrelu_upsampling",
            "use_radial_filters")
    return synthesis_schedule(config["img_resolution"], config["img_channels"], **{k: config[k] for k in keys})


# -- structure -------------------------------------------------------------------------------------------------------

def _fc_weight(a):
    return a.T


def _conv_weight(a):
    return a.transpose(2, 3, 1, 0)


def _same(a):
    return a


class _Layout:
    """Upstream module path -> class name; tensor name -> (our variable name, conversion, expected ndim)."""

    def __init__(self):
        self.modules: Dict[str, str] = {"": "Generator"}
        self.tensors: Dict[str, tuple] = {}

    def fc(self, path: str, ours: str):
        self.modules[path] = "FullyConnectedLayer"
        self.tensors[f"{path}.weight"] = (f"{ours}/weight", _fc_weight, 2)
        self.tensors[f"{path}.bias"] = (f"{ours}/bias", _same, 1)


def generator_layout(config: dict, schedule: Schedule) -> _Layout:
    L = _Layout()
    L.modules.update({"mapping": "MappingNetwork", "synthesis": "SynthesisNetwork",
                      "synthesis.input": "SynthesisInput"})
    if config["c_dim"]:
        L.fc("mapping.embed", "mapping/LabelEmbed")
    for i in range(config["mapping_layers"]):
        L.fc(f"mapping.fc{i}", f"mapping/Dense{i}")
    L.tensors["mapping.w_avg"] = ("mapping/w_avg", _same, 1)
    L.fc("synthesis.input.affine", "synthesis/input/affine")
    L.tensors["synthesis.input.weight"] = ("synthesis/input/weight", _fc_weight, 2)
    for name, ndim in (("freqs", 2), ("phases", 1), ("transform", 2)):
        L.tensors[f"synthesis.input.{name}"] = (f"synthesis/input/{name}", _same, ndim)
    for spec in schedule.layers:
        path, ours = f"synthesis.{spec.name}", f"synthesis/{spec.name}"
        L.modules[path] = "SynthesisLayer"
        L.fc(f"{path}.affine", f"{ours}/affine")
        L.tensors[f"{path}.weight"] = (f"{ours}/weight", _conv_weight, 4)
        L.tensors[f"{path}.bias"] = (f"{ours}/bias", _same, 1)
        L.tensors[f"{path}.magnitude_ema"] = (f"{ours}/magnitude_ema", _same, 0)
        if spec.up_taps > 1:
            L.tensors[f"{path}.up_filter"] = (None, spec.up_filter, None)
        if spec.down_taps > 1:
            L.tensors[f"{path}.down_filter"] = (None, spec.down_filter, None)
    return L


def _check_tree(record: PersistentRecord, layout: _Layout, what: str) -> Dict[str, np.ndarray]:
    found = {path: module.class_name for path, module in walk_modules(record)}
    tensors = named_tensors(record)
    problems = []
    for label, items in (("missing modules", sorted(set(layout.modules) - set(found))),
                         ("unexpected modules", sorted(set(found) - set(layout.modules))),
                         ("missing tensors", sorted(set(layout.tensors) - set(tensors))),
                         ("unexpected tensors", sorted(set(tensors) - set(layout.tensors)))):
        if items:
            problems.append(f"{label} {items[:6]}{' ...' if len(items) > 6 else ''}")
    problems += [f"{p or '<root>'} is a {found[p]}, expected {c}" for p, c in layout.modules.items()
                 if p in found and found[p] != c][:4]
    if problems:
        raise ValueError(f"{what} is not the StyleGAN3 network its kwargs describe: " + "; ".join(problems))
    return tensors


# -- cross-checks ----------------------------------------------------------------------------------------------------

def _matches(value, expected) -> bool:
    if expected is None:
        return value is None
    if isinstance(expected, (bool, np.bool_)):
        return isinstance(value, (bool, np.bool_)) and bool(value) == bool(expected)
    if isinstance(expected, (list, tuple)):
        try:
            return [int(v) for v in value] == list(expected)
        except (TypeError, ValueError):
            return False
    if isinstance(value, np.ndarray):  # in_size / out_size / size: broadcast [width, height]
        return value.size > 0 and np.all(value == expected)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        return False
    if isinstance(expected, int):
        return float(value) == expected
    return bool(np.isclose(float(value), expected, rtol=1e-9, atol=0))


def _show(value) -> str:
    if isinstance(value, np.ndarray):
        return str(value.tolist())
    if isinstance(value, (np.floating, float)):
        return f"{float(value):.9g}"
    return repr(value)


def _cross_check(record: PersistentRecord, expected: dict, what: str) -> None:
    for key, want in expected.items():
        if key not in record.state:
            raise ValueError(f"{what}: the pickle has no attribute {key} (a {record.class_name} of another version?)")
        value = record.state[key]
        if not _matches(value, want):
            raise ValueError(f"{what}: {key} is {_show(value)} in the pickle, the schedule gives {_show(want)}")


def _check_filter(value: np.ndarray, ours: Optional[np.ndarray], what: str) -> None:
    if ours is None or value.shape != ours.shape:
        raise ValueError(f"{what} has shape {list(value.shape)}, the design gives "
                         f"{None if ours is None else list(ours.shape)}")
    # Both are float64 designs rounded to float32: equal up to a few float32 ulps.
    tol = 4 * np.finfo(np.float32).eps * float(np.max(np.abs(ours)))
    diff = float(np.max(np.abs(value.astype(np.float64) - ours)))
    if not diff <= tol:
        raise ValueError(f"{what} differs from the filter the schedule designs (max difference {diff:.3g})")


def check_schedule(G: PersistentRecord, config: dict, schedule: Schedule, tensors: Dict[str, np.ndarray],
                   what: str) -> None:
    """The pickle's recorded schedule (module attributes, filter buffers) against ours; ValueError naming the first
    layer that differs."""
    syn = G.modules["synthesis"]
    _cross_check(syn, dict(num_ws=config["num_layers"] + 2, img_resolution=config["img_resolution"],
                           img_channels=config["img_channels"], num_layers=config["num_layers"],
                           num_critical=config["num_critical"], margin_size=config["margin_size"],
                           output_scale=config["output_scale"], num_fp16_res=config["num_fp16_res"]),
                 f"{what} synthesis network")
    names = syn.state.get("layer_names")
    if not isinstance(names, (list, tuple)) or list(names) != list(schedule.layer_names):
        raise ValueError(f"{what}: the pickle's layer_names {_show(names)[:200]} differ from the schedule's "
                         f"{list(schedule.layer_names)}")
    inp = schedule.input
    _cross_check(syn.modules["input"], dict(w_dim=config["w_dim"], channels=inp.channels, size=inp.size,
                                            sampling_rate=inp.sampling_rate, bandwidth=inp.bandwidth),
                 f"{what} synthesis input")
    _cross_check(G.modules["mapping"], dict(z_dim=config["z_dim"], c_dim=config["c_dim"], w_dim=config["w_dim"],
                                            num_ws=config["num_layers"] + 2, num_layers=config["mapping_layers"],
                                            w_avg_beta=config["w_avg_beta"]), f"{what} mapping network")
    for spec in schedule.layers:
        layer = syn.modules[spec.name]
        expected = {key: getattr(spec, key) for key in (
            "is_torgb", "is_critically_sampled", "in_channels", "out_channels", "in_size", "out_size",
            "in_sampling_rate", "out_sampling_rate", "tmp_sampling_rate", "in_cutoff", "out_cutoff",
            "in_half_width", "out_half_width", "conv_kernel", "up_factor", "down_factor", "up_taps", "down_taps",
            "down_radial")}
        expected.update(w_dim=config["w_dim"], padding=list(spec.padding), conv_clamp=config["conv_clamp"],
                        magnitude_ema_beta=config["magnitude_ema_beta"],
                        use_fp16=spec.reduced(config["img_resolution"], config["num_fp16_res"]))
        _cross_check(layer, expected, f"{what} layer {spec.name}")
        for key, design in (("up_filter", spec.up_filter), ("down_filter", spec.down_filter)):
            value = tensors.get(f"synthesis.{spec.name}.{key}")
            if value is not None:
                _check_filter(value, design(), f"{what} layer {spec.name}: {key}")


def convert_values(layout: _Layout, tensors: Dict[str, np.ndarray], what: str) -> Dict[str, np.ndarray]:
    values = {}
    for name, (ours, convert, ndim) in layout.tensors.items():
        value = tensors[name]
        if not np.issubdtype(value.dtype, np.floating):
            raise ValueError(f"{what}: {name} must be floating point, got {value.dtype}")
        if ours is None:  # a filter buffer: checked, not assigned (ours are designed from the schedule)
            continue
        if value.ndim != ndim:
            raise ValueError(f"{what}: {name} must have {ndim} dimensions, got shape {list(value.shape)}")
        values[ours] = np.array(convert(value.astype(np.float32)), order="C")
    return values


def convert_generator(G: PersistentRecord, what: str, impl=None, precision=None, num_fp16_res=None):
    family = generator_family(G)
    if family != "stylegan3":
        raise ValueError(f"{what} is a {family} generator, not a StyleGAN3 one")
    config = generator_config(G, what)
    try:
        schedule = _schedule(config)
    except ValueError as e:
        raise ValueError(f"{what}: {e}") from None
    layout = generator_layout(config, schedule)
    tensors = _check_tree(G, layout, what)
    check_schedule(G, config, schedule, tensors, what)
    values = convert_values(layout, tensors, what)
    net = build_network("StyleGAN3Generator", config, impl=impl, precision=precision, num_fp16_res=num_fp16_res)
    assign_values(net, values, what=what)
    return net


def import_stylegan3(content: TrainingPickle, metadata: dict, impl: Optional[str] = None, fused_modconv=None,
                     precision: Optional[str] = None, num_fp16_res: Optional[int] = None) -> NetworkSnapshot:
    """G, D, G_ema of a StyleGAN3 training pickle as our networks (None where the pickle has none).

    fused_modconv is accepted for the common signature and ignored (StyleGAN3's layers have one form)."""
    del fused_modconv
    prec = dict(impl=impl, precision=precision, num_fp16_res=num_fp16_res)
    out = NetworkSnapshot(metadata=dict(metadata, source_format=SOURCE_FORMAT))
    for key in ("G", "G_ema"):
        record = getattr(content, key)
        if record is not None:
            setattr(out, key, convert_generator(record, f"StyleGAN3 {key}", **prec))
    if content.D is not None:
        out.D = ada_pytorch.convert_discriminator(content.D, "StyleGAN3 D", **prec)
    return out


__all__: List[str] = ["SOURCE_FORMAT", "convert_generator", "generator_config", "import_stylegan3"]
