// Device-side element access shared by the CUDA kernels: loads widen to the
// accumulation type (Half16 / BFloat16 -> float), stores narrow back (round to
// nearest even). Include only from .cu.cc files (nvcc).
#ifndef STYLEGAN2_TF_CUSTOM_OPS_KERNELS_CUDA_HALF_CUH_
#define STYLEGAN2_TF_CUSTOM_OPS_KERNELS_CUDA_HALF_CUH_

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <type_traits>

#include "custom_ops/cc/kernels/sg2_common.h"

namespace sg2 {
namespace cuda {

static_assert(sizeof(__half) == sizeof(Half16), "half layout");
static_assert(sizeof(__nv_bfloat16) == sizeof(BFloat16), "bfloat16 layout");

// CUDA's type for each 16-bit storage type, and its float conversions.
template <typename T>
struct Cuda16;
template <>
struct Cuda16<Half16> {
  using type = __half;
  static __device__ __forceinline__ float ToFloat(__half v) {
    return __half2float(v);
  }
  static __device__ __forceinline__ __half FromFloat(float v) {
    return __float2half_rn(v);
  }
};
template <>
struct Cuda16<BFloat16> {
  using type = __nv_bfloat16;
  static __device__ __forceinline__ float ToFloat(__nv_bfloat16 v) {
    return __bfloat162float(v);
  }
  static __device__ __forceinline__ __nv_bfloat16 FromFloat(float v) {
    return __float2bfloat16_rn(v);
  }
};

template <typename T>
constexpr bool kIs16Bit =
    std::is_same<T, Half16>::value || std::is_same<T, BFloat16>::value;

// Plain load: any address space (registers, shared, global).
template <typename T>
__device__ __forceinline__ typename AccType<T>::type Load(const T* p) {
  if constexpr (kIs16Bit<T>) {
    using C = Cuda16<T>;
    return C::ToFloat(*reinterpret_cast<const typename C::type*>(p));
  } else {
    return *p;
  }
}

// Load through the read-only data cache: global memory that the kernel never
// writes.
template <typename T>
__device__ __forceinline__ typename AccType<T>::type LoadReadOnly(const T* p) {
  if constexpr (kIs16Bit<T>) {
    using C = Cuda16<T>;
    return C::ToFloat(__ldg(reinterpret_cast<const typename C::type*>(p)));
  } else {
    return __ldg(p);
  }
}

template <typename T>
__device__ __forceinline__ void Store(T* p, typename AccType<T>::type v) {
  if constexpr (kIs16Bit<T>) {
    using C = Cuda16<T>;
    *reinterpret_cast<typename C::type*>(p) = C::FromFloat(v);
  } else {
    *p = v;
  }
}

// v rounded to T and widened again (the identity for float and double).
template <typename T>
__device__ __forceinline__ typename AccType<T>::type RoundTo(
    typename AccType<T>::type v) {
  if constexpr (kIs16Bit<T>) {
    using C = Cuda16<T>;
    return C::ToFloat(C::FromFloat(v));
  } else {
    return v;
  }
}

}  // namespace cuda
}  // namespace sg2

#endif  // STYLEGAN2_TF_CUSTOM_OPS_KERNELS_CUDA_HALF_CUH_
