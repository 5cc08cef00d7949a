"""Read the PyTorch pickles of NVIDIA's stylegan2-ada-pytorch and StyleGAN3 code without torch and without running
their code: the container format both share. official/ada_pytorch.py turns the networks into ours.

Format facts (torch_utils.persistence, torch's pickling of tensors and storages; see docs/networks.md):

* A training snapshot is a plain `pickle.dump` of a dict `G`, `D`, `G_ema` (nn.Modules), `augment_pipe` (a module or
  None) and `training_set_kwargs` (a dict). It is not a `torch.save` archive.
* Every module class is a `persistent_class`, and each instance pickles as
  `torch_utils.persistence._reconstruct_persistent_obj(meta)` with meta = dict(type='class', version=6,
  module_src=<the Python source of the defining module>, class_name=..., state=<the module's __dict__>). NVIDIA's
  loader executes module_src; we keep it as an unexecuted string in an inert `PersistentRecord`.
* A module's state holds `_parameters`, `_buffers` and `_modules` (OrderedDicts whose values may be None), torch's
  hook dicts, `_init_args` / `_init_kwargs` (the constructor arguments) and the attributes the constructor set (ints,
  floats, numpy scalars, strings).
* A parameter is `torch._utils._rebuild_parameter(tensor, requires_grad, hooks)` (newer torch may write
  `_rebuild_parameter_with_state(tensor, requires_grad, hooks, state)`); a tensor is
  `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])`, sizes and
  strides in elements; the storage is `torch.storage._load_from_bytes(blob)`, where blob is a legacy (non-zip)
  `torch.save` of that one storage: pickle(magic 0x1950a86a20f9469cfc6c), pickle(protocol 1001), pickle(sys_info
  dict), a pickle whose persistent id is ('storage', torch.<Type>Storage, key, location, numel, view_metadata), a
  pickle of the key list, then per key an int64 little-endian element count and the raw little-endian data.

Each tensor is copied out of its storage after checking that its offset, sizes and strides stay inside it.
"""
from __future__ import annotations

import io
import pickle
import re
import struct
from dataclasses import dataclass, field
from typing import Dict, Iterator, Optional, Tuple

import numpy as np

from stylegan2_tf.official.common import json_safe

PERSISTENCE_VERSION = 6
LEGACY_MAGIC = 0x1950a86a20f9469cfc6c
LEGACY_PROTOCOL = 1001
_META_KEYS = {"type", "version", "module_src", "class_name", "state"}


class PersistentRecord:
    """Inert stand-in for a torch_utils.persistence object: the class name, the module source (never executed) and
    the instance state."""

    def __init__(self, class_name: str, module_src: str, state: dict):
        self.class_name = class_name
        self.module_src = module_src
        self.state = state

    def __repr__(self):
        return f"<persistent {self.class_name}>"

    def _dict(self, key) -> dict:
        value = self.state.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ValueError(f"{self.class_name}: {key} must be a dict, got {type(value).__name__}")
        return value

    @property
    def modules(self) -> Dict[str, Optional["PersistentRecord"]]:
        out = self._dict("_modules")
        for name, value in out.items():
            if value is not None and not isinstance(value, PersistentRecord):
                raise ValueError(f"{self.class_name}: submodule {name!r} is a {type(value).__name__}, not a "
                                 "persistent module")
        return dict(out)

    def _tensors(self, key) -> Dict[str, Optional[np.ndarray]]:
        out = self._dict(key)
        for name, value in out.items():
            if value is not None and not isinstance(value, np.ndarray):
                raise ValueError(f"{self.class_name}: {key[1:-1]} {name!r} is a {type(value).__name__}, not a tensor")
        return dict(out)

    @property
    def parameters(self) -> Dict[str, Optional[np.ndarray]]:
        return self._tensors("_parameters")

    @property
    def buffers(self) -> Dict[str, Optional[np.ndarray]]:
        return self._tensors("_buffers")

    @property
    def init_args(self) -> tuple:
        args = self.state.get("_init_args", ())
        if not isinstance(args, (tuple, list)):
            raise ValueError(f"{self.class_name}: _init_args must be a tuple, got {type(args).__name__}")
        return tuple(args)

    @property
    def init_kwargs(self) -> dict:
        kwargs = self.state.get("_init_kwargs", {})
        if not isinstance(kwargs, dict):
            raise ValueError(f"{self.class_name}: _init_kwargs must be a dict, got {type(kwargs).__name__}")
        return dict(kwargs)


def _reconstruct_persistent_obj(meta):
    if not isinstance(meta, dict):
        raise pickle.UnpicklingError("a torch_utils.persistence object needs a dict of metadata")
    if set(meta) != _META_KEYS:
        raise pickle.UnpicklingError(f"torch_utils.persistence metadata must have the keys {sorted(_META_KEYS)}, got "
                                     f"{sorted(map(str, meta))}")
    if meta["type"] != "class":
        raise pickle.UnpicklingError(f"unsupported torch_utils.persistence object type {meta['type']!r} "
                                     "(only 'class')")
    if meta["version"] != PERSISTENCE_VERSION:
        raise pickle.UnpicklingError(f"unsupported torch_utils.persistence version {meta['version']!r} "
                                     f"(this reader knows version {PERSISTENCE_VERSION})")
    name, src, state = meta["class_name"], meta["module_src"], meta["state"]
    if not isinstance(name, str) or not name.isidentifier():
        raise pickle.UnpicklingError(f"torch_utils.persistence class_name must be an identifier, got {name!r:.80}")
    if not isinstance(src, str):
        raise pickle.UnpicklingError("torch_utils.persistence module_src must be a string")
    if not isinstance(state, dict):
        raise pickle.UnpicklingError(f"the state of a persistent {name} must be a dict")
    return PersistentRecord(name, src, state)


# -- storages: legacy torch.save blobs of one storage ---------------------------------------------------------------

# torch storage type -> little-endian numpy dtype (bfloat16 has none: read as uint16 and widened to float32).
_STORAGE_DTYPES = {
    "FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2", "BFloat16Storage": "<u2",
    "LongStorage": "<i8", "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1", "ByteStorage": "u1",
    "BoolStorage": "?",
}


class StorageType:
    """What `torch.<Type>Storage` resolves to inside a storage blob."""

    def __init__(self, name: str):
        self.name = name
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class Storage:
    """One storage's elements as a 1-D numpy array (bfloat16 already widened to float32)."""

    def __init__(self, type_name: str, data: np.ndarray):
        self.type_name = type_name
        self.data = data


class _BlobUnpickler(pickle.Unpickler):
    """The pickles inside a storage blob: only torch.<Type>Storage globals and one 'storage' persistent id."""

    def __init__(self, file, declared: dict):
        super().__init__(file, encoding="latin1")
        self.declared = declared

    def find_class(self, module, name):
        if module == "torch" and name in _STORAGE_DTYPES:
            return StorageType(name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} inside a tensor storage: a storage blob "
                                     "names only torch.<Type>Storage")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unexpected persistent id in a storage blob: {pid!r:.80}")
        _, stype, key, location, numel = pid[:5]
        view = pid[5] if len(pid) == 6 else None
        if not isinstance(stype, StorageType):
            raise pickle.UnpicklingError(f"storage of unknown type {stype!r:.80}")
        if not isinstance(key, str) or not isinstance(location, str):
            raise pickle.UnpicklingError("a storage's key and location must be strings")
        if not isinstance(numel, int) or isinstance(numel, bool) or numel < 0:
            raise pickle.UnpicklingError(f"a storage's element count must be an integer >= 0, got {numel!r:.80}")
        if view is not None:
            raise pickle.UnpicklingError("storage views (old torch) are not supported")
        if key in self.declared and (self.declared[key][0].name, self.declared[key][1]) != (stype.name, numel):
            raise pickle.UnpicklingError(f"storage {key} declared twice differently")
        self.declared[key] = (stype, numel)
        return ("storage", key)


def _load_blob(blob) -> Storage:
    if not isinstance(blob, (bytes, bytearray)):
        raise pickle.UnpicklingError("torch.storage._load_from_bytes needs bytes")
    if bytes(blob[:2]) == b"PK":
        raise pickle.UnpicklingError("zip-format (torch.save >= 1.6 default) storage blobs are not supported; "
                                     "expected a legacy torch.save blob")
    f = io.BytesIO(bytes(blob))
    declared: dict = {}

    def load():
        try:
            return _BlobUnpickler(f, declared).load()
        except EOFError:
            raise pickle.UnpicklingError("truncated storage blob") from None

    if load() != LEGACY_MAGIC:
        raise pickle.UnpicklingError("a storage blob must start with torch's legacy magic number")
    protocol = load()
    if protocol != LEGACY_PROTOCOL:
        raise pickle.UnpicklingError(f"unsupported torch.save protocol {protocol!r} in a storage blob "
                                     f"(expected {LEGACY_PROTOCOL})")
    sys_info = load()
    if not isinstance(sys_info, dict) or sys_info.get("little_endian") is not True:
        raise pickle.UnpicklingError("only little-endian storage blobs are supported")
    result = load()
    keys = load()
    if not (isinstance(result, tuple) and len(result) == 2 and result[0] == "storage"):
        raise pickle.UnpicklingError("a storage blob must hold one storage")
    if not (isinstance(keys, list) and keys == [result[1]] and set(declared) == {result[1]}):
        raise pickle.UnpicklingError(f"a storage blob must list exactly its one storage key, got {keys!r:.80}")
    stype, numel = declared[result[1]]
    head = f.read(8)
    if len(head) != 8:
        raise pickle.UnpicklingError("truncated storage blob (no element count)")
    (count,) = struct.unpack("<q", head)
    if count != numel:
        raise pickle.UnpicklingError(f"storage {result[1]}: the data says {count} elements, the storage declares "
                                     f"{numel}")
    nbytes = numel * stype.dtype.itemsize
    raw = f.read(nbytes)
    if len(raw) != nbytes:
        raise pickle.UnpicklingError(f"storage {result[1]}: expected {nbytes} bytes of data, the blob holds "
                                     f"{len(raw)}")
    if f.read(1):
        raise pickle.UnpicklingError("trailing bytes after a storage's data")
    data = np.frombuffer(raw, dtype=stype.dtype).copy()
    if stype.name == "BFloat16Storage":
        data = (data.astype(np.uint32) << 16).view(np.float32)
    return Storage(stype.name, data)


# -- tensors ---------------------------------------------------------------------------------------------------------

def _ints(value, what) -> Tuple[int, ...]:
    if not isinstance(value, (tuple, list)) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise pickle.UnpicklingError(f"tensor {what} must be a tuple of integers, got {value!r:.80}")
    return tuple(value)


def _check_hooks(hooks):
    if hooks is not None and not (isinstance(hooks, dict) and not hooks):
        raise pickle.UnpicklingError("tensors with backward hooks are not supported")


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    """The tensor as a numpy array copied out of its storage, after checking that it stays inside it."""
    if not isinstance(storage, Storage):
        raise pickle.UnpicklingError("a tensor must be rebuilt from a storage")
    size, stride = _ints(size, "size"), _ints(stride, "stride")
    (offset,) = _ints((storage_offset,), "offset")
    _check_hooks(backward_hooks)
    if len(size) != len(stride):
        raise pickle.UnpicklingError(f"tensor size {size} and stride {stride} differ in rank")
    if offset < 0 or any(n < 0 for n in size) or any(s < 0 for s in stride):
        raise pickle.UnpicklingError(f"negative tensor offset, size or stride: {offset}, {size}, {stride}")
    numel = storage.data.size
    count = int(np.prod(size, dtype=object))
    if count == 0:
        if offset > numel:
            raise pickle.UnpicklingError(f"tensor offset {offset} lies past its storage of {numel} elements")
        return np.zeros(size, storage.data.dtype)
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= numel:
        raise pickle.UnpicklingError(f"tensor of size {list(size)}, stride {list(stride)} at offset {offset} reaches "
                                     f"element {last} of a storage of {numel} elements")
    if count > numel:  # only possible with overlapping (e.g. expanded, stride 0) elements
        raise pickle.UnpicklingError(f"tensor of size {list(size)} has more elements than its storage ({numel}): "
                                     "overlapping tensors are not supported")
    item = storage.data.itemsize
    view = np.lib.stride_tricks.as_strided(storage.data[offset:], shape=size, strides=[s * item for s in stride],
                                           writeable=False)
    return np.array(view)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    if not isinstance(data, np.ndarray):
        raise pickle.UnpicklingError("a parameter must wrap a tensor")
    _check_hooks(backward_hooks)
    return data


def _rebuild_parameter_with_state(data, requires_grad=False, backward_hooks=None, state=None):
    if state is not None and not isinstance(state, (dict, tuple)):
        raise pickle.UnpicklingError("unexpected parameter state")
    return _rebuild_parameter(data, requires_grad, backward_hooks)


def _device(spec, index=None):
    if not isinstance(spec, str) or not (index is None or isinstance(index, int)):
        raise pickle.UnpicklingError("refusing torch.device with unexpected arguments")
    return spec if index is None else f"{spec}:{index}"


# The globals a torch_utils.persistence pickle names besides the common ones (EasyDict, OrderedDict, numpy).
TORCH_GLOBALS = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter_with_state,
    ("torch.storage", "_load_from_bytes"): _load_blob,
    ("torch", "device"): _device,
}


# -- modules ---------------------------------------------------------------------------------------------------------

def walk_modules(record: PersistentRecord, prefix: str = "") -> Iterator[Tuple[str, PersistentRecord]]:
    """(dotted path, record) of a module and all its submodules ('' for the module itself)."""
    yield prefix, record
    for name, child in record.modules.items():
        if child is not None:
            yield from walk_modules(child, f"{prefix}.{name}" if prefix else name)


def named_tensors(record: PersistentRecord) -> Dict[str, np.ndarray]:
    """Every parameter and buffer of a module tree by dotted name (as torch's state_dict names them)."""
    out = {}
    for path, module in walk_modules(record):
        params, buffers = module.parameters, module.buffers
        for name in set(params) & set(buffers):
            if params[name] is not None and buffers[name] is not None:
                raise ValueError(f"{module.class_name} {path!r}: {name} is both a parameter and a buffer")
        for name, value in list(params.items()) + list(buffers.items()):
            if value is not None:
                out[f"{path}.{name}" if path else name] = value
    return out


def merged_kwargs(record: PersistentRecord, arg_names: Tuple[str, ...], what: str) -> dict:
    """A module's constructor arguments as one kwargs dict (positional ones named by the constructor's signature)."""
    kwargs = record.init_kwargs
    args = record.init_args
    if len(args) > len(arg_names):
        raise ValueError(f"{what}: {len(args)} positional constructor arguments, the constructor takes at most "
                         f"{len(arg_names)}")
    for name, value in zip(arg_names, args):
        if name in kwargs:
            raise ValueError(f"{what}: constructor argument {name} given twice")
        kwargs[name] = value
    return kwargs


_STYLEGAN3_LAYER = re.compile(r"L\d+_\d+_\d+")


def generator_family(G: PersistentRecord) -> str:
    """'stylegan2-ada-pytorch' (synthesis network of SynthesisBlocks b4, b8, ...) or 'stylegan3' (SynthesisInput
    `input` and layers `L<i>_<size>_<channels>`), recognised by structure; anything else is a ValueError."""
    synthesis = G.modules.get("synthesis")
    if G.class_name != "Generator" or synthesis is None or "mapping" not in G.modules:
        raise ValueError(f"G_ema is a {G.class_name} with submodules {sorted(G.modules)}, not a StyleGAN generator "
                         "(mapping + synthesis)")
    names = list(synthesis.modules)
    if "input" in names or any(_STYLEGAN3_LAYER.fullmatch(n) for n in names):
        return "stylegan3"
    if names and all(re.fullmatch(r"b\d+", n) for n in names):
        return "stylegan2-ada-pytorch"
    raise ValueError(f"unrecognised synthesis network {synthesis.class_name} with submodules {names[:8]}")


# -- the training snapshot container -------------------------------------------------------------------------------

_NETWORK_KEYS = ("G", "D", "G_ema")
_KNOWN_KEYS = _NETWORK_KEYS + ("augment_pipe", "training_set_kwargs")


def is_training_pickle(obj) -> bool:
    """Whether an unpickled object is a torch training snapshot (a dict with persistent G / D / G_ema)."""
    return isinstance(obj, dict) and any(isinstance(obj.get(k), PersistentRecord) for k in _NETWORK_KEYS)


@dataclass
class TrainingPickle:
    """The content of a stylegan2-ada-pytorch / StyleGAN3 training snapshot."""
    G_ema: PersistentRecord
    G: Optional[PersistentRecord] = None
    D: Optional[PersistentRecord] = None
    augment_pipe: Optional[PersistentRecord] = None
    training_set_kwargs: Optional[dict] = None
    other_keys: list = field(default_factory=list)

    def metadata(self) -> dict:
        """training_set_kwargs (JSON copy) and augment_pipe {'p', 'kwargs'} where the pickle has them."""
        meta = {}
        if self.training_set_kwargs is not None:
            meta["training_set_kwargs"] = json_safe(self.training_set_kwargs, "training_set_kwargs")
        if self.augment_pipe is not None:
            meta["augment_pipe"] = augment_pipe_metadata(self.augment_pipe)
        if self.other_keys:
            meta["ignored_pickle_keys"] = list(self.other_keys)
        return meta


def parse_training_pickle(obj) -> TrainingPickle:
    if not isinstance(obj, dict):
        raise ValueError(f"expected a dict of networks, got {type(obj).__name__}")
    for key in _NETWORK_KEYS + ("augment_pipe",):
        value = obj.get(key)
        if value is not None and not isinstance(value, PersistentRecord):
            raise ValueError(f"pickle entry {key!r} is a {type(value).__name__}, not a persistent module")
    if obj.get("G_ema") is None:
        raise ValueError(f"the pickle has no G_ema (keys {sorted(map(str, obj))})")
    tsk = obj.get("training_set_kwargs")
    if tsk is not None and not isinstance(tsk, dict):
        raise ValueError(f"training_set_kwargs must be a dict, got {type(tsk).__name__}")
    return TrainingPickle(G_ema=obj["G_ema"], G=obj.get("G"), D=obj.get("D"), augment_pipe=obj.get("augment_pipe"),
                          training_set_kwargs=tsk, other_keys=sorted(str(k) for k in obj if k not in _KNOWN_KEYS))


def augment_pipe_metadata(pipe: PersistentRecord) -> dict:
    """{'p': the pipe's augmentation probability (buffer p), 'kwargs': its constructor kwargs (JSON copy)}."""
    p = pipe.buffers.get("p")
    if p is None or p.size != 1 or not np.issubdtype(p.dtype, np.floating):
        raise ValueError(f"augment_pipe ({pipe.class_name}) has no scalar float buffer 'p'")
    out = {"p": float(p.reshape(())), "kwargs": json_safe(pipe.init_kwargs, "augment_pipe kwargs")}
    if pipe.init_args:
        out["args"] = json_safe(list(pipe.init_args), "augment_pipe args")
    return out

