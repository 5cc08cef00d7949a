// TensorFlow OpKernels for Sg2ChannelScale / Sg2ChannelScaleGrad /
// Sg2ChannelSum: CPU kernels
// over TF's intra-op thread pool, and (when compiled with GOOGLE_CUDA) GPU
// kernels that call the TF-free CUDA launchers.
#include <type_traits>

#include "custom_ops/cc/kernels/channel_scale.h"
#include "custom_ops/cc/kernels/tf_glue.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/tensor.h"

namespace sg2 {
namespace {

using tensorflow::errors::InvalidArgument;
using tensorflow::OpKernel;
using tensorflow::OpKernelConstruction;
using tensorflow::OpKernelContext;
using tensorflow::Tensor;

// Views x as [batch, inner, channels], validating s = [batch, channels].
absl::Status ShapeParams(const Tensor& x, const Tensor& s,
                         ChannelScaleParams* p) {
  if (x.dims() < 2) {
    return InvalidArgument("Sg2ChannelScale: x must have rank >= 2, got shape ",
                           x.shape().DebugString());
  }
  if (s.dims() != 2 || s.dim_size(0) != x.dim_size(0) ||
      s.dim_size(1) != x.dim_size(x.dims() - 1)) {
    return InvalidArgument("Sg2ChannelScale: s must have shape [x.shape[0], "
                           "x.shape[-1]] = [", x.dim_size(0), ", ",
                           x.dim_size(x.dims() - 1), "], got ",
                           s.shape().DebugString());
  }
  p->batch = x.dim_size(0);
  p->channels = x.dim_size(x.dims() - 1);
  p->inner = 1;
  for (int d = 1; d < x.dims() - 1; ++d) p->inner *= x.dim_size(d);
  return absl::OkStatus();
}

// The addend: none (no elements; *has = false) or x's shape with a last
// dimension of 1.
absl::Status AddendParams(const Tensor& x, const Tensor& a, bool* has) {
  *has = false;
  if (a.NumElements() == 0 && a.dims() == 1) return absl::OkStatus();
  tensorflow::TensorShape want = x.shape();
  want.set_dim(x.dims() - 1, 1);
  if (a.shape() != want) {
    return InvalidArgument("Sg2ChannelScale: the addend a must have shape ",
                           want.DebugString(), " (x's with one channel) or "
                           "[0] for none, got ", a.shape().DebugString());
  }
  *has = true;
  return absl::OkStatus();
}

#if GOOGLE_CUDA
// The float32 (for the 16-bit types) partial sums that the CUDA reductions
// add in their fixed order; at least one element so the pointer is valid.
template <typename T>
absl::Status AllocateCudaWorkspace(OpKernelContext* ctx, int64_t elems,
                                   Tensor* work,
                                   typename AccType<T>::type** data) {
  using A = typename AccType<T>::type;
  TF_RETURN_IF_ERROR(ctx->allocate_temp(
      tensorflow::DataTypeToEnum<A>::value,
      tensorflow::TensorShape({elems > 0 ? elems : 1}), work));
  *data = work->flat<A>().data();
  return absl::OkStatus();
}
#endif

template <typename Device, typename T>
class ChannelScaleOp : public OpKernel {
 public:
  explicit ChannelScaleOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0);
    const Tensor& s = ctx->input(1);
    const Tensor& a = ctx->input(2);
    ChannelScaleParams p;
    OP_REQUIRES_OK(ctx, ShapeParams(x, s, &p));
    bool has_a = false;
    OP_REQUIRES_OK(ctx, AddendParams(x, a, &has_a));
    Tensor* y = nullptr;
    OP_REQUIRES_OK(ctx, ctx->forward_input_or_allocate_output({0}, 0,
                                                              x.shape(), &y));
    if (x.NumElements() == 0) return;
    const T* xp = x.flat<T>().data();
    const T* sp = s.flat<T>().data();
    const T* ap = has_a ? a.flat<T>().data() : nullptr;
    T* yp = y->flat<T>().data();
    if constexpr (std::is_same<Device, CpuTag>::value) {
      ChannelScaleCpu(p, AsCpu(xp), AsCpu(sp), AsCpu(ap), AsCpu(yp),
                      TfParallelFor(ctx));
    } else {
#if GOOGLE_CUDA
      RunOnCudaStream(ctx, "Sg2ChannelScale", [&](cudaStream_t stream) {
        return LaunchChannelScaleCuda(stream, p, AsLauncher(xp), AsLauncher(sp),
                                      AsLauncher(ap), AsLauncher(yp));
      });
#endif
    }
  }
};

template <typename Device, typename T>
class ChannelScaleGradOp : public OpKernel {
 public:
  explicit ChannelScaleGradOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor& dy = ctx->input(0);
    const Tensor& x = ctx->input(1);
    const Tensor& s = ctx->input(2);
    const Tensor& a = ctx->input(3);
    OP_REQUIRES(ctx, dy.shape() == x.shape(),
                InvalidArgument("Sg2ChannelScaleGrad: dy shape ",
                                dy.shape().DebugString(), " != x shape ",
                                x.shape().DebugString()));
    ChannelScaleParams p;
    OP_REQUIRES_OK(ctx, ShapeParams(x, s, &p));
    bool has_a = false;
    OP_REQUIRES_OK(ctx, AddendParams(x, a, &has_a));
    Tensor* dx = nullptr;
    Tensor* ds = nullptr;
    Tensor* da = nullptr;
    OP_REQUIRES_OK(ctx, ctx->forward_input_or_allocate_output({0}, 0,
                                                              x.shape(), &dx));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, s.shape(), &ds));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(2, a.shape(), &da));
    if (s.NumElements() == 0 && da->NumElements() == 0) return;
    const T* dyp = dy.flat<T>().data();
    const T* xp = x.flat<T>().data();
    const T* sp = s.flat<T>().data();
    T* dxp = dx->flat<T>().data();
    T* dsp = ds->flat<T>().data();
    T* dap = has_a ? da->flat<T>().data() : nullptr;
    if constexpr (std::is_same<Device, CpuTag>::value) {
      ChannelScaleGradCpu(p, AsCpu(dyp), AsCpu(xp), AsCpu(sp), AsCpu(dxp),
                          AsCpu(dsp), AsCpu(dap), TfParallelFor(ctx));
    } else {
#if GOOGLE_CUDA
      Tensor work;
      typename AccType<T>::type* wp = nullptr;
      OP_REQUIRES_OK(ctx, AllocateCudaWorkspace<T>(
                              ctx, ChannelScaleWorkspaceElems(p), &work, &wp));
      RunOnCudaStream(ctx, "Sg2ChannelScaleGrad", [&](cudaStream_t stream) {
        return LaunchChannelScaleGradCuda(stream, p, AsLauncher(dyp),
                                          AsLauncher(xp), AsLauncher(sp),
                                          AsLauncher(dxp), AsLauncher(dsp),
                                          AsLauncher(dap), wp);
      });
#endif
    }
  }
};

template <typename Device, typename T>
class ChannelSumOp : public OpKernel {
 public:
  explicit ChannelSumOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0);
    OP_REQUIRES(ctx, x.dims() >= 1,
                InvalidArgument("Sg2ChannelSum: x must have rank >= 1"));
    const int64_t C = x.dim_size(x.dims() - 1);
    const int64_t rows = C > 0 ? x.NumElements() / C : 0;
    Tensor* sum = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, tensorflow::TensorShape({C}),
                                             &sum));
    if (C == 0) return;
    const T* xp = x.flat<T>().data();
    T* sp = sum->flat<T>().data();
    if constexpr (std::is_same<Device, CpuTag>::value) {
      ChannelSumCpu(rows, C, AsCpu(xp), AsCpu(sp), TfParallelFor(ctx));
    } else {
#if GOOGLE_CUDA
      Tensor work;
      typename AccType<T>::type* wp = nullptr;
      OP_REQUIRES_OK(ctx, AllocateCudaWorkspace<T>(
                              ctx, ChannelSumWorkspaceElems(rows, C), &work, &wp));
      RunOnCudaStream(ctx, "Sg2ChannelSum", [&](cudaStream_t stream) {
        return LaunchChannelSumCuda(stream, rows, C, AsLauncher(xp),
                                    AsLauncher(sp), wp);
      });
#endif
    }
  }
};

#define SG2_REGISTER(DEV, TAG, T)                                           \
  REGISTER_KERNEL_BUILDER(                                                  \
      Name("Sg2ChannelScale").Device(DEV).TypeConstraint<T>("T"),           \
      ChannelScaleOp<TAG, T>);                                              \
  REGISTER_KERNEL_BUILDER(                                                  \
      Name("Sg2ChannelScaleGrad").Device(DEV).TypeConstraint<T>("T"),       \
      ChannelScaleGradOp<TAG, T>);                                          \
  REGISTER_KERNEL_BUILDER(                                                  \
      Name("Sg2ChannelSum").Device(DEV).TypeConstraint<T>("T"),             \
      ChannelSumOp<TAG, T>);

SG2_FOR_EACH_KERNEL(SG2_REGISTER)
#undef SG2_REGISTER

}  // namespace
}  // namespace sg2
