"""Packaging for stylegan2_tf, with a build hook for the compiled TF ops.

The custom ops are compiled by ``custom_ops/build.py`` against the TensorFlow
that is already installed, so install without build isolation::

    pip install --no-build-isolation -e .          # editable (development)
    pip install --no-build-isolation .             # regular install
    python setup.py build_ext --inplace            # just (re)build the .so files

Installs the console scripts ``stylegan2-train``, ``stylegan2-generate``, ... (see ``CONSOLE_SCRIPTS``), the
same programs as ``python tools/<tool>.py`` in a checkout.

Both ``build_py`` (which every install runs, editable ones included) and
``build_ext`` run the op build. It writes ``stylegan2_tf/ops/_stylegan2_ops.so``
(CPU) and, when nvcc is available, ``_stylegan2_ops_cuda.so``; unchanged
sources are not rebuilt. Environment switches:

* ``SG2_NO_CUDA=1``          skip the CUDA library even if nvcc exists
* ``SG2_SKIP_OPS_BUILD=1``   do not compile anything (pure-TF reference ops only)
* ``SG2_REQUIRE_OPS=1``      make a failed CPU op build fail the install
  (by default it is reported and the package falls back to the reference ops)
* ``SG2_CUDA_ARCH=80,90``    CUDA compute capabilities to build for
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from setuptools import Distribution, find_packages, setup
from setuptools.command.build_ext import build_ext as _build_ext
from setuptools.command.build_py import build_py as _build_py

ROOT = Path(__file__).resolve().parent


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def build_custom_ops(verbose: bool = False) -> None:
    """Runs custom_ops/build.py in-process (writes into stylegan2_tf/ops/)."""
    if _truthy("SG2_SKIP_OPS_BUILD"):
        print("stylegan2_tf: SG2_SKIP_OPS_BUILD set, not compiling the custom ops")
        return
    spec = importlib.util.spec_from_file_location("sg2_custom_ops_build",
                                                  ROOT / "custom_ops" / "build.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    archs = mod._parse_archs(os.environ.get("SG2_CUDA_ARCH"))  # pylint: disable=protected-access
    try:
        res = mod.build(mod.DEFAULT_OUT_DIR, cuda=not _truthy("SG2_NO_CUDA"), verbose=verbose,
                        cuda_archs=archs)
    except Exception as exc:  # BuildError, missing TensorFlow, ...
        msg = (f"stylegan2_tf: building the custom ops FAILED: {exc}\n"
               "stylegan2_tf will use the slower pure-TensorFlow reference ops. "
               "Rebuild later with `python custom_ops/build.py --verbose`.")
        if _truthy("SG2_REQUIRE_OPS"):
            raise RuntimeError(msg) from exc
        print(msg, file=sys.stderr)
        return
    if res.get("cuda_error"):
        print("stylegan2_tf: the CUDA op library failed to build (CPU kernels are available):\n"
              + str(res["cuda_error"]), file=sys.stderr)


class BuildPy(_build_py):
    """Builds the op libraries before the package files are copied."""

    def run(self):
        build_custom_ops(verbose=bool(self.verbose > 1))
        super().run()


class BuildExt(_build_ext):
    """`python setup.py build_ext --inplace` (re)builds the op libraries."""

    def run(self):
        build_custom_ops(verbose=bool(self.verbose > 1))
        super().run()


# Console script -> function in stylegan2_tf/cli/ (tools/<module>.py is the same program in a checkout).
CONSOLE_SCRIPTS = {
    "stylegan2-train": "train:run_main",
    "stylegan2-generate": "generate:main",
    "stylegan2-style-mixing": "style_mixing:main",
    "stylegan2-interpolate": "interpolate:main",
    "stylegan2-project": "project:main",
    "stylegan2-export": "export:main",
    "stylegan2-serve-client": "serve_client:main",
    "stylegan2-calc-metrics": "calc_metrics:main",
    "stylegan2-dataset-tool": "dataset_tool:main",
    "stylegan2-import-official": "import_official:main",
    "stylegan2-convert-weights": "convert_weights:main",
}


class BinaryDistribution(Distribution):
    """The package ships platform-specific shared libraries."""

    def has_ext_modules(self):
        return True


setup(
    name="stylegan2_tf",
    version="0.1.0",
    description="StyleGAN2 in TensorFlow 2 / Keras 3 with custom fused ops",
    long_description=(ROOT / "README.md").read_text(encoding="utf-8")
    if (ROOT / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.9",
    packages=find_packages(include=["stylegan2_tf", "stylegan2_tf.*"]),
    # Run-time data: the compiled op libraries and the metrics' bundled weight files (metrics/data/).
    package_data={"stylegan2_tf.ops": ["*.so"], "stylegan2_tf.metrics": ["data/*"]},
    include_package_data=True,
    install_requires=["numpy", "pillow", "absl-py", "tensorboard", "matplotlib"],
    extras_require={
        "cpu": ["tensorflow-cpu==2.21.0"],
        "gpu": ["tensorflow[and-cuda]==2.21.0"],
        "onnx": ["tf2onnx>=1.17", "onnxruntime>=1.17"],
        "test": ["pytest", "scipy", "tf2onnx>=1.17", "onnxruntime>=1.17"],
    },
    entry_points={"console_scripts": [f"{name} = stylegan2_tf.cli.{target}"
                                      for name, target in CONSOLE_SCRIPTS.items()]},
    cmdclass={"build_py": BuildPy, "build_ext": BuildExt},
    distclass=BinaryDistribution,
    zip_safe=False,
)
