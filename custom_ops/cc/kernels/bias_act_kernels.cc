// TensorFlow OpKernels for Sg2BiasAct / Sg2BiasActGrad: CPU kernels over TF's
// intra-op thread pool, and (when compiled with GOOGLE_CUDA) GPU kernels that
// call the TF-free CUDA launchers.
#include <string>
#include <type_traits>

#include "custom_ops/cc/kernels/bias_act.h"
#include "custom_ops/cc/kernels/tf_glue.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/tensor.h"

namespace sg2 {
namespace {

using tensorflow::DEVICE_CPU;
using tensorflow::DEVICE_GPU;
using tensorflow::errors::InvalidArgument;
using tensorflow::OpKernel;
using tensorflow::OpKernelConstruction;
using tensorflow::OpKernelContext;
using tensorflow::Tensor;

// Reads and validates the attrs shared by both ops.
void ReadAttrs(OpKernelConstruction* ctx, bool grad, BiasActParams* p,
               int* axis) {
  std::string act;
  OP_REQUIRES_OK(ctx, ctx->GetAttr("axis", axis));
  OP_REQUIRES_OK(ctx, ctx->GetAttr("act", &act));
  OP_REQUIRES_OK(ctx, ctx->GetAttr("alpha", &p->alpha));
  OP_REQUIRES_OK(ctx, ctx->GetAttr("gain", &p->gain));
  OP_REQUIRES_OK(ctx, ctx->GetAttr("clamp", &p->clamp));
  OP_REQUIRES(ctx, ParseAct(act.c_str(), &p->act),
              InvalidArgument("Sg2BiasAct: unknown act '", act, "'"));
  OP_REQUIRES(ctx, *axis >= 0,
              InvalidArgument("Sg2BiasAct: axis must be >= 0, got ", *axis));
  if (grad) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("order", &p->order));
    OP_REQUIRES(ctx, p->order == 1 || p->order == 2,
                InvalidArgument("Sg2BiasActGrad: order must be 1 or 2, got ",
                                p->order));
  }
}

// Fills size/channels/inner from x and b, validating the bias shape.
absl::Status ShapeParams(const Tensor& x, const Tensor& b, int axis,
                         BiasActParams* p) {
  if (b.dims() != 1) {
    return InvalidArgument("Sg2BiasAct: b must be rank 1, got shape ",
                           b.shape().DebugString());
  }
  p->size = x.NumElements();
  p->channels = b.dim_size(0);
  p->inner = 1;
  if (p->channels > 0) {
    if (axis >= x.dims()) {
      return InvalidArgument("Sg2BiasAct: axis ", axis,
                             " out of range for x of shape ",
                             x.shape().DebugString());
    }
    if (x.dim_size(axis) != p->channels) {
      return InvalidArgument("Sg2BiasAct: bias length ", p->channels,
                             " != x.shape[", axis, "] = ", x.dim_size(axis));
    }
    for (int d = axis + 1; d < x.dims(); ++d) p->inner *= x.dim_size(d);
    if (p->inner == 0) p->inner = 1;  // empty x: nothing to do anyway
  }
  return absl::OkStatus();
}

template <typename Device, typename T>
class BiasActOp : public OpKernel {
 public:
  explicit BiasActOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    ReadAttrs(ctx, /*grad=*/false, &params_, &axis_);
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0);
    const Tensor& b = ctx->input(1);
    BiasActParams p = params_;
    OP_REQUIRES_OK(ctx, ShapeParams(x, b, axis_, &p));
    Tensor* y = nullptr;
    OP_REQUIRES_OK(ctx, ctx->forward_input_or_allocate_output({0}, 0,
                                                              x.shape(), &y));
    if (p.size == 0) return;
    const T* xp = x.flat<T>().data();
    const T* bp = p.channels > 0 ? b.flat<T>().data() : nullptr;
    T* yp = y->flat<T>().data();
    if constexpr (std::is_same<Device, CpuTag>::value) {
      BiasActCpu(p, AsCpu(xp), AsCpu(bp), AsCpu(yp), TfParallelFor(ctx));
    } else {
#if GOOGLE_CUDA
      RunOnCudaStream(ctx, "Sg2BiasAct", [&](cudaStream_t stream) {
        return LaunchBiasActCuda(stream, p, AsLauncher(xp), AsLauncher(bp),
                                 AsLauncher(yp));
      });
#endif
    }
  }

 private:
  BiasActParams params_;
  int axis_ = 0;
};

template <typename Device, typename T>
class BiasActGradOp : public OpKernel {
 public:
  explicit BiasActGradOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    ReadAttrs(ctx, /*grad=*/true, &params_, &axis_);
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& dy = ctx->input(0);
    const Tensor& x = ctx->input(1);
    const Tensor& b = ctx->input(2);
    OP_REQUIRES(ctx, dy.shape() == x.shape(),
                InvalidArgument("Sg2BiasActGrad: dy shape ",
                                dy.shape().DebugString(), " != x shape ",
                                x.shape().DebugString()));
    BiasActParams p = params_;
    OP_REQUIRES_OK(ctx, ShapeParams(x, b, axis_, &p));
    Tensor* dx = nullptr;
    OP_REQUIRES_OK(ctx, ctx->forward_input_or_allocate_output({0}, 0,
                                                              x.shape(), &dx));
    if (p.size == 0) return;
    const T* dyp = dy.flat<T>().data();
    const T* xp = x.flat<T>().data();
    const T* bp = p.channels > 0 ? b.flat<T>().data() : nullptr;
    T* dxp = dx->flat<T>().data();
    if constexpr (std::is_same<Device, CpuTag>::value) {
      BiasActGradCpu(p, AsCpu(dyp), AsCpu(xp), AsCpu(bp), AsCpu(dxp),
                     TfParallelFor(ctx));
    } else {
#if GOOGLE_CUDA
      RunOnCudaStream(ctx, "Sg2BiasActGrad", [&](cudaStream_t stream) {
        return LaunchBiasActGradCuda(stream, p, AsLauncher(dyp), AsLauncher(xp),
                                     AsLauncher(bp), AsLauncher(dxp));
      });
#endif
    }
  }

 private:
  BiasActParams params_;
  int axis_ = 0;
};

#define SG2_REGISTER(DEV, TAG, T)                                           \
  REGISTER_KERNEL_BUILDER(                                                  \
      Name("Sg2BiasAct").Device(DEV).TypeConstraint<T>("T"),                \
      BiasActOp<TAG, T>);                                                   \
  REGISTER_KERNEL_BUILDER(                                                  \
      Name("Sg2BiasActGrad").Device(DEV).TypeConstraint<T>("T"),            \
      BiasActGradOp<TAG, T>);

SG2_FOR_EACH_KERNEL(SG2_REGISTER)
#undef SG2_REGISTER

}  // namespace
}  // namespace sg2

// Which copy of the CPU loops runs in this process ("avx512", "avx2" or
// "baseline"; see SG2_CPU_DISPATCH), for stylegan2_tf.ops.cpu_loops().
extern "C" __attribute__((visibility("default"))) const char* Sg2CpuLoops() {
  return sg2::CpuLoopsName(sg2::CpuLoopsHere());
}

// dst = sg2::NarrowToBFloat16(src) on the calling thread, for the tests of the
// narrowing itself: TF's op threads flush denormals to zero, so inside an op
// the denormal path of the vector conversion cannot be reached.
extern "C" __attribute__((visibility("default"))) void Sg2NarrowToBFloat16(
    const float* src, uint16_t* dst, int64_t n) {
  sg2::NarrowToBFloat16(src, reinterpret_cast<sg2::BFloat16*>(dst), n);
}
