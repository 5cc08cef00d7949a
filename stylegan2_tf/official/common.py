"""What the readers of NVIDIA's network pickles share: the restricted unpickler, the kwarg reader that refuses what it
does not know, and the JSON conversion of what goes into a snapshot's metadata.

The unpickler resolves only the globals of an allow-list (module, name) -> stand-in: inert record classes and
functions that build numpy arrays. Nothing a pickle names outside the list is imported, and no code from a pickle
runs. Each source format (official/tf1.py, official/torch_pickle.py) contributes its entries; `COMMON_GLOBALS`
holds those both need (dnnlib's EasyDict, OrderedDict, numpy arrays and scalars).
"""
from __future__ import annotations

import collections
import io
import os
import pickle
from typing import Mapping, Optional

import numpy as np

# Functions numpy pickles refer to, looked up through public reduce protocols rather than private modules.
_NP_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1))[0]
_NP_SCALAR = np.float32(0).__reduce__()[0]


class EasyDict(dict):
    """Stand-in for dnnlib's EasyDict (a plain dict subclass)."""


def _codecs_encode(text, encoding="utf-8"):
    # Python-2-compatible byte strings inside numpy pickles are written as _codecs.encode(str, 'latin1').
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1", "utf-8", "utf8"):
        raise pickle.UnpicklingError("refusing _codecs.encode with unexpected arguments")
    return text.encode(encoding)


def _builtin_set(items=()):
    # Protocol 2/3 pickles (Python 3.7's default protocol is 3) write sets as builtins.set(list).
    if not isinstance(items, (list, tuple)):
        raise pickle.UnpicklingError("refusing builtins.set with unexpected arguments")
    return set(items)


COMMON_GLOBALS = {
    ("dnnlib.util", "EasyDict"): EasyDict,
    ("dnnlib", "EasyDict"): EasyDict,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _NP_RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _NP_RECONSTRUCT,
    ("numpy.core.multiarray", "scalar"): _NP_SCALAR,
    ("numpy._core.multiarray", "scalar"): _NP_SCALAR,
    ("_codecs", "encode"): _codecs_encode,
    ("builtins", "set"): _builtin_set,
    ("__builtin__", "set"): _builtin_set,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the globals of `allowed` ((module, name) -> stand-in); anything else is refused with a clear
    error. Persistent ids are refused too (the official pickles have none at their top level)."""

    allowed: Mapping = COMMON_GLOBALS

    def __init__(self, file, *, allowed: Optional[Mapping] = None, **kwargs):
        super().__init__(file, **kwargs)
        if allowed is not None:
            self.allowed = allowed

    def find_class(self, module: str, name: str):
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name}: official network pickles contain only network states, tensors "
                f"and numpy arrays, and this loader never runs code from a pickle") from None

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refusing persistent ids: not an official network pickle")


def read_bytes(path_or_file) -> bytes:
    """The bytes of a file given by path or an open binary file."""
    if isinstance(path_or_file, (str, os.PathLike)):
        if not os.path.exists(path_or_file):
            raise FileNotFoundError(f"network pickle not found: {path_or_file}")
        with open(path_or_file, "rb") as f:
            return f.read()
    return path_or_file.read()


def source_name(path_or_file) -> str:
    return os.path.basename(os.fspath(path_or_file)) if isinstance(path_or_file, (str, os.PathLike)) else "<stream>"


def restricted_load(data: bytes, allowed: Mapping):
    """Unpickles `data` admitting only `allowed`; a refused or broken pickle is a ValueError with one line."""
    try:
        return RestrictedUnpickler(io.BytesIO(data), allowed=allowed, encoding="latin1").load()
    except pickle.UnpicklingError as e:
        raise ValueError(f"not a loadable official StyleGAN2 pickle: {e}") from None
    except (EOFError, AttributeError, TypeError, IndexError, KeyError, ValueError) as e:
        raise ValueError(f"corrupt or unsupported pickle: {type(e).__name__}: {e}") from None


class KwargReader:
    """Reads constructor kwargs, remembering which were consumed so leftovers can be reported."""

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


def json_safe(value, what: str):
    """A JSON-serializable copy of `value` (dicts with str keys, lists, str, numbers, bool, None; numpy scalars and
    arrays become numbers and lists). Anything else is a ValueError naming `what`."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist(), what)
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{what}: key {key!r} is not a string; cannot store it as JSON")
            out[key] = json_safe(item, f"{what}.{key}")
        return out
    if isinstance(value, (list, tuple)):
        return [json_safe(item, f"{what}[{i}]") for i, item in enumerate(value)]
    raise ValueError(f"{what}: a {type(value).__name__} cannot be stored as JSON")
