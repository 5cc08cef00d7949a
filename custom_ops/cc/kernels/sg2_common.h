// Shared, TensorFlow-free definitions for the StyleGAN2 custom ops.
//
// Everything here compiles with a plain C++17 host compiler and with nvcc, so
// the same scalar math runs in the CPU functors, the CUDA kernels and the
// standalone harness (which has no TensorFlow).
#ifndef STYLEGAN2_TF_CUSTOM_OPS_KERNELS_SG2_COMMON_H_
#define STYLEGAN2_TF_CUSTOM_OPS_KERNELS_SG2_COMMON_H_

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <type_traits>

#if defined(__GNUC__) && !defined(__CUDACC__) && defined(__x86_64__)
#include <immintrin.h>
#endif

#if defined(__CUDACC__)
#define SG2_HD __host__ __device__ __forceinline__
#elif defined(__GNUC__)
// always_inline: the scalar math must be inlined into the AVX2 copies of the
// CPU loops (see SG2_CPU_DISPATCH) to be vectorized with them.
#define SG2_HD inline __attribute__((always_inline))
#else
#define SG2_HD inline
#endif

// Runtime ISA dispatch for the CPU functors. The library is compiled for AVX,
// which TensorFlow's x86-64 wheels already require; the hot loops are also
// compiled with AVX2 + FMA and with AVX-512 (F, BW, VL; 512-bit vectors) via
// GCC's target attribute on wrappers into which the loop is force-inlined
// (SG2_CPU_LOOP_COPIES), and the widest copy this CPU supports runs. The wider
// copies matter most for the 16-bit types, whose bit-level conversions AVX
// vectorizes only 128 bits wide. All copies give identical results:
// floating-point contraction stays off (ISO C++ mode and -ffp-contract=off),
// so no multiply-add is fused in any of them, and the loops vectorize across
// independent elements (channels or columns), never reordering a sum.
#if defined(__GNUC__) && !defined(__CUDACC__) && defined(__x86_64__)
#define SG2_CPU_DISPATCH 1
#define SG2_ALWAYS_INLINE inline __attribute__((always_inline))
// A lambda's call operator is a function of its own: inlined like the rest.
#define SG2_LAMBDA_INLINE __attribute__((always_inline))
#define SG2_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define SG2_TARGET_AVX512 \
  __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,prefer-vector-width=512")))
#else
#define SG2_CPU_DISPATCH 0
#define SG2_ALWAYS_INLINE inline
#define SG2_LAMBDA_INLINE
#endif

// Same declaration as CUDA's driver_types.h, so launcher declarations need no
// CUDA header (a repeated identical typedef is legal C++).
typedef struct CUstream_st* cudaStream_t;

namespace sg2 {

// 16-bit storage types as passed to the CUDA launchers; callers reinterpret
// their pointers. Half16: IEEE binary16, layout-identical to Eigen::half and
// CUDA's __half. BFloat16: the upper half of a float32 (8 significant bits),
// layout-identical to Eigen::bfloat16 and CUDA's __nv_bfloat16.
struct alignas(2) Half16 {
  uint16_t bits;
};
struct alignas(2) BFloat16 {
  uint16_t bits;

  BFloat16() = default;
  // Host conversions for the CPU functors, written as branch-free bit
  // operations so the element loops vectorize (Eigen::bfloat16's conversions
  // do not). Widening is exact; narrowing rounds to nearest even (overflow
  // gives inf) and keeps NaN a quiet NaN.
  SG2_ALWAYS_INLINE explicit BFloat16(float f) : bits(RoundBits(f)) {}
  SG2_ALWAYS_INLINE explicit operator float() const {
    const uint32_t u = static_cast<uint32_t>(bits) << 16;
    float f;
    std::memcpy(&f, &u, sizeof(f));
    return f;
  }
  SG2_ALWAYS_INLINE static uint16_t RoundBits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof(u));
    const uint32_t rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
    const bool nan = (u & 0x7FFFFFFFu) > 0x7F800000u;
    return static_cast<uint16_t>(nan ? ((u >> 16) | 0x40u) : rounded);
  }
};

// Accumulation type: float for the 16-bit types and float, double for double.
template <typename T>
struct AccType {
  using type = float;
};
template <>
struct AccType<double> {
  using type = double;
};

// Overloads so templated math picks the float or double libm routine.
SG2_HD float Exp(float x) { return expf(x); }
SG2_HD double Exp(double x) { return exp(x); }
SG2_HD float Tanh(float x) { return tanhf(x); }
SG2_HD double Tanh(double x) { return tanh(x); }
SG2_HD float Log1p(float x) { return log1pf(x); }
SG2_HD double Log1p(double x) { return log1p(x); }
SG2_HD float Abs(float x) { return fabsf(x); }
SG2_HD double Abs(double x) { return fabs(x); }

// Parallel-for callable used by the CPU functors: fn(begin, end) is called on
// disjoint sub-ranges covering [0, total); cost_per_unit is a rough cycle
// count per unit (TF's thread pool uses it to choose the shard size).
using ParallelForFn = std::function<void(
    int64_t total, int64_t cost_per_unit,
    const std::function<void(int64_t, int64_t)>& fn)>;

// Runs fn serially; handy for tests and tiny inputs.
inline void SerialFor(int64_t total, int64_t /*cost_per_unit*/,
                      const std::function<void(int64_t, int64_t)>& fn) {
  if (total > 0) fn(0, total);
}

// Which copy of the CPU loops runs in this process (decided once). The
// environment variable SG2_CPU_LOOPS=baseline|avx2|avx512|avx512bf16 caps the
// choice, for comparisons and tests. kAvx512Bf16 runs the AVX-512 copy and
// also narrows float to bfloat16 with AVX512-BF16's conversion instruction
// (NarrowToBFloat16 below), which gives the same bits.
enum class CpuLoops : int {
  kBaseline = 0,
  kAvx2 = 1,
  kAvx512 = 2,
  kAvx512Bf16 = 3
};

inline CpuLoops CpuLoopsHere() {
#if SG2_CPU_DISPATCH
  static const CpuLoops loops = [] {
    __builtin_cpu_init();
    CpuLoops best = CpuLoops::kBaseline;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
      best = CpuLoops::kAvx2;
      if (__builtin_cpu_supports("avx512f") &&
          __builtin_cpu_supports("avx512bw") &&
          __builtin_cpu_supports("avx512vl")) {
        best = CpuLoops::kAvx512;
        if (__builtin_cpu_supports("avx512dq") &&
            __builtin_cpu_supports("avx512bf16")) {
          best = CpuLoops::kAvx512Bf16;
        }
      }
    }
    const char* cap = std::getenv("SG2_CPU_LOOPS");
    if (cap != nullptr) {
      CpuLoops limit = CpuLoops::kAvx512Bf16;
      if (std::strcmp(cap, "baseline") == 0) limit = CpuLoops::kBaseline;
      if (std::strcmp(cap, "avx2") == 0) limit = CpuLoops::kAvx2;
      if (std::strcmp(cap, "avx512") == 0) limit = CpuLoops::kAvx512;
      if (static_cast<int>(limit) < static_cast<int>(best)) best = limit;
    }
    return best;
  }();
  return loops;
#else
  return CpuLoops::kBaseline;
#endif
}

inline const char* CpuLoopsName(CpuLoops loops) {
  switch (loops) {
    case CpuLoops::kAvx512Bf16:
      return "avx512bf16";
    case CpuLoops::kAvx512:
      return "avx512";
    case CpuLoops::kAvx2:
      return "avx2";
    default:
      return "baseline";
  }
}

// Defines NAME##Avx2 and NAME##Avx512: copies of the always-inline function
// template NAME (template parameters TPARAMS, passed on as TARGS; parameters
// PARAMS, passed on as ARGS) compiled for those instruction sets, and
// NAME##Best, which calls the copy CpuLoopsHere() chooses.
#if SG2_CPU_DISPATCH
#define SG2_CPU_LOOP_COPIES(NAME, TPARAMS, TARGS, PARAMS, ARGS)       \
  template <SG2_UNPAREN TPARAMS>                                      \
  SG2_TARGET_AVX2 void NAME##Avx2(SG2_UNPAREN PARAMS) {               \
    NAME<SG2_UNPAREN TARGS>(SG2_UNPAREN ARGS);                        \
  }                                                                   \
  template <SG2_UNPAREN TPARAMS>                                      \
  SG2_TARGET_AVX512 void NAME##Avx512(SG2_UNPAREN PARAMS) {           \
    NAME<SG2_UNPAREN TARGS>(SG2_UNPAREN ARGS);                        \
  }                                                                   \
  template <SG2_UNPAREN TPARAMS>                                      \
  void NAME##Best(SG2_UNPAREN PARAMS) {                               \
    switch (CpuLoopsHere()) {                                         \
      case CpuLoops::kAvx512Bf16:                                     \
      case CpuLoops::kAvx512:                                         \
        NAME##Avx512<SG2_UNPAREN TARGS>(SG2_UNPAREN ARGS);            \
        return;                                                       \
      case CpuLoops::kAvx2:                                           \
        NAME##Avx2<SG2_UNPAREN TARGS>(SG2_UNPAREN ARGS);              \
        return;                                                       \
      default:                                                        \
        NAME<SG2_UNPAREN TARGS>(SG2_UNPAREN ARGS);                    \
    }                                                                 \
  }
#else
#define SG2_CPU_LOOP_COPIES(NAME, TPARAMS, TARGS, PARAMS, ARGS)       \
  template <SG2_UNPAREN TPARAMS>                                      \
  void NAME##Best(SG2_UNPAREN PARAMS) {                               \
    NAME<SG2_UNPAREN TARGS>(SG2_UNPAREN ARGS);                        \
  }
#endif
#define SG2_UNPAREN_(...) __VA_ARGS__
#define SG2_UNPAREN SG2_UNPAREN_

// dst[k] = BFloat16(src[k]) for k < n: the same bits as the scalar conversion.
// With kAvx512Bf16 whole vectors of 16 are converted by VCVTNEPS2BF16 (round
// to nearest even, NaN made quiet exactly as RoundBits does) unless one of
// them is a float denormal, which that instruction flushes to zero; such
// vectors, and the tail, take the scalar path. Element loops that produce
// bfloat16 stage their float results and narrow them here: GCC's vectorized
// RoundBits costs more than the rest of a cheap element-wise op.
#if SG2_CPU_DISPATCH
namespace internal {
__attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))
inline void NarrowToBFloat16Avx512Bf16(const float* __restrict src,
                                       BFloat16* __restrict dst, int64_t n) {
  int64_t k = 0;
  for (; k + 16 <= n; k += 16) {
    const __m512 v = _mm512_loadu_ps(src + k);
    if (__builtin_expect(_mm512_fpclass_ps_mask(v, 0x20) != 0, 0)) {
      for (int j = 0; j < 16; ++j) dst[k + j] = BFloat16(src[k + j]);
    } else {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + k),
                          (__m256i)_mm512_cvtneps_pbh(v));
    }
  }
  for (; k < n; ++k) dst[k] = BFloat16(src[k]);
}
}  // namespace internal
#endif

SG2_ALWAYS_INLINE void NarrowToBFloat16(const float* __restrict src,
                                        BFloat16* __restrict dst, int64_t n) {
#if SG2_CPU_DISPATCH
  if (CpuLoopsHere() == CpuLoops::kAvx512Bf16) {
    internal::NarrowToBFloat16Avx512Bf16(src, dst, n);
    return;
  }
#endif
  for (int64_t k = 0; k < n; ++k) dst[k] = BFloat16(src[k]);
}

// static_cast<float>(BFloat16(f)): f rounded to bfloat16's precision (as
// BFloat16::RoundBits rounds, NaN made quiet) but kept in a float, in integer
// operations that vectorize, for element loops that round an intermediate
// result to the storage type and go on computing with it.
SG2_ALWAYS_INLINE float RoundToBFloat16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  const uint32_t rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u;
  const bool nan = (u & 0x7FFFFFFFu) > 0x7F800000u;
  const uint32_t bits = nan ? ((u & 0xFFFF0000u) | 0x00400000u) : rounded;
  float out;
  std::memcpy(&out, &bits, sizeof(out));
  return out;
}

// static_cast<A>(static_cast<T>(v)): v rounded to the storage type T and
// widened back to the accumulation type A (the identity where T is A).
template <typename T, typename A>
SG2_ALWAYS_INLINE A RoundThrough(A v) {
  if constexpr (std::is_same<T, A>::value) {
    return v;
  } else if constexpr (std::is_same<T, BFloat16>::value &&
                       std::is_same<A, float>::value) {
    return RoundToBFloat16(v);
  } else {
    return static_cast<A>(static_cast<T>(v));
  }
}

// dst[k] = static_cast<T>(src[k]) for k < n, from the accumulation type to the
// storage type: bfloat16 through NarrowToBFloat16, the other types by the cast.
template <typename T, typename A>
SG2_ALWAYS_INLINE void StoreNarrowed(const A* __restrict src, T* __restrict dst,
                                     int64_t n) {
  if constexpr (std::is_same<T, BFloat16>::value &&
                std::is_same<A, float>::value) {
    NarrowToBFloat16(src, dst, n);
  } else {
    for (int64_t k = 0; k < n; ++k) dst[k] = static_cast<T>(src[k]);
  }
}

// y[k] = static_cast<T>(value(k)) for k = 0, 1, ..., n - 1, in that order
// (value may accumulate on the side). For bfloat16 the values are staged in
// float, kStage at a time, and narrowed by NarrowToBFloat16 (the same bits);
// the other types are cast as they are computed. The one element loop of an
// op that writes T, whatever T is.
template <int64_t kStage, typename T, typename ValueFn>
SG2_ALWAYS_INLINE void StoreEach(T* __restrict y, int64_t n, ValueFn&& value) {
  if constexpr (std::is_same<T, BFloat16>::value) {
    float out[kStage];
    for (int64_t k0 = 0; k0 < n; k0 += kStage) {
      const int64_t m = n - k0 < kStage ? n - k0 : kStage;
      for (int64_t k = 0; k < m; ++k) out[k] = value(k0 + k);
      NarrowToBFloat16(out, y + k0, m);
    }
  } else {
    for (int64_t k = 0; k < n; ++k) y[k] = static_cast<T>(value(k));
  }
}

// Floor division for possibly negative numerators (positive d).
inline int64_t FloorDiv(int64_t n, int64_t d) {
  int64_t q = n / d;
  if ((n % d != 0) && (n < 0)) --q;
  return q;
}

// Human-readable message for a code returned by a CUDA launcher (defined in
// bias_act_kernels.cu.cc).
const char* CudaErrorString(int code);

}  // namespace sg2

#endif  // STYLEGAN2_TF_CUSTOM_OPS_KERNELS_SG2_COMMON_H_
