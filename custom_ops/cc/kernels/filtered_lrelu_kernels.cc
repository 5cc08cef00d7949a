// TensorFlow OpKernels for Sg2FilteredLrelu: CPU kernel over TF's intra-op
// thread pool, and (when compiled with GOOGLE_CUDA) a GPU kernel that calls
// the TF-free CUDA launcher.
#include <string>
#include <type_traits>

#include "custom_ops/cc/kernels/filtered_lrelu.h"
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
using tensorflow::TensorShape;

// Bounds that keep the tap tables (int32) and the kernels' index math safe.
constexpr int64_t kMaxAttr = 1 << 20;
constexpr int64_t kMaxTaps = 1 << 12;

template <typename Device, typename T>
class FilteredLreluOp : public OpKernel {
 public:
  explicit FilteredLreluOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    std::string fmt;
    OP_REQUIRES_OK(ctx, ctx->GetAttr("up", &p_.up));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("down", &p_.down));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("padx0", &p_.padx0));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("padx1", &p_.padx1));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("pady0", &p_.pady0));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("pady1", &p_.pady1));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("gain", &p_.gain));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("slope", &p_.slope));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("clamp", &p_.clamp));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("read_signs", &p_.read_signs));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("sx", &p_.sx));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("sy", &p_.sy));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("data_format", &fmt));
    OP_REQUIRES(ctx, fmt == "NHWC" || fmt == "NCHW",
                InvalidArgument("Sg2FilteredLrelu: data_format must be NHWC "
                                "or NCHW, got '", fmt, "'"));
    p_.nchw = fmt == "NCHW";
    for (int v : {p_.up, p_.down}) {
      OP_REQUIRES(ctx, v >= 1 && v <= kMaxAttr,
                  InvalidArgument("Sg2FilteredLrelu: up/down must be in "
                                  "[1, 2^20], got ", v));
    }
    for (int v : {p_.padx0, p_.padx1, p_.pady0, p_.pady1, p_.sx, p_.sy}) {
      OP_REQUIRES(ctx, v >= -kMaxAttr && v <= kMaxAttr,
                  InvalidArgument("Sg2FilteredLrelu: |pad| and |sx|, |sy| "
                                  "must be <= 2^20, got ", v));
    }
    p_.write_signs =
        !p_.read_signs && FilteredLreluNeedsSigns(p_.slope, p_.clamp);
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0);
    const Tensor& fu = ctx->input(1);
    const Tensor& fd = ctx->input(2);
    const Tensor& b = ctx->input(3);
    const Tensor& si = ctx->input(4);
    OP_REQUIRES(ctx, x.dims() == 4,
                InvalidArgument("Sg2FilteredLrelu: x must be rank 4, got "
                                "shape ", x.shape().DebugString()));
    FilteredLreluParams p = p_;
    OP_REQUIRES_OK(ctx, FilterShape(fu, "fu", &p.fuw, &p.fuh, &p.fu_2d));
    OP_REQUIRES_OK(ctx, FilterShape(fd, "fd", &p.fdw, &p.fdh, &p.fd_2d));
    const int hax = p.nchw ? 2 : 1, wax = p.nchw ? 3 : 2, cax = p.nchw ? 1 : 3;
    p.batch = x.dim_size(0);
    p.channels = x.dim_size(cax);
    p.in_h = x.dim_size(hax);
    p.in_w = x.dim_size(wax);
    OP_REQUIRES(ctx, p.in_h <= kMaxAttr && p.in_w <= kMaxAttr,
                InvalidArgument("Sg2FilteredLrelu: spatial size too large: ",
                                x.shape().DebugString()));
    OP_REQUIRES(ctx, b.dims() == 1 &&
                         (b.dim_size(0) == 0 || b.dim_size(0) == p.channels),
                InvalidArgument("Sg2FilteredLrelu: b must be [0] or [",
                                p.channels, "] (one per channel), got shape ",
                                b.shape().DebugString()));
    p.has_bias = b.dim_size(0) > 0;
    OP_REQUIRES(ctx, FilteredLreluFinalize(&p),
                InvalidArgument(
                    "Sg2FilteredLrelu: output size would be ", p.out_h, "x",
                    p.out_w, " (< 1) for x ", x.shape().DebugString(),
                    ", fu ", fu.shape().DebugString(), ", fd ",
                    fd.shape().DebugString(), ", up ", p.up, ", down ", p.down,
                    ", pads x ", p.padx0, "/", p.padx1, " y ", p.pady0, "/",
                    p.pady1));
    const int64_t lanes = FilteredLreluLanes(p);
    const int64_t planes = FilteredLreluPlanes(p);
    if (p.read_signs) {
      OP_REQUIRES(
          ctx, si.dims() == 3 && si.dim_size(0) == planes &&
                   (lanes == 1 || si.dim_size(2) % ((lanes + 3) / 4) == 0),
          InvalidArgument("Sg2FilteredLrelu: read_signs needs a sign record "
                          "[", planes, ", rows, bytes] for this x, got ",
                          si.shape().DebugString()));
      p.sign_h = si.dim_size(1);
      p.sign_row_bytes = si.dim_size(2);
    } else {
      OP_REQUIRES(ctx, si.NumElements() == 0,
                  InvalidArgument("Sg2FilteredLrelu: si must be empty unless "
                                  "read_signs, got shape ",
                                  si.shape().DebugString()));
    }
    const TensorShape out_shape =
        p.nchw ? TensorShape({p.batch, p.channels, p.out_h, p.out_w})
               : TensorShape({p.batch, p.out_h, p.out_w, p.channels});
    Tensor* y = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, out_shape, &y));
    Tensor* so = nullptr;
    const TensorShape so_shape =
        p.write_signs ? TensorShape({planes, p.sign_h, p.sign_row_bytes})
                      : TensorShape({0, 0, 0});
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, so_shape, &so));
    if (y->NumElements() == 0) return;
    if (so->NumElements() == 0) p.write_signs = false;
    if (p.read_signs && si.NumElements() == 0) p.sign_h = 0;  // reads 0 codes
    // x may be empty (H or W == 0 with enough padding): then no tap hits an
    // input sample and the grid is all zeros.
    const T* xp = x.flat<T>().data();
    const float* fup = fu.flat<float>().data();
    const float* fdp = fd.flat<float>().data();
    const T* bp = p.has_bias ? b.flat<T>().data() : nullptr;
    const uint8_t* sip = p.read_signs ? si.flat<uint8_t>().data() : nullptr;
    T* yp = y->flat<T>().data();
    uint8_t* sop = p.write_signs ? so->flat<uint8_t>().data() : nullptr;
    if constexpr (std::is_same<Device, CpuTag>::value) {
      FilteredLreluCpu(p, AsCpu(xp), fup, fdp, AsCpu(bp), sip, AsCpu(yp), sop,
                       TfParallelFor(ctx));
    } else {
#if GOOGLE_CUDA
      RunOnCudaStream(ctx, "Sg2FilteredLrelu", [&](cudaStream_t stream) {
        return LaunchFilteredLreluCuda(stream, p, AsLauncher(xp), fup, fdp,
                                       AsLauncher(bp), sip, AsLauncher(yp),
                                       sop);
      });
#endif
    }
  }

 private:
  static absl::Status FilterShape(const Tensor& f, const char* name, int* fw,
                                  int* fh, bool* two_d) {
    if (f.dims() != 1 && f.dims() != 2) {
      return InvalidArgument("Sg2FilteredLrelu: ", name,
                             " must be 1-D (separable) or 2-D [fh, fw], got "
                             "shape ", f.shape().DebugString());
    }
    *two_d = f.dims() == 2;
    const int64_t h = f.dim_size(0), w = f.dim_size(f.dims() - 1);
    if (h < 1 || w < 1 || h > kMaxTaps || w > kMaxTaps) {
      return InvalidArgument("Sg2FilteredLrelu: ", name, " must have 1 to ",
                             kMaxTaps, " taps per axis, got shape ",
                             f.shape().DebugString());
    }
    *fw = static_cast<int>(w);
    *fh = static_cast<int>(h);
    return absl::OkStatus();
  }

  FilteredLreluParams p_;
};

#define SG2_REGISTER(DEV, TAG, T)                                     \
  REGISTER_KERNEL_BUILDER(                                            \
      Name("Sg2FilteredLrelu").Device(DEV).TypeConstraint<T>("T"),    \
      FilteredLreluOp<TAG, T>);

SG2_FOR_EACH_KERNEL(SG2_REGISTER)
#undef SG2_REGISTER

}  // namespace
}  // namespace sg2
