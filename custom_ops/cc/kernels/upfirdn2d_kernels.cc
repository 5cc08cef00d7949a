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

template <typename Device, typename T>
class UpFirDn2dOp : public OpKernel {
 public:
  explicit UpFirDn2dOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    std::string fmt;
    OP_REQUIRES_OK(ctx, ctx->GetAttr("upx", &p_.upx));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("upy", &p_.upy));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("downx", &p_.downx));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("downy", &p_.downy));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("padx0", &p_.padx0));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("padx1", &p_.padx1));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("pady0", &p_.pady0));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("pady1", &p_.pady1));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("data_format", &fmt));
    OP_REQUIRES(ctx, fmt == "NHWC" || fmt == "NCHW",
                InvalidArgument("Sg2UpFirDn2d: data_format must be NHWC or "
                                "NCHW, got '", fmt, "'"));
    p_.nchw = fmt == "NCHW";
    for (int v : {p_.upx, p_.upy, p_.downx, p_.downy}) {
      OP_REQUIRES(ctx, v >= 1 && v <= kMaxAttr,
                  InvalidArgument("Sg2UpFirDn2d: up/down factors must be in "
                                  "[1, 2^20], got ", v));
    }
    for (int v : {p_.padx0, p_.padx1, p_.pady0, p_.pady1}) {
      OP_REQUIRES(ctx, v >= -kMaxAttr && v <= kMaxAttr,
                  InvalidArgument("Sg2UpFirDn2d: |pad| must be <= 2^20, got ",
                                  v));
    }
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0);
    const Tensor& f = ctx->input(1);
    OP_REQUIRES(ctx, x.dims() == 4,
                InvalidArgument("Sg2UpFirDn2d: x must be rank 4, got shape ",
                                x.shape().DebugString()));
    OP_REQUIRES(ctx, f.dims() == 2,
                InvalidArgument("Sg2UpFirDn2d: f must be rank 2, got shape ",
                                f.shape().DebugString()));
    OP_REQUIRES(ctx, f.dim_size(0) >= 1 && f.dim_size(1) >= 1 &&
                         f.dim_size(0) <= kMaxAttr && f.dim_size(1) <= kMaxAttr,
                InvalidArgument("Sg2UpFirDn2d: filter must be non-empty, got "
                                "shape ", f.shape().DebugString()));
    UpFirDn2dParams p = p_;
    const int hax = p.nchw ? 2 : 1, wax = p.nchw ? 3 : 2, cax = p.nchw ? 1 : 3;
    p.batch = x.dim_size(0);
    p.channels = x.dim_size(cax);
    p.in_h = x.dim_size(hax);
    p.in_w = x.dim_size(wax);
    p.fh = static_cast<int>(f.dim_size(0));
    p.fw = static_cast<int>(f.dim_size(1));
    OP_REQUIRES(ctx, p.in_h <= kMaxAttr && p.in_w <= kMaxAttr,
                InvalidArgument("Sg2UpFirDn2d: spatial size too large: ",
                                x.shape().DebugString()));
    p.out_h = UpFirDn2dOutSize(p.in_h, p.upy, p.pady0, p.pady1, p.fh, p.downy);
    p.out_w = UpFirDn2dOutSize(p.in_w, p.upx, p.padx0, p.padx1, p.fw, p.downx);
    OP_REQUIRES(ctx, p.out_h >= 1 && p.out_w >= 1,
                InvalidArgument(
                    "Sg2UpFirDn2d: output size would be ", p.out_h, "x",
                    p.out_w, " (< 1) for x ", x.shape().DebugString(),
                    ", filter ", f.shape().DebugString(), ", up ", p.upx, "/",
                    p.upy, ", down ", p.downx, "/", p.downy, ", pads x ",
                    p.padx0, "/", p.padx1, " y ", p.pady0, "/", p.pady1));
    TensorShape out_shape =
        p.nchw ? TensorShape({p.batch, p.channels, p.out_h, p.out_w})
               : TensorShape({p.batch, p.out_h, p.out_w, p.channels});
    Tensor* y = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, out_shape, &y));
    if (y->NumElements() == 0) return;
    // x may still be empty (H or W == 0 with enough padding): then every tap
    // lands in the padding, the tap ranges are empty and the kernels write
    // zeros without reading x.
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

#define SG2_REGISTER(DEV, TAG, T)                                  \
  REGISTER_KERNEL_BUILDER(                                         \
      Name("Sg2UpFirDn2d").Device(DEV).TypeConstraint<T>("T"),     \
      UpFirDn2dOp<TAG, T>);

SG2_FOR_EACH_KERNEL(SG2_REGISTER)
#undef SG2_REGISTER

}  // namespace
}  // namespace sg2
