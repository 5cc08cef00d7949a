"""Loading of the compiled op library (`custom_ops/` builds it into this folder).

Two builds can sit here: `_stylegan2_ops.so` (CPU kernels) and `_stylegan2_ops_cuda.so` (the same ops with CPU and
CUDA kernels, built when nvcc is present). The CUDA build is preferred when TensorFlow sees a GPU. Loading is lazy and
happens once per process; if it fails, `impl='auto'` warns once and falls back to the pure-TF reference.
"""
from __future__ import annotations

import os
import threading
import warnings
from typing import Any, Optional

import tensorflow as tf

_HERE = os.path.dirname(os.path.abspath(__file__))
CPU_LIBRARY = os.path.join(_HERE, "_stylegan2_ops.so")
CUDA_LIBRARY = os.path.join(_HERE, "_stylegan2_ops_cuda.so")
# Set STYLEGAN2_TF_IMPL=ref to make impl='auto' use the reference ops without trying the library.
IMPL_ENV_VAR = "STYLEGAN2_TF_IMPL"
IMPLS = ("auto", "custom", "ref")

_lock = threading.Lock()
_state: dict = {"loaded": False, "lib": None, "error": None, "path": None, "warned": False}


def _candidate_paths() -> list:
    paths = []
    if os.path.exists(CUDA_LIBRARY) and tf.config.list_physical_devices("GPU"):
        paths.append(CUDA_LIBRARY)
    paths.append(CPU_LIBRARY)
    return paths


def _load() -> Optional[Any]:
    with _lock:
        if _state["loaded"]:
            return _state["lib"]
        errors = []
        for path in _candidate_paths():
            if not os.path.exists(path):
                errors.append(f"{path} does not exist (build it with `python custom_ops/build.py`)")
                continue
            try:
                _state["lib"] = tf.load_op_library(path)
                _state["path"] = path
                break
            except Exception as exc:  # tf raises NotFoundError / generic errors for bad libraries
                errors.append(f"{path} failed to load: {exc}")
        if _state["lib"] is None:
            _state["error"] = "; ".join(errors)
        _state["loaded"] = True
        return _state["lib"]


def custom_ops_available() -> bool:
    """True when the compiled op library is present and loads into this TensorFlow."""
    return _load() is not None


def library_path() -> Optional[str]:
    """Path of the loaded op library, or None."""
    _load()
    return _state["path"]


def load_error() -> Optional[str]:
    """Why the op library could not be loaded (None if it loaded)."""
    _load()
    return _state["error"]


def cpu_loops() -> Optional[str]:
    """Which copy of the compiled CPU loops runs here: 'avx512bf16' (the AVX-512 copy, and bfloat16 results narrowed
    with AVX512-BF16's conversion instruction), 'avx512' (the CPU has AVX-512 F/BW/VL), 'avx2' (AVX2 and FMA) or
    'baseline' (AVX); None without the library. SG2_CPU_LOOPS=baseline|avx2|avx512 in the environment caps the choice.
    All copies give identical numbers."""
    path = library_path()
    if path is None:
        return None
    import ctypes
    fn = ctypes.CDLL(path).Sg2CpuLoops
    fn.restype = ctypes.c_char_p
    return fn().decode()


def host_cpu() -> dict:
    """The CPU this process runs on, for benchmark records: model name, logical CPUs, and the instruction sets that
    decide bfloat16 speed ('amx_bf16': oneDNN runs bfloat16 matmuls and convolutions on AMX tiles, several times
    float32's rate; 'avx512_bf16': only dot-product and conversion instructions, about twice float32's rate).
    Read from /proc/cpuinfo; the model is None and the flags False where it does not exist (not Linux)."""
    model, flags = None, set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and model is None:
                    model = value.strip()
                elif key == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    return {"model": model, "logical_cpus": os.cpu_count(), "amx_bf16": "amx_bf16" in flags,
            "avx512_bf16": "avx512_bf16" in flags}


def resolve_impl(impl: str) -> str:
    """Maps impl in {'auto', 'custom', 'ref'} to 'custom' or 'ref'.

    'auto' uses the compiled ops when they load (warning once otherwise); 'custom' raises if they do not.
    """
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
    if impl == "ref":
        return "ref"
    if impl == "auto" and os.environ.get(IMPL_ENV_VAR, "").lower() == "ref":
        return "ref"
    if _load() is not None:
        return "custom"
    if impl == "custom":
        raise RuntimeError(
            "impl='custom' was requested but the stylegan2_tf op library is not available: "
            f"{_state['error']}")
    if not _state["warned"]:
        _state["warned"] = True
        warnings.warn("stylegan2_tf custom ops are not available, using the (slower) pure-TensorFlow reference "
                      f"implementation. Reason: {_state['error']}", RuntimeWarning, stacklevel=3)
    return "ref"


def get_library() -> Any:
    """The loaded op library module (raises if unavailable)."""
    lib = _load()
    if lib is None:
        raise RuntimeError(f"stylegan2_tf op library is not available: {_state['error']}")
    return lib
