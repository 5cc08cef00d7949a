// CUDA kernels and launchers for the Winograd tile transforms (TensorFlow-
// free; build with nvcc). One thread per (tile, channel) for ToTiles and per
// (pixel, channel) for FromTiles (a gather, so no atomics), adding every term
// in the CPU functors' order with explicitly rounded multiplies and adds.
#include <cuda_runtime.h>

#include <cstdint>

#include "custom_ops/cc/kernels/winograd.h"

namespace sg2 {
namespace {

__device__ __forceinline__ float MulRn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double MulRn(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ float AddRn(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ double AddRn(double a, double b) { return __dadd_rn(a, b); }

template <typename T>
__global__ void ToTilesKernel(WinogradParams p, const T* x, T* tiles) {
  const int t = p.rows, s = p.window;
  const int64_t C = p.channels, total = p.tiles() * C, plane = total;
  const int64_t step = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
       e < total; e += step) {
    const int64_t c = e % C, tile = e / C;
    const int64_t j = tile % p.tiles_w, i = (tile / p.tiles_w) % p.tiles_h;
    const int64_t n = tile / (p.tiles_w * p.tiles_h);
    const int64_t r0 = i * p.stride - p.pad, k0 = j * p.stride - p.pad;
    const T* xn = x + n * p.height * p.width * C + c;
    T tmp[kWinogradMaxTile][kWinogradMaxTile];
    for (int pp = 0; pp < t; ++pp) {
      for (int b = 0; b < s; ++b) tmp[pp][b] = T(0);
      for (int a = 0; a < s; ++a) {
        const T m = static_cast<T>(p.matrix[pp * s + a]);
        const int64_t r = r0 + a;
        for (int b = 0; b < s; ++b) {
          const int64_t k = k0 + b;
          const bool inside = r >= 0 && r < p.height && k >= 0 && k < p.width;
          const T v = inside ? xn[(r * p.width + k) * C] : T(0);
          tmp[pp][b] = AddRn(tmp[pp][b], MulRn(m, v));
        }
      }
    }
    for (int pp = 0; pp < t; ++pp) {
      for (int q = 0; q < t; ++q) {
        T acc = T(0);
        for (int b = 0; b < s; ++b) {
          acc = AddRn(acc, MulRn(static_cast<T>(p.matrix[q * s + b]), tmp[pp][b]));
        }
        tiles[(pp * t + q) * plane + tile * C + c] = acc;
      }
    }
  }
}

template <typename T>
__global__ void FromTilesKernel(WinogradParams p, const T* tiles, T* x) {
  const int t = p.rows, s = p.window;
  const int64_t C = p.channels, plane = p.tiles() * C;
  const int64_t total = p.batch * p.height * p.width * C;
  const int64_t step = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
       e < total; e += step) {
    const int64_t c = e % C, k = (e / C) % p.width;
    const int64_t r = (e / (C * p.width)) % p.height, n = e / (C * p.width * p.height);
    T out = T(0);
    // Tiles whose window [i m - pad, i m - pad + s) holds r, ascending.
    for (int64_t i = 0; i < p.tiles_h; ++i) {
      const int64_t a = r - (i * p.stride - p.pad);
      if (a < 0 || a >= s) continue;
      for (int64_t j = 0; j < p.tiles_w; ++j) {
        const int64_t b = k - (j * p.stride - p.pad);
        if (b < 0 || b >= s) continue;
        const T* src = tiles + ((n * p.tiles_h + i) * p.tiles_w + j) * C + c;
        T win = T(0);
        for (int pp = 0; pp < t; ++pp) {
          T acc = T(0);
          for (int q = 0; q < t; ++q) {
            acc = AddRn(acc, MulRn(static_cast<T>(p.matrix[q * s + b]),
                                   src[(pp * t + q) * plane]));
          }
          win = AddRn(win, MulRn(static_cast<T>(p.matrix[pp * s + a]), acc));
        }
        out = AddRn(out, win);
      }
    }
    x[e] = out;
  }
}

int Blocks(int64_t total) {
  const int64_t b = (total + 255) / 256;
  return static_cast<int>(b < 4096 ? (b > 0 ? b : 1) : 4096);
}

}  // namespace

template <typename T>
int LaunchWinogradToTilesCuda(cudaStream_t stream, const WinogradParams& p,
                              const T* x, T* tiles) {
  ToTilesKernel<T><<<Blocks(p.tiles() * p.channels), 256, 0, stream>>>(p, x, tiles);
  return static_cast<int>(cudaGetLastError());
}

template <typename T>
int LaunchWinogradFromTilesCuda(cudaStream_t stream, const WinogradParams& p,
                                const T* tiles, T* x) {
  FromTilesKernel<T><<<Blocks(p.batch * p.height * p.width * p.channels), 256, 0,
                       stream>>>(p, tiles, x);
  return static_cast<int>(cudaGetLastError());
}

template int LaunchWinogradToTilesCuda<float>(cudaStream_t, const WinogradParams&, const float*, float*);
template int LaunchWinogradToTilesCuda<double>(cudaStream_t, const WinogradParams&, const double*, double*);
template int LaunchWinogradFromTilesCuda<float>(cudaStream_t, const WinogradParams&, const float*, float*);
template int LaunchWinogradFromTilesCuda<double>(cudaStream_t, const WinogradParams&, const double*, double*);

}  // namespace sg2
