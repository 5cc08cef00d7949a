// TensorFlow OpKernels for Sg2UpFirDn2d: CPU kernel over TF's intra-op thread
// pool, and (when compiled with GOOGLE_CUDA) a GPU kernel that calls the
// TF-free CUDA launcher.
#include <string>
#include <type_traits>

#include "custom_ops/cc/kernels/tf_glue.h"
#include "custom_ops/cc/kernels/upfirdn2d.h"
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
using tensorflow::TensorShape;

// Inputs beyond this size would overflow the int32 tap tables / kernel math.
constexpr int64_t kMaxAttr = 1 << 20;

// The attributes both ops share (resampling, padding, layout) into *p.
void ReadResampleAttrs(OpKernelConstruction* ctx, const char* op,
                     UpFirDn2dParams* p) {
  std::string fmt;
  OP_REQUIRES_OK(ctx, ctx->GetAttr("upx", &p->upx));
  OP_REQUIRES_OK(ctx, ctx->GetAttr("upy", &p->upy));
  OP_REQUIRES_OK(ctx, ctx->GetAttr("downx", &p->downx));
  OP_REQUIRES_OK(ctx, ctx->GetAttr("downy", &p->downy));
  OP_REQUIRES_OK(ctx, ctx->GetAttr("padx0", &p->padx0));
  OP_REQUIRES_OK(ctx, ctx->GetAttr("padx1", &p->padx1));
  OP_REQUIRES_OK(ctx, ctx->GetAttr("pady0", &p->pady0));
  OP_REQUIRES_OK(ctx, ctx->GetAttr("pady1", &p->pady1));
  OP_REQUIRES_OK(ctx, ctx->GetAttr("data_format", &fmt));
  OP_REQUIRES(ctx, fmt == "NHWC" || fmt == "NCHW",
              InvalidArgument(op, ": data_format must be NHWC or "
                              "NCHW, got '", fmt, "'"));
  p->nchw = fmt == "NCHW";
  for (int v : {p->upx, p->upy, p->downx, p->downy}) {
    OP_REQUIRES(ctx, v >= 1 && v <= kMaxAttr,
                InvalidArgument(op, ": up/down factors must be in "
                                "[1, 2^20], got ", v));
  }
  for (int v : {p->padx0, p->padx1, p->pady0, p->pady1}) {
    OP_REQUIRES(ctx, v >= -kMaxAttr && v <= kMaxAttr,
                InvalidArgument(op, ": |pad| must be <= 2^20, got ",
                                v));
  }
}

// Fills in p's sizes from x and the filter size (fh, fw) and allocates y;
// false when the op failed (error set on ctx) or y is empty.
bool SizeAndAllocate(OpKernelContext* ctx, const char* op, const Tensor& x,
                     int64_t fh, int64_t fw, UpFirDn2dParams* p, Tensor** y) {
  if (!(x.dims() == 4)) {
    ctx->CtxFailure(InvalidArgument(op, ": x must be rank 4, got shape ",
                                    x.shape().DebugString()));
    return false;
  }
  if (!(fh >= 1 && fw >= 1 && fh <= kMaxAttr && fw <= kMaxAttr)) {
    ctx->CtxFailure(InvalidArgument(op, ": filter must be non-empty, got ", fh,
                                    "x", fw, " taps"));
    return false;
  }
  const int hax = p->nchw ? 2 : 1, wax = p->nchw ? 3 : 2, cax = p->nchw ? 1 : 3;
  p->batch = x.dim_size(0);
  p->channels = x.dim_size(cax);
  p->in_h = x.dim_size(hax);
  p->in_w = x.dim_size(wax);
  p->fh = static_cast<int>(fh);
  p->fw = static_cast<int>(fw);
  if (!(p->in_h <= kMaxAttr && p->in_w <= kMaxAttr)) {
    ctx->CtxFailure(InvalidArgument(op, ": spatial size too large: ",
                                    x.shape().DebugString()));
    return false;
  }
  p->out_h = UpFirDn2dOutSize(p->in_h, p->upy, p->pady0, p->pady1, p->fh,
                              p->downy);
  p->out_w = UpFirDn2dOutSize(p->in_w, p->upx, p->padx0, p->padx1, p->fw,
                              p->downx);
  if (!(p->out_h >= 1 && p->out_w >= 1)) {
    ctx->CtxFailure(InvalidArgument(
        op, ": output size would be ", p->out_h, "x", p->out_w,
        " (< 1) for x ", x.shape().DebugString(), ", filter ", fh, "x", fw,
        ", up ", p->upx, "/", p->upy, ", down ", p->downx, "/", p->downy,
        ", pads x ", p->padx0, "/", p->padx1, " y ", p->pady0, "/",
        p->pady1));
    return false;
  }
  const TensorShape out_shape =
      p->nchw ? TensorShape({p->batch, p->channels, p->out_h, p->out_w})
              : TensorShape({p->batch, p->out_h, p->out_w, p->channels});
  const absl::Status allocated = ctx->allocate_output(0, out_shape, y);
  if (!allocated.ok()) {
    ctx->CtxFailure(allocated);
    return false;
  }
  // x may still be empty (H or W == 0 with enough padding): then every tap
  // lands in the padding, the tap ranges are empty and the kernels write
  // zeros without reading x.
  return (*y)->NumElements() > 0;
}

template <typename Device, typename T>
class UpFirDn2dOp : public OpKernel {
 public:
  explicit UpFirDn2dOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    ReadResampleAttrs(ctx, "Sg2UpFirDn2d", &p_);
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0);
    const Tensor& f = ctx->input(1);
    OP_REQUIRES(ctx, f.dims() == 2,
                InvalidArgument("Sg2UpFirDn2d: f must be rank 2, got shape ",
                                f.shape().DebugString()));
    UpFirDn2dParams p = p_;
    Tensor* y = nullptr;
    if (!SizeAndAllocate(ctx, "Sg2UpFirDn2d", x, f.dim_size(0), f.dim_size(1),
                         &p, &y)) {
      return;
    }
    const T* xp = x.flat<T>().data();
    const T* fp = f.flat<T>().data();
    T* yp = y->flat<T>().data();
    if constexpr (std::is_same<Device, CpuTag>::value) {
      UpFirDn2dCpu(p, AsCpu(xp), AsCpu(fp), AsCpu(yp), TfParallelFor(ctx));
    } else {
#if GOOGLE_CUDA
      RunOnCudaStream(ctx, "Sg2UpFirDn2d", [&](cudaStream_t stream) {
        return LaunchUpFirDn2dCuda(stream, p, AsLauncher(xp), AsLauncher(fp),
                                   AsLauncher(yp));
      });
#endif
    }
  }

 private:
  UpFirDn2dParams p_;
};

template <typename Device, typename T>
class UpFirDn2dSeparableOp : public OpKernel {
 public:
  explicit UpFirDn2dSeparableOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    ReadResampleAttrs(ctx, "Sg2UpFirDn2dSeparable", &p_);
    OP_REQUIRES_OK(ctx, ctx->GetAttr("y_first", &y_first_));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0);
    const Tensor& fx = ctx->input(1);
    const Tensor& fy = ctx->input(2);
    OP_REQUIRES(ctx, fx.dims() == 1 && fy.dims() == 1,
                InvalidArgument("Sg2UpFirDn2dSeparable: fx and fy must be "
                                "rank 1, got shapes ",
                                fx.shape().DebugString(), " and ",
                                fy.shape().DebugString()));
    UpFirDn2dParams p = p_;
    Tensor* y = nullptr;
    if (!SizeAndAllocate(ctx, "Sg2UpFirDn2dSeparable", x, fy.dim_size(0),
                         fx.dim_size(0), &p, &y)) {
      return;
    }
    // The intermediate image: only the two-pass forms (CUDA; on the CPU NCHW
    // and few channels).
    const bool two_pass = !std::is_same<Device, CpuTag>::value ||
                          UpFirDn2dSeparableCpuUsesTemp(p);
    Tensor tmp;
    T* tp = nullptr;
    if (two_pass) {
      OP_REQUIRES_OK(ctx, ctx->allocate_temp(
                              tensorflow::DataTypeToEnum<T>::value,
                              TensorShape({UpFirDn2dSeparableTempSize(
                                  p, y_first_)}),
                              &tmp));
      tp = tmp.flat<T>().data();
    }
    const T* xp = x.flat<T>().data();
    const T* fxp = fx.flat<T>().data();
    const T* fyp = fy.flat<T>().data();
    T* yp = y->flat<T>().data();
    if constexpr (std::is_same<Device, CpuTag>::value) {
      UpFirDn2dSeparableCpu(p, y_first_, AsCpu(xp), AsCpu(fxp), AsCpu(fyp),
                            AsCpu(tp), AsCpu(yp), TfParallelFor(ctx));
    } else {
#if GOOGLE_CUDA
      RunOnCudaStream(ctx, "Sg2UpFirDn2dSeparable", [&](cudaStream_t stream) {
        return LaunchUpFirDn2dSeparableCuda(
            stream, p, y_first_, AsLauncher(xp), AsLauncher(fxp),
            AsLauncher(fyp), AsLauncher(tp), AsLauncher(yp));
      });
#endif
    }
  }

 private:
  UpFirDn2dParams p_;
  bool y_first_ = false;
};

#define SG2_REGISTER(DEV, TAG, T)                                       \
  REGISTER_KERNEL_BUILDER(                                              \
      Name("Sg2UpFirDn2d").Device(DEV).TypeConstraint<T>("T"),          \
      UpFirDn2dOp<TAG, T>);                                             \
  REGISTER_KERNEL_BUILDER(                                              \
      Name("Sg2UpFirDn2dSeparable").Device(DEV).TypeConstraint<T>("T"), \
      UpFirDn2dSeparableOp<TAG, T>);

SG2_FOR_EACH_KERNEL(SG2_REGISTER)
#undef SG2_REGISTER

}  // namespace
}  // namespace sg2
