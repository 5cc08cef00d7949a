// CUDA kernels and launchers for bias_act (TensorFlow-free; build with nvcc).
#include <cuda_runtime.h>

#include <cstdint>

#include "custom_ops/cc/kernels/bias_act.h"
#include "custom_ops/cc/kernels/cuda_half.cuh"

namespace sg2 {
namespace {

using cuda::Load;
using cuda::Store;

template <typename T>
struct BiasActArgs {
  const T* dy;
  const T* x;
  const T* b;
  T* y;
  int64_t size, channels, inner;
  float alpha, gain, clamp;
  int order;
};

// Grid-stride elementwise kernel; I is the index type (int32 when the tensor
// fits, which avoids 64-bit division for the bias index).
template <Act kAct, bool kGrad, typename T, typename I>
__global__ void BiasActKernel(BiasActArgs<T> a) {
  using A = typename AccType<T>::type;
  const A alpha = A(a.alpha), gain = A(a.gain), clamp = A(a.clamp);
  const I size = static_cast<I>(a.size);
  const I C = static_cast<I>(a.channels), inner = static_cast<I>(a.inner);
  const I stride = static_cast<I>(blockDim.x) * gridDim.x;
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < size;
       i += stride) {
    A z = Load(a.x + i);
    if (C > 0) z += Load(a.b + (inner == 1 ? i % C : (i / inner) % C));
    if constexpr (kGrad) {
      Store(a.y + i, BiasActBackward<kAct, A>(Load(a.dy + i), z, alpha, gain,
                                              clamp, a.order));
    } else {
      Store(a.y + i, BiasActForward<kAct, A>(z, alpha, gain, clamp));
    }
  }
}

// Vectorized variant: each thread handles kVec consecutive elements with one
// aligned vector load/store per tensor. Requires size % kVec == 0, aligned
// pointers, and that the kVec elements share one bias run: either the bias
// runs along the fastest axis with channels % kVec == 0 (NHWC), or inner %
// kVec == 0 (one bias value for all kVec), or there is no bias.
constexpr int kVec = 4;
template <typename T>
struct alignas(sizeof(T) * kVec) VecT {
  T v[kVec];
};

template <Act kAct, bool kGrad, typename T, typename I>
__global__ void BiasActVecKernel(BiasActArgs<T> a) {
  using A = typename AccType<T>::type;
  const A alpha = A(a.alpha), gain = A(a.gain), clamp = A(a.clamp);
  const I nvec = static_cast<I>(a.size / kVec);
  const I C = static_cast<I>(a.channels), inner = static_cast<I>(a.inner);
  const I stride = static_cast<I>(blockDim.x) * gridDim.x;
  const VecT<T>* xv = reinterpret_cast<const VecT<T>*>(a.x);
  const VecT<T>* dyv = reinterpret_cast<const VecT<T>*>(a.dy);
  VecT<T>* yv = reinterpret_cast<VecT<T>*>(a.y);
  for (I v = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; v < nvec;
       v += stride) {
    const I i = v * kVec;
    const VecT<T> xin = xv[v];
    VecT<T> dyin;
    if constexpr (kGrad) dyin = dyv[v];
    A bias[kVec];
    if (C == 0) {
#pragma unroll
      for (int k = 0; k < kVec; ++k) bias[k] = A(0);
    } else if (inner == 1) {
      const I j = i % C;
#pragma unroll
      for (int k = 0; k < kVec; ++k) bias[k] = Load(a.b + j + k);
    } else {
      const A bj = Load(a.b + (i / inner) % C);
#pragma unroll
      for (int k = 0; k < kVec; ++k) bias[k] = bj;
    }
    VecT<T> out;
#pragma unroll
    for (int k = 0; k < kVec; ++k) {
      const A z = Load(&xin.v[k]) + bias[k];
      if constexpr (kGrad) {
        Store(&out.v[k], BiasActBackward<kAct, A>(Load(&dyin.v[k]), z, alpha,
                                                  gain, clamp, a.order));
      } else {
        Store(&out.v[k], BiasActForward<kAct, A>(z, alpha, gain, clamp));
      }
    }
    yv[v] = out;
  }
}

inline bool Aligned(const void* p, size_t n) {
  return p == nullptr || reinterpret_cast<uintptr_t>(p) % n == 0;
}

template <Act kAct, bool kGrad, typename T>
int LaunchAct(cudaStream_t stream, const BiasActArgs<T>& a) {
  constexpr int kThreads = 256;
  const bool vec_ok =
      a.size % kVec == 0 &&
      (a.channels == 0 || (a.inner == 1 && a.channels % kVec == 0) ||
       a.inner % kVec == 0) &&
      Aligned(a.x, sizeof(VecT<T>)) && Aligned(a.y, sizeof(VecT<T>)) &&
      Aligned(a.dy, sizeof(VecT<T>));
  const int64_t work = vec_ok ? a.size / kVec : a.size;
  // Enough blocks to fill any current GPU; grid-stride beyond that.
  const int64_t want = (work + kThreads - 1) / kThreads;
  const int blocks = static_cast<int>(want < 65536 ? want : 65536);
  const bool small = a.size <= INT32_MAX;
  if (vec_ok && small) {
    BiasActVecKernel<kAct, kGrad, T, int32_t><<<blocks, kThreads, 0, stream>>>(a);
  } else if (small) {
    BiasActKernel<kAct, kGrad, T, int32_t><<<blocks, kThreads, 0, stream>>>(a);
  } else {
    BiasActKernel<kAct, kGrad, T, int64_t><<<blocks, kThreads, 0, stream>>>(a);
  }
  return static_cast<int>(cudaGetLastError());
}

template <bool kGrad, typename T>
int Dispatch(cudaStream_t stream, const BiasActParams& p, const T* dy,
             const T* x, const T* b, T* y) {
  if (p.size == 0) return 0;
  BiasActArgs<T> a{dy,         x,       b,       y,      p.size,
                   b ? p.channels : 0, p.inner < 1 ? 1 : p.inner,
                   p.alpha,    p.gain,  p.clamp, p.order};
  switch (p.act) {
    case Act::kLinear: return LaunchAct<Act::kLinear, kGrad, T>(stream, a);
    case Act::kRelu: return LaunchAct<Act::kRelu, kGrad, T>(stream, a);
    case Act::kLrelu: return LaunchAct<Act::kLrelu, kGrad, T>(stream, a);
    case Act::kTanh: return LaunchAct<Act::kTanh, kGrad, T>(stream, a);
    case Act::kSigmoid: return LaunchAct<Act::kSigmoid, kGrad, T>(stream, a);
    case Act::kElu: return LaunchAct<Act::kElu, kGrad, T>(stream, a);
    case Act::kSelu: return LaunchAct<Act::kSelu, kGrad, T>(stream, a);
    case Act::kSoftplus: return LaunchAct<Act::kSoftplus, kGrad, T>(stream, a);
    case Act::kSwish: return LaunchAct<Act::kSwish, kGrad, T>(stream, a);
  }
  return static_cast<int>(cudaErrorInvalidValue);
}

}  // namespace

template <typename T>
int LaunchBiasActCuda(cudaStream_t stream, const BiasActParams& p, const T* x,
                      const T* b, T* y) {
  return Dispatch<false, T>(stream, p, nullptr, x, b, y);
}

template <typename T>
int LaunchBiasActGradCuda(cudaStream_t stream, const BiasActParams& p,
                          const T* dy, const T* x, const T* b, T* dx) {
  return Dispatch<true, T>(stream, p, dy, x, b, dx);
}

const char* CudaErrorString(int code) {
  return cudaGetErrorString(static_cast<cudaError_t>(code));
}

#define SG2_INSTANTIATE(T)                                                  \
  template int LaunchBiasActCuda<T>(cudaStream_t, const BiasActParams&,     \
                                    const T*, const T*, T*);                \
  template int LaunchBiasActGradCuda<T>(cudaStream_t, const BiasActParams&, \
                                        const T*, const T*, const T*, T*);
SG2_INSTANTIATE(BFloat16)
SG2_INSTANTIATE(Half16)
SG2_INSTANTIATE(float)
SG2_INSTANTIATE(double)
#undef SG2_INSTANTIATE

}  // namespace sg2
