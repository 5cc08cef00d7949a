#!/usr/bin/env bash
# Builds the standalone CUDA harness with nvcc alone (no TensorFlow) and runs
# it. Prints the harness JSON on stdout.
#   ARCH   nvcc -arch value (default: native, i.e. the GPU of this machine)
#   NVCC   nvcc binary (default: nvcc on PATH)
#   BUILD_ONLY=1  only compile (no GPU needed)
#   CPU_ONLY=1  run only the host-side checks (16-bit CPU functors vs float32;
#               no GPU needed; ARCH then defaults to compute_80, PTX only)
#   SG2_HARNESS_QUICK=1  skip the large timed cases (e.g. under compute-sanitizer)
#   RUNNER   command prefix for the run, e.g. RUNNER="compute-sanitizer --tool memcheck"
#   HARNESS_BIN  output binary (default: build/sg2_harness under this directory)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
NVCC="${NVCC:-nvcc}"
CPU_ONLY="${CPU_ONLY:-0}"
if [[ "$CPU_ONLY" == "1" ]]; then ARCH="${ARCH:-compute_80}"; else ARCH="${ARCH:-native}"; fi
HARNESS_BIN="${HARNESS_BIN:-$HERE/build/sg2_harness}"
mkdir -p "$(dirname "$HARNESS_BIN")"
"$NVCC" -x cu -std=c++17 -O3 -arch="$ARCH" -I"$ROOT" \
  "$HERE/harness.cu.cc" \
  "$ROOT/custom_ops/cc/kernels/bias_act_kernels.cu.cc" \
  "$ROOT/custom_ops/cc/kernels/channel_scale_kernels.cu.cc" \
  "$ROOT/custom_ops/cc/kernels/scale_bias_act_kernels.cu.cc" \
  "$ROOT/custom_ops/cc/kernels/upfirdn2d_kernels.cu.cc" \
  "$ROOT/custom_ops/cc/kernels/affine_resample_kernels.cu.cc" \
  "$ROOT/custom_ops/cc/kernels/filtered_lrelu_kernels.cu.cc" \
  "$ROOT/custom_ops/cc/kernels/winograd_kernels.cu.cc" \
  -o "$HARNESS_BIN" >&2
if [[ "${BUILD_ONLY:-0}" == "1" ]]; then
  echo "built $HARNESS_BIN" >&2
  exit 0
fi
if [[ "$CPU_ONLY" == "1" ]]; then
  exec ${RUNNER:-} "$HARNESS_BIN" --cpu-only
fi
exec ${RUNNER:-} "$HARNESS_BIN"
