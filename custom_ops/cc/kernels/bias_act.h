// Fused bias + activation + gain + clamp (and its 1st/2nd derivatives):
// TensorFlow-free parameters, scalar math, CPU functors and CUDA launcher
// declarations.
//
// Layout: x is viewed as [outer, channels, inner] where `channels` is the bias
// length (x.shape[axis]) and `inner` the product of the dims after `axis`.
// The bias index of flat element i is (i / inner) % channels.
#ifndef STYLEGAN2_TF_CUSTOM_OPS_KERNELS_BIAS_ACT_H_
#define STYLEGAN2_TF_CUSTOM_OPS_KERNELS_BIAS_ACT_H_

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "custom_ops/cc/kernels/sg2_common.h"

namespace sg2 {

enum class Act : int {
  kLinear = 0,
  kRelu,
  kLrelu,
  kTanh,
  kSigmoid,
  kElu,
  kSelu,
  kSoftplus,
  kSwish,
};

// Parses an activation name; returns false for unknown names.
inline bool ParseAct(const char* name, Act* act) {
  static const char* const kNames[] = {"linear", "relu", "lrelu",
                                       "tanh",   "sigmoid", "elu",
                                       "selu",   "softplus", "swish"};
  for (int i = 0; i < 9; ++i) {
    if (std::strcmp(name, kNames[i]) == 0) {
      *act = static_cast<Act>(i);
      return true;
    }
  }
  return false;
}

struct BiasActParams {
  int64_t size = 0;      // number of elements of x
  int64_t channels = 0;  // bias length; 0 means no bias
  int64_t inner = 1;     // product of x dims after `axis` (>= 1)
  Act act = Act::kLinear;
  float alpha = 0.f;
  float gain = 1.f;
  float clamp = -1.f;  // < 0: no clamp
  int order = 1;       // gradient only: 1 or 2
};

// ---------------------------------------------------------------------------
// Scalar activation math, shared by host and device code.

template <typename A>
SG2_HD A Sigmoid(A z) {
  // Stable for large |z|: never exponentiates a positive number.
  if (z >= A(0)) return A(1) / (A(1) + Exp(-z));
  const A e = Exp(z);
  return e / (A(1) + e);
}

constexpr double kSeluScale = 1.0507009873554805;
constexpr double kSeluAlpha = 1.6732632423543772;

template <Act kAct, typename A>
SG2_HD A ActF(A z, A alpha) {
  if constexpr (kAct == Act::kLinear) {
    return z;
  } else if constexpr (kAct == Act::kRelu) {
    return z > A(0) ? z : A(0);
  } else if constexpr (kAct == Act::kLrelu) {
    return z > A(0) ? z : alpha * z;
  } else if constexpr (kAct == Act::kTanh) {
    return Tanh(z);
  } else if constexpr (kAct == Act::kSigmoid) {
    return Sigmoid(z);
  } else if constexpr (kAct == Act::kElu) {
    return z > A(0) ? z : alpha * (Exp(z) - A(1));
  } else if constexpr (kAct == Act::kSelu) {
    return A(kSeluScale) * (z > A(0) ? z : A(kSeluAlpha) * (Exp(z) - A(1)));
  } else if constexpr (kAct == Act::kSoftplus) {
    // log(1 + e^z) = max(z, 0) + log1p(e^-|z|)
    return (z > A(0) ? z : A(0)) + Log1p(Exp(-Abs(z)));
  } else {  // kSwish
    return z * Sigmoid(z);
  }
}

// d^order act / dz^order for order in {1, 2}. At z == 0 the z <= 0 branch is
// used for the piecewise activations.
template <Act kAct, typename A>
SG2_HD A ActD(A z, A alpha, int order) {
  const bool second = order == 2;
  if constexpr (kAct == Act::kLinear) {
    return second ? A(0) : A(1);
  } else if constexpr (kAct == Act::kRelu) {
    return second ? A(0) : (z > A(0) ? A(1) : A(0));
  } else if constexpr (kAct == Act::kLrelu) {
    return second ? A(0) : (z > A(0) ? A(1) : alpha);
  } else if constexpr (kAct == Act::kTanh) {
    const A t = Tanh(z);
    const A d = A(1) - t * t;
    return second ? A(-2) * t * d : d;
  } else if constexpr (kAct == Act::kSigmoid) {
    const A s = Sigmoid(z);
    const A d = s * (A(1) - s);
    return second ? d * (A(1) - A(2) * s) : d;
  } else if constexpr (kAct == Act::kElu) {
    if (z > A(0)) return second ? A(0) : A(1);
    return alpha * Exp(z);
  } else if constexpr (kAct == Act::kSelu) {
    if (z > A(0)) return second ? A(0) : A(kSeluScale);
    return A(kSeluScale) * A(kSeluAlpha) * Exp(z);
  } else if constexpr (kAct == Act::kSoftplus) {
    const A s = Sigmoid(z);
    return second ? s * (A(1) - s) : s;
  } else {  // kSwish
    const A s = Sigmoid(z);
    if (second) return s * (A(1) - s) * (A(2) + z * (A(1) - A(2) * s));
    return s * (A(1) + z * (A(1) - s));
  }
}

// y = clip(gain * act(z), -clamp, clamp) (no clip when clamp < 0).
template <Act kAct, typename A>
SG2_HD A BiasActForward(A z, A alpha, A gain, A clamp) {
  A y = gain * ActF<kAct>(z, alpha);
  if (clamp >= A(0)) y = y > clamp ? clamp : (y < -clamp ? -clamp : y);
  return y;
}

// dx = dy * gain * act^(order)(z) * mask, mask = [clamp < 0 or
// |gain * act(z)| <= clamp].
template <Act kAct, typename A>
SG2_HD A BiasActBackward(A dy, A z, A alpha, A gain, A clamp, int order) {
  if (clamp >= A(0)) {
    const A y = gain * ActF<kAct>(z, alpha);
    if (!(Abs(y) <= clamp)) return A(0);
  }
  return dy * gain * ActD<kAct>(z, alpha, order);
}

// Returns fn(ActTag<kAct>()) for the activation `act`: the one switch over the
// activations, so that loops get the activation as a template parameter.
template <Act kAct>
using ActTag = std::integral_constant<Act, kAct>;

template <typename Fn>
decltype(auto) DispatchAct(Act act, Fn&& fn) {
  switch (act) {
    case Act::kLinear: return fn(ActTag<Act::kLinear>());
    case Act::kRelu: return fn(ActTag<Act::kRelu>());
    case Act::kLrelu: return fn(ActTag<Act::kLrelu>());
    case Act::kTanh: return fn(ActTag<Act::kTanh>());
    case Act::kSigmoid: return fn(ActTag<Act::kSigmoid>());
    case Act::kElu: return fn(ActTag<Act::kElu>());
    case Act::kSelu: return fn(ActTag<Act::kSelu>());
    case Act::kSoftplus: return fn(ActTag<Act::kSoftplus>());
    default: return fn(ActTag<Act::kSwish>());
  }
}

// ---------------------------------------------------------------------------
// CPU functors.

namespace internal {

// Elements per parallel work unit.
constexpr int64_t kBiasActBlock = 16384;

// Per-element cost estimate (cycles) for the thread pool's shard sizing.
inline int64_t BiasActCost(Act act, bool grad) {
  const bool cheap =
      act == Act::kLinear || act == Act::kRelu || act == Act::kLrelu;
  return (cheap ? 4 : 40) * (grad ? 2 : 1);
}

// One contiguous run of `len` elements. The bias is either a vector aligned
// with the run (kBiasVec) or one constant. Written as a plain indexed loop over
// __restrict pointers with the clamp test and bias mode hoisted into template
// parameters so the compiler vectorizes the cheap activations.
template <Act kAct, bool kGrad, bool kClamp, bool kBiasVec, typename T>
SG2_ALWAYS_INLINE void BiasActRun(const T* __restrict dy, const T* __restrict x,
                       const T* __restrict bvec,
                       typename AccType<T>::type bconst, T* __restrict y,
                       int64_t len, typename AccType<T>::type alpha,
                       typename AccType<T>::type gain,
                       typename AccType<T>::type clamp, int order) {
  using A = typename AccType<T>::type;
  const A c = kClamp ? clamp : A(-1);
  StoreEach<128>(y, len, [&](int64_t k) SG2_LAMBDA_INLINE -> A {
    const A z = static_cast<A>(x[k]) + (kBiasVec ? static_cast<A>(bvec[k]) : bconst);
    if constexpr (kGrad) {
      return BiasActBackward<kAct, A>(static_cast<A>(dy[k]), z, alpha, gain, c, order);
    } else {
      return BiasActForward<kAct, A>(z, alpha, gain, c);
    }
  });
}

// Processes flat elements [begin, end), walking the bias in contiguous runs
// (no division inside the element loops).
template <Act kAct, bool kGrad, bool kClamp, typename T>
SG2_ALWAYS_INLINE void BiasActRange(const BiasActParams& p, const T* dy,
                                    const T* x, const T* b, T* y,
                                    int64_t begin, int64_t end) {
  using A = typename AccType<T>::type;
  const A alpha = A(p.alpha), gain = A(p.gain), clamp = A(p.clamp);
  const int order = p.order;
  // dy is only read by the gradient; keep a valid pointer for the offsets.
  const T* d = kGrad ? dy : x;
  if (p.channels == 0 || b == nullptr) {
    BiasActRun<kAct, kGrad, kClamp, false, T>(d + begin, x + begin, nullptr,
                                              A(0), y + begin, end - begin,
                                              alpha, gain, clamp, order);
    return;
  }
  const int64_t C = p.channels, inner = p.inner;
  int64_t i = begin;
  if (inner == 1) {
    // Bias along the fastest axis (e.g. NHWC channels): runs of the bias
    // vector itself.
    while (i < end) {
      const int64_t j = i % C;
      const int64_t len = (C - j) < (end - i) ? (C - j) : (end - i);
      BiasActRun<kAct, kGrad, kClamp, true, T>(d + i, x + i, b + j, A(0), y + i,
                                               len, alpha, gain, clamp, order);
      i += len;
    }
  } else {
    // Bias constant over runs of `inner` elements (e.g. NCHW channels).
    while (i < end) {
      const int64_t k0 = i % inner;
      const int64_t j = (i / inner) % C;
      const int64_t len = (inner - k0) < (end - i) ? (inner - k0) : (end - i);
      BiasActRun<kAct, kGrad, kClamp, false, T>(d + i, x + i, nullptr,
                                                static_cast<A>(b[j]), y + i,
                                                len, alpha, gain, clamp, order);
      i += len;
    }
  }
}

// BiasActRangeAvx2/Avx512: BiasActRange compiled for wider vectors;
// BiasActRangeBest runs the copy this CPU supports (see SG2_CPU_DISPATCH).
SG2_CPU_LOOP_COPIES(BiasActRange, (Act kAct, bool kGrad, bool kClamp, typename T),
                    (kAct, kGrad, kClamp, T),
                    (const BiasActParams& p, const T* dy, const T* x, const T* b,
                     T* y, int64_t begin, int64_t end),
                    (p, dy, x, b, y, begin, end))

template <Act kAct, bool kGrad, typename T, typename PF>
void BiasActCpuRun(const BiasActParams& p, const T* dy, const T* x,
                   const T* b, T* y, PF&& parallel_for) {
  const int64_t blocks = (p.size + kBiasActBlock - 1) / kBiasActBlock;
  parallel_for(blocks, kBiasActBlock * BiasActCost(kAct, kGrad),
               [&](int64_t b0, int64_t b1) {
                 const int64_t begin = b0 * kBiasActBlock;
                 const int64_t end =
                     b1 * kBiasActBlock < p.size ? b1 * kBiasActBlock : p.size;
                 if (p.clamp >= 0.f) {
                   BiasActRangeBest<kAct, kGrad, true, T>(p, dy, x, b, y,
                                                          begin, end);
                 } else {
                   BiasActRangeBest<kAct, kGrad, false, T>(p, dy, x, b, y,
                                                           begin, end);
                 }
               });
}

// Dispatches the activation once per call (compile-time inner loops).
template <bool kGrad, typename T, typename PF>
void BiasActCpuDispatch(const BiasActParams& p, const T* dy, const T* x,
                        const T* b, T* y, PF&& pf) {
  DispatchAct(p.act, [&](auto act) {
    BiasActCpuRun<decltype(act)::value, kGrad, T>(p, dy, x, b, y, pf);
  });
}

}  // namespace internal

// y = bias_act(x, b). T: float, double, or a 16-bit type convertible to/from
// float with static_cast (Eigen::half/bfloat16, __half/__nv_bfloat16), which
// is computed in float and rounded once on output. b may be null when
// p.channels == 0. parallel_for: see ParallelForFn.
template <typename T, typename PF>
void BiasActCpu(const BiasActParams& p, const T* x, const T* b, T* y,
                PF&& parallel_for) {
  internal::BiasActCpuDispatch<false, T>(p, nullptr, x, b, y, parallel_for);
}

// dx = d^order bias_act / dx^order * dy (see BiasActBackward).
template <typename T, typename PF>
void BiasActGradCpu(const BiasActParams& p, const T* dy, const T* x,
                    const T* b, T* dx, PF&& parallel_for) {
  internal::BiasActCpuDispatch<true, T>(p, dy, x, b, dx, parallel_for);
}

// ---------------------------------------------------------------------------
// CUDA launchers (defined in bias_act_kernels.cu.cc). T in {float, double,
// Half16, BFloat16}; the 16-bit types compute in float. Return 0 on success,
// else a cudaError_t code (see CudaErrorString).
template <typename T>
int LaunchBiasActCuda(cudaStream_t stream, const BiasActParams& p, const T* x,
                      const T* b, T* y);
template <typename T>
int LaunchBiasActGradCuda(cudaStream_t stream, const BiasActParams& p,
                          const T* dy, const T* x, const T* b, T* dx);

}  // namespace sg2

#endif  // STYLEGAN2_TF_CUSTOM_OPS_KERNELS_BIAS_ACT_H_
