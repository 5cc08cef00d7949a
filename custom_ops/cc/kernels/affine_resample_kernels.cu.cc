// CUDA kernels and launchers for affine_resample and its adjoint
// (TensorFlow-free; build with nvcc). One thread per output sample: it sets up
// the two axis windows once (float64 position, reflect and margin mask folded
// into the pixel offsets) and loops over the channels. The adjoint scatters
// with atomicAdd into dx, which the launcher zeroes first.
#include <cuda_runtime.h>

#include <cstdint>

#include "custom_ops/cc/kernels/affine_resample.h"

namespace sg2 {
namespace {

// Weight and element offset of each of the kWin window pixels along one axis
// (weight 0 and offset 0 beyond the margin or beyond the filter's window).
// The phase table is picked with a select so that every table access has a
// constant index (no local-memory copy of the kernel parameters).
template <int kWin, typename I>
__device__ __forceinline__ void AxisWindow(const AffineResampleParams& p,
                                           const AffineAxis& a, int64_t size,
                                           int m0, int m1, I stride, float* w,
                                           I* off) {
#pragma unroll
  for (int i = 0; i < kWin; ++i) {
    const float v0 = a.a0 * p.phase[0][0][i] + a.a1 * p.phase[0][1][i];
    const float v1 = a.a0 * p.phase[1][0][i] + a.a1 * p.phase[1][1][i];
    const int64_t r = AffineReflect(static_cast<int64_t>(a.q0) + i, size, m0, m1);
    w[i] = r < 0 ? 0.0f : (a.parity ? v1 : v0);
    off[i] = r < 0 ? I(0) : static_cast<I>(r) * stride;
  }
}

// Sets up output sample idx = (n, oy, ox); false when it reads nothing.
template <int kWin, typename I>
__device__ __forceinline__ bool SetupSample(const AffineResampleParams& p,
                                            const double* __restrict theta,
                                            I idx, I* n, float* wx, I* cx,
                                            float* wy, I* ry) {
  const I OW = p.out_w, OH = p.out_h;
  const I ox = idx % OW, t = idx / OW, oy = t % OH;
  *n = t / OH;
  const double* th = theta + *n * 6;
  const double fx = static_cast<double>(ox), fy = static_cast<double>(oy);
  const int half = p.taps / 2;
  const AffineAxis ax = AffineAxisTaps(
      AffineIndex(th, fx, fy), -2.0 * p.margin_x0,
      2.0 * static_cast<double>(p.in_w + p.margin_x1) - 1.0, half);
  const AffineAxis ay = AffineAxisTaps(
      AffineIndex(th + 3, fx, fy), -2.0 * p.margin_y0,
      2.0 * static_cast<double>(p.in_h + p.margin_y1) - 1.0, half);
  if (!(ax.ok & ay.ok)) return false;
  const I C = p.channels;
  AxisWindow<kWin, I>(p, ax, p.in_w, p.margin_x0, p.margin_x1, C, wx, cx);
  AxisWindow<kWin, I>(p, ay, p.in_h, p.margin_y0, p.margin_y1,
                      static_cast<I>(p.in_w) * C, wy, ry);
  return true;
}

template <int kWin, typename I>
__global__ void AffineResampleKernel(AffineResampleParams p,
                                     const double* __restrict theta,
                                     const float* __restrict x,
                                     float* __restrict y) {
  const I C = p.channels, HWC = static_cast<I>(p.in_h) * p.in_w * p.channels;
  const I total = static_cast<I>(p.batch) * p.out_h * p.out_w;
  for (I idx = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x;
       idx < total; idx += static_cast<I>(gridDim.x) * blockDim.x) {
    float* yp = y + idx * C;
    float wx[kWin], wy[kWin];
    I cx[kWin], ry[kWin], n;
    if (!SetupSample<kWin, I>(p, theta, idx, &n, wx, cx, wy, ry)) {
      for (I c = 0; c < C; ++c) yp[c] = 0.0f;
      continue;
    }
    const float* xn = x + n * HWC;
    for (I c = 0; c < C; ++c) {
      float s = 0.0f;
#pragma unroll
      for (int j = 0; j < kWin; ++j) {
        float a = 0.0f;
#pragma unroll
        for (int i = 0; i < kWin; ++i) a += wy[i] * __ldg(xn + ry[i] + cx[j] + c);
        s += wx[j] * a;
      }
      yp[c] = s;
    }
  }
}

template <int kWin, typename I>
__global__ void AffineResampleAdjointKernel(AffineResampleParams p,
                                            const double* __restrict theta,
                                            const float* __restrict dy,
                                            float* __restrict dx) {
  const I C = p.channels, HWC = static_cast<I>(p.in_h) * p.in_w * p.channels;
  const I total = static_cast<I>(p.batch) * p.out_h * p.out_w;
  for (I idx = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x;
       idx < total; idx += static_cast<I>(gridDim.x) * blockDim.x) {
    float wx[kWin], wy[kWin];
    I cx[kWin], ry[kWin], n;
    if (!SetupSample<kWin, I>(p, theta, idx, &n, wx, cx, wy, ry)) continue;
    float* dxn = dx + n * HWC;
    for (I c = 0; c < C; ++c) {
      const float g = __ldg(dy + idx * C + c);
      if (g == 0.0f) continue;
#pragma unroll
      for (int j = 0; j < kWin; ++j) {
        const float t = wx[j] * g;
        if (t == 0.0f) continue;
#pragma unroll
        for (int i = 0; i < kWin; ++i) {
          const float v = wy[i] * t;
          if (v != 0.0f) atomicAdd(dxn + ry[i] + cx[j] + c, v);
        }
      }
    }
  }
}

constexpr int kThreads = 256;
constexpr int kMaxBlocks = 65535;

int Blocks(int64_t total) {
  const int64_t want = (total + kThreads - 1) / kThreads;
  return static_cast<int>(want < kMaxBlocks ? want : kMaxBlocks);
}

// 32-bit index math when every element index of x and y fits.
bool Small(const AffineResampleParams& p) {
  const int64_t in = p.batch * p.in_h * p.in_w * p.channels;
  const int64_t out = p.batch * p.out_h * p.out_w * p.channels;
  return in < INT32_MAX / 2 && out < INT32_MAX / 2;
}

template <bool kAdjoint, int kWin, typename I>
void LaunchTyped(cudaStream_t stream, const AffineResampleParams& p,
                 const double* theta, const float* in, float* out) {
  const int blocks = Blocks(p.batch * p.out_h * p.out_w);
  if (kAdjoint) {
    AffineResampleAdjointKernel<kWin, I><<<blocks, kThreads, 0, stream>>>(p, theta, in, out);
  } else {
    AffineResampleKernel<kWin, I><<<blocks, kThreads, 0, stream>>>(p, theta, in, out);
  }
}

// Windows of up to 7 pixels (filters of up to 12 taps, e.g. sym6) get their
// own unrolled kernels; longer filters run the kAffineMaxWindow ones (the
// extra window pixels have weight 0).
template <bool kAdjoint>
int Launch(cudaStream_t stream, const AffineResampleParams& p,
           const double* theta, const float* in, float* out) {
  if (p.batch * p.out_h * p.out_w * p.channels <= 0) return 0;
  const bool small = Small(p);
  if (p.window <= 7) {
    small ? LaunchTyped<kAdjoint, 7, int32_t>(stream, p, theta, in, out)
          : LaunchTyped<kAdjoint, 7, int64_t>(stream, p, theta, in, out);
  } else {
    small ? LaunchTyped<kAdjoint, kAffineMaxWindow, int32_t>(stream, p, theta, in, out)
          : LaunchTyped<kAdjoint, kAffineMaxWindow, int64_t>(stream, p, theta, in, out);
  }
  return static_cast<int>(cudaGetLastError());
}

}  // namespace

int LaunchAffineResampleCuda(cudaStream_t stream,
                             const AffineResampleParams& p,
                             const double* theta, const float* x, float* y) {
  return Launch<false>(stream, p, theta, x, y);
}

int LaunchAffineResampleAdjointCuda(cudaStream_t stream,
                                    const AffineResampleParams& p,
                                    const double* theta, const float* dy,
                                    float* dx) {
  const int64_t size = p.batch * p.in_h * p.in_w * p.channels;
  if (size <= 0) return 0;
  const cudaError_t err =
      cudaMemsetAsync(dx, 0, static_cast<size_t>(size) * sizeof(float), stream);
  if (err != cudaSuccess) return static_cast<int>(err);
  return Launch<true>(stream, p, theta, dy, dx);
}

}  // namespace sg2
