// TensorFlow OpKernels for Sg2AffineResample / Sg2AffineResampleAdjoint: CPU
// kernels over TF's intra-op thread pool, and (when compiled with
// GOOGLE_CUDA) GPU kernels that call the TF-free CUDA launchers. f and margin
// live in host memory on both devices: they are validated here and turned
// into the launch parameters (phase tables, margins); theta stays on the
// kernel's device.
#include <string>
#include <type_traits>

#include "custom_ops/cc/kernels/affine_resample.h"
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

// Cap on spatial sizes: upsampled indices (up to 4x a size) stay exact in the
// float64 position math with a wide margin.
constexpr int64_t kMaxSize = 1 << 24;

// kAdjoint false: Sg2AffineResample (input x, attrs out_h/out_w);
// true: Sg2AffineResampleAdjoint (input dy, attrs in_h/in_w).
template <typename Device, bool kAdjoint>
class AffineResampleOp : public OpKernel {
 public:
  explicit AffineResampleOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr(kAdjoint ? "in_h" : "out_h", &h_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr(kAdjoint ? "in_w" : "out_w", &w_));
    OP_REQUIRES(ctx, h_ >= 1 && w_ >= 1 && h_ <= kMaxSize && w_ <= kMaxSize,
                InvalidArgument(Name(), ": size attrs must be in [1, 2^24], got ",
                                h_, "x", w_));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& in = ctx->input(0);
    const Tensor& f = ctx->input(1);
    const Tensor& theta = ctx->input(2);
    const Tensor& margin = ctx->input(3);
    const char* what = kAdjoint ? "dy" : "x";
    OP_REQUIRES(ctx, in.dims() == 4,
                InvalidArgument(Name(), ": ", what, " must be [N, H, W, C], got shape ",
                                in.shape().DebugString()));
    OP_REQUIRES(ctx, f.dims() == 1,
                InvalidArgument(Name(), ": f must be rank 1, got shape ",
                                f.shape().DebugString()));
    const int64_t taps = f.dim_size(0);
    OP_REQUIRES(ctx, taps >= 2 && taps <= kAffineMaxTaps && taps % 2 == 0,
                InvalidArgument(Name(), ": f must have an even number of taps in [2, ",
                                kAffineMaxTaps, "], got ", taps));
    const int64_t n = in.dim_size(0);
    OP_REQUIRES(ctx, theta.dims() == 3 && theta.dim_size(0) == n &&
                         theta.dim_size(1) == 2 && theta.dim_size(2) == 3,
                InvalidArgument(Name(), ": theta must be [N, 2, 3] with N = ", n,
                                ", got shape ", theta.shape().DebugString()));
    OP_REQUIRES(ctx, margin.dims() == 1 && margin.dim_size(0) == 4,
                InvalidArgument(Name(), ": margin must be [x0, x1, y0, y1], got shape ",
                                margin.shape().DebugString()));
    AffineResampleParams p;
    p.batch = n;
    p.channels = in.dim_size(3);
    if (kAdjoint) {
      p.in_h = h_;
      p.in_w = w_;
      p.out_h = in.dim_size(1);
      p.out_w = in.dim_size(2);
    } else {
      p.in_h = in.dim_size(1);
      p.in_w = in.dim_size(2);
      p.out_h = h_;
      p.out_w = w_;
    }
    OP_REQUIRES(ctx, p.in_h >= 2 && p.in_w >= 2,
                InvalidArgument(Name(), ": the image must be at least 2x2 (reflect "
                                "padding), got ", p.in_h, "x", p.in_w));
    OP_REQUIRES(ctx, p.in_h <= kMaxSize && p.in_w <= kMaxSize &&
                         p.out_h <= kMaxSize && p.out_w <= kMaxSize,
                InvalidArgument(Name(), ": spatial size too large: ",
                                in.shape().DebugString()));
    const auto m = margin.flat<int32_t>();
    const int64_t sizes[4] = {p.in_w, p.in_w, p.in_h, p.in_h};
    for (int i = 0; i < 4; ++i) {
      OP_REQUIRES(ctx, m(i) >= 0 && m(i) <= sizes[i] - 1,
                  InvalidArgument(Name(), ": margin [x0, x1, y0, y1] = [", m(0), ", ",
                                  m(1), ", ", m(2), ", ", m(3), "] must lie in [0, W - 1 = ",
                                  p.in_w - 1, "] along x and [0, H - 1 = ", p.in_h - 1,
                                  "] along y"));
    }
    p.margin_x0 = m(0);
    p.margin_x1 = m(1);
    p.margin_y0 = m(2);
    p.margin_y1 = m(3);
    AffineResampleSetFilter(f.flat<float>().data(), static_cast<int>(taps), &p);

    const TensorShape out_shape = kAdjoint
        ? TensorShape({n, p.in_h, p.in_w, p.channels})
        : TensorShape({n, p.out_h, p.out_w, p.channels});
    Tensor* out = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, out_shape, &out));
    if (out->NumElements() == 0) return;
    const double* th = theta.flat<double>().data();
    const float* ip = in.flat<float>().data();
    float* op = out->flat<float>().data();
    if constexpr (std::is_same<Device, CpuTag>::value) {
      if (kAdjoint) {
        AffineResampleAdjointCpu(p, th, ip, op, TfParallelFor(ctx));
      } else {
        AffineResampleCpu(p, th, ip, op, TfParallelFor(ctx));
      }
    } else {
#if GOOGLE_CUDA
      RunOnCudaStream(ctx, kAdjoint ? "Sg2AffineResampleAdjoint" : "Sg2AffineResample",
                      [&](cudaStream_t stream) {
        return kAdjoint ? LaunchAffineResampleAdjointCuda(stream, p, th, ip, op)
                        : LaunchAffineResampleCuda(stream, p, th, ip, op);
      });
#endif
    }
  }

 private:
  const char* Name() const {
    return kAdjoint ? "Sg2AffineResampleAdjoint" : "Sg2AffineResample";
  }
  int h_ = 0, w_ = 0;
};

REGISTER_KERNEL_BUILDER(Name("Sg2AffineResample").Device(DEVICE_CPU),
                        AffineResampleOp<CpuTag, false>);
REGISTER_KERNEL_BUILDER(Name("Sg2AffineResampleAdjoint").Device(DEVICE_CPU),
                        AffineResampleOp<CpuTag, true>);
#if GOOGLE_CUDA
REGISTER_KERNEL_BUILDER(Name("Sg2AffineResample")
                            .Device(DEVICE_GPU)
                            .HostMemory("f")
                            .HostMemory("margin"),
                        AffineResampleOp<GpuTag, false>);
REGISTER_KERNEL_BUILDER(Name("Sg2AffineResampleAdjoint")
                            .Device(DEVICE_GPU)
                            .HostMemory("f")
                            .HostMemory("margin"),
                        AffineResampleOp<GpuTag, true>);
#endif

}  // namespace
}  // namespace sg2
