"""Test helpers: synthetic stylegan2-ada-pytorch training pickles written without torch, and a numpy statement of the
ada-pytorch networks' forward pass (NCHW, torch layouts) to check imported networks against.

Everything here is written from the documented format and formulas (docs/networks.md, "stylegan2-ada-pytorch
pickles"), independently of stylegan2_tf's code:

* the pickle is a plain pickle of dict(G, D, G_ema, augment_pipe, training_set_kwargs); each module pickles as
  `torch_utils.persistence._reconstruct_persistent_obj(meta)` with meta = dict(type, version, module_src,
  class_name, state), state = the module's __dict__ as torch 2.x has it (training, _parameters, _buffers, the hook
  dicts, _modules, the constructor's attributes, _init_args, _init_kwargs); tensors are
  `torch._utils._rebuild_tensor_v2(torch.storage._load_from_bytes(blob), offset, size, stride, False, OrderedDict())`
  (parameters wrapped in `_rebuild_parameter`), blob a legacy torch.save of one storage. Fake `torch`,
  `torch_utils`, `dnnlib` modules exist only while dumping (as official_format.py fakes dnnlib), and module_src is a
  placeholder that raises if anything ever ran it;
* the module tree, tensor names and shapes follow the constructors of training/networks.py (SynthesisBlock b4 holds
  `const` and `conv1`, later blocks `conv0` (up) and `conv1`, `torgb` for 'skip' or the last block, `skip` for
  'resnet'; D blocks `fromrgb` / `conv0` / `conv1` / `skip`, epilogue `b4` with `mbstd` / `conv` / `fc` / `out`, and
  a MappingNetwork `mapping` for labels);
* the reference states upstream's semantics directly: FullyConnectedLayer (weight [out, in] * lr / sqrt(in), bias *
  lr), Conv2dLayer / conv2d_resample (the generic path: zero-insert + pad + FIR (gain 4) for up, the conv, FIR +
  stride for down; flip_weight=False, a convolution, for up=2), modulated_conv2d (per-sample weights, demodulation,
  noise), bias_act with gain and clamp, the blocks' resnet/skip wiring, minibatch stddev and the conditional
  epilogue.
"""
from __future__ import annotations

import collections
import io
import pickle
import struct
import sys
import types
from typing import Optional

import numpy as np

from official_format import _upfirdn

# A placeholder for the module source (real pickles carry NVIDIA's source here); longer than 255 bytes like a real
# one, so that it pickles with the same opcode.
PLACEHOLDER_SRC = ("raise RuntimeError('module_src of a synthetic test pickle: nothing may ever run it')\n"
                   + "# placeholder line of the module source of a synthetic test pickle\n" * 4)
LEGACY_MAGIC = 0x1950a86a20f9469cfc6c
SQRT_HALF = np.sqrt(0.5)
FILTER = np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64.0


# ---------------------------------------------------------------------------------------------------------------------
# The fake modules the pickle names.

def _named(fn, module, name):
    fn.__module__, fn.__qualname__, fn.__name__ = module, name, name
    return fn


def _never(*_args, **_kwargs):
    raise RuntimeError("a stand-in of the fake torch modules was called")


def _fake_modules():
    mods = {n: types.ModuleType(n) for n in ("torch", "torch._utils", "torch.storage", "torch_utils",
                                             "torch_utils.persistence", "dnnlib", "dnnlib.util")}
    mods["torch_utils.persistence"]._reconstruct_persistent_obj = _named(
        lambda *a: _never(), "torch_utils.persistence", "_reconstruct_persistent_obj")
    for name in ("_rebuild_tensor_v2", "_rebuild_parameter"):
        setattr(mods["torch._utils"], name, _named(lambda *a: _never(), "torch._utils", name))
    mods["torch.storage"]._load_from_bytes = _named(lambda *a: _never(), "torch.storage", "_load_from_bytes")
    for name in ("FloatStorage", "DoubleStorage", "HalfStorage", "LongStorage"):
        setattr(mods["torch"], name, type(name, (), {"__module__": "torch"}))

    class EasyDict(dict):
        pass
    EasyDict.__module__, EasyDict.__qualname__ = "dnnlib.util", "EasyDict"
    mods["dnnlib.util"].EasyDict = EasyDict
    mods["dnnlib"].EasyDict = EasyDict
    return mods


_MODS = None


def _mods():
    global _MODS
    if _MODS is None:
        _MODS = _fake_modules()
    return _MODS


def dump_with_fakes(obj, protocol=4) -> bytes:
    """Pickles obj with the fake torch / torch_utils / dnnlib modules installed only while dumping."""
    mods = _mods()
    saved = {n: sys.modules.get(n) for n in mods}
    try:
        sys.modules.update(mods)
        return pickle.dumps(obj, protocol=protocol)
    finally:
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m


def easydict(items) -> dict:
    """A dict of the fake dnnlib.util.EasyDict class (pickles as the real one: NEWOBJ + SETITEMS)."""
    return _mods()["dnnlib.util"].EasyDict(items)


# ---------------------------------------------------------------------------------------------------------------------
# Storages and tensors.

class _StorageMarker:
    pass


def storage_blob(flat: np.ndarray, type_name: str = "FloatStorage", key: str = "94000000000000", count=None,
                 little_endian: bool = True, magic: int = LEGACY_MAGIC) -> bytes:
    """A legacy torch.save of one storage: magic, protocol 1001, sys_info, the storage's persistent id, its key list,
    then the element count (int64 LE) and the raw LE data. count overrides the written element count."""
    dtype = {"FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2", "LongStorage": "<i8"}[type_name]
    flat = np.asarray(flat).reshape(-1).astype(dtype)
    out = io.BytesIO()
    for obj in (magic, 1001, dict(protocol_version=1001, little_endian=little_endian,
                                  type_sizes=dict(short=2, int=4, long=4))):
        pickle.dump(obj, out, protocol=2)
    marker = _StorageMarker()
    storage_cls = getattr(_mods()["torch"], type_name)

    class _Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if obj is marker:
                return ("storage", storage_cls, key, "cpu", flat.size, None)
            return None

    mods = {"torch": _mods()["torch"]}
    saved = sys.modules.get("torch")
    try:
        sys.modules.update(mods)
        _Pickler(out, protocol=2).dump(marker)
    finally:
        if saved is None:
            sys.modules.pop("torch", None)
        else:
            sys.modules["torch"] = saved
    pickle.dump([key], out, protocol=2)
    out.write(struct.pack("<q", flat.size if count is None else count))
    out.write(flat.tobytes())
    return out.getvalue()


class Storage:
    def __init__(self, flat, blob: Optional[bytes] = None, **blob_kwargs):
        self.blob = blob if blob is not None else storage_blob(flat, **blob_kwargs)

    def __reduce__(self):
        return (_mods()["torch.storage"]._load_from_bytes, (self.blob,))


class Tensor:
    """A tensor as torch pickles it; by default contiguous in its own storage. `storage`/`offset`/`size`/`stride`
    describe any other layout (e.g. a view or channels_last strides) over a flat storage."""

    def __init__(self, value, param=False, storage=None, offset=0, size=None, stride=None):
        value = np.asarray(value)
        self.param = param
        if storage is None:  # contiguous (C order) in a storage of its own
            storage = Storage(value.reshape(-1))
            size = value.shape
            stride = tuple(int(np.prod(value.shape[i + 1:])) for i in range(value.ndim))
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def __reduce__(self):
        tensor = _TensorData(self)
        if self.param:
            return (_mods()["torch._utils"]._rebuild_parameter, (tensor, False, collections.OrderedDict()))
        return tensor.__reduce__()


class _TensorData:
    def __init__(self, t: Tensor):
        self.t = t

    def __reduce__(self):
        t = self.t
        return (_mods()["torch._utils"]._rebuild_tensor_v2,
                (t.storage, t.offset, t.size, t.stride, False, collections.OrderedDict()))


# ---------------------------------------------------------------------------------------------------------------------
# Modules.

_HOOKS = ("_backward_pre_hooks", "_backward_hooks", "_is_full_backward_hook", "_forward_hooks",
          "_forward_hooks_with_kwargs", "_forward_hooks_always_called", "_forward_pre_hooks",
          "_forward_pre_hooks_with_kwargs", "_state_dict_hooks", "_state_dict_pre_hooks", "_load_state_dict_pre_hooks",
          "_load_state_dict_post_hooks")


class Module:
    """An nn.Module of a persistent class, pickled as torch_utils.persistence does (torch 2.x module state)."""

    def __init__(self, class_name, args=(), kwargs=None, version=6, **attrs):
        self.class_name, self.version = class_name, version
        self.init_args, self.init_kwargs = tuple(args), dict(kwargs or {})
        self.params, self.buffers, self.modules, self.attrs = {}, {}, {}, dict(attrs)

    def tensors(self, prefix=""):
        """Flat torch state_dict-style name -> array of this module tree."""
        out = {}
        for name, t in list(self.params.items()) + list(self.buffers.items()):
            if t is not None:
                out[prefix + name] = np.asarray(t.value if isinstance(t, _Raw) else t)
        for name, m in self.modules.items():
            if m is not None:
                out.update(m.tensors(prefix + name + "."))
        return out

    def __reduce__(self):
        def tensor(v, param):
            return v.tensor if isinstance(v, _Raw) else (None if v is None else Tensor(v, param=param))
        state = {"training": False,
                 "_parameters": {k: tensor(v, True) for k, v in self.params.items()},
                 "_buffers": {k: tensor(v, False) for k, v in self.buffers.items()},
                 "_non_persistent_buffers_set": set()}
        state.update({h: None if h == "_is_full_backward_hook" else collections.OrderedDict() for h in _HOOKS})
        state["_modules"] = dict(self.modules)
        state.update(self.attrs)
        state["_init_args"] = self.init_args
        state["_init_kwargs"] = self.init_kwargs
        meta = dict(type="class", version=self.version, module_src=PLACEHOLDER_SRC, class_name=self.class_name,
                    state=state)
        return (_mods()["torch_utils.persistence"]._reconstruct_persistent_obj, (meta,))


class _Raw:
    """A tensor given with an explicit storage layout (tests of the bounds checks)."""

    def __init__(self, value, tensor: Tensor):
        self.value, self.tensor = value, tensor


# ---------------------------------------------------------------------------------------------------------------------
# Network builders (module trees as training/networks.py constructs them).

def _f32(a):
    return np.asarray(a, np.float32)


class _Rng:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def n(self, *shape, scale=1.0):
        return _f32(scale * self.rng.standard_normal(shape))


def _fc(rng, in_f, out_f, activation="linear", lr=1.0, bias_init=0.0, args=None):
    kwargs = {}
    if activation != "linear":
        kwargs["activation"] = activation
    if lr != 1:
        kwargs["lr_multiplier"] = lr
    if bias_init:
        kwargs["bias_init"] = bias_init
    m = Module("FullyConnectedLayer", args if args is not None else (in_f, out_f), kwargs, activation=activation,
               weight_gain=np.float64(lr / np.sqrt(in_f)), bias_gain=lr)
    m.params["weight"] = rng.n(out_f, in_f, scale=1.0 / lr)
    m.params["bias"] = _f32(bias_init + rng.n(out_f, scale=0.3) / lr)
    return m


def _conv(rng, cin, cout, k, activation="linear", up=1, down=1, bias=True, conv_clamp=None, trainable=True,
          channels_last=False):
    kwargs = dict(kernel_size=k, activation=activation, up=up, down=down, conv_clamp=conv_clamp)
    m = Module("Conv2dLayer", (cin, cout), kwargs, activation=activation, up=up, down=down, conv_clamp=conv_clamp,
               padding=k // 2, weight_gain=np.float64(1 / np.sqrt(cin * k * k)),
               act_gain=np.float64(np.sqrt(2) if activation in ("lrelu", "relu") else 1.0))
    m.buffers["resample_filter"] = _f32(FILTER)
    store = m.params if trainable else m.buffers
    w = rng.n(cout, cin, k, k)
    store["weight"] = _channels_last(w) if channels_last else w
    if bias:
        store["bias"] = rng.n(cout, scale=0.3)
    else:
        m.attrs["bias"] = None  # torch keeps `self.bias = None` as a plain attribute
    return m


def _channels_last(w):
    """A weight stored in channels_last memory format: strides (I*kh*kw, 1, kw*I, I) over an NHWC buffer."""
    o, i, kh, kw = w.shape
    flat = np.ascontiguousarray(w.transpose(0, 2, 3, 1)).reshape(-1)
    return _Raw(w, Tensor(w, param=True, storage=Storage(flat), size=w.shape, stride=(i * kh * kw, 1, kw * i, i)))


def _mapping(rng, z_dim, c_dim, w_dim, num_ws, num_layers=8, embed_features=None, layer_features=None,
             activation="lrelu", lr_multiplier=0.01, w_avg_beta=0.995, kwargs=None):
    embed = (w_dim if embed_features is None else embed_features) if c_dim else 0
    layer = w_dim if layer_features is None else layer_features
    feats = [z_dim + embed] + [layer] * (num_layers - 1) + [w_dim]
    m = Module("MappingNetwork", (), dict(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=num_ws, **(kwargs or {})),
               z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=num_ws, num_layers=num_layers, w_avg_beta=w_avg_beta)
    if c_dim:
        m.modules["embed"] = _fc(rng, c_dim, embed)
    for i in range(num_layers):
        m.modules[f"fc{i}"] = _fc(rng, feats[i], feats[i + 1], activation=activation, lr=lr_multiplier)
    if num_ws is not None and w_avg_beta is not None:
        m.buffers["w_avg"] = rng.n(w_dim, scale=0.3)
    return m


def _synthesis_layer(rng, cin, cout, w_dim, res, up=1, use_noise=True, activation="lrelu", conv_clamp=None,
                     kernel_size=3, channels_last=False):
    m = Module("SynthesisLayer", (cin, cout), dict(w_dim=w_dim, resolution=res, up=up, conv_clamp=conv_clamp,
                                                   channels_last=channels_last),
               resolution=res, up=up, use_noise=use_noise, activation=activation, conv_clamp=conv_clamp,
               padding=kernel_size // 2, act_gain=np.float64(np.sqrt(2)))
    m.buffers["resample_filter"] = _f32(FILTER)
    m.modules["affine"] = _fc(rng, w_dim, cin, bias_init=1.0, args=(w_dim, cin))
    w = rng.n(cout, cin, kernel_size, kernel_size)
    m.params["weight"] = _channels_last(w) if channels_last else w
    if use_noise:
        m.buffers["noise_const"] = rng.n(res, res)
        m.params["noise_strength"] = _f32(rng.rng.uniform(0.1, 0.5))
    m.params["bias"] = rng.n(cout, scale=0.3)
    return m


def _torgb(rng, cin, img_channels, w_dim, conv_clamp=None):
    m = Module("ToRGBLayer", (cin, img_channels), dict(w_dim=w_dim, conv_clamp=conv_clamp, channels_last=False),
               conv_clamp=conv_clamp, weight_gain=np.float64(1 / np.sqrt(cin)))
    m.modules["affine"] = _fc(rng, w_dim, cin, bias_init=1.0, args=(w_dim, cin))
    m.params["weight"] = rng.n(img_channels, cin, 1, 1)
    m.params["bias"] = rng.n(img_channels, scale=0.3)
    return m


def ada_generator(seed=0, z_dim=8, c_dim=0, w_dim=8, img_resolution=8, img_channels=3, mapping_kwargs=None,
                  synthesis_kwargs=None, extra_kwargs=None, channels_last=False) -> Module:
    """A Generator(z_dim, c_dim, w_dim, img_resolution, img_channels, mapping_kwargs, synthesis_kwargs) module tree
    with random weights. channels_last stores the conv weights with channels_last strides."""
    rng = _Rng(seed)
    mk, sk = dict(mapping_kwargs or {}), dict(synthesis_kwargs or {})
    cbase, cmax = sk.get("channel_base", 32768), sk.get("channel_max", 512)
    arch, clamp = sk.get("architecture", "skip"), sk.get("conv_clamp")
    nfp16 = sk.get("num_fp16_res", 0)
    layer_kw = dict(use_noise=sk.get("use_noise", True), activation=sk.get("activation", "lrelu"),
                    kernel_size=sk.get("kernel_size", 3))
    log2 = int(np.log2(img_resolution))
    res_list = [2 ** i for i in range(2, log2 + 1)]
    ch = {r: min(cbase // r, cmax) for r in res_list}
    fp16_res = max(2 ** (log2 + 1 - nfp16), 8)
    syn = Module("SynthesisNetwork", (), dict(w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels,
                                             **sk),
                 w_dim=w_dim, img_resolution=img_resolution, img_resolution_log2=log2, img_channels=img_channels,
                 block_resolutions=res_list)
    num_ws = 0
    for r in res_list:
        cin, cout, last = (ch[r // 2] if r > 4 else 0), ch[r], r == img_resolution
        blk = Module("SynthesisBlock", (cin, cout), dict(w_dim=w_dim, resolution=r, img_channels=img_channels,
                                                         is_last=last, use_fp16=r >= fp16_res),
                     in_channels=cin, w_dim=w_dim, resolution=r, img_channels=img_channels, is_last=last,
                     architecture=arch, use_fp16=r >= fp16_res, channels_last=False, num_conv=0, num_torgb=0)
        blk.buffers["resample_filter"] = _f32(FILTER)
        if cin == 0:
            blk.params["const"] = rng.n(cout, r, r)
        else:
            blk.modules["conv0"] = _synthesis_layer(rng, cin, cout, w_dim, r, up=2, conv_clamp=clamp,
                                                    channels_last=channels_last, **layer_kw)
        blk.modules["conv1"] = _synthesis_layer(rng, cout, cout, w_dim, r, conv_clamp=clamp,
                                                channels_last=channels_last, **layer_kw)
        n_conv = 1 if cin == 0 else 2
        if last or arch == "skip":
            blk.modules["torgb"] = _torgb(rng, cout, img_channels, w_dim, conv_clamp=clamp)
        if cin and arch == "resnet":
            blk.modules["skip"] = _conv(rng, cin, cout, 1, up=2, bias=False)
        blk.attrs.update(num_conv=n_conv, num_torgb=int("torgb" in blk.modules))
        num_ws += n_conv + (1 if last else 0)
        syn.modules[f"b{r}"] = blk
    syn.attrs["num_ws"] = num_ws
    kwargs = dict(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels,
                  mapping_kwargs=easydict(mk), synthesis_kwargs=easydict(sk), **(extra_kwargs or {}))
    G = Module("Generator", (), kwargs, z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, img_resolution=img_resolution,
               img_channels=img_channels)
    G.modules["synthesis"] = syn
    G.attrs["num_ws"] = num_ws
    G.modules["mapping"] = _mapping(rng, z_dim, c_dim, w_dim, num_ws, kwargs=mk, **mk)
    return G


def ada_discriminator(seed=1, c_dim=0, img_resolution=8, img_channels=3, architecture="resnet", channel_base=32768,
                      channel_max=512, num_fp16_res=0, conv_clamp=None, cmap_dim=None, block_kwargs=None,
                      mapping_kwargs=None, epilogue_kwargs=None, extra_kwargs=None) -> Module:
    rng = _Rng(seed)
    bk, mk, ek = dict(block_kwargs or {}), dict(mapping_kwargs or {}), dict(epilogue_kwargs or {})
    act = bk.get("activation", "lrelu")
    freeze = bk.get("freeze_layers", 0)
    log2 = int(np.log2(img_resolution))
    res_list = [2 ** i for i in range(log2, 2, -1)]
    ch = {r: min(channel_base // r, channel_max) for r in res_list + [4]}
    cmap = (ch[4] if cmap_dim is None else cmap_dim) if c_dim else 0
    kwargs = dict(c_dim=c_dim, img_resolution=img_resolution, img_channels=img_channels, architecture=architecture,
                  channel_base=channel_base, channel_max=channel_max, num_fp16_res=num_fp16_res,
                  conv_clamp=conv_clamp, block_kwargs=easydict(bk), mapping_kwargs=easydict(mk),
                  epilogue_kwargs=easydict(ek), **(extra_kwargs or {}))
    if cmap_dim is not None:
        kwargs["cmap_dim"] = cmap_dim
    D = Module("Discriminator", (), kwargs, c_dim=c_dim, img_resolution=img_resolution, img_resolution_log2=log2,
               img_channels=img_channels, block_resolutions=res_list)
    fp16_res = max(2 ** (log2 + 1 - num_fp16_res), 8)
    idx = 0
    for r in res_list:
        cin, tmp, cout = (ch[r] if r < img_resolution else 0), ch[r], ch[r // 2]
        blk = Module("DiscriminatorBlock", (cin, tmp, cout), dict(resolution=r, first_layer_idx=idx,
                                                                  use_fp16=r >= fp16_res, **bk),
                     in_channels=cin, resolution=r, img_channels=img_channels, first_layer_idx=idx,
                     architecture=architecture, use_fp16=r >= fp16_res, channels_last=False)
        blk.buffers["resample_filter"] = _f32(FILTER)
        n = 0
        layer = dict(activation=act, conv_clamp=conv_clamp)
        if cin == 0 or architecture == "skip":
            blk.modules["fromrgb"] = _conv(rng, img_channels, tmp, 1, trainable=idx + n >= freeze, **layer)
            n += 1
        blk.modules["conv0"] = _conv(rng, tmp, tmp, 3, trainable=idx + n >= freeze, **layer)
        blk.modules["conv1"] = _conv(rng, tmp, cout, 3, down=2, trainable=idx + n + 1 >= freeze, **layer)
        n += 2
        if architecture == "resnet":
            blk.modules["skip"] = _conv(rng, tmp, cout, 1, down=2, bias=False, trainable=idx + n >= freeze)
            n += 1
        blk.attrs["num_layers"] = n
        idx += n
        D.modules[f"b{r}"] = blk
    if c_dim:
        D.modules["mapping"] = _mapping(rng, 0, c_dim, cmap, None, w_avg_beta=None, **mk)
    group, nch = ek.get("mbstd_group_size", 4), ek.get("mbstd_num_channels", 1)
    epi = Module("DiscriminatorEpilogue", (ch[4],), dict(cmap_dim=cmap, resolution=4, img_channels=img_channels,
                                                        architecture=architecture, conv_clamp=conv_clamp, **ek),
                 in_channels=ch[4], cmap_dim=cmap, resolution=4, img_channels=img_channels, architecture=architecture)
    eact = ek.get("activation", "lrelu")
    if architecture == "skip":
        epi.modules["fromrgb"] = _conv(rng, img_channels, ch[4], 1, activation=eact)
    epi.modules["mbstd"] = Module("MinibatchStdLayer", (), dict(group_size=group, num_channels=nch),
                                  group_size=group, num_channels=nch) if nch > 0 else None
    epi.modules["conv"] = _conv(rng, ch[4] + nch, ch[4], 3, activation=eact, conv_clamp=conv_clamp)
    epi.modules["fc"] = _fc(rng, ch[4] * 16, ch[4], activation=eact)
    epi.modules["out"] = _fc(rng, ch[4], cmap if c_dim else 1)
    D.modules["b4"] = epi
    return D


# AugmentPipe's constructor defaults (probability multipliers 0, strengths as in ada-pytorch's training/augment.py).
AUGMENT_DEFAULTS = dict(xflip=0, rotate90=0, xint=0, xint_max=0.125, scale=0, rotate=0, aniso=0, xfrac=0,
                        scale_std=0.2, rotate_max=1, aniso_std=0.2, xfrac_std=0.125, brightness=0, contrast=0,
                        lumaflip=0, hue=0, saturation=0, brightness_std=0.2, contrast_std=0.5, hue_max=1,
                        saturation_std=1, imgfilter=0, imgfilter_bands=[1, 1, 1, 1], imgfilter_std=1, noise=0,
                        cutout=0, noise_std=0.1, cutout_size=0.5)


def augment_pipe(p=0.25, **kwargs) -> Module:
    """An AugmentPipe(**kwargs) with p (buffers p, Hz_geom, Hz_fbank; no parameters; every setting an attribute)."""
    attrs = {k: (list(v) if isinstance(v, list) else float(v)) for k, v in dict(AUGMENT_DEFAULTS, **kwargs).items()}
    m = Module("AugmentPipe", (), kwargs, **attrs)
    m.buffers["p"] = _f32(p)
    m.buffers["Hz_geom"] = _f32(np.linspace(-0.1, 0.5, 12))
    m.buffers["Hz_fbank"] = _f32(np.ones((4, 43)) / 43)
    return m


def make_ada_pytorch_pickle(G=None, D=None, G_ema=None, augment=None, training_set_kwargs=None, protocol=4,
                            include=("G", "D", "G_ema", "augment_pipe", "training_set_kwargs"), extra=None):
    """(pickle bytes, {"G", "D", "G_ema": flat torch-named arrays}) of a training snapshot dict."""
    data = dict(G=G, D=D, G_ema=G_ema, augment_pipe=augment,
                training_set_kwargs=dict(training_set_kwargs) if training_set_kwargs is not None else None)
    data = {k: v for k, v in data.items() if k in include}
    data.update(extra or {})
    params = {k: v.tensors() for k, v in (("G", G), ("D", D), ("G_ema", G_ema)) if v is not None}
    return dump_with_fakes(data, protocol=protocol), params


# ---------------------------------------------------------------------------------------------------------------------
# numpy statement of the ada-pytorch networks (NCHW, torch layouts, float64).

def _act(x, act, gain, clamp):
    if act == "lrelu":
        x = np.where(x > 0, x, 0.2 * x)
    elif act == "relu":
        x = np.maximum(x, 0)
    x = x * gain
    return x if clamp is None else np.clip(x, -clamp, clamp)


def _def_gain(act):
    return np.sqrt(2) if act in ("lrelu", "relu") else 1.0


def bias_act(x, b, act="linear", gain=None, clamp=None):
    if b is not None:
        x = x + b.reshape([1, -1] + [1] * (x.ndim - 2))
    return _act(x, act, _def_gain(act) if gain is None else gain, clamp)


def fully_connected(p, name, x, act="linear", lr=1.0):
    w = p[f"{name}.weight"].astype(np.float64) * (lr / np.sqrt(p[f"{name}.weight"].shape[1]))
    return bias_act(x @ w.T, p[f"{name}.bias"] * lr, act)


def _correlate(x, w, stride=1):
    """torch.nn.functional.conv2d (correlation), no padding: x [N, I, H, W], w [O, I, kh, kw]."""
    o, i, kh, kw = w.shape
    n, _, h, wd = x.shape
    ho, wo = (h - kh) // stride + 1, (wd - kw) // stride + 1
    out = np.zeros((n, o, ho, wo))
    for a in range(kh):
        for b in range(kw):
            patch = x[:, :, a:a + stride * (ho - 1) + 1:stride, b:b + stride * (wo - 1) + 1:stride]
            out += np.einsum("nihw,oi->nohw", patch, w[:, :, a, b])
    return out


def conv2d_resample(x, w, up=1, down=1, padding=0, flip_weight=True):
    """upstream conv2d_resample's generic path with the [1,3,3,1] filter: padding counts on the upsampled image;
    up: zero-insert, pad by (p + (fw+up-1)//2, p + (fw-up)//2), FIR with gain up**2; the conv (a convolution when
    flip_weight is False); down: pad by (p + (fw-down+1)//2, p + (fw-down)//2) first, FIR + keep every 2nd after."""
    fw = 4
    p0 = p1 = padding
    if up > 1:
        p0, p1 = p0 + (fw + up - 1) // 2, p1 + (fw - up) // 2
    if down > 1:
        p0, p1 = p0 + (fw - down + 1) // 2, p1 + (fw - down) // 2
    if up > 1:
        x = _upfirdn(x, FILTER * up ** 2, up=up, pad0=p0, pad1=p1)
    else:
        x = np.pad(x, [(0, 0), (0, 0), (p0, p1), (p0, p1)])
    x = _correlate(x, w if flip_weight else w[:, :, ::-1, ::-1])
    if down > 1:
        x = _upfirdn(x, FILTER, down=down)
    return x


def upsample2d(x):
    return _upfirdn(x, FILTER * 4, up=2, pad0=2, pad1=1)


def downsample2d(x):
    return _upfirdn(x, FILTER, down=2, pad0=1, pad1=1)


def conv2d_layer(p, name, x, k, act="linear", up=1, down=1, conv_clamp=None, gain=1.0):
    w = p[f"{name}.weight"].astype(np.float64) * (1 / np.sqrt(p[f"{name}.weight"][0].size))
    x = conv2d_resample(x, w, up=up, down=down, padding=k // 2, flip_weight=(up == 1))
    b = p.get(f"{name}.bias")
    return bias_act(x, b, act, gain=_def_gain(act) * gain, clamp=None if conv_clamp is None else conv_clamp * gain)


def modulated_conv(x, weight, styles, up=1, padding=0, demodulate=True):
    out = []
    for n in range(x.shape[0]):
        w = weight * styles[n][None, :, None, None]
        if demodulate:
            w = w / np.sqrt(np.sum(w ** 2, axis=(1, 2, 3), keepdims=True) + 1e-8)
        out.append(conv2d_resample(x[n:n + 1], w, up=up, padding=padding, flip_weight=(up == 1)))
    return np.concatenate(out)


def synthesis_layer(p, name, x, w, up=1, act="lrelu", conv_clamp=None, gain=1.0, noise_mode="const"):
    weight = p[f"{name}.weight"].astype(np.float64)
    x = modulated_conv(x, weight, fully_connected(p, f"{name}.affine", w), up=up, padding=weight.shape[-1] // 2)
    if noise_mode == "const" and f"{name}.noise_const" in p:
        x = x + p[f"{name}.noise_const"] * p[f"{name}.noise_strength"]
    return bias_act(x, p[f"{name}.bias"], act, gain=_def_gain(act) * gain,
                    clamp=None if conv_clamp is None else conv_clamp * gain)


def torgb_layer(p, name, x, w, conv_clamp=None):
    weight = p[f"{name}.weight"].astype(np.float64)
    styles = fully_connected(p, f"{name}.affine", w) * (1 / np.sqrt(weight[0].size))
    return bias_act(modulated_conv(x, weight, styles, demodulate=False), p[f"{name}.bias"], clamp=conv_clamp)


def _norm(x):
    return x / np.sqrt(np.mean(x ** 2, axis=1, keepdims=True) + 1e-8)


def mapping(p, prefix, z, c, num_layers, lr=0.01, act="lrelu"):
    x = None if z is None else _norm(z.astype(np.float64))
    if c is not None and f"{prefix}embed.weight" in p:
        y = _norm(fully_connected(p, f"{prefix}embed", c.astype(np.float64)))
        x = y if x is None else np.concatenate([x, y], axis=1)
    for i in range(num_layers):
        x = fully_connected(p, f"{prefix}fc{i}", x, act=act, lr=lr)
    return x


def reference_generator(p, z, c=None, img_resolution=8, architecture="skip", mapping_layers=8, psi=1.0,
                        cutoff=None, conv_clamp=None):
    """Generator(z, c, truncation_psi, truncation_cutoff, noise_mode='const') -> NCHW images (float64)."""
    log2 = int(np.log2(img_resolution))
    num_ws = 2 * log2 - 2
    w = mapping(p, "mapping.", z, c, mapping_layers)
    ws = np.repeat(w[:, None], num_ws, axis=1)
    if psi != 1:
        avg = p["mapping.w_avg"]
        k = num_ws if cutoff is None else cutoff
        ws[:, :k] = avg + (ws[:, :k] - avg) * psi
    x = img = None
    w_idx = 0
    for r in range(2, log2 + 1):
        b = f"synthesis.b{2 ** r}"
        if r == 2:
            x = np.repeat(p[f"{b}.const"][None].astype(np.float64), z.shape[0], axis=0)
            x = synthesis_layer(p, f"{b}.conv1", x, ws[:, w_idx], conv_clamp=conv_clamp)
            n_conv = 1
        elif architecture == "resnet":
            y = conv2d_layer(p, f"{b}.skip", x, 1, up=2, gain=SQRT_HALF)
            x = synthesis_layer(p, f"{b}.conv0", x, ws[:, w_idx], up=2, conv_clamp=conv_clamp)
            x = synthesis_layer(p, f"{b}.conv1", x, ws[:, w_idx + 1], conv_clamp=conv_clamp, gain=SQRT_HALF)
            x = y + x
            n_conv = 2
        else:
            x = synthesis_layer(p, f"{b}.conv0", x, ws[:, w_idx], up=2, conv_clamp=conv_clamp)
            x = synthesis_layer(p, f"{b}.conv1", x, ws[:, w_idx + 1], conv_clamp=conv_clamp)
            n_conv = 2
        if img is not None:
            img = upsample2d(img)
        if architecture == "skip" or r == log2:
            y = torgb_layer(p, f"{b}.torgb", x, ws[:, w_idx + n_conv], conv_clamp=conv_clamp)
            img = y if img is None else img + y
        w_idx += n_conv
    return img


def minibatch_std(x, group_size=4, num_channels=1):
    n, c, h, w = x.shape
    g = n if group_size is None else min(group_size, n)
    y = x.reshape(g, -1, num_channels, c // num_channels, h, w)
    y = np.sqrt(((y - y.mean(axis=0)) ** 2).mean(axis=0) + 1e-8).mean(axis=(2, 3, 4))   # [n/G, F]
    y = np.tile(y.reshape(-1, num_channels, 1, 1), (g, 1, h, w))
    return np.concatenate([x, y], axis=1)


def reference_discriminator(p, img, c=None, architecture="resnet", conv_clamp=None, group_size=4, mbstd_channels=1,
                            mapping_layers=8, mapping_lr=0.01):
    """Discriminator(img NCHW, c) -> logits [N, 1] (float64)."""
    log2 = int(np.log2(img.shape[2]))
    x, img = None, img.astype(np.float64)
    for r in range(log2, 2, -1):
        b = f"b{2 ** r}"
        if x is None or architecture == "skip":
            y = conv2d_layer(p, f"{b}.fromrgb", img, 1, "lrelu", conv_clamp=conv_clamp)
            x = y if x is None else x + y
            img = downsample2d(img) if architecture == "skip" else None
        if architecture == "resnet":
            y = conv2d_layer(p, f"{b}.skip", x, 1, down=2, gain=SQRT_HALF)
            x = conv2d_layer(p, f"{b}.conv0", x, 3, "lrelu", conv_clamp=conv_clamp)
            x = y + conv2d_layer(p, f"{b}.conv1", x, 3, "lrelu", down=2, conv_clamp=conv_clamp, gain=SQRT_HALF)
        else:
            x = conv2d_layer(p, f"{b}.conv0", x, 3, "lrelu", conv_clamp=conv_clamp)
            x = conv2d_layer(p, f"{b}.conv1", x, 3, "lrelu", down=2, conv_clamp=conv_clamp)
    cmap = None if c is None else mapping(p, "mapping.", None, c, mapping_layers, lr=mapping_lr)
    if architecture == "skip":
        x = x + conv2d_layer(p, "b4.fromrgb", img, 1, "lrelu")
    if mbstd_channels:
        x = minibatch_std(x, group_size, mbstd_channels)
    x = conv2d_layer(p, "b4.conv", x, 3, "lrelu", conv_clamp=conv_clamp)
    x = fully_connected(p, "b4.fc", x.reshape(x.shape[0], -1), act="lrelu")
    x = fully_connected(p, "b4.out", x)
    if cmap is not None:
        x = np.sum(x * cmap, axis=1, keepdims=True) / np.sqrt(cmap.shape[1])
    return x
