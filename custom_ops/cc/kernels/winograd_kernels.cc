// TensorFlow OpKernels for Sg2WinogradToTiles / Sg2WinogradFromTiles: CPU
// kernels over TF's intra-op thread pool, and (when compiled with
// GOOGLE_CUDA) GPU kernels that call the TF-free CUDA launchers.
#include <type_traits>
#include <vector>

#include "custom_ops/cc/kernels/tf_glue.h"
#include "custom_ops/cc/kernels/winograd.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/tensor.h"

namespace sg2 {
namespace {

using tensorflow::errors::InvalidArgument;
using tensorflow::OpKernel;
using tensorflow::OpKernelConstruction;
using tensorflow::OpKernelContext;
using tensorflow::Tensor;

// Tiles along an axis, or an error naming the op when the windows do not end
// exactly at the padded edge.
absl::Status AxisTiles(const char* op, int64_t size, const WinogradParams& p,
                       int64_t* tiles) {
  if (!WinogradTileCount(size, p.window, p.stride, p.pad, tiles)) {
    return InvalidArgument(op, ": an axis of ", size, " pixels padded by ",
                           p.pad, " is not covered exactly by windows of ",
                           p.window, " at stride ", p.stride);
  }
  return absl::OkStatus();
}

// The attrs shared by both ops.
void ReadAttrs(OpKernelConstruction* ctx, WinogradParams* p) {
  std::vector<float> matrix;
  OP_REQUIRES_OK(ctx, ctx->GetAttr("matrix", &matrix));
  OP_REQUIRES_OK(ctx, ctx->GetAttr("window", &p->window));
  OP_REQUIRES_OK(ctx, ctx->GetAttr("stride", &p->stride));
  OP_REQUIRES_OK(ctx, ctx->GetAttr("pad", &p->pad));
  OP_REQUIRES(ctx, !matrix.empty() && matrix.size() % p->window == 0,
              InvalidArgument("matrix must hold t x window values"));
  p->rows = static_cast<int>(matrix.size()) / p->window;
  OP_REQUIRES(ctx, p->rows <= kWinogradMaxTile && p->window <= kWinogradMaxTile,
              InvalidArgument("tiles and windows of at most ", kWinogradMaxTile,
                              " pixels are supported, got ", p->rows, " x ",
                              p->window));
  for (size_t k = 0; k < matrix.size(); ++k) p->matrix[k] = matrix[k];
}

template <typename Device, typename T>
class WinogradToTilesOp : public OpKernel {
 public:
  explicit WinogradToTilesOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    ReadAttrs(ctx, &attrs_);
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0);
    OP_REQUIRES(ctx, x.dims() == 4,
                InvalidArgument("Sg2WinogradToTiles: x must be [N, H, W, C], "
                                "got ", x.shape().DebugString()));
    WinogradParams p = attrs_;
    p.batch = x.dim_size(0);
    p.height = x.dim_size(1);
    p.width = x.dim_size(2);
    p.channels = x.dim_size(3);
    OP_REQUIRES_OK(ctx, AxisTiles("Sg2WinogradToTiles", p.height, p, &p.tiles_h));
    OP_REQUIRES_OK(ctx, AxisTiles("Sg2WinogradToTiles", p.width, p, &p.tiles_w));
    Tensor* tiles = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(
                            0, tensorflow::TensorShape({p.rows * p.rows, p.tiles(), p.channels}),
                            &tiles));
    if (tiles->NumElements() == 0) return;
    const T* xp = x.flat<T>().data();
    T* tp = tiles->flat<T>().data();
    if constexpr (std::is_same<Device, CpuTag>::value) {
      WinogradToTilesCpu(p, xp, tp, TfParallelFor(ctx));
    } else {
#if GOOGLE_CUDA
      RunOnCudaStream(ctx, "Sg2WinogradToTiles", [&](cudaStream_t stream) {
        return LaunchWinogradToTilesCuda(stream, p, xp, tp);
      });
#endif
    }
  }

 private:
  WinogradParams attrs_;
};

template <typename Device, typename T>
class WinogradFromTilesOp : public OpKernel {
 public:
  explicit WinogradFromTilesOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    ReadAttrs(ctx, &attrs_);
    int h = 0, w = 0;
    OP_REQUIRES_OK(ctx, ctx->GetAttr("height", &h));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("width", &w));
    attrs_.height = h;
    attrs_.width = w;
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& tiles = ctx->input(0);
    WinogradParams p = attrs_;
    OP_REQUIRES_OK(ctx, AxisTiles("Sg2WinogradFromTiles", p.height, p, &p.tiles_h));
    OP_REQUIRES_OK(ctx, AxisTiles("Sg2WinogradFromTiles", p.width, p, &p.tiles_w));
    const int64_t per_image = p.tiles_h * p.tiles_w;
    OP_REQUIRES(ctx, tiles.dims() == 3 && tiles.dim_size(0) == p.rows * p.rows &&
                         tiles.dim_size(1) % per_image == 0,
                InvalidArgument("Sg2WinogradFromTiles: tiles must be [", p.rows * p.rows,
                                ", N * ", per_image, ", C], got ",
                                tiles.shape().DebugString()));
    p.batch = tiles.dim_size(1) / per_image;
    p.channels = tiles.dim_size(2);
    Tensor* x = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(
                            0, tensorflow::TensorShape({p.batch, p.height, p.width, p.channels}),
                            &x));
    if (x->NumElements() == 0) return;
    const T* tp = tiles.flat<T>().data();
    T* xp = x->flat<T>().data();
    if constexpr (std::is_same<Device, CpuTag>::value) {
      WinogradFromTilesCpu(p, tp, xp, TfParallelFor(ctx));
    } else {
#if GOOGLE_CUDA
      RunOnCudaStream(ctx, "Sg2WinogradFromTiles", [&](cudaStream_t stream) {
        return LaunchWinogradFromTilesCuda(stream, p, tp, xp);
      });
#endif
    }
  }

 private:
  WinogradParams attrs_;
};

#define SG2_REGISTER(DEV, TAG, T)                                           \
  REGISTER_KERNEL_BUILDER(                                                  \
      Name("Sg2WinogradToTiles").Device(DEV).TypeConstraint<T>("T"),        \
      WinogradToTilesOp<TAG, T>);                                           \
  REGISTER_KERNEL_BUILDER(                                                  \
      Name("Sg2WinogradFromTiles").Device(DEV).TypeConstraint<T>("T"),      \
      WinogradFromTilesOp<TAG, T>);

// float32 and float64 only: the transforms' sums would lose too much in the
// 16-bit types (their convolutions stay direct, stylegan2_tf/ops/winograd.py).
SG2_REGISTER(::tensorflow::DEVICE_CPU, ::sg2::CpuTag, float)
SG2_REGISTER(::tensorflow::DEVICE_CPU, ::sg2::CpuTag, double)
#if GOOGLE_CUDA
SG2_REGISTER(::tensorflow::DEVICE_GPU, ::sg2::GpuTag, float)
SG2_REGISTER(::tensorflow::DEVICE_GPU, ::sg2::GpuTag, double)
#endif
#undef SG2_REGISTER

}  // namespace
}  // namespace sg2
