// CUDA launchers for scale_bias_act (TensorFlow-free; build with nvcc): the
// channel_scale, bias_act and channel_sum launchers in sequence on one stream
// through temporaries, so the GPU gives the separate ops' bits (and those of
// the CPU functors, which fuse the passes; see scale_bias_act.h).
#include <cuda_runtime.h>

#include <cstdint>

#include "custom_ops/cc/kernels/scale_bias_act.h"
#include "custom_ops/cc/kernels/cuda_half.cuh"

namespace sg2 {

template <typename T>
int LaunchScaleBiasActCuda(cudaStream_t stream, const ScaleBiasActParams& p,
                           const T* x, const T* s, const T* a, const T* b,
                           T* y, T* t) {
  int err = LaunchChannelScaleCuda<T>(stream, p.scale, x, s, a, t);
  if (err != 0) return err;
  return LaunchBiasActCuda<T>(stream, ScaleBiasActBiasParams(p, b != nullptr),
                              t, b, y);
}

template <typename T>
int LaunchScaleBiasActGradCuda(cudaStream_t stream, const ScaleBiasActParams& p,
                               const T* dy, const T* x, const T* s, const T* a,
                               const T* b, T* dx, T* ds, T* da, T* db, T* t,
                               T* g, typename AccType<T>::type* workspace) {
  int err = LaunchChannelScaleCuda<T>(stream, p.scale, x, s, a, t);
  if (err != 0) return err;
  err = LaunchBiasActGradCuda<T>(stream, ScaleBiasActBiasParams(p, b != nullptr),
                                 dy, t, b, g);
  if (err != 0) return err;
  if (db != nullptr) {
    // The workspace is reused by the next launch: stream order separates them.
    err = LaunchChannelSumCuda<T>(stream, p.scale.batch * p.scale.inner,
                                  p.scale.channels, g, db, workspace);
    if (err != 0) return err;
  }
  return LaunchChannelScaleGradCuda<T>(stream, p.scale, g, x, s, dx, ds, da,
                                       workspace);
}

#define SG2_INSTANTIATE(T)                                                    \
  template int LaunchScaleBiasActCuda<T>(cudaStream_t, const ScaleBiasActParams&, \
                                         const T*, const T*, const T*,        \
                                         const T*, T*, T*);                   \
  template int LaunchScaleBiasActGradCuda<T>(                                 \
      cudaStream_t, const ScaleBiasActParams&, const T*, const T*, const T*,  \
      const T*, const T*, T*, T*, T*, T*, T*, T*, AccType<T>::type*);
SG2_INSTANTIATE(BFloat16)
SG2_INSTANTIATE(Half16)
SG2_INSTANTIATE(float)
SG2_INSTANTIATE(double)
#undef SG2_INSTANTIATE

}  // namespace sg2
