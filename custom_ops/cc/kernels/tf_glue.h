// Small helpers shared by the TensorFlow OpKernels (CPU and GPU glue).
#ifndef STYLEGAN2_TF_CUSTOM_OPS_KERNELS_TF_GLUE_H_
#define STYLEGAN2_TF_CUSTOM_OPS_KERNELS_TF_GLUE_H_

#include <functional>

#include "custom_ops/cc/kernels/sg2_common.h"
#include "tensorflow/core/framework/op_kernel.h"
#if GOOGLE_CUDA
#include "xla/stream_executor/stream.h"
#endif

namespace sg2 {

struct CpuTag {};
struct GpuTag {};

// Parallel-for over TF's intra-op thread pool.
inline ParallelForFn TfParallelFor(tensorflow::OpKernelContext* ctx) {
  auto* workers = ctx->device()->tensorflow_cpu_worker_threads()->workers;
  return [workers](int64_t total, int64_t cost,
                   const std::function<void(int64_t, int64_t)>& fn) {
    if (total <= 0) return;
    workers->ParallelFor(total, cost, fn);
  };
}

// Maps TF element types to the launcher storage types.
template <typename T>
struct LauncherType {
  using type = T;
};
template <>
struct LauncherType<Eigen::half> {
  using type = Half16;
};
template <>
struct LauncherType<Eigen::bfloat16> {
  using type = BFloat16;
};
static_assert(sizeof(Eigen::half) == sizeof(Half16), "half layout");
static_assert(sizeof(Eigen::bfloat16) == sizeof(BFloat16), "bfloat16 layout");

// Element type the CPU functors run on: bfloat16 as BFloat16, whose
// conversions vectorize (Eigen::bfloat16's do not); every other type as is.
template <typename T>
struct CpuType {
  using type = T;
};
template <>
struct CpuType<Eigen::bfloat16> {
  using type = BFloat16;
};

template <typename T>
const typename CpuType<T>::type* AsCpu(const T* p) {
  return reinterpret_cast<const typename CpuType<T>::type*>(p);
}
template <typename T>
typename CpuType<T>::type* AsCpu(T* p) {
  return reinterpret_cast<typename CpuType<T>::type*>(p);
}

#if GOOGLE_CUDA
// The op's CUDA stream, read through StreamExecutor's platform handle (a
// virtual call, so no CUDA or TF-internal GPU headers are needed here).
inline bool GetCudaStream(tensorflow::OpKernelContext* ctx,
                          cudaStream_t* stream) {
  auto* dc = ctx->op_device_context();
  if (dc == nullptr || dc->stream() == nullptr) return false;
  *stream = reinterpret_cast<cudaStream_t>(
      dc->stream()->platform_specific_handle().stream);
  return *stream != nullptr;
}

// Runs `launch(stream)` (a TF-free CUDA launcher call returning a cudaError_t
// as int) on the op's stream; a missing stream or a launch error becomes an
// Internal error naming `op`.
template <typename Launch>
void RunOnCudaStream(tensorflow::OpKernelContext* ctx, const char* op,
                     Launch&& launch) {
  cudaStream_t stream;
  OP_REQUIRES(ctx, GetCudaStream(ctx, &stream),
              tensorflow::errors::Internal(op, ": no CUDA stream"));
  const int err = launch(stream);
  OP_REQUIRES(ctx, err == 0,
              tensorflow::errors::Internal(op, " CUDA launch: ",
                                           CudaErrorString(err)));
}
#endif

// Reinterprets a TF element pointer as the launcher storage type.
template <typename T>
const typename LauncherType<T>::type* AsLauncher(const T* p) {
  return reinterpret_cast<const typename LauncherType<T>::type*>(p);
}
template <typename T>
typename LauncherType<T>::type* AsLauncher(T* p) {
  return reinterpret_cast<typename LauncherType<T>::type*>(p);
}

}  // namespace sg2

// Expands REG(device, tag, T) for every element type the ops support on the
// CPU and, when compiled with CUDA, on the GPU (like TF's TF_CALL_* macros;
// REGISTER_KERNEL_BUILDER makes unique names, so one line may hold several).
#define SG2_CPU_KERNELS(REG)                                    \
  REG(::tensorflow::DEVICE_CPU, ::sg2::CpuTag, Eigen::bfloat16) \
  REG(::tensorflow::DEVICE_CPU, ::sg2::CpuTag, Eigen::half)     \
  REG(::tensorflow::DEVICE_CPU, ::sg2::CpuTag, float)       \
  REG(::tensorflow::DEVICE_CPU, ::sg2::CpuTag, double)
#if GOOGLE_CUDA
#define SG2_FOR_EACH_KERNEL(REG)                            \
  SG2_CPU_KERNELS(REG)                                          \
  REG(::tensorflow::DEVICE_GPU, ::sg2::GpuTag, Eigen::bfloat16) \
  REG(::tensorflow::DEVICE_GPU, ::sg2::GpuTag, Eigen::half)     \
  REG(::tensorflow::DEVICE_GPU, ::sg2::GpuTag, float)       \
  REG(::tensorflow::DEVICE_GPU, ::sg2::GpuTag, double)
#else
#define SG2_FOR_EACH_KERNEL(REG) SG2_CPU_KERNELS(REG)
#endif

#endif  // STYLEGAN2_TF_CUSTOM_OPS_KERNELS_TF_GLUE_H_
