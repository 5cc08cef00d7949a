#!/usr/bin/env python3
"""Builds the StyleGAN2 custom TensorFlow ops.

Produces, in ``stylegan2_tf/ops/`` (or ``--out-dir``):

* ``_stylegan2_ops.so``       CPU kernels only; always built (g++).
* ``_stylegan2_ops_cuda.so``  the same ops with CPU and GPU kernels; built when
  nvcc is found. The CUDA runtime is linked statically (``libcudart_static``),
  so the library loads with tensorflow-cpu on a machine without CUDA libraries.

Usage::

    python custom_ops/build.py [--no-cuda | --cuda-only] [--verbose] [--force]
                               [--out-dir DIR] [--cuda-arch 80,90] [--ptx-only] [--jobs N]

Exit status is 0 when the CPU library was built (or is up to date), even if the
optional CUDA part failed; the CUDA error is printed. Outputs are written to a
temporary file and renamed into place, so a reader never sees a partial file.
Environment: ``CXX`` (default g++), ``NVCC``, ``CUDA_HOME``/``CUDA_PATH``,
``SG2_CUDA_ARCH`` (same as ``--cuda-arch``).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent  # repository root
CC_DIR = ROOT / "custom_ops" / "cc"
DEFAULT_OUT_DIR = ROOT / "stylegan2_tf" / "ops"
CPU_LIB = "_stylegan2_ops.so"
CUDA_LIB = "_stylegan2_ops_cuda.so"

OP_SOURCES = ["ops/bias_act_ops.cc", "ops/upfirdn2d_ops.cc", "ops/affine_resample_ops.cc"]
KERNEL_SOURCES = ["kernels/bias_act_kernels.cc", "kernels/upfirdn2d_kernels.cc",
                  "kernels/affine_resample_kernels.cc"]
CUDA_SOURCES = ["kernels/bias_act_kernels.cu.cc", "kernels/upfirdn2d_kernels.cu.cc",
                "kernels/affine_resample_kernels.cu.cc"]
OP_SOURCES += ["ops/filtered_lrelu_ops.cc", "ops/channel_scale_ops.cc", "ops/scale_bias_act_ops.cc"]
KERNEL_SOURCES += ["kernels/filtered_lrelu_kernels.cc", "kernels/channel_scale_kernels.cc",
                   "kernels/scale_bias_act_kernels.cc"]
CUDA_SOURCES += ["kernels/filtered_lrelu_kernels.cu.cc", "kernels/channel_scale_kernels.cu.cc",
                 "kernels/scale_bias_act_kernels.cu.cc"]
OP_SOURCES += ["ops/winograd_ops.cc"]
KERNEL_SOURCES += ["kernels/winograd_kernels.cc"]
CUDA_SOURCES += ["kernels/winograd_kernels.cu.cc"]
# SASS for these compute capabilities (those nvcc supports) + PTX of the
# newest one for forward compatibility (JIT on newer GPUs).
DEFAULT_CUDA_ARCHS = (70, 75, 80, 86, 89, 90)


class BuildError(RuntimeError):
    """A compiler or linker command failed."""


def _log(msg: str) -> None:
    print(f"[custom_ops/build] {msg}", flush=True)


def _run(cmd: Sequence[str], verbose: bool) -> None:
    if verbose:
        _log("$ " + " ".join(shlex.quote(c) for c in cmd))
    proc = subprocess.run(list(cmd), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    if verbose and proc.stdout.strip():
        print(proc.stdout, flush=True)
    if proc.returncode != 0:
        raise BuildError(
            f"command failed (exit {proc.returncode}):\n  "
            + " ".join(shlex.quote(c) for c in cmd) + "\n" + proc.stdout[-8000:])


def tf_flags() -> Dict[str, List[str]]:
    """TensorFlow's compile and link flags (from tf.sysconfig)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Through the package's filter for TensorFlow's load-time log lines, loaded by path: importing the stylegan2_tf
    # package itself would try to load the library being built.
    import importlib.util  # pylint: disable=import-outside-toplevel
    spec = importlib.util.spec_from_file_location("_sg2_tf_import", ROOT / "stylegan2_tf" / "_tf_import.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tf = module.import_tensorflow()

    return {"compile": list(tf.sysconfig.get_compile_flags()),
            "link": list(tf.sysconfig.get_link_flags())}


def find_nvcc() -> Optional[str]:
    """Path of nvcc from $NVCC, $CUDA_HOME/$CUDA_PATH, PATH or /usr/local/cuda."""
    cands = [os.environ.get("NVCC")]
    for var in ("CUDA_HOME", "CUDA_PATH"):
        if os.environ.get(var):
            cands.append(os.path.join(os.environ[var], "bin", "nvcc"))
    cands += [shutil.which("nvcc"), "/usr/local/cuda/bin/nvcc"]
    for c in cands:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


def cuda_lib_dirs(nvcc: str) -> List[str]:
    """Directories holding libcudart_static.a, read from `nvcc --dryrun`."""
    dirs: List[str] = []
    try:
        out = subprocess.run([nvcc, "--dryrun", "-x", "cu", "-c", os.devnull, "-o", os.devnull],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, timeout=60).stdout
        for m in re.finditer(r'-L"?([^"\s]+)"?', out):
            dirs.append(os.path.normpath(m.group(1)))
    except (OSError, subprocess.SubprocessError):
        pass
    homes = [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda",
             str(Path(os.path.realpath(nvcc)).parent.parent)]
    for h in homes:
        if h:
            dirs += [os.path.join(h, "lib64"), os.path.join(h, "lib"),
                     os.path.join(h, "targets", "x86_64-linux", "lib")]
    seen, result = set(), []
    for d in dirs:
        if d not in seen and os.path.isfile(os.path.join(d, "libcudart_static.a")):
            seen.add(d)
            result.append(d)
    return result


def cuda_arch_flags(nvcc: str, archs: Optional[Sequence[int]] = None,
                    ptx_only: bool = False) -> List[str]:
    """-gencode flags for the requested (or default) archs nvcc supports.
    ptx_only: PTX for each arch and no machine code (faster to compile; the
    driver JIT-compiles it at load time)."""
    try:
        listed = subprocess.run([nvcc, "--list-gpu-arch"], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True, timeout=60).stdout
        supported = {int(m) for m in re.findall(r"compute_(\d+)", listed)}
    except (OSError, subprocess.SubprocessError):
        supported = set()
    wanted = list(archs) if archs else list(DEFAULT_CUDA_ARCHS)
    use = [a for a in wanted if not supported or a in supported]
    if not use:
        raise BuildError(f"none of the CUDA archs {wanted} is supported by {nvcc} "
                         f"(it lists {sorted(supported)})")
    flags = []
    if ptx_only:
        for a in use:
            flags += ["-gencode", f"arch=compute_{a},code=compute_{a}"]
        return flags
    for a in use:
        flags += ["-gencode", f"arch=compute_{a},code=sm_{a}"]
    flags += ["-gencode", f"arch=compute_{use[-1]},code=compute_{use[-1]}"]
    return flags


def _host_flags() -> List[str]:
    # -fno-trapping-math lets GCC if-convert and vectorize the piecewise
    # activations (we never rely on floating-point exception traps).
    flags = ["-fno-trapping-math", "-ffp-contract=off"]
    # TensorFlow's x86-64 wheels require AVX already, so -mavx adds no new
    # hardware requirement but lets the loops use 256-bit vectors.
    if platform.machine().lower() in ("x86_64", "amd64"):
        flags.append("-mavx")
    return flags


def _newest_mtime(paths: Sequence[Path]) -> float:
    return max(p.stat().st_mtime for p in paths)


def _sources_for(kind: str) -> List[Path]:
    srcs = [CC_DIR / s for s in OP_SOURCES + KERNEL_SOURCES]
    srcs += sorted((CC_DIR / "kernels").glob("*.h")) + sorted((CC_DIR / "kernels").glob("*.cuh"))
    srcs.append(Path(__file__).resolve())
    if kind == "cuda":
        srcs += [CC_DIR / s for s in CUDA_SOURCES]
    return srcs


def _up_to_date(out: Path, kind: str) -> bool:
    return out.is_file() and out.stat().st_mtime >= _newest_mtime(_sources_for(kind))


def _atomic_link(link_cmd_prefix: List[str], objects: List[str], link_flags: List[str],
                 out: Path, verbose: bool) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=out.name + ".", suffix=".tmp", dir=str(out.parent))
    os.close(fd)
    try:
        _run(link_cmd_prefix + objects + ["-o", tmp] + link_flags, verbose)
        os.chmod(tmp, 0o755)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _compile_all(jobs: List[List[str]], verbose: bool, n_jobs: int) -> None:
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, n_jobs)) as ex:
        futs = [ex.submit(_run, cmd, verbose) for cmd in jobs]
        errors = [f.exception() for f in futs if f.exception() is not None]
    if errors:
        raise errors[0]


def build_cpu(out_dir: Path, flags: Dict[str, List[str]], tmp_dir: Path, verbose: bool,
              n_jobs: int) -> Path:
    """Compiles and links the CPU-only library; returns its path."""
    cxx = os.environ.get("CXX", "g++")
    base = [cxx, "-std=c++17", "-O3", "-DNDEBUG", "-fPIC", "-fvisibility-inlines-hidden",
            "-Wno-deprecated-declarations", "-I", str(ROOT)] + _host_flags() + flags["compile"]
    jobs, objs = [], []
    for s in OP_SOURCES + KERNEL_SOURCES:
        obj = str(tmp_dir / ("cpu_" + Path(s).name + ".o"))
        jobs.append(base + ["-c", str(CC_DIR / s), "-o", obj])
        objs.append(obj)
    _compile_all(jobs, verbose, n_jobs)
    out = out_dir / CPU_LIB
    _atomic_link([cxx, "-shared"], objs, flags["link"], out, verbose)
    return out


def build_cuda(out_dir: Path, flags: Dict[str, List[str]], tmp_dir: Path, nvcc: str,
               verbose: bool, n_jobs: int, archs: Optional[Sequence[int]] = None,
               ptx_only: bool = False) -> Path:
    """Compiles the CUDA kernels with nvcc, the TF glue with g++ (GOOGLE_CUDA=1),
    and links them with the static CUDA runtime; returns the library path."""
    lib_dirs = cuda_lib_dirs(nvcc)
    if not lib_dirs:
        raise BuildError(f"libcudart_static.a not found next to {nvcc} "
                         "(set CUDA_HOME to the CUDA toolkit)")
    cxx = os.environ.get("CXX", "g++")
    nv = [nvcc, "-x", "cu", "-std=c++17", "-O3", "-DNDEBUG", "--threads", "0",
          "-Xcompiler", "-fPIC", "-I", str(ROOT)] + cuda_arch_flags(nvcc, archs, ptx_only)
    base = [cxx, "-std=c++17", "-O3", "-DNDEBUG", "-fPIC", "-DGOOGLE_CUDA=1",
            "-fvisibility-inlines-hidden", "-Wno-deprecated-declarations",
            "-I", str(ROOT)] + _host_flags() + flags["compile"]
    nv_jobs, host_jobs, objs = [], [], []
    for s in CUDA_SOURCES:
        obj = str(tmp_dir / ("cuda_" + Path(s).name + ".o"))
        nv_jobs.append(nv + ["-c", str(CC_DIR / s), "-o", obj])
        objs.append(obj)
    for s in OP_SOURCES + KERNEL_SOURCES:
        obj = str(tmp_dir / ("gpu_" + Path(s).name + ".o"))
        host_jobs.append(base + ["-c", str(CC_DIR / s), "-o", obj])
        objs.append(obj)
    # nvcc first: a broken CUDA toolchain fails before the slower TF compiles.
    _compile_all(nv_jobs, verbose, n_jobs)
    _compile_all(host_jobs, verbose, n_jobs)
    link_flags = [f"-L{d}" for d in lib_dirs[:1]] + [
        "-l:libcudart_static.a", "-lrt", "-ldl", "-lpthread"] + flags["link"]
    out = out_dir / CUDA_LIB
    _atomic_link([cxx, "-shared"], objs, link_flags, out, verbose)
    return out


def build(out_dir: Path = DEFAULT_OUT_DIR, cuda: bool = True, cpu: bool = True,
          verbose: bool = False, force: bool = False, jobs: Optional[int] = None,
          cuda_archs: Optional[Sequence[int]] = None, ptx_only: bool = False) -> Dict[str, object]:
    """Builds the libraries; returns {'cpu': path|None, 'cuda': path|None,
    'cuda_error': str|None}. Raises BuildError if the CPU build fails."""
    out_dir = Path(out_dir).resolve()
    n_jobs = jobs or os.cpu_count() or 1
    result: Dict[str, object] = {"cpu": None, "cuda": None, "cuda_error": None}
    flags = None
    with tempfile.TemporaryDirectory(prefix="sg2_build_") as tmp:
        tmp_dir = Path(tmp)
        if cpu:
            out = out_dir / CPU_LIB
            if not force and _up_to_date(out, "cpu"):
                _log(f"CPU library up to date: {out}")
            else:
                flags = flags or tf_flags()
                _log("building CPU library ...")
                build_cpu(out_dir, flags, tmp_dir, verbose, n_jobs)
                _log(f"built {out}")
            result["cpu"] = str(out)
        if cuda:
            nvcc = find_nvcc()
            out = out_dir / CUDA_LIB
            if nvcc is None:
                _log("nvcc not found (set NVCC or CUDA_HOME): skipping the CUDA library; "
                     "the CPU kernels will be used")
            elif not force and _up_to_date(out, "cuda"):
                _log(f"CUDA library up to date: {out}")
                result["cuda"] = str(out)
            else:
                try:
                    flags = flags or tf_flags()
                    _log(f"building CUDA library with {nvcc} ...")
                    build_cuda(out_dir, flags, tmp_dir, nvcc, verbose, n_jobs, cuda_archs, ptx_only)
                    _log(f"built {out}")
                    result["cuda"] = str(out)
                except (BuildError, OSError) as e:
                    result["cuda_error"] = str(e)
                    _log("CUDA build FAILED (the CPU library is unaffected):\n" + str(e))
                    if out.exists():  # never leave a stale library from older sources
                        out.unlink()
                        _log(f"removed stale {out}")
    return result


def _parse_archs(text: Optional[str]) -> Optional[List[int]]:
    if not text:
        return None
    return [int(a.strip().replace("sm_", "")) for a in re.split(r"[,;\s]+", text) if a.strip()]


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-cuda", action="store_true", help="build the CPU library only")
    ap.add_argument("--cuda-only", action="store_true", help="build the CUDA library only")
    ap.add_argument("--verbose", action="store_true", help="print every command")
    ap.add_argument("--force", action="store_true", help="rebuild even if up to date")
    ap.add_argument("--out-dir", default=str(DEFAULT_OUT_DIR), help="output directory")
    ap.add_argument("--cuda-arch", default=os.environ.get("SG2_CUDA_ARCH"),
                    help="comma-separated compute capabilities, e.g. 80,90")
    ap.add_argument("--ptx-only", action="store_true",
                    help="emit PTX only (no machine code; quicker, JIT-compiled at load)")
    ap.add_argument("--jobs", type=int, default=None, help="parallel compile jobs")
    args = ap.parse_args(argv)
    if args.no_cuda and args.cuda_only:
        ap.error("--no-cuda and --cuda-only exclude each other")
    try:
        res = build(Path(args.out_dir), cuda=not args.no_cuda, cpu=not args.cuda_only,
                    verbose=args.verbose, force=args.force, jobs=args.jobs,
                    cuda_archs=_parse_archs(args.cuda_arch), ptx_only=args.ptx_only)
    except BuildError as e:
        _log("CPU build FAILED:\n" + str(e))
        return 1
    if args.cuda_only and res["cuda"] is None:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
