// TensorFlow OpKernels for Sg2ScaleBiasAct / Sg2ScaleBiasActGrad: CPU kernels
// over TF's intra-op thread pool, and (when compiled with GOOGLE_CUDA) GPU
// kernels that call the TF-free CUDA launchers.
#include <string>
#include <type_traits>

#include "custom_ops/cc/kernels/scale_bias_act.h"
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
using tensorflow::TensorShape;

void ReadAttrs(OpKernelConstruction* ctx, ScaleBiasActParams* p) {
  std::string act;
  OP_REQUIRES_OK(ctx, ctx->GetAttr("act", &act));
  OP_REQUIRES_OK(ctx, ctx->GetAttr("alpha", &p->alpha));
  OP_REQUIRES_OK(ctx, ctx->GetAttr("gain", &p->gain));
  OP_REQUIRES_OK(ctx, ctx->GetAttr("clamp", &p->clamp));
  OP_REQUIRES(ctx, ParseAct(act.c_str(), &p->act),
              InvalidArgument("Sg2ScaleBiasAct: unknown act '", act, "'"));
}

// Views x as [batch, inner, channels] and validates s = [batch, channels],
// the addend a (none: [0], else x's shape with one channel) and the bias b
// (none: [0], else [channels]).
absl::Status ShapeParams(const Tensor& x, const Tensor& s, const Tensor& a,
                         const Tensor& b, ScaleBiasActParams* p, bool* has_a,
                         bool* has_b) {
  if (x.dims() < 2) {
    return InvalidArgument("Sg2ScaleBiasAct: x must have rank >= 2, got shape ",
                           x.shape().DebugString());
  }
  const int64_t C = x.dim_size(x.dims() - 1);
  if (s.dims() != 2 || s.dim_size(0) != x.dim_size(0) || s.dim_size(1) != C) {
    return InvalidArgument("Sg2ScaleBiasAct: s must have shape [x.shape[0], "
                           "x.shape[-1]] = [", x.dim_size(0), ", ", C,
                           "], got ", s.shape().DebugString());
  }
  *has_a = !(a.dims() == 1 && a.NumElements() == 0);
  if (*has_a) {
    TensorShape want = x.shape();
    want.set_dim(x.dims() - 1, 1);
    if (a.shape() != want) {
      return InvalidArgument("Sg2ScaleBiasAct: the addend a must have shape ",
                             want.DebugString(), " (x's with one channel) or "
                             "[0] for none, got ", a.shape().DebugString());
    }
  }
  if (b.dims() != 1 || (b.dim_size(0) != 0 && b.dim_size(0) != C)) {
    return InvalidArgument("Sg2ScaleBiasAct: b must have shape [", C,
                           "] or [0] for none, got ", b.shape().DebugString());
  }
  *has_b = b.dim_size(0) != 0 && C != 0;
  p->scale.batch = x.dim_size(0);
  p->scale.channels = C;
  p->scale.inner = 1;
  for (int d = 1; d < x.dims() - 1; ++d) p->scale.inner *= x.dim_size(d);
  return absl::OkStatus();
}

template <typename T>
const T* DataOrNull(const Tensor& t, bool has) {
  return has ? t.flat<T>().data() : nullptr;
}

#if GOOGLE_CUDA
// The temporaries of the CUDA launchers: t (and g) of x's shape and the
// accumulation-type workspace (at least one element each).
template <typename T>
absl::Status AllocateCudaTemps(OpKernelContext* ctx, const Tensor& x,
                               const ScaleBiasActParams& p, Tensor* t,
                               Tensor* g, Tensor* work) {
  using A = typename AccType<T>::type;
  TF_RETURN_IF_ERROR(ctx->allocate_temp(x.dtype(), x.shape(), t));
  if (g != nullptr) {
    TF_RETURN_IF_ERROR(ctx->allocate_temp(x.dtype(), x.shape(), g));
  }
  if (work != nullptr) {
    const int64_t elems = ScaleBiasActWorkspaceElems(p);
    TF_RETURN_IF_ERROR(ctx->allocate_temp(tensorflow::DataTypeToEnum<A>::value,
                                          TensorShape({elems > 0 ? elems : 1}),
                                          work));
  }
  return absl::OkStatus();
}
#endif

template <typename Device, typename T>
class ScaleBiasActOp : public OpKernel {
 public:
  explicit ScaleBiasActOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    ReadAttrs(ctx, &params_);
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0);
    const Tensor& s = ctx->input(1);
    const Tensor& a = ctx->input(2);
    const Tensor& b = ctx->input(3);
    ScaleBiasActParams p = params_;
    bool has_a = false, has_b = false;
    OP_REQUIRES_OK(ctx, ShapeParams(x, s, a, b, &p, &has_a, &has_b));
    Tensor* y = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, x.shape(), &y));
    if (x.NumElements() == 0) return;
    const T* xp = x.flat<T>().data();
    const T* sp = s.flat<T>().data();
    const T* ap = DataOrNull<T>(a, has_a);
    const T* bp = DataOrNull<T>(b, has_b);
    T* yp = y->flat<T>().data();
    if constexpr (std::is_same<Device, CpuTag>::value) {
      ScaleBiasActCpu(p, AsCpu(xp), AsCpu(sp), AsCpu(ap), AsCpu(bp), AsCpu(yp),
                      TfParallelFor(ctx));
    } else {
#if GOOGLE_CUDA
      Tensor t;
      OP_REQUIRES_OK(ctx, AllocateCudaTemps<T>(ctx, x, p, &t, nullptr, nullptr));
      RunOnCudaStream(ctx, "Sg2ScaleBiasAct", [&](cudaStream_t stream) {
        return LaunchScaleBiasActCuda(stream, p, AsLauncher(xp), AsLauncher(sp),
                                      AsLauncher(ap), AsLauncher(bp),
                                      AsLauncher(yp),
                                      AsLauncher(t.flat<T>().data()));
      });
#endif
    }
  }

 private:
  ScaleBiasActParams params_;
};

template <typename Device, typename T>
class ScaleBiasActGradOp : public OpKernel {
 public:
  explicit ScaleBiasActGradOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    ReadAttrs(ctx, &params_);
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& dy = ctx->input(0);
    const Tensor& x = ctx->input(1);
    const Tensor& s = ctx->input(2);
    const Tensor& a = ctx->input(3);
    const Tensor& b = ctx->input(4);
    OP_REQUIRES(ctx, dy.shape() == x.shape(),
                InvalidArgument("Sg2ScaleBiasActGrad: dy shape ",
                                dy.shape().DebugString(), " != x shape ",
                                x.shape().DebugString()));
    ScaleBiasActParams p = params_;
    bool has_a = false, has_b = false;
    OP_REQUIRES_OK(ctx, ShapeParams(x, s, a, b, &p, &has_a, &has_b));
    Tensor *dx = nullptr, *ds = nullptr, *da = nullptr, *db = nullptr;
    // dx gets a buffer of its own: the CPU loop reads dy and x row by row
    // while it writes dx.
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, x.shape(), &dx));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, s.shape(), &ds));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(2, a.shape(), &da));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(3, b.shape(), &db));
    const T* dyp = dy.flat<T>().data();
    const T* xp = x.flat<T>().data();
    const T* sp = s.flat<T>().data();
    const T* ap = DataOrNull<T>(a, has_a);
    const T* bp = DataOrNull<T>(b, has_b);
    T* dxp = dx->flat<T>().data();
    T* dsp = ds->flat<T>().data();
    T* dap = has_a ? da->flat<T>().data() : nullptr;
    T* dbp = has_b ? db->flat<T>().data() : nullptr;
    if constexpr (std::is_same<Device, CpuTag>::value) {
      ScaleBiasActGradCpu(p, AsCpu(dyp), AsCpu(xp), AsCpu(sp), AsCpu(ap),
                          AsCpu(bp), AsCpu(dxp), AsCpu(dsp), AsCpu(dap),
                          AsCpu(dbp), TfParallelFor(ctx));
    } else {
#if GOOGLE_CUDA
      Tensor t, g, work;
      OP_REQUIRES_OK(ctx, AllocateCudaTemps<T>(ctx, x, p, &t, &g, &work));
      RunOnCudaStream(ctx, "Sg2ScaleBiasActGrad", [&](cudaStream_t stream) {
        return LaunchScaleBiasActGradCuda(
            stream, p, AsLauncher(dyp), AsLauncher(xp), AsLauncher(sp),
            AsLauncher(ap), AsLauncher(bp), AsLauncher(dxp), AsLauncher(dsp),
            AsLauncher(dap), AsLauncher(dbp), AsLauncher(t.flat<T>().data()),
            AsLauncher(g.flat<T>().data()),
            work.flat<typename AccType<T>::type>().data());
      });
#endif
    }
  }

 private:
  ScaleBiasActParams params_;
};

#define SG2_REGISTER(DEV, TAG, T)                                           \
  REGISTER_KERNEL_BUILDER(                                                  \
      Name("Sg2ScaleBiasAct").Device(DEV).TypeConstraint<T>("T"),           \
      ScaleBiasActOp<TAG, T>);                                              \
  REGISTER_KERNEL_BUILDER(                                                  \
      Name("Sg2ScaleBiasActGrad").Device(DEV).TypeConstraint<T>("T"),       \
      ScaleBiasActGradOp<TAG, T>);

SG2_FOR_EACH_KERNEL(SG2_REGISTER)
#undef SG2_REGISTER

}  // namespace
}  // namespace sg2
