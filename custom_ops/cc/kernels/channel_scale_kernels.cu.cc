// CUDA kernels and launchers for channel_scale and channel_sum (TensorFlow-
// free; build with nvcc). Both sum in the CPU functors' order (row chunks,
// then the chunk sums) with explicitly rounded multiplies and adds (no FMA
// contraction), so both devices give the same bits.
#include <cuda_runtime.h>

#include <cstdint>

#include "custom_ops/cc/kernels/channel_scale.h"
#include "custom_ops/cc/kernels/cuda_half.cuh"

namespace sg2 {
namespace {

using cuda::Load;
using cuda::LoadReadOnly;
using cuda::RoundTo;
using cuda::Store;

__device__ __forceinline__ float MulRn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double MulRn(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ float AddRn(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ double AddRn(double a, double b) { return __dadd_rn(a, b); }

// Grid-stride over the elements of x: y = x * s[n, c], or with an addend
// T(x * s[n, c]) + a[n, i] (the product rounded to T first, as on the CPU).
template <typename T>
__global__ void ChannelScaleKernel(ChannelScaleParams p, const T* x,
                                   const T* s, const T* a, T* y) {
  const int64_t size = p.batch * p.inner * p.channels;
  const int64_t per_sample = p.inner * p.channels;
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
       i < size; i += stride) {
    const int64_t n = i / per_sample, c = i % p.channels;
    const auto prod = MulRn(LoadReadOnly(x + i), LoadReadOnly(s + n * p.channels + c));
    if (a == nullptr) {
      Store(y + i, prod);
    } else {
      Store(y + i, AddRn(RoundTo<T>(prod), LoadReadOnly(a + i / p.channels)));
    }
  }
}

// One thread per row (n, i): da = sum over the channels of dy, in the CPU's
// order (16 lanes per tile of kChannelScaleTile channels, combined by halving,
// then the tiles in order).
template <typename T>
__global__ void ChannelScaleRowSumKernel(ChannelScaleParams p, const T* dy,
                                         T* da) {
  using A = typename AccType<T>::type;
  const int64_t C = p.channels, rows = p.batch * p.inner;
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
       r < rows; r += stride) {
    const T* row = dy + r * C;
    A total = A(0);
    for (int64_t c0 = 0; c0 < C; c0 += kChannelScaleTile) {
      const int64_t w = C - c0 < kChannelScaleTile ? C - c0 : kChannelScaleTile;
      A lane[16];
      for (int j = 0; j < 16; ++j) lane[j] = A(0);
      for (int64_t k = 0; k < w; ++k) {
        lane[k % 16] = AddRn(lane[k % 16], LoadReadOnly(row + c0 + k));
      }
      for (int h = 8; h >= 1; h /= 2) {
        for (int j = 0; j < h; ++j) lane[j] = AddRn(lane[j], lane[j + h]);
      }
      total = c0 == 0 ? lane[0] : AddRn(total, lane[0]);
    }
    Store(da + r, total);
  }
}

// One thread per (n, chunk, c), c fastest (coalesced rows): dx over the
// chunk's rows and the chunk's partial ds, summed in row order.
template <typename T>
__global__ void ChannelScaleGradChunkKernel(ChannelScaleParams p, const T* dy,
                                            const T* x, const T* s, T* dx,
                                            typename AccType<T>::type* parts) {
  using A = typename AccType<T>::type;
  const int64_t C = p.channels, inner = p.inner;
  const int64_t chunks = (inner + kChannelScaleRows - 1) / kChannelScaleRows;
  const int64_t total = p.batch * chunks * C;
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
       t < total; t += stride) {
    const int64_t c = t % C, k = (t / C) % chunks, n = t / (C * chunks);
    const int64_t r0 = k * kChannelScaleRows;
    const int64_t r1 = r0 + kChannelScaleRows < inner ? r0 + kChannelScaleRows : inner;
    const A sc = LoadReadOnly(s + n * C + c);
    A acc = A(0);
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t i = (n * inner + r) * C + c;
      const A g = LoadReadOnly(dy + i);
      Store(dx + i, MulRn(g, sc));
      acc = AddRn(acc, MulRn(g, LoadReadOnly(x + i)));
    }
    parts[t] = acc;
  }
}

// One thread per (n, c): ds = the chunk sums added in chunk order.
template <typename T>
__global__ void ChannelScaleGradSumKernel(ChannelScaleParams p,
                                          const typename AccType<T>::type* parts,
                                          T* ds) {
  using A = typename AccType<T>::type;
  const int64_t C = p.channels;
  const int64_t chunks = (p.inner + kChannelScaleRows - 1) / kChannelScaleRows;
  const int64_t total = p.batch * C;
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
       t < total; t += stride) {
    const int64_t n = t / C, c = t % C;
    A sum = chunks > 0 ? parts[(n * chunks) * C + c] : A(0);
    for (int64_t k = 1; k < chunks; ++k) sum = AddRn(sum, parts[(n * chunks + k) * C + c]);
    Store(ds + t, sum);
  }
}

// One thread per (chunk, c): the chunk's partial channel sum in row order.
template <typename T>
__global__ void ChannelSumChunkKernel(int64_t rows, int64_t C, const T* x,
                                      typename AccType<T>::type* parts) {
  using A = typename AccType<T>::type;
  const int64_t total = ChannelSumWorkspaceElems(rows, C);
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
       t < total; t += stride) {
    const int64_t c = t % C, r0 = (t / C) * kChannelScaleRows;
    const int64_t r1 = r0 + kChannelScaleRows < rows ? r0 + kChannelScaleRows : rows;
    A acc = A(0);
    for (int64_t r = r0; r < r1; ++r) acc = AddRn(acc, LoadReadOnly(x + r * C + c));
    parts[t] = acc;
  }
}

// One thread per channel: the chunk sums added in chunk order.
template <typename T>
__global__ void ChannelSumTotalKernel(int64_t rows, int64_t C,
                                      const typename AccType<T>::type* parts,
                                      T* sum) {
  using A = typename AccType<T>::type;
  const int64_t chunks = (rows + kChannelScaleRows - 1) / kChannelScaleRows;
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
       c < C; c += stride) {
    A total = chunks > 0 ? parts[c] : A(0);
    for (int64_t k = 1; k < chunks; ++k) total = AddRn(total, parts[k * C + c]);
    Store(sum + c, total);
  }
}

int Blocks(int64_t work, int threads) {
  const int64_t want = (work + threads - 1) / threads;
  return static_cast<int>(want < 65536 ? (want > 0 ? want : 1) : 65536);
}

}  // namespace

template <typename T>
int LaunchChannelScaleCuda(cudaStream_t stream, const ChannelScaleParams& p,
                           const T* x, const T* s, const T* a, T* y) {
  const int64_t size = p.batch * p.inner * p.channels;
  if (size == 0) return 0;
  constexpr int kThreads = 256;
  ChannelScaleKernel<T><<<Blocks(size, kThreads), kThreads, 0, stream>>>(p, x, s, a, y);
  return static_cast<int>(cudaGetLastError());
}

template <typename T>
int LaunchChannelScaleGradCuda(cudaStream_t stream, const ChannelScaleParams& p,
                               const T* dy, const T* x, const T* s, T* dx,
                               T* ds, T* da, typename AccType<T>::type* workspace) {
  constexpr int kThreads = 256;
  if (da != nullptr && p.batch * p.inner > 0) {
    // With no channels every row sum is 0 (the kernel's empty loop).
    ChannelScaleRowSumKernel<T><<<Blocks(p.batch * p.inner, kThreads), kThreads, 0, stream>>>(
        p, dy, da);
  }
  if (p.batch == 0 || p.channels == 0) return static_cast<int>(cudaGetLastError());
  const int64_t chunk_work = ChannelScaleWorkspaceElems(p);
  if (chunk_work > 0) {
    ChannelScaleGradChunkKernel<T><<<Blocks(chunk_work, kThreads), kThreads, 0, stream>>>(
        p, dy, x, s, dx, workspace);
  }
  ChannelScaleGradSumKernel<T><<<Blocks(p.batch * p.channels, kThreads), kThreads, 0, stream>>>(
      p, workspace, ds);
  return static_cast<int>(cudaGetLastError());
}

template <typename T>
int LaunchChannelSumCuda(cudaStream_t stream, int64_t rows, int64_t C,
                         const T* x, T* sum,
                         typename AccType<T>::type* workspace) {
  if (C == 0) return 0;
  constexpr int kThreads = 256;
  const int64_t chunk_work = ChannelSumWorkspaceElems(rows, C);
  if (chunk_work > 0) {
    ChannelSumChunkKernel<T><<<Blocks(chunk_work, kThreads), kThreads, 0, stream>>>(
        rows, C, x, workspace);
  }
  ChannelSumTotalKernel<T><<<Blocks(C, kThreads), kThreads, 0, stream>>>(rows, C, workspace, sum);
  return static_cast<int>(cudaGetLastError());
}

#define SG2_INSTANTIATE(T)                                                     \
  template int LaunchChannelScaleCuda<T>(cudaStream_t, const ChannelScaleParams&, \
                                         const T*, const T*, const T*, T*);    \
  template int LaunchChannelScaleGradCuda<T>(                                  \
      cudaStream_t, const ChannelScaleParams&, const T*, const T*, const T*,   \
      T*, T*, T*, AccType<T>::type*);                                         \
  template int LaunchChannelSumCuda<T>(cudaStream_t, int64_t, int64_t,         \
                                       const T*, T*, AccType<T>::type*);
SG2_INSTANTIATE(BFloat16)
SG2_INSTANTIATE(Half16)
SG2_INSTANTIATE(float)
SG2_INSTANTIATE(double)
#undef SG2_INSTANTIATE

}  // namespace sg2
