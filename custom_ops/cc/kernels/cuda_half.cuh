// Device-side element access shared by the CUDA kernels: loads widen to the
// accumulation type (Half16 -> float), stores narrow back (round to nearest).
// Include only from .cu.cc files (nvcc).
#ifndef STYLEGAN2_TF_CUSTOM_OPS_KERNELS_CUDA_HALF_CUH_
#define STYLEGAN2_TF_CUSTOM_OPS_KERNELS_CUDA_HALF_CUH_

#include <cuda_fp16.h>

#include "custom_ops/cc/kernels/sg2_common.h"

namespace sg2 {
namespace cuda {

static_assert(sizeof(__half) == sizeof(Half16), "half layout");

// Plain load: any address space (registers, shared, global).
template <typename T>
__device__ __forceinline__ typename AccType<T>::type Load(const T* p) {
  return *p;
}
template <>
__device__ __forceinline__ float Load<Half16>(const Half16* p) {
  return __half2float(*reinterpret_cast<const __half*>(p));
}

// Load through the read-only data cache: global memory that the kernel never
// writes.
template <typename T>
__device__ __forceinline__ typename AccType<T>::type LoadReadOnly(const T* p) {
  return __ldg(p);
}
template <>
__device__ __forceinline__ float LoadReadOnly<Half16>(const Half16* p) {
  return __half2float(__ldg(reinterpret_cast<const __half*>(p)));
}

template <typename T>
__device__ __forceinline__ void Store(T* p, typename AccType<T>::type v) {
  *p = v;
}
template <>
__device__ __forceinline__ void Store<Half16>(Half16* p, float v) {
  *reinterpret_cast<__half*>(p) = __float2half_rn(v);
}

}  // namespace cuda
}  // namespace sg2

#endif  // STYLEGAN2_TF_CUSTOM_OPS_KERNELS_CUDA_HALF_CUH_
