// Standalone CUDA harness for the StyleGAN2 custom-op launchers (no
// TensorFlow). For each case it runs the CUDA launcher on random inputs,
// compares with the CPU functor from the same headers (max abs / rel error),
// and, for the StyleGAN-sized cases, times the launcher with CUDA events.
// The 16-bit types (float16, bfloat16) are also compared with the float32 CPU
// functor run on the same (rounded) inputs: both compute in float32, so the
// 16-bit result must be that float32 result rounded once, i.e. within the
// type's unit roundoff u (2^-11 float16, 2^-8 bfloat16) of it.
// Prints one JSON document on stdout; exit status 1 if any case fails.
//
// `--cpu-only` (no GPU needed) runs only the 16-bit cases and checks the CPU
// functors against the float32 CPU functor with the same bound, exercising the
// harness's host-side expectations (tests/test_custom_ops_build.py does this),
// the affine_resample and Winograd CPU functors against the ops' definitions
// computed in float64 and against the adjoint identity, and filtered_lrelu's CUDA tile
// code emulated on the host against the CPU functor (EmulatedFilteredLreluCases).
//
// Build and run: custom_ops/harness/run_harness.sh  (see docs/custom_ops.md)
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <cstring>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "custom_ops/cc/kernels/affine_resample.h"
#include "custom_ops/cc/kernels/bias_act.h"
#include "custom_ops/cc/kernels/channel_scale.h"
#include "custom_ops/cc/kernels/filtered_lrelu.h"
#include "custom_ops/cc/kernels/scale_bias_act.h"
#include "custom_ops/cc/kernels/upfirdn2d.h"
#include "custom_ops/cc/kernels/winograd.h"

namespace {

using sg2::Act;
using sg2::AffineResampleParams;
using sg2::BiasActParams;
using sg2::ChannelScaleParams;
using sg2::ScaleBiasActParams;
using sg2::UpFirDn2dParams;

#define CUDA_CHECK(expr)                                                    \
  do {                                                                      \
    cudaError_t e_ = (expr);                                                \
    if (e_ != cudaSuccess) {                                                \
      std::fprintf(stderr, "CUDA error %s at %s:%d: %s\n", #expr, __FILE__, \
                   __LINE__, cudaGetErrorString(e_));                       \
      std::exit(2);                                                         \
    }                                                                       \
  } while (0)

// std::thread parallel-for with the ParallelForFn signature.
void ThreadFor(int64_t total, int64_t /*cost*/,
               const std::function<void(int64_t, int64_t)>& fn) {
  if (total <= 0) return;
  const int64_t nt = std::max<int64_t>(
      1, std::min<int64_t>(total, std::thread::hardware_concurrency()));
  std::vector<std::thread> ts;
  for (int64_t t = 0; t < nt; ++t) {
    const int64_t b = total * t / nt, e = total * (t + 1) / nt;
    if (b < e) ts.emplace_back([&fn, b, e] { fn(b, e); });
  }
  for (auto& t : ts) t.join();
}

// True when the whole run is host-side (--cpu-only): no CUDA call is made.
bool g_cpu_only = false;

// Per host element type T (the type the CPU functor runs on): the launcher
// storage type, the JSON name, the GPU-vs-CPU tolerance `rtol` (elementwise
// |gpu - cpu| <= rtol * (|cpu| + max |cpu|)), and for the 16-bit types the
// unit roundoff u = 2^-p (p significant bits) of round-to-nearest.
// Same-type tolerance: both sides compute in the accumulation type, so they
// differ only by FMA contraction / libm-vs-CUDA transcendental ulps, which a
// 16-bit result can turn into one ulp (<= 2u relative) after rounding.
template <typename T> struct Types;
template <> struct Types<float> {
  using Dev = float;
  static constexpr const char* kName = "float32";
  static constexpr double kRtol = 2e-5;
  static constexpr double kU = 0;
};
template <> struct Types<double> {
  using Dev = double;
  static constexpr const char* kName = "float64";
  static constexpr double kRtol = 1e-12;
  static constexpr double kU = 0;
};
template <> struct Types<__half> {
  using Dev = sg2::Half16;
  static constexpr const char* kName = "float16";
  static constexpr double kRtol = 2e-3;   // 4u
  static constexpr double kU = 0x1p-11;   // 11 significant bits
  // Half the spacing of float16 subnormals: the rounding error there is
  // absolute, not relative.
  static constexpr double kSubnormalErr = 0x1p-25;
};
// bfloat16 runs the CPU functors on sg2::BFloat16, as the TF CPU kernel does.
template <> struct Types<sg2::BFloat16> {
  using Dev = sg2::BFloat16;
  static constexpr const char* kName = "bfloat16";
  static constexpr double kRtol = 1.6e-2;  // 4u
  static constexpr double kU = 0x1p-8;     // 8 significant bits
  static constexpr double kSubnormalErr = 0x1p-134;
};
template <typename T>
constexpr bool kIs16Bit = Types<T>::kU > 0;

// Every host element type converts to float (the 16-bit ones exactly).
template <typename T>
double ToD(T v) { return static_cast<double>(static_cast<float>(v)); }

template <typename T>
std::vector<T> RandomVec(size_t n, std::mt19937* rng, float scale) {
  std::normal_distribution<float> d(0.f, scale);
  std::vector<T> v(n);
  for (auto& e : v) e = static_cast<T>(d(*rng));
  return v;
}

template <typename T>
T* ToDevice(const std::vector<T>& h) {
  T* d = nullptr;
  CUDA_CHECK(cudaMalloc(&d, std::max<size_t>(1, h.size()) * sizeof(T)));
  if (!h.empty())
    CUDA_CHECK(cudaMemcpy(d, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice));
  return d;
}

struct Cmp {
  double max_abs = 0, max_rel = 0, scale = 0;
  bool ok = true;
};

template <typename T>
Cmp Compare(const std::vector<T>& gpu, const std::vector<T>& cpu) {
  Cmp c;
  for (const T& v : cpu) {
    const double r = ToD(v);
    if (!std::isnan(r)) c.scale = std::max(c.scale, std::fabs(r));
  }
  const double rtol = Types<T>::kRtol, atol = rtol * std::max(c.scale, 1e-30);
  for (size_t i = 0; i < cpu.size(); ++i) {
    const double g = ToD(gpu[i]), r = ToD(cpu[i]);
    const double a = std::fabs(g - r);
    const bool both_nan = std::isnan(g) && std::isnan(r);
    if (!both_nan && !(a <= atol + rtol * std::fabs(r))) c.ok = false;
    if (std::isnan(a)) continue;
    c.max_abs = std::max(c.max_abs, a);
    c.max_rel = std::max(c.max_rel, a / std::max(std::fabs(r), 1e-6 * std::max(c.scale, 1e-30)));
  }
  return c;
}

// A 16-bit result `out` against the float32 result `ref32` computed from the
// same rounded inputs: |out - ref32| <= u * |ref32| + noise, where u * |ref32|
// is one round-to-nearest step and noise = 2e-5 * (|ref32| + max |ref32|)
// (the float32 GPU-vs-CPU tolerance; 0 in --cpu-only mode, where both sides
// run the same CPU code in the same order) plus float16's subnormal rounding.
// err_in_u: max |out - ref32| / (u * |ref32|) over elements with |ref32| above
// the 16-bit normal range floor (<= 1 when out is ref32 rounded once).
struct CmpF32 {
  double max_abs = 0, err_in_u = 0;
  bool ok = true;
};

template <typename T>
CmpF32 CompareToFloat32(const std::vector<T>& out,
                        const std::vector<float>& ref32) {
  static_assert(kIs16Bit<T>, "16-bit types only");
  constexpr double u = Types<T>::kU;
  const double noise_rtol = g_cpu_only ? 0.0 : Types<float>::kRtol;
  double scale = 0;
  for (float v : ref32)
    if (!std::isnan(v)) scale = std::max(scale, std::fabs(double(v)));
  CmpF32 c;
  for (size_t i = 0; i < ref32.size(); ++i) {
    const double o = ToD(out[i]), r = ref32[i];
    if (std::isnan(o) || std::isnan(r)) {
      c.ok = c.ok && std::isnan(o) && std::isnan(r);
      continue;
    }
    const double a = std::fabs(o - r);
    const double bound = u * std::fabs(r) + noise_rtol * (std::fabs(r) + scale) +
                         Types<T>::kSubnormalErr;
    if (!(a <= bound)) c.ok = false;
    c.max_abs = std::max(c.max_abs, a);
    if (std::fabs(r) > 1e-4) c.err_in_u = std::max(c.err_in_u, a / (u * std::fabs(r)));
  }
  return c;
}

template <typename T>
std::vector<float> ToFloatVec(const std::vector<T>& v) {
  std::vector<float> r(v.size());
  for (size_t i = 0; i < v.size(); ++i) r[i] = static_cast<float>(v[i]);
  return r;
}

// Times `launch` (which must enqueue on `stream`) with CUDA events: median
// of `reps` timed runs after warm-up, in microseconds.
template <typename F>
double TimeUs(F&& launch, cudaStream_t stream, int reps = 30) {
  for (int i = 0; i < 5; ++i) launch();
  CUDA_CHECK(cudaStreamSynchronize(stream));
  cudaEvent_t e0, e1;
  CUDA_CHECK(cudaEventCreate(&e0));
  CUDA_CHECK(cudaEventCreate(&e1));
  std::vector<float> ms(reps);
  for (int i = 0; i < reps; ++i) {
    CUDA_CHECK(cudaEventRecord(e0, stream));
    launch();
    CUDA_CHECK(cudaEventRecord(e1, stream));
    CUDA_CHECK(cudaEventSynchronize(e1));
    CUDA_CHECK(cudaEventElapsedTime(&ms[i], e0, e1));
  }
  CUDA_CHECK(cudaEventDestroy(e0));
  CUDA_CHECK(cudaEventDestroy(e1));
  std::sort(ms.begin(), ms.end());
  return 1000.0 * ms[reps / 2];
}

const char* kActNames[] = {"linear", "relu", "lrelu", "tanh", "sigmoid",
                           "elu", "selu", "softplus", "swish"};

std::string ShapeStr(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + std::to_string(s[i]);
  return r + "]";
}

bool g_first = true;
bool g_all_ok = true;

void EmitRecord(const std::string& body, bool ok) {
  std::printf("%s    {%s}", g_first ? "" : ",\n", body.c_str());
  g_first = false;
  g_all_ok = g_all_ok && ok;
}

std::string Num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.4g", v);
  return buf;
}

// Fields for the 16-bit-vs-float32 check (empty for float/double).
template <typename T>
std::string F32Fields(const std::vector<T>& out, const std::vector<float>& ref32,
                      bool* ok) {
  if constexpr (kIs16Bit<T>) {
    const CmpF32 c = CompareToFloat32(out, ref32);
    *ok = *ok && c.ok;
    return ", \"vs_float32\": {\"u\": " + Num(Types<T>::kU) + ", \"max_abs_err\": " +
           Num(c.max_abs) + ", \"max_err_in_u\": " + Num(c.err_in_u) + ", \"pass\": " +
           (c.ok ? "true" : "false") + "}";
  } else {
    return "";
  }
}

// mode: 0 forward, 1 grad order 1, 2 grad order 2.
template <typename T>
void RunBiasAct(cudaStream_t stream, std::mt19937* rng,
                const std::vector<int64_t>& shape, int axis, bool bias, Act act,
                float alpha, float gain, float clamp, int mode, bool timed) {
  using D = typename Types<T>::Dev;
  BiasActParams p;
  p.size = 1;
  for (auto d : shape) p.size *= d;
  p.channels = bias ? shape[axis] : 0;
  p.inner = 1;
  for (size_t d = axis + 1; d < shape.size(); ++d) p.inner *= shape[d];
  p.act = act; p.alpha = alpha; p.gain = gain; p.clamp = clamp;
  p.order = mode == 0 ? 1 : mode;
  auto x = RandomVec<T>(p.size, rng, 2.f);
  auto dy = RandomVec<T>(p.size, rng, 1.f);
  auto b = RandomVec<T>(p.channels, rng, 1.f);
  std::vector<T> ref(p.size), out(p.size);
  const T* bh = bias ? b.data() : nullptr;
  if (mode == 0) sg2::BiasActCpu<T>(p, x.data(), bh, ref.data(), ThreadFor);
  else sg2::BiasActGradCpu<T>(p, dy.data(), x.data(), bh, ref.data(), ThreadFor);
  // float32 on the same rounded inputs (16-bit types only).
  std::vector<float> ref32;
  if constexpr (kIs16Bit<T>) {
    const auto x32 = ToFloatVec(x), dy32 = ToFloatVec(dy), b32 = ToFloatVec(b);
    ref32.resize(p.size);
    const float* b32p = bias ? b32.data() : nullptr;
    if (mode == 0) sg2::BiasActCpu<float>(p, x32.data(), b32p, ref32.data(), ThreadFor);
    else sg2::BiasActGradCpu<float>(p, dy32.data(), x32.data(), b32p, ref32.data(), ThreadFor);
  }
  std::string body = "\"op\": \"bias_act\", \"dtype\": \"" + std::string(Types<T>::kName) +
      "\", \"shape\": " + ShapeStr(shape) + ", \"axis\": " + std::to_string(axis) +
      ", \"bias\": " + (bias ? "true" : "false") + ", \"act\": \"" +
      kActNames[static_cast<int>(act)] + "\", \"mode\": \"" +
      (mode == 0 ? "forward" : (mode == 1 ? "grad1" : "grad2")) + "\", \"clamp\": " +
      Num(clamp);
  if (g_cpu_only) {  // the CPU 16-bit functor against float32
    bool ok = true;
    body += ", \"device\": \"cpu\"" + F32Fields(ref, ref32, &ok) + ", \"pass\": " +
            (ok ? "true" : "false");
    EmitRecord(body, ok);
    return;
  }
  T *dx = ToDevice(x), *ddy = ToDevice(dy), *db = ToDevice(b), *dout = ToDevice(out);
  const D* dbp = bias ? reinterpret_cast<const D*>(db) : nullptr;
  auto launch = [&] {
    int err = mode == 0
        ? sg2::LaunchBiasActCuda<D>(stream, p, reinterpret_cast<const D*>(dx), dbp,
                                    reinterpret_cast<D*>(dout))
        : sg2::LaunchBiasActGradCuda<D>(stream, p, reinterpret_cast<const D*>(ddy),
                                        reinterpret_cast<const D*>(dx), dbp,
                                        reinterpret_cast<D*>(dout));
    if (err) { std::fprintf(stderr, "launch: %s\n", sg2::CudaErrorString(err)); std::exit(2); }
  };
  launch();
  CUDA_CHECK(cudaStreamSynchronize(stream));
  CUDA_CHECK(cudaMemcpy(out.data(), dout, p.size * sizeof(T), cudaMemcpyDeviceToHost));
  Cmp c = Compare(out, ref);
  bool ok = c.ok;
  body += ", \"max_abs_err\": " + Num(c.max_abs) + ", \"max_rel_err\": " +
      Num(c.max_rel) + ", \"ref_scale\": " + Num(c.scale) + F32Fields(out, ref32, &ok);
  body += std::string(", \"pass\": ") + (ok ? "true" : "false");
  if (timed) {
    const double us = TimeUs(launch, stream);
    const double bytes = (mode == 0 ? 2.0 : 3.0) * p.size * sizeof(T);
    body += ", \"gpu_us\": " + Num(us) + ", \"gbps\": " + Num(bytes / us / 1e3);
  }
  EmitRecord(body, ok);
  cudaFree(dx); cudaFree(ddy); cudaFree(db); cudaFree(dout);
}

// The parameters of an upfirdn2d case (exits on a case with an empty output).
UpFirDn2dParams UpFirDnParams(int64_t n, int64_t c, int64_t h, int64_t w, int fh, int fw, int upx,
                              int upy, int downx, int downy, int px0, int px1, int py0, int py1,
                              bool nchw) {
  UpFirDn2dParams p;
  p.batch = n; p.channels = c; p.in_h = h; p.in_w = w; p.fh = fh; p.fw = fw;
  p.upx = upx; p.upy = upy; p.downx = downx; p.downy = downy;
  p.padx0 = px0; p.padx1 = px1; p.pady0 = py0; p.pady1 = py1; p.nchw = nchw;
  p.out_h = sg2::UpFirDn2dOutSize(h, upy, py0, py1, fh, downy);
  p.out_w = sg2::UpFirDn2dOutSize(w, upx, px0, px1, fw, downx);
  if (p.out_h < 1 || p.out_w < 1) { std::fprintf(stderr, "bad case\n"); std::exit(2); }
  return p;
}

template <typename T>
void RunUpFirDn(cudaStream_t stream, std::mt19937* rng, int64_t n, int64_t c,
                int64_t h, int64_t w, int fh, int fw, int upx, int upy,
                int downx, int downy, int px0, int px1, int py0, int py1,
                bool nchw, bool timed, const char* label = "") {
  using D = typename Types<T>::Dev;
  const UpFirDn2dParams p = UpFirDnParams(n, c, h, w, fh, fw, upx, upy, downx, downy, px0, px1,
                                          py0, py1, nchw);
  auto x = RandomVec<T>(n * c * h * w, rng, 1.f);
  auto f = RandomVec<T>(static_cast<size_t>(fh) * fw, rng, 0.5f);
  const int64_t osz = n * c * p.out_h * p.out_w;
  std::vector<T> ref(osz), out(osz);
  sg2::UpFirDn2dCpu<T>(p, x.data(), f.data(), ref.data(), ThreadFor);
  std::vector<float> ref32;
  if constexpr (kIs16Bit<T>) {
    const auto x32 = ToFloatVec(x), f32 = ToFloatVec(f);
    ref32.resize(osz);
    sg2::UpFirDn2dCpu<float>(p, x32.data(), f32.data(), ref32.data(), ThreadFor);
  }
  std::vector<int64_t> xs = nchw ? std::vector<int64_t>{n, c, h, w} : std::vector<int64_t>{n, h, w, c};
  std::vector<int64_t> ys = nchw ? std::vector<int64_t>{n, c, p.out_h, p.out_w}
                                 : std::vector<int64_t>{n, p.out_h, p.out_w, c};
  char attrs[256];
  std::snprintf(attrs, sizeof(attrs),
                "\"f\": [%d,%d], \"up\": [%d,%d], \"down\": [%d,%d], \"pad\": [%d,%d,%d,%d]",
                fh, fw, upx, upy, downx, downy, px0, px1, py0, py1);
  std::string body = "\"op\": \"upfirdn2d\", \"label\": \"" + std::string(label) +
      "\", \"dtype\": \"" + Types<T>::kName + "\", \"format\": \"" +
      (nchw ? "NCHW" : "NHWC") + "\", \"x\": " + ShapeStr(xs) + ", \"y\": " +
      ShapeStr(ys) + ", " + attrs;
  if (g_cpu_only) {
    bool ok = true;
    body += ", \"device\": \"cpu\"" + F32Fields(ref, ref32, &ok) + ", \"pass\": " +
            (ok ? "true" : "false");
    EmitRecord(body, ok);
    return;
  }
  T *dx = ToDevice(x), *df = ToDevice(f), *dout = ToDevice(out);
  auto launch = [&] {
    int err = sg2::LaunchUpFirDn2dCuda<D>(stream, p, reinterpret_cast<const D*>(dx),
                                          reinterpret_cast<const D*>(df),
                                          reinterpret_cast<D*>(dout));
    if (err) { std::fprintf(stderr, "launch: %s\n", sg2::CudaErrorString(err)); std::exit(2); }
  };
  launch();
  CUDA_CHECK(cudaStreamSynchronize(stream));
  CUDA_CHECK(cudaMemcpy(out.data(), dout, osz * sizeof(T), cudaMemcpyDeviceToHost));
  Cmp cm = Compare(out, ref);
  bool ok = cm.ok;
  body += ", \"max_abs_err\": " + Num(cm.max_abs) + ", \"max_rel_err\": " + Num(cm.max_rel) +
      ", \"ref_scale\": " + Num(cm.scale) + F32Fields(out, ref32, &ok);
  body += std::string(", \"pass\": ") + (ok ? "true" : "false");
  if (timed) {
    const double us = TimeUs(launch, stream);
    const double bytes = double(x.size() + osz) * sizeof(T);
    body += ", \"gpu_us\": " + Num(us) + ", \"gbps\": " + Num(bytes / us / 1e3);
  }
  EmitRecord(body, ok);
  cudaFree(dx); cudaFree(df); cudaFree(dout);
}

// The separable form (x pass then y pass, or y first): on the CPU the fused
// functor must give the bits of two single-pass functor calls; on the GPU the
// launcher (two passes through a temporary) is compared with the CPU.
template <typename T>
void RunUpFirDnSeparable(cudaStream_t stream, std::mt19937* rng, int64_t n,
                         int64_t c, int64_t h, int64_t w, int fh, int fw,
                         int upx, int upy, int downx, int downy, int px0,
                         int px1, int py0, int py1, bool nchw, bool y_first,
                         const char* label) {
  using D = typename Types<T>::Dev;
  const UpFirDn2dParams p = UpFirDnParams(n, c, h, w, fh, fw, upx, upy, downx, downy, px0, px1,
                                          py0, py1, nchw);
  auto x = RandomVec<T>(n * c * h * w, rng, 1.f);
  auto fx = RandomVec<T>(fw, rng, 0.5f), fy = RandomVec<T>(fh, rng, 0.5f);
  const int64_t osz = n * c * p.out_h * p.out_w;
  const int64_t tsz = sg2::UpFirDn2dSeparableTempSize(p, y_first);
  std::vector<T> ref(osz), out(osz), mid(tsz), two(osz);
  sg2::UpFirDn2dSeparableCpu<T>(p, y_first, x.data(), fx.data(), fy.data(), mid.data(),
                                ref.data(), ThreadFor);
  // The same passes as two single-pass calls.
  const UpFirDn2dParams first = y_first ? sg2::internal::YPassParams(p, w)
                                        : sg2::internal::XPassParams(p, h);
  const UpFirDn2dParams second = y_first ? sg2::internal::XPassParams(p, p.out_h)
                                         : sg2::internal::YPassParams(p, p.out_w);
  sg2::UpFirDn2dCpu<T>(first, x.data(), y_first ? fy.data() : fx.data(), mid.data(), ThreadFor);
  sg2::UpFirDn2dCpu<T>(second, mid.data(), y_first ? fx.data() : fy.data(), two.data(), ThreadFor);
  bool ok = std::memcmp(ref.data(), two.data(), osz * sizeof(T)) == 0;
  char attrs[256];
  std::snprintf(attrs, sizeof(attrs),
                "\"f\": [%d,%d], \"up\": [%d,%d], \"down\": [%d,%d], \"pad\": [%d,%d,%d,%d], "
                "\"y_first\": %s, \"cpu_equals_two_passes\": %s",
                fh, fw, upx, upy, downx, downy, px0, px1, py0, py1, y_first ? "true" : "false",
                ok ? "true" : "false");
  std::string body = "\"op\": \"upfirdn2d_separable\", \"label\": \"" + std::string(label) +
      "\", \"dtype\": \"" + Types<T>::kName + "\", \"format\": \"" + (nchw ? "NCHW" : "NHWC") +
      "\", " + attrs;
  if (g_cpu_only) {
    body += std::string(", \"device\": \"cpu\", \"pass\": ") + (ok ? "true" : "false");
    EmitRecord(body, ok);
    return;
  }
  T *dx = ToDevice(x), *dfx = ToDevice(fx), *dfy = ToDevice(fy), *dmid = ToDevice(mid);
  T* dout = ToDevice(out);
  const int err = sg2::LaunchUpFirDn2dSeparableCuda<D>(
      stream, p, y_first, reinterpret_cast<const D*>(dx), reinterpret_cast<const D*>(dfx),
      reinterpret_cast<const D*>(dfy), reinterpret_cast<D*>(dmid), reinterpret_cast<D*>(dout));
  if (err) { std::fprintf(stderr, "launch: %s\n", sg2::CudaErrorString(err)); std::exit(2); }
  CUDA_CHECK(cudaStreamSynchronize(stream));
  CUDA_CHECK(cudaMemcpy(out.data(), dout, osz * sizeof(T), cudaMemcpyDeviceToHost));
  Cmp cm = Compare(out, ref);
  ok = ok && cm.ok;
  body += ", \"max_abs_err\": " + Num(cm.max_abs) + ", \"max_rel_err\": " + Num(cm.max_rel) +
      ", \"ref_scale\": " + Num(cm.scale) + ", \"pass\": " + (ok ? "true" : "false");
  EmitRecord(body, ok);
  cudaFree(dx); cudaFree(dfx); cudaFree(dfy); cudaFree(dmid); cudaFree(dout);
}

template <typename T>
void SmallUpFirDnCases(cudaStream_t s, std::mt19937* rng) {
  for (bool nchw : {false, true}) {
    // (n, c, h, w, fh, fw, upx, upy, downx, downy, px0, px1, py0, py1)
    RunUpFirDn<T>(s, rng, 2, 3, 7, 5, 3, 5, 3, 2, 2, 1, -1, 2, 2, 0, nchw, false, "odd");
    RunUpFirDn<T>(s, rng, 1, 5, 9, 11, 4, 4, 1, 1, 1, 1, 1, 2, 2, 1, nchw, false, "fir");
    RunUpFirDn<T>(s, rng, 2, 4, 8, 8, 4, 4, 2, 2, 1, 1, 2, 1, 2, 1, nchw, false, "up2");
    RunUpFirDn<T>(s, rng, 2, 4, 8, 8, 4, 4, 1, 1, 2, 2, 1, 1, 1, 1, nchw, false, "down2");
    RunUpFirDn<T>(s, rng, 3, 2, 6, 10, 1, 4, 2, 1, 1, 1, 2, 1, 0, 0, nchw, false, "sep_x_up");
    RunUpFirDn<T>(s, rng, 3, 2, 6, 10, 4, 1, 1, 2, 1, 1, 0, 0, 2, 1, nchw, false, "sep_y_up");
    RunUpFirDn<T>(s, rng, 1, 3, 13, 6, 5, 1, 1, 1, 1, 3, 0, 0, -2, 4, nchw, false, "sep_y_down3_crop");
    RunUpFirDn<T>(s, rng, 2, 1, 5, 4, 2, 3, 4, 3, 3, 2, -3, 5, 1, -2, nchw, false, "mixed_crop");
    RunUpFirDn<T>(s, rng, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, nchw, false, "1x1");
    // Channel counts that select the vectorized (C % 4 == 0), scalar
    // per-pixel (C >= 32, odd) and wide-row (W >= 32) kernels.
    RunUpFirDn<T>(s, rng, 2, 32, 5, 6, 4, 4, 2, 2, 1, 1, 2, 1, 2, 1, nchw, false, "c32_up2");
    RunUpFirDn<T>(s, rng, 2, 33, 6, 5, 3, 4, 1, 1, 2, 2, 1, 2, 0, 1, nchw, false, "c33_down2");
    RunUpFirDn<T>(s, rng, 1, 2, 5, 40, 4, 4, 2, 2, 1, 1, 2, 1, 2, 1, nchw, false, "w40_up2");
    RunUpFirDn<T>(s, rng, 1, 3, 6, 70, 3, 5, 1, 2, 2, 1, -1, 3, 1, 1, nchw, false, "w70_mixed");
    // The separable op in both orders: StyleGAN2's blur, 2x up and 2x down,
    // and odd sizes with crops and 3x factors.
    for (bool y_first : {false, true}) {
      RunUpFirDnSeparable<T>(s, rng, 2, 32, 8, 8, 4, 4, 1, 1, 1, 1, 2, 2, 2, 2, nchw, y_first, "sep_blur");
      RunUpFirDnSeparable<T>(s, rng, 2, 17, 6, 7, 4, 4, 2, 2, 1, 1, 2, 1, 2, 1, nchw, y_first, "sep_up2");
      RunUpFirDnSeparable<T>(s, rng, 2, 5, 9, 8, 4, 4, 1, 1, 2, 2, 1, 1, 1, 1, nchw, y_first, "sep_down2");
      RunUpFirDnSeparable<T>(s, rng, 1, 3, 7, 11, 5, 3, 3, 1, 1, 2, -1, 4, 3, -2, nchw, y_first, "sep_odd");
    }
  }
}

// channel_scale on [n, inner, c]: mode 0 forward (y), mode 1 gradient (dx and
// ds, one record each; and da with the addend). ds and da sum in the same
// fixed order on both devices. add: with the per-row addend a [n, inner].
template <typename T>
void RunChannelScale(cudaStream_t stream, std::mt19937* rng, int64_t n,
                     int64_t inner, int64_t c, int mode, bool add, bool timed) {
  using D = typename Types<T>::Dev;
  using A = typename sg2::AccType<T>::type;
  ChannelScaleParams p{n, inner, c};
  const int64_t size = n * inner * c;
  auto x = RandomVec<T>(size, rng, 2.f);
  auto dy = RandomVec<T>(size, rng, 1.f);
  auto sv = RandomVec<T>(n * c, rng, 1.f);
  auto av = RandomVec<T>(n * inner, rng, 1.f);
  const T* ap = add ? av.data() : nullptr;
  std::vector<T> y(size), dx(size), ds(n * c), da(n * inner);
  T* dap = add ? da.data() : nullptr;
  if (mode == 0) sg2::ChannelScaleCpu<T>(p, x.data(), sv.data(), ap, y.data(), ThreadFor);
  else sg2::ChannelScaleGradCpu<T>(p, dy.data(), x.data(), sv.data(), dx.data(), ds.data(), dap, ThreadFor);
  std::vector<float> y32, dx32, ds32, da32;
  if constexpr (kIs16Bit<T>) {
    const auto x32 = ToFloatVec(x), dyf = ToFloatVec(dy), s32 = ToFloatVec(sv), a32 = ToFloatVec(av);
    y32.resize(size); dx32.resize(size); ds32.resize(n * c); da32.resize(n * inner);
    if (mode == 0 && add) {
      // The product is rounded to T by definition; the float32 reference rounds it the same way and then adds,
      // so the result is again within one rounding of it.
      for (int64_t i = 0; i < size; ++i) {
        const int64_t row = i / c, ch = i % c, smp = row / (inner > 0 ? inner : 1);
        y32[i] = ToD(T(x32[i] * s32[smp * c + ch])) + a32[row];
      }
    } else if (mode == 0) {
      sg2::ChannelScaleCpu<float>(p, x32.data(), s32.data(), nullptr, y32.data(), ThreadFor);
    } else {
      sg2::ChannelScaleGradCpu<float>(p, dyf.data(), x32.data(), s32.data(), dx32.data(), ds32.data(),
                                      add ? da32.data() : nullptr, ThreadFor);
    }
  }
  const std::string head = "\"op\": \"channel_scale\", \"dtype\": \"" + std::string(Types<T>::kName) +
      "\", \"shape\": " + ShapeStr({n, inner, c}) + ", \"mode\": \"" + (mode == 0 ? "forward" : "grad") +
      "\", \"addend\": " + (add ? "true" : "false");
  struct Out { const char* name; const std::vector<T>* cpu; const std::vector<float>* f32; };
  std::vector<Out> outs;
  if (mode == 0) outs = {{"y", &y, &y32}};
  else outs = {{"dx", &dx, &dx32}, {"ds", &ds, &ds32}};
  if (mode == 1 && add) outs.push_back({"da", &da, &da32});
  if (g_cpu_only) {  // the CPU 16-bit functor against float32
    for (const Out& o : outs) {
      bool ok = true;
      const std::string body = head + ", \"output\": \"" + o.name + "\", \"device\": \"cpu\"" +
          F32Fields(*o.cpu, *o.f32, &ok) + ", \"pass\": " + (ok ? "true" : "false");
      EmitRecord(body, ok);
    }
    return;
  }
  T *dxin = ToDevice(x), *ddy = ToDevice(dy), *dsv = ToDevice(sv), *dav = ToDevice(av);
  std::vector<T> gy(size), gdx(size), gds(n * c), gda(n * inner);
  T *dout = ToDevice(gy), *dgx = ToDevice(gdx), *dgs = ToDevice(gds), *dga = ToDevice(gda);
  A* work = nullptr;
  CUDA_CHECK(cudaMalloc(&work, std::max<int64_t>(1, sg2::ChannelScaleWorkspaceElems(p)) * sizeof(A)));
  auto launch = [&] {
    int err = mode == 0
        ? sg2::LaunchChannelScaleCuda<D>(stream, p, reinterpret_cast<const D*>(dxin),
                                         reinterpret_cast<const D*>(dsv),
                                         add ? reinterpret_cast<const D*>(dav) : nullptr,
                                         reinterpret_cast<D*>(dout))
        : sg2::LaunchChannelScaleGradCuda<D>(stream, p, reinterpret_cast<const D*>(ddy),
                                             reinterpret_cast<const D*>(dxin),
                                             reinterpret_cast<const D*>(dsv), reinterpret_cast<D*>(dgx),
                                             reinterpret_cast<D*>(dgs),
                                             add ? reinterpret_cast<D*>(dga) : nullptr, work);
    if (err) { std::fprintf(stderr, "launch: %s\n", sg2::CudaErrorString(err)); std::exit(2); }
  };
  launch();
  CUDA_CHECK(cudaStreamSynchronize(stream));
  CUDA_CHECK(cudaMemcpy(gy.data(), dout, size * sizeof(T), cudaMemcpyDeviceToHost));
  CUDA_CHECK(cudaMemcpy(gdx.data(), dgx, size * sizeof(T), cudaMemcpyDeviceToHost));
  CUDA_CHECK(cudaMemcpy(gds.data(), dgs, n * c * sizeof(T), cudaMemcpyDeviceToHost));
  CUDA_CHECK(cudaMemcpy(gda.data(), dga, n * inner * sizeof(T), cudaMemcpyDeviceToHost));
  const std::vector<T>* gpu_of[] = {mode == 0 ? &gy : &gdx, &gds, &gda};
  double us = -1;
  if (timed) us = TimeUs(launch, stream);
  for (size_t k = 0; k < outs.size(); ++k) {
    const Out& o = outs[k];
    Cmp cmp = Compare(*gpu_of[k], *o.cpu);
    bool ok = cmp.ok;
    std::string body = head + ", \"output\": \"" + o.name + "\", \"max_abs_err\": " + Num(cmp.max_abs) +
        ", \"max_rel_err\": " + Num(cmp.max_rel) + ", \"ref_scale\": " + Num(cmp.scale) +
        F32Fields(*gpu_of[k], *o.f32, &ok) + ", \"pass\": " + (ok ? "true" : "false");
    if (timed && k == 0) {
      const double bytes = (mode == 0 ? 2.0 : 3.0) * size * sizeof(T);
      body += ", \"gpu_us\": " + Num(us) + ", \"gbps\": " + Num(bytes / us / 1e3);
    }
    EmitRecord(body, ok);
  }
  cudaFree(dxin); cudaFree(ddy); cudaFree(dsv); cudaFree(dav); cudaFree(dout); cudaFree(dgx); cudaFree(dgs);
  cudaFree(dga); cudaFree(work);
}

// channel_sum over [rows, c] (bias gradients): GPU against the CPU functor,
// 16-bit against float32 on the same rounded inputs.
template <typename T>
void RunChannelSum(cudaStream_t stream, std::mt19937* rng, int64_t rows, int64_t c, bool timed) {
  using D = typename Types<T>::Dev;
  using A = typename sg2::AccType<T>::type;
  auto x = RandomVec<T>(rows * c, rng, 1.f);
  std::vector<T> ref(c), out(c);
  sg2::ChannelSumCpu<T>(rows, c, x.data(), ref.data(), ThreadFor);
  std::vector<float> ref32;
  if constexpr (kIs16Bit<T>) {
    const auto x32 = ToFloatVec(x);
    ref32.resize(c);
    sg2::ChannelSumCpu<float>(rows, c, x32.data(), ref32.data(), ThreadFor);
  }
  std::string body = "\"op\": \"channel_sum\", \"dtype\": \"" + std::string(Types<T>::kName) +
      "\", \"shape\": " + ShapeStr({rows, c});
  if (g_cpu_only) {
    bool ok = true;
    body += ", \"device\": \"cpu\"" + F32Fields(ref, ref32, &ok) + ", \"pass\": " + (ok ? "true" : "false");
    EmitRecord(body, ok);
    return;
  }
  T *dxin = ToDevice(x), *dout = ToDevice(out);
  A* work = nullptr;
  CUDA_CHECK(cudaMalloc(&work, std::max<int64_t>(1, sg2::ChannelSumWorkspaceElems(rows, c)) * sizeof(A)));
  auto launch = [&] {
    int err = sg2::LaunchChannelSumCuda<D>(stream, rows, c, reinterpret_cast<const D*>(dxin),
                                          reinterpret_cast<D*>(dout), work);
    if (err) { std::fprintf(stderr, "launch: %s\n", sg2::CudaErrorString(err)); std::exit(2); }
  };
  launch();
  CUDA_CHECK(cudaStreamSynchronize(stream));
  CUDA_CHECK(cudaMemcpy(out.data(), dout, c * sizeof(T), cudaMemcpyDeviceToHost));
  Cmp cmp = Compare(out, ref);
  bool ok = cmp.ok;
  body += ", \"max_abs_err\": " + Num(cmp.max_abs) + ", \"max_rel_err\": " + Num(cmp.max_rel) +
      ", \"ref_scale\": " + Num(cmp.scale) + F32Fields(out, ref32, &ok) + ", \"pass\": " + (ok ? "true" : "false");
  if (timed) {
    const double us = TimeUs(launch, stream);
    body += ", \"gpu_us\": " + Num(us) + ", \"gbps\": " + Num(rows * c * sizeof(T) / us / 1e3);
  }
  EmitRecord(body, ok);
  cudaFree(dxin); cudaFree(dout); cudaFree(work);
}

// scale_bias_act on [n, inner, c] (mode 0 forward, 1 gradient): the CPU
// functor, which fuses the passes, against the separate ops' CPU functors
// composed through temporaries, bit for bit (every type, also --cpu-only);
// and the CUDA launcher against the CPU functor.
template <typename T>
void RunScaleBiasAct(cudaStream_t stream, std::mt19937* rng, int64_t n,
                     int64_t inner, int64_t c, int mode, bool add, bool bias,
                     Act act, float clamp) {
  using D = typename Types<T>::Dev;
  using A = typename sg2::AccType<T>::type;
  ScaleBiasActParams p;
  p.scale = ChannelScaleParams{n, inner, c};
  p.act = act;
  p.alpha = 0.2f;
  p.gain = std::sqrt(2.f);
  p.clamp = clamp;
  const int64_t size = n * inner * c;
  auto x = RandomVec<T>(size, rng, 2.f);
  auto dy = RandomVec<T>(size, rng, 1.f);
  auto sv = RandomVec<T>(n * c, rng, 1.f);
  auto av = RandomVec<T>(n * inner, rng, 1.f);
  auto bv = RandomVec<T>(c, rng, 1.f);
  const T* ap = add ? av.data() : nullptr;
  const T* bp = bias ? bv.data() : nullptr;
  // outs[0]: y or dx; 1: ds; 2: da; 3: db. fused: the functor; comp: the ops.
  std::vector<std::vector<T>> fused = {std::vector<T>(size), std::vector<T>(n * c),
                                       std::vector<T>(n * inner), std::vector<T>(c)};
  std::vector<std::vector<T>> comp = fused;
  std::vector<T> t(size), g(size);
  const auto bap = sg2::ScaleBiasActBiasParams(p, bias);
  sg2::ChannelScaleCpu<T>(p.scale, x.data(), sv.data(), ap, t.data(), ThreadFor);
  if (mode == 0) {
    sg2::ScaleBiasActCpu<T>(p, x.data(), sv.data(), ap, bp, fused[0].data(), ThreadFor);
    sg2::BiasActCpu<T>(bap, t.data(), bp, comp[0].data(), ThreadFor);
  } else {
    sg2::ScaleBiasActGradCpu<T>(p, dy.data(), x.data(), sv.data(), ap, bp, fused[0].data(),
                                fused[1].data(), add ? fused[2].data() : nullptr,
                                bias ? fused[3].data() : nullptr, ThreadFor);
    sg2::BiasActGradCpu<T>(bap, dy.data(), t.data(), bp, g.data(), ThreadFor);
    if (bias) sg2::ChannelSumCpu<T>(n * inner, c, g.data(), comp[3].data(), ThreadFor);
    sg2::ChannelScaleGradCpu<T>(p.scale, g.data(), x.data(), sv.data(), comp[0].data(),
                                comp[1].data(), add ? comp[2].data() : nullptr, ThreadFor);
  }
  const char* names[] = {mode == 0 ? "y" : "dx", "ds", "da", "db"};
  std::vector<int> outs = {0};
  if (mode == 1) {
    outs.push_back(1);
    if (add) outs.push_back(2);
    if (bias) outs.push_back(3);
  }
  const std::string head = "\"op\": \"scale_bias_act\", \"dtype\": \"" +
      std::string(Types<T>::kName) + "\", \"shape\": " + ShapeStr({n, inner, c}) +
      ", \"mode\": \"" + (mode == 0 ? "forward" : "grad") + "\", \"act\": \"" +
      kActNames[static_cast<int>(act)] + "\", \"clamp\": " + Num(clamp) +
      ", \"addend\": " + (add ? "true" : "false") + ", \"bias\": " + (bias ? "true" : "false");
  for (int k : outs) {  // fused CPU functor == the separate CPU functors, bitwise
    const bool same = fused[k].empty() ||
        std::memcmp(fused[k].data(), comp[k].data(), fused[k].size() * sizeof(T)) == 0;
    EmitRecord(head + ", \"output\": \"" + names[k] + "\", \"device\": \"cpu\", "
               "\"bitwise_equal_to_separate_ops\": " + (same ? "true" : "false") +
               ", \"pass\": " + (same ? "true" : "false"), same);
  }
  if (g_cpu_only) return;
  std::vector<std::vector<T>> gpu = fused;
  std::vector<T*> dev;
  for (auto& v : gpu) dev.push_back(ToDevice(v));
  T *dxin = ToDevice(x), *ddy = ToDevice(dy), *dsv = ToDevice(sv), *dav = ToDevice(av),
    *dbv = ToDevice(bv), *dt = ToDevice(t), *dg = ToDevice(g);
  A* work = nullptr;
  CUDA_CHECK(cudaMalloc(&work, std::max<int64_t>(1, sg2::ScaleBiasActWorkspaceElems(p)) * sizeof(A)));
  auto cd = [](T* q) { return reinterpret_cast<const D*>(q); };
  auto md = [](T* q) { return reinterpret_cast<D*>(q); };
  const int err = mode == 0
      ? sg2::LaunchScaleBiasActCuda<D>(stream, p, cd(dxin), cd(dsv), add ? cd(dav) : nullptr,
                                       bias ? cd(dbv) : nullptr, md(dev[0]), md(dt))
      : sg2::LaunchScaleBiasActGradCuda<D>(stream, p, cd(ddy), cd(dxin), cd(dsv),
                                           add ? cd(dav) : nullptr, bias ? cd(dbv) : nullptr,
                                           md(dev[0]), md(dev[1]), add ? md(dev[2]) : nullptr,
                                           bias ? md(dev[3]) : nullptr, md(dt), md(dg), work);
  if (err) { std::fprintf(stderr, "launch: %s\n", sg2::CudaErrorString(err)); std::exit(2); }
  CUDA_CHECK(cudaStreamSynchronize(stream));
  for (int k : outs) {
    CUDA_CHECK(cudaMemcpy(gpu[k].data(), dev[k], gpu[k].size() * sizeof(T), cudaMemcpyDeviceToHost));
    const Cmp cmp = Compare(gpu[k], fused[k]);
    EmitRecord(head + ", \"output\": \"" + names[k] + "\", \"max_abs_err\": " + Num(cmp.max_abs) +
               ", \"max_rel_err\": " + Num(cmp.max_rel) + ", \"ref_scale\": " + Num(cmp.scale) +
               ", \"pass\": " + (cmp.ok ? "true" : "false"), cmp.ok);
  }
  for (T* q : dev) cudaFree(q);
  cudaFree(dxin); cudaFree(ddy); cudaFree(dsv); cudaFree(dav); cudaFree(dbv); cudaFree(dt);
  cudaFree(dg); cudaFree(work);
}

template <typename T>
void SmallScaleBiasActCases(cudaStream_t s, std::mt19937* rng) {
  for (int mode = 0; mode < 2; ++mode) {
    for (bool add : {false, true}) {
      for (bool bias : {false, true}) {
        // inner a divisor of the 1024-row chunks (several samples per chunk), a
        // multiple of them, neither (the gradient's fallback); 64-channel tiles
        // with tails.
        RunScaleBiasAct<T>(s, rng, 5, 256, 130, mode, add, bias, Act::kLrelu, 0.9f);
        RunScaleBiasAct<T>(s, rng, 2, 2048, 67, mode, add, bias, Act::kLrelu, -1.f);
        RunScaleBiasAct<T>(s, rng, 3, 35, 70, mode, add, bias, Act::kLrelu, 0.9f);
      }
    }
    RunScaleBiasAct<T>(s, rng, 3, 64, 37, mode, true, true, Act::kSwish, -1.f);
    RunScaleBiasAct<T>(s, rng, 4, 1, 9, mode, true, true, Act::kTanh, 0.5f);
    RunScaleBiasAct<T>(s, rng, 2, 0, 5, mode, true, true, Act::kLrelu, -1.f);  // no rows
  }
}

template <typename T>
void SmallChannelScaleCases(cudaStream_t s, std::mt19937* rng) {
  for (int mode = 0; mode < 2; ++mode) {
    for (bool add : {false, true}) {  // without and with the per-row addend
      RunChannelScale<T>(s, rng, 3, 35, 130, mode, add, false);   // 64-channel tiles and a tail of 2
      RunChannelScale<T>(s, rng, 2, 1320, 3, mode, add, false);   // two row chunks per sample
      RunChannelScale<T>(s, rng, 4, 1, 70, mode, add, false);
      RunChannelScale<T>(s, rng, 2, 0, 5, mode, add, false);      // no rows: ds = 0
    }
  }
  RunChannelSum<T>(s, rng, 3000, 130, false);             // 3 row chunks, 3 tiles
  RunChannelSum<T>(s, rng, 7, 1, false);
  RunChannelSum<T>(s, rng, 0, 4, false);                  // no rows: 0
}

template <typename T>
void SmallBiasActCases(cudaStream_t s, std::mt19937* rng) {
  for (int a = 0; a < 9; ++a) {
    for (int mode = 0; mode < 3; ++mode) {
      for (float clamp : {-1.f, 0.7f}) {
        RunBiasAct<T>(s, rng, {3, 5, 7}, 1, true, static_cast<Act>(a), 0.2f, 1.4f, clamp, mode, false);
      }
      RunBiasAct<T>(s, rng, {4, 3, 17}, 2, true, static_cast<Act>(a), 0.3f, 0.9f, -1.f, mode, false);
      RunBiasAct<T>(s, rng, {37}, 0, false, static_cast<Act>(a), 0.1f, 1.f, 0.5f, mode, false);
    }
  }
}

// StyleGAN-sized cases of one 16-bit type (timed), as the float32 ones below.
template <typename T>
void TimedHalfCases(cudaStream_t s, std::mt19937* rng) {
  const float g = std::sqrt(2.f);
  RunBiasAct<T>(s, rng, {8, 64, 64, 256}, 3, true, Act::kLrelu, 0.2f, g, -1.f, 0, true);
  RunBiasAct<T>(s, rng, {8, 64, 64, 256}, 3, true, Act::kLrelu, 0.2f, g, -1.f, 1, true);
  RunUpFirDn<T>(s, rng, 8, 256, 32, 32, 4, 4, 2, 2, 1, 1, 2, 1, 2, 1, false, true, "up2x_4x4");
  RunChannelScale<T>(s, rng, 32, 64 * 64, 256, 1, true, true);
  RunChannelSum<T>(s, rng, 32 * 64 * 64, 256, true);
  RunUpFirDn<T>(s, rng, 8, 256, 64, 64, 4, 4, 1, 1, 2, 2, 1, 1, 1, 1, false, true, "down2x_4x4");
}

// affine_resample straight from its definition, in float64 (no polyphase
// windows, no staging): the upsampled values U(kx, ky) at the four bilinear
// indices as sums over every input pixel of the reflect-padded, masked image.
std::vector<double> AffineNaive(const AffineResampleParams& p, const std::vector<double>& theta,
                                const std::vector<float>& x, const std::vector<float>& f) {
  const int64_t N = p.batch, C = p.channels, H = p.in_h, W = p.in_w, T = p.taps;
  const int64_t c0 = T / 2 - 1;
  auto tap = [&](int64_t k, int64_t q) {  // 2 f[T/2 - 1 + k - 2q], 0 outside
    const int64_t j = c0 + k - 2 * q;
    return (j >= 0 && j < T) ? 2.0 * f[j] : 0.0;
  };
  std::vector<double> y(N * p.out_h * p.out_w * C, 0.0);
  for (int64_t n = 0; n < N; ++n) {
    const double* th = theta.data() + n * 6;
    for (int64_t oy = 0; oy < p.out_h; ++oy) {
      for (int64_t ox = 0; ox < p.out_w; ++ox) {
        const double k[2] = {th[0] * ox + th[1] * oy + th[2], th[3] * ox + th[4] * oy + th[5]};
        const int64_t size[2] = {W, H};
        const int m0[2] = {p.margin_x0, p.margin_y0}, m1[2] = {p.margin_x1, p.margin_y1};
        int64_t idx[2][2];
        double wt[2][2];
        for (int a = 0; a < 2; ++a) {
          const double fl = std::floor(k[a]), t = k[a] - fl;
          for (int b = 0; b < 2; ++b) {
            const double kk = fl + b;
            const bool ok = std::isfinite(k[a]) && kk >= -2.0 * m0[a] && kk <= 2.0 * (size[a] + m1[a]) - 1;
            idx[a][b] = ok ? static_cast<int64_t>(kk) : 0;
            wt[a][b] = ok ? (b ? t : 1 - t) : 0.0;
          }
        }
        double* yo = &y[((n * p.out_h + oy) * p.out_w + ox) * C];
        for (int by = 0; by < 2; ++by) {
          for (int bx = 0; bx < 2; ++bx) {
            const double w = wt[0][bx] * wt[1][by];
            if (w == 0) continue;
            for (int64_t qy = -p.margin_y0; qy <= H - 1 + p.margin_y1; ++qy) {
              const double fy = tap(idx[1][by], qy);
              if (fy == 0) continue;
              const int64_t ry = qy < 0 ? -qy : (qy > H - 1 ? 2 * (H - 1) - qy : qy);
              for (int64_t qx = -p.margin_x0; qx <= W - 1 + p.margin_x1; ++qx) {
                const double fx = tap(idx[0][bx], qx);
                if (fx == 0) continue;
                const int64_t rx = qx < 0 ? -qx : (qx > W - 1 ? 2 * (W - 1) - qx : qx);
                const float* xp = &x[((n * H + ry) * W + rx) * C];
                for (int64_t c = 0; c < C; ++c) yo[c] += w * fy * fx * xp[c];
              }
            }
          }
        }
      }
    }
  }
  return y;
}

// Random theta [N, 2, 3]: output pixel -> upsampled index, a rotation by any
// angle, scales in [smin, smax] per axis and a translation that puts the
// output centre near the upsampled image's centre plus up to `reach` upsampled
// pixels (far enough to leave the padded image for some samples).
std::vector<double> AffineTheta(std::mt19937* rng, int64_t n, const AffineResampleParams& p,
                                double smin, double smax, double reach) {
  std::uniform_real_distribution<double> ang(-M_PI, M_PI), sc(smin, smax), tr(-reach, reach);
  std::vector<double> th(n * 6);
  for (int64_t i = 0; i < n; ++i) {
    const double a = ang(*rng), sx = sc(*rng), sy = sc(*rng);
    const double m[4] = {std::cos(a) * sx, -std::sin(a) * sy, std::sin(a) * sx, std::cos(a) * sy};
    const double ocx = (p.out_w - 1) / 2.0, ocy = (p.out_h - 1) / 2.0;
    const double kcx = p.in_w - 0.5 + tr(*rng), kcy = p.in_h - 0.5 + tr(*rng);
    double* t = th.data() + i * 6;
    t[0] = m[0]; t[1] = m[1]; t[2] = kcx - m[0] * ocx - m[1] * ocy;
    t[3] = m[2]; t[4] = m[3]; t[5] = kcy - m[2] * ocx - m[3] * ocy;
  }
  return th;
}

// The published sym6 low-pass taps normalised to sum 1 (setup_filter(SYM6)).
std::vector<float> Sym6() {
  const double s[12] = {0.015404109327027373, 0.0034907120842174702, -0.11799011114819057,
                        -0.048311742585633, 0.4910559419267466, 0.787641141030194,
                        0.3379294217276218, -0.07263752278646252, -0.021060292512300564,
                        0.04472490177066578, 0.0017677118642428036, -0.007800708325034148};
  double sum = 0;
  for (double v : s) sum += v;
  std::vector<float> f(12);
  for (int i = 0; i < 12; ++i) f[i] = static_cast<float>(s[i] / sum);
  return f;
}

// affine_resample forward and adjoint (float32). Host side: the CPU functors
// against AffineNaive (forward, rtol 1e-5 of max |y|) and the adjoint identity
// <A x, dy> = <x, A^T dy> (float64 dot products, 1e-5 of sum |A x| |dy|);
// GPU: both launchers against the CPU functors (float32 tolerance). sym6: the
// sym6 taps (taps must be 12), else random ones. naive: compare with
// AffineNaive (skipped for the timed StyleGAN-sized case).
void RunAffine(cudaStream_t stream, std::mt19937* rng, int64_t n, int64_t h, int64_t w, int64_t c,
               int64_t oh, int64_t ow, int taps, std::vector<int> margin, bool sym6,
               double smin, double smax, double reach, bool naive, bool timed,
               const char* label) {
  AffineResampleParams p;
  p.batch = n; p.channels = c; p.in_h = h; p.in_w = w; p.out_h = oh; p.out_w = ow;
  p.margin_x0 = margin[0]; p.margin_x1 = margin[1]; p.margin_y0 = margin[2]; p.margin_y1 = margin[3];
  const std::vector<float> f = sym6 ? Sym6() : RandomVec<float>(taps, rng, 0.5f);
  sg2::AffineResampleSetFilter(f.data(), taps, &p);
  const auto theta = AffineTheta(rng, n, p, smin, smax, reach);
  const auto x = RandomVec<float>(n * h * w * c, rng, 1.f);
  const auto dy = RandomVec<float>(n * oh * ow * c, rng, 1.f);
  std::vector<float> y(dy.size()), dx(x.size());
  sg2::AffineResampleCpu(p, theta.data(), x.data(), y.data(), ThreadFor);
  sg2::AffineResampleAdjointCpu(p, theta.data(), dy.data(), dx.data(), ThreadFor);
  bool ok = true;
  std::string body = "\"op\": \"affine_resample\", \"label\": \"" + std::string(label) +
      "\", \"dtype\": \"float32\", \"x\": " + ShapeStr({n, h, w, c}) + ", \"y\": " +
      ShapeStr({n, oh, ow, c}) + ", \"taps\": " + std::to_string(taps) + ", \"margin\": [" +
      std::to_string(margin[0]) + "," + std::to_string(margin[1]) + "," +
      std::to_string(margin[2]) + "," + std::to_string(margin[3]) + "]";
  if (naive) {
    const auto ref = AffineNaive(p, theta, x, f);
    double scale = 0, err = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
      scale = std::max(scale, std::fabs(ref[i]));
      err = std::max(err, std::fabs(ref[i] - y[i]));
    }
    const bool pass = err <= 1e-5 * std::max(scale, 1e-30);
    ok = ok && pass;
    body += ", \"cpu_vs_definition\": {\"max_abs_err\": " + Num(err) + ", \"scale\": " +
            Num(scale) + ", \"pass\": " + (pass ? "true" : "false") + "}";
  }
  {
    double lhs = 0, rhs = 0, mag = 0;
    for (size_t i = 0; i < y.size(); ++i) {
      lhs += double(y[i]) * dy[i];
      mag += std::fabs(double(y[i]) * dy[i]);
    }
    for (size_t i = 0; i < x.size(); ++i) rhs += double(x[i]) * dx[i];
    const bool pass = std::fabs(lhs - rhs) <= 1e-5 * std::max(mag, 1e-30);
    ok = ok && pass;
    body += ", \"adjoint_identity\": {\"lhs\": " + Num(lhs) + ", \"rhs\": " + Num(rhs) +
            ", \"pass\": " + (pass ? "true" : "false") + "}";
  }
  if (g_cpu_only) {
    body += std::string(", \"device\": \"cpu\", \"pass\": ") + (ok ? "true" : "false");
    EmitRecord(body, ok);
    return;
  }
  double* dth = ToDevice(theta);
  float *dxin = ToDevice(x), *ddy = ToDevice(dy), *dyout = ToDevice(y), *ddx = ToDevice(dx);
  auto fwd = [&] {
    const int err = sg2::LaunchAffineResampleCuda(stream, p, dth, dxin, dyout);
    if (err) { std::fprintf(stderr, "launch: %s\n", sg2::CudaErrorString(err)); std::exit(2); }
  };
  auto adj = [&] {
    const int err = sg2::LaunchAffineResampleAdjointCuda(stream, p, dth, ddy, ddx);
    if (err) { std::fprintf(stderr, "launch: %s\n", sg2::CudaErrorString(err)); std::exit(2); }
  };
  std::vector<float> gy(y.size()), gdx(x.size());
  fwd();
  adj();
  CUDA_CHECK(cudaStreamSynchronize(stream));
  CUDA_CHECK(cudaMemcpy(gy.data(), dyout, gy.size() * sizeof(float), cudaMemcpyDeviceToHost));
  CUDA_CHECK(cudaMemcpy(gdx.data(), ddx, gdx.size() * sizeof(float), cudaMemcpyDeviceToHost));
  const Cmp cf = Compare(gy, y), ca = Compare(gdx, dx);
  ok = ok && cf.ok && ca.ok;
  body += ", \"forward\": {\"max_abs_err\": " + Num(cf.max_abs) + ", \"ref_scale\": " +
          Num(cf.scale) + ", \"pass\": " + (cf.ok ? "true" : "false") + "}";
  body += ", \"adjoint\": {\"max_abs_err\": " + Num(ca.max_abs) + ", \"ref_scale\": " +
          Num(ca.scale) + ", \"pass\": " + (ca.ok ? "true" : "false") + "}";
  body += std::string(", \"pass\": ") + (ok ? "true" : "false");
  if (timed) {
    body += ", \"forward_gpu_us\": " + Num(TimeUs(fwd, stream)) +
            ", \"adjoint_gpu_us\": " + Num(TimeUs(adj, stream));
  }
  EmitRecord(body, ok);
  cudaFree(dth); cudaFree(dxin); cudaFree(ddy); cudaFree(dyout); cudaFree(ddx);
}

// Small random cases: channels 1-3 and 5 (the compile-time and the runtime
// CPU shapes), non-square images, 12 taps and others, margins from 0 to
// size - 1 (asymmetric), rotations, scales and translations that leave the
// padded image for part of the output.
void SmallAffineCases(cudaStream_t s, std::mt19937* rng) {
  // (n, h, w, c, oh, ow, taps, margin x0 x1 y0 y1, sym6, scale range, reach)
  RunAffine(s, rng, 3, 9, 7, 1, 20, 17, 12, {0, 6, 8, 2}, false, 0.6, 2.0, 8, true, false, "c1_t12");
  RunAffine(s, rng, 2, 8, 8, 3, 18, 18, 12, {7, 7, 7, 7}, false, 0.5, 1.5, 4, true, false, "c3_t12_max_margin");
  RunAffine(s, rng, 2, 6, 10, 2, 15, 21, 12, {3, 0, 0, 5}, false, 0.8, 3.0, 20, true, false, "c2_t12_far");
  RunAffine(s, rng, 2, 7, 5, 5, 12, 11, 8, {2, 4, 6, 1}, false, 0.7, 1.7, 6, true, false, "c5_t8");
  RunAffine(s, rng, 1, 5, 6, 1, 9, 13, 4, {0, 0, 0, 0}, false, 0.9, 1.1, 3, true, false, "c1_t4_no_margin");
  RunAffine(s, rng, 2, 4, 4, 3, 10, 10, 32, {3, 1, 2, 3}, false, 0.5, 2.5, 10, true, false, "c3_t32");
  RunAffine(s, rng, 1, 2, 3, 4, 7, 5, 2, {1, 2, 1, 0}, false, 0.3, 1.0, 2, true, false, "c4_t2_tiny");
  RunAffine(s, rng, 2, 32, 32, 1, 76, 76, 12, {20, 27, 25, 26}, true, 0.8, 1.25, 0, true, false, "demo_bgc");
}

// ---------------------------------------------------------------------------
// Winograd tile transforms (F(4x4, 3x3)'s input transform B^T, window 6 at
// stride 4 padded by 1, and its output transform A, window 4, no padding):
// on the host the CPU functors against the definition summed in double and
// the adjoint identity <ToTiles(x), v> = <x, FromTiles(v)>; on the GPU the
// launchers against the CPU functors bit for bit (both add every term in the
// same order, explicitly rounded, without contraction).

const double kWinogradBT[36] = {4, 0, -5, 0, 1, 0, 0, -4, -4, 1, 1, 0, 0, 4, -4, -1, 1, 0,
                                0, -2, -1, 2, 1, 0, 0, 2, -1, -2, 1, 0, 0, 4, 0, -5, 0, 1};
const double kWinogradA[24] = {1, 0, 0, 0, 1, 1, 1, 1, 1, -1, 1, -1,
                               1, 2, 4, 8, 1, -2, 4, -8, 0, 0, 0, 1};

template <typename T>
void RunWinograd(cudaStream_t stream, std::mt19937* rng, int64_t n, int64_t h, int64_t w,
                 int64_t c, bool input_transform, bool timed, const char* label) {
  sg2::WinogradParams p;
  p.batch = n; p.height = h; p.width = w; p.channels = c;
  p.rows = 6; p.window = input_transform ? 6 : 4; p.stride = 4; p.pad = input_transform ? 1 : 0;
  const double* m = input_transform ? kWinogradBT : kWinogradA;
  for (int k = 0; k < p.rows * p.window; ++k) p.matrix[k] = m[k];
  if (!sg2::WinogradTileCount(h, p.window, p.stride, p.pad, &p.tiles_h) ||
      !sg2::WinogradTileCount(w, p.window, p.stride, p.pad, &p.tiles_w)) {
    std::fprintf(stderr, "winograd case %s: the windows do not cover the image\n", label);
    std::exit(2);
  }
  const int t = p.rows, sw = p.window;
  const int64_t plane = p.tiles() * c;
  const auto x = RandomVec<T>(n * h * w * c, rng, 1.f);
  const auto v = RandomVec<T>(t * t * plane, rng, 1.f);
  std::vector<T> tiles(v.size()), back(x.size());
  sg2::WinogradToTilesCpu(p, x.data(), tiles.data(), ThreadFor);
  sg2::WinogradFromTilesCpu(p, v.data(), back.data(), ThreadFor);
  const double rtol = std::is_same<T, double>::value ? 1e-12 : 1e-5;
  bool ok = true;
  std::string body = "\"op\": \"winograd_tiles\", \"label\": \"" + std::string(label) +
      "\", \"dtype\": \"" + Types<T>::kName + "\", \"x\": " + ShapeStr({n, h, w, c}) +
      ", \"tiles\": " + ShapeStr({t * t, p.tiles(), c});
  {  // the definition, in double
    double scale = 0, err = 0;
    for (int64_t tile = 0; tile < p.tiles(); ++tile) {
      const int64_t j = tile % p.tiles_w, i = (tile / p.tiles_w) % p.tiles_h;
      const int64_t nn = tile / (p.tiles_w * p.tiles_h);
      for (int pp = 0; pp < t; ++pp) for (int q = 0; q < t; ++q) for (int64_t ch = 0; ch < c; ++ch) {
        double acc = 0;
        for (int a = 0; a < sw; ++a) for (int b = 0; b < sw; ++b) {
          const int64_t r = i * p.stride - p.pad + a, k = j * p.stride - p.pad + b;
          if (r < 0 || r >= h || k < 0 || k >= w) continue;
          acc += m[pp * sw + a] * m[q * sw + b] * double(x[((nn * h + r) * w + k) * c + ch]);
        }
        scale = std::max(scale, std::fabs(acc));
        err = std::max(err, std::fabs(acc - double(tiles[(pp * t + q) * plane + tile * c + ch])));
      }
    }
    const bool pass = err <= rtol * std::max(scale, 1e-30);
    ok = ok && pass;
    body += ", \"cpu_vs_definition\": {\"max_abs_err\": " + Num(err) + ", \"scale\": " +
            Num(scale) + ", \"pass\": " + (pass ? "true" : "false") + "}";
  }
  {
    double lhs = 0, rhs = 0, mag = 0;
    for (size_t e = 0; e < v.size(); ++e) {
      lhs += double(tiles[e]) * double(v[e]);
      mag += std::fabs(double(tiles[e]) * double(v[e]));
    }
    for (size_t e = 0; e < x.size(); ++e) rhs += double(x[e]) * double(back[e]);
    const bool pass = std::fabs(lhs - rhs) <= rtol * std::max(mag, 1e-30);
    ok = ok && pass;
    body += ", \"adjoint_identity\": {\"lhs\": " + Num(lhs) + ", \"rhs\": " + Num(rhs) +
            ", \"pass\": " + (pass ? "true" : "false") + "}";
  }
  if (g_cpu_only) {
    body += std::string(", \"device\": \"cpu\", \"pass\": ") + (ok ? "true" : "false");
    EmitRecord(body, ok);
    return;
  }
  T *dx = ToDevice(x), *dv = ToDevice(v), *dtiles = ToDevice(tiles), *dback = ToDevice(back);
  auto to = [&] {
    const int err = sg2::LaunchWinogradToTilesCuda(stream, p, dx, dtiles);
    if (err) { std::fprintf(stderr, "launch: %s\n", sg2::CudaErrorString(err)); std::exit(2); }
  };
  auto from = [&] {
    const int err = sg2::LaunchWinogradFromTilesCuda(stream, p, dv, dback);
    if (err) { std::fprintf(stderr, "launch: %s\n", sg2::CudaErrorString(err)); std::exit(2); }
  };
  to();
  from();
  CUDA_CHECK(cudaStreamSynchronize(stream));
  std::vector<T> gtiles(tiles.size()), gback(back.size());
  CUDA_CHECK(cudaMemcpy(gtiles.data(), dtiles, gtiles.size() * sizeof(T), cudaMemcpyDeviceToHost));
  CUDA_CHECK(cudaMemcpy(gback.data(), dback, gback.size() * sizeof(T), cudaMemcpyDeviceToHost));
  int64_t differ_to = 0, differ_from = 0;
  for (size_t e = 0; e < tiles.size(); ++e) differ_to += gtiles[e] != tiles[e];
  for (size_t e = 0; e < back.size(); ++e) differ_from += gback[e] != back[e];
  ok = ok && differ_to == 0 && differ_from == 0;
  body += ", \"to_tiles_elements_differing\": " + std::to_string(differ_to) +
          ", \"from_tiles_elements_differing\": " + std::to_string(differ_from) +
          std::string(", \"pass\": ") + (ok ? "true" : "false");
  if (timed) {
    body += ", \"to_tiles_gpu_us\": " + Num(TimeUs(to, stream)) +
            ", \"from_tiles_gpu_us\": " + Num(TimeUs(from, stream));
  }
  EmitRecord(body, ok);
  cudaFree(dx); cudaFree(dv); cudaFree(dtiles); cudaFree(dback);
}

// Both transforms; channels below, at and between vector widths; one sample
// and several; square and not.
template <typename T>
void SmallWinogradCases(cudaStream_t s, std::mt19937* rng) {
  for (bool input : {true, false}) {
    RunWinograd<T>(s, rng, 2, 8, 12, 5, input, false, "c5");
    RunWinograd<T>(s, rng, 1, 4, 4, 16, input, false, "c16_one_tile");
    RunWinograd<T>(s, rng, 3, 16, 8, 37, input, false, "c37");
  }
}

// ---------------------------------------------------------------------------
// filtered_lrelu: the forward pass (compute mode, writing the sign record) and
// its gradient pass (read mode, the transposed configuration reading the CPU
// forward's record), CUDA launcher vs CPU functor. The records of the CPU and
// GPU forward passes are compared too: they may differ only where FMA
// contraction moves a pre-activation across 0 or the clamp, so at most a
// 1e-3 fraction of the codes (reported as sign_mismatch).

struct FlCase {
  int64_t n, c, h, w;
  int fu_taps, fd_taps;   // taps per axis (1: no filter)
  bool fu_2d, fd_2d;
  int up, down, px0, px1, py0, py1;
  float gain, slope, clamp;
  bool nchw, bias;
};

std::vector<float> FlFilter(int taps, bool two_d, std::mt19937* rng) {
  std::normal_distribution<float> d(0.f, 1.f);
  std::vector<float> f(two_d ? size_t(taps) * taps : size_t(taps));
  for (auto& v : f) v = d(*rng) / taps;
  if (taps == 1) f.assign(f.size(), 1.f);
  return f;
}

std::vector<float> FlReverse(const std::vector<float>& f) {
  return std::vector<float>(f.rbegin(), f.rend());  // 1-D and 2-D (both axes)
}

std::string FlAttrs(const FlCase& k, const sg2::FilteredLreluParams& p) {
  char buf[512];
  std::snprintf(buf, sizeof(buf),
                "\"x\": [%lld,%lld,%lld,%lld], \"format\": \"%s\", \"fu\": \"%d%s\", \"fd\": \"%d%s\", "
                "\"up\": %d, \"down\": %d, \"pad\": [%d,%d,%d,%d], \"gain\": %s, \"slope\": %s, "
                "\"clamp\": %s, \"bias\": %s, \"y\": [%lld,%lld]",
                (long long)k.n, (long long)(k.nchw ? k.c : k.h), (long long)(k.nchw ? k.h : k.w),
                (long long)(k.nchw ? k.w : k.c), k.nchw ? "NCHW" : "NHWC", k.fu_taps,
                k.fu_2d ? "x2d" : "sep", k.fd_taps, k.fd_2d ? "x2d" : "sep", k.up, k.down, k.px0, k.px1,
                k.py0, k.py1, Num(k.gain).c_str(), Num(k.slope).c_str(), Num(k.clamp).c_str(),
                k.bias ? "true" : "false", (long long)p.out_h, (long long)p.out_w);
  return buf;
}

template <typename T>
void RunFilteredLrelu(cudaStream_t stream, std::mt19937* rng, const FlCase& k, bool timed,
                      const char* label = "") {
  using D = typename Types<T>::Dev;
  sg2::FilteredLreluParams p;
  p.batch = k.n; p.channels = k.c; p.in_h = k.h; p.in_w = k.w;
  p.up = k.up; p.down = k.down;
  p.padx0 = k.px0; p.padx1 = k.px1; p.pady0 = k.py0; p.pady1 = k.py1;
  p.fuw = p.fuh = k.fu_taps; p.fdw = p.fdh = k.fd_taps;
  p.fu_2d = k.fu_2d; p.fd_2d = k.fd_2d;
  p.gain = k.gain; p.slope = k.slope; p.clamp = k.clamp;
  p.has_bias = k.bias; p.nchw = k.nchw;
  p.write_signs = sg2::FilteredLreluNeedsSigns(k.slope, k.clamp);
  if (!sg2::FilteredLreluFinalize(&p)) { std::fprintf(stderr, "bad filtered_lrelu case\n"); std::exit(2); }
  const sg2::FilteredLreluParams g = sg2::FilteredLreluTransposed(p);
  const int64_t xsz = k.n * k.c * k.h * k.w, ysz = k.n * k.c * p.out_h * p.out_w;
  const int64_t ssz = sg2::FilteredLreluPlanes(p) * p.sign_h * p.sign_row_bytes;
  auto x = RandomVec<T>(xsz, rng, 1.f);
  auto b = RandomVec<T>(k.c, rng, 0.5f);
  auto dy = RandomVec<T>(ysz, rng, 1.f);
  const auto fu = FlFilter(k.fu_taps, k.fu_2d, rng), fd = FlFilter(k.fd_taps, k.fd_2d, rng);
  const auto fu_r = FlReverse(fu), fd_r = FlReverse(fd);
  const T* bh = k.bias ? b.data() : nullptr;
  std::vector<T> ref(ysz), out(ysz), dref(xsz), dout(xsz);
  std::vector<uint8_t> sref(std::max<int64_t>(ssz, 1)), sout(std::max<int64_t>(ssz, 1));
  sg2::FilteredLreluCpu<T>(p, x.data(), fu.data(), fd.data(), bh, nullptr, ref.data(),
                           p.write_signs ? sref.data() : nullptr, ThreadFor);
  const uint8_t* rec = g.read_signs ? sref.data() : nullptr;
  sg2::FilteredLreluCpu<T>(g, dy.data(), fd_r.data(), fu_r.data(), static_cast<const T*>(nullptr), rec,
                           dref.data(), static_cast<uint8_t*>(nullptr), ThreadFor);
  std::vector<float> ref32, dref32;
  if constexpr (kIs16Bit<T>) {
    const auto x32 = ToFloatVec(x), b32 = ToFloatVec(b), dy32 = ToFloatVec(dy);
    ref32.resize(ysz);
    dref32.resize(xsz);
    std::vector<uint8_t> s32(std::max<int64_t>(ssz, 1));
    sg2::FilteredLreluCpu<float>(p, x32.data(), fu.data(), fd.data(), k.bias ? b32.data() : nullptr, nullptr,
                                 ref32.data(), p.write_signs ? s32.data() : nullptr, ThreadFor);
    // Same record as the 16-bit pass, so that both gradients see the same derivative.
    sg2::FilteredLreluCpu<float>(g, dy32.data(), fd_r.data(), fu_r.data(), static_cast<const float*>(nullptr),
                                 rec, dref32.data(), static_cast<uint8_t*>(nullptr), ThreadFor);
  }
  for (int pass = 0; pass < 2; ++pass) {
    std::string body = "\"op\": \"filtered_lrelu\", \"label\": \"" + std::string(label) + "\", \"mode\": \"" +
                       (pass == 0 ? "forward" : "grad") + "\", \"dtype\": \"" + Types<T>::kName + "\", " +
                       FlAttrs(k, p);
    const auto& r = pass == 0 ? ref : dref;
    const auto& r32 = pass == 0 ? ref32 : dref32;
    if (g_cpu_only) {
      bool ok = true;
      body += ", \"device\": \"cpu\"" + F32Fields(r, r32, &ok) + ", \"pass\": " + (ok ? "true" : "false");
      EmitRecord(body, ok);
      continue;
    }
    T* dx = ToDevice(pass == 0 ? x : dy);
    T* db = ToDevice(b);
    float* dfu = ToDevice(pass == 0 ? fu : fd_r);
    float* dfd = ToDevice(pass == 0 ? fd : fu_r);
    uint8_t* dsi = ToDevice(sref);
    uint8_t* dso = ToDevice(sout);
    auto& o = pass == 0 ? out : dout;
    T* dout_p = ToDevice(o);
    const sg2::FilteredLreluParams& q = pass == 0 ? p : g;
    auto launch = [&] {
      int err = sg2::LaunchFilteredLreluCuda<D>(
          stream, q, reinterpret_cast<const D*>(dx), dfu, dfd,
          pass == 0 && k.bias ? reinterpret_cast<const D*>(db) : nullptr,
          pass == 1 && g.read_signs ? dsi : nullptr, reinterpret_cast<D*>(dout_p),
          pass == 0 && p.write_signs ? dso : nullptr);
      if (err) { std::fprintf(stderr, "launch: %s\n", sg2::CudaErrorString(err)); std::exit(2); }
    };
    launch();
    CUDA_CHECK(cudaStreamSynchronize(stream));
    CUDA_CHECK(cudaMemcpy(o.data(), dout_p, o.size() * sizeof(T), cudaMemcpyDeviceToHost));
    Cmp cm = Compare(o, r);
    bool ok = cm.ok;
    body += ", \"max_abs_err\": " + Num(cm.max_abs) + ", \"max_rel_err\": " + Num(cm.max_rel) +
            ", \"ref_scale\": " + Num(cm.scale) + F32Fields(o, r32, &ok);
    if (pass == 0 && p.write_signs) {
      CUDA_CHECK(cudaMemcpy(sout.data(), dso, ssz, cudaMemcpyDeviceToHost));
      int64_t mism = 0;
      for (int64_t i = 0; i < ssz; ++i)
        for (int j = 0; j < 4; ++j) mism += ((sout[i] >> (2 * j)) & 3) != ((sref[i] >> (2 * j)) & 3);
      const double frac = ssz ? double(mism) / (4.0 * ssz) : 0.0;
      ok = ok && frac <= 1e-3;
      body += ", \"sign_mismatch\": " + Num(frac);
    }
    body += std::string(", \"pass\": ") + (ok ? "true" : "false");
    if (timed) {
      const double us = TimeUs(launch, stream);
      const double bytes = double((pass == 0 ? xsz + ysz : ysz + xsz) * sizeof(T) + ssz);
      body += ", \"gpu_us\": " + Num(us) + ", \"gbps\": " + Num(bytes / us / 1e3);
    }
    EmitRecord(body, ok);
    cudaFree(dx); cudaFree(db); cudaFree(dfu); cudaFree(dfd); cudaFree(dsi); cudaFree(dso); cudaFree(dout_p);
  }
}

template <typename T>
void SmallFilteredLreluCases(cudaStream_t s, std::mt19937* rng) {
  const float g = std::sqrt(2.f);
  for (bool nchw : {false, true}) {
    // n, c, h, w, fu taps, fd taps, fu 2d, fd 2d, up, down, px0, px1, py0, py1, gain, slope, clamp, nchw, bias
    RunFilteredLrelu<T>(s, rng, {2, 8, 9, 10, 12, 12, false, false, 2, 2, 11, 10, 11, 10, g, 0.2f, -1.f, nchw, true}, false, "up2_down2_sg3");
    RunFilteredLrelu<T>(s, rng, {2, 5, 7, 6, 24, 12, false, false, 4, 2, 21, 20, 20, 22, g, 0.2f, 0.7f, nchw, true}, false, "up4_down2_clamp");
    RunFilteredLrelu<T>(s, rng, {1, 3, 8, 7, 1, 1, false, false, 1, 1, 0, 0, 0, 0, 1.f, 1.f, 0.5f, nchw, true}, false, "1x1_clamp_only");
    RunFilteredLrelu<T>(s, rng, {2, 4, 8, 9, 12, 1, false, false, 2, 1, 6, 5, 5, 6, g, 0.f, -1.f, nchw, false}, false, "up2_relu");
    RunFilteredLrelu<T>(s, rng, {2, 4, 9, 8, 1, 12, false, false, 1, 2, 5, 6, 6, 5, g, 0.2f, -1.f, nchw, true}, false, "down2");
    RunFilteredLrelu<T>(s, rng, {1, 6, 7, 9, 5, 4, true, true, 2, 2, -1, 3, 2, -2, 1.3f, 0.3f, 1.5f, nchw, true}, false, "2d_filters_crop");
    RunFilteredLrelu<T>(s, rng, {1, 3, 6, 5, 7, 3, false, true, 3, 2, 4, 1, 3, 3, g, 0.2f, -1.f, nchw, true}, false, "up3_mixed");
    RunFilteredLrelu<T>(s, rng, {1, 2, 9, 8, 1, 1, false, false, 1, 2, -1, 0, 1, 2, g, 1.f, -1.f, nchw, true}, false, "down2_no_filter_linear");
    RunFilteredLrelu<T>(s, rng, {2, 33, 6, 7, 6, 6, false, false, 2, 2, 5, 5, 5, 5, g, 0.2f, 1.f, nchw, true}, false, "c33");
  }
}

// The CUDA kernel's tile code emulated on the host (EmulateFilteredLreluCudaOnHost:
// one block after another, one thread each) against the CPU functor, on `count`
// random configurations (sizes, up/down 1-4, 1-D/2-D filters of 1-13 taps, crops,
// clamp, slope, layouts, bias, forced smaller tiles): forward output and sign
// record, then the gradient pass reading the CPU record. Both compute each sum
// in the same order in the accumulation type, so outputs agree to the
// same-type tolerance and records bit for bit. No GPU needed: this is how the
// kernel's index math, tiling and record ownership are checked on machines
// without one. One summary record per dtype.
template <typename T>
void EmulatedFilteredLreluCases(std::mt19937* rng, int count) {
  using D = typename Types<T>::Dev;
  std::uniform_int_distribution<int> ri(0, 1 << 30);
  auto R = [&](int lo, int hi) { return lo + ri(*rng) % (hi - lo + 1); };
  int fails = 0;
  double worst = 0;
  int64_t rec_mismatch = 0;
  std::string first_fail;
  for (int idx = 0; idx < count; ++idx) {
    sg2::FilteredLreluParams p;
    do {
      p = sg2::FilteredLreluParams();
      p.batch = R(1, 2); p.channels = R(1, 9); p.in_h = R(1, 12); p.in_w = R(1, 40);
      p.up = R(1, 4); p.down = R(1, 4); p.nchw = R(0, 1);
      p.fu_2d = R(0, 1); p.fd_2d = R(0, 1);
      p.fuw = R(1, 13); p.fuh = p.fu_2d ? R(1, 9) : p.fuw;
      p.fdw = R(1, 13); p.fdh = p.fd_2d ? R(1, 9) : p.fdw;
      p.padx0 = R(-6, 12); p.padx1 = R(-6, 12); p.pady0 = R(-6, 12); p.pady1 = R(-6, 12);
      p.gain = 1.4f; p.slope = R(0, 3) == 0 ? 1.f : 0.2f; p.clamp = R(0, 1) ? 0.5f : -1.f;
      p.has_bias = R(0, 1);
      p.write_signs = sg2::FilteredLreluNeedsSigns(p.slope, p.clamp);
    } while (!sg2::FilteredLreluFinalize(&p));
    const int first_tile = R(0, 8);
    const sg2::FilteredLreluParams g = sg2::FilteredLreluTransposed(p);
    const int64_t xsz = p.batch * p.channels * p.in_h * p.in_w;
    const int64_t ysz = p.batch * p.channels * p.out_h * p.out_w;
    const int64_t ssz = sg2::FilteredLreluPlanes(p) * p.sign_h * p.sign_row_bytes;
    auto x = RandomVec<T>(xsz, rng, 1.f), b = RandomVec<T>(p.channels, rng, 0.5f), dy = RandomVec<T>(ysz, rng, 1.f);
    const auto fu = FlFilter(p.fuw, false, rng);
    std::vector<float> fu_full = p.fu_2d ? FlFilter(p.fuw * p.fuh, false, rng) : fu;
    fu_full.resize(p.fu_2d ? size_t(p.fuw) * p.fuh : size_t(p.fuw));
    std::vector<float> fd_full = FlFilter(p.fd_2d ? p.fdw * p.fdh : p.fdw, false, rng);
    const auto fu_r = FlReverse(fu_full), fd_r = FlReverse(fd_full);
    const T* bh = p.has_bias ? b.data() : nullptr;
    std::vector<T> yc(ysz), ye(ysz), dxc(xsz), dxe(xsz);
    // Different fill bytes: a record byte that neither side writes shows up.
    std::vector<uint8_t> sc(ssz + 1, 0xAB), se(ssz + 1, 0xCD);
    sg2::FilteredLreluCpu<T>(p, x.data(), fu_full.data(), fd_full.data(), bh, nullptr, yc.data(),
                             p.write_signs ? sc.data() : nullptr, ThreadFor);
    int err = sg2::EmulateFilteredLreluCudaOnHost<D>(
        p, first_tile, reinterpret_cast<const D*>(x.data()), fu_full.data(), fd_full.data(),
        reinterpret_cast<const D*>(bh), nullptr, reinterpret_cast<D*>(ye.data()),
        p.write_signs ? se.data() : nullptr);
    const uint8_t* rec = g.read_signs ? sc.data() : nullptr;
    sg2::FilteredLreluCpu<T>(g, dy.data(), fd_r.data(), fu_r.data(), static_cast<const T*>(nullptr), rec,
                             dxc.data(), static_cast<uint8_t*>(nullptr), ThreadFor);
    err = err ? err : sg2::EmulateFilteredLreluCudaOnHost<D>(
        g, first_tile, reinterpret_cast<const D*>(dy.data()), fd_r.data(), fu_r.data(), nullptr, rec,
        reinterpret_cast<D*>(dxe.data()), nullptr);
    const Cmp cy = Compare(ye, yc), cx = Compare(dxe, dxc);
    int64_t mism = 0;
    for (int64_t i = 0; i < ssz; ++i) mism += sc[i] != se[i];
    const bool ok = err == 0 && cy.ok && cx.ok && mism == 0 && g.out_h == p.in_h && g.out_w == p.in_w;
    worst = std::max({worst, cy.max_rel, cx.max_rel});
    rec_mismatch += mism;
    if (!ok) {
      ++fails;
      if (first_fail.empty()) {
        char buf[400];
        std::snprintf(buf, sizeof(buf),
                      "case %d: N%lld C%lld %lldx%lld up %d down %d fu %dx%d%s fd %dx%d%s pad %d %d %d %d "
                      "slope %g clamp %g %s bias %d tile %d err %d", idx, (long long)p.batch,
                      (long long)p.channels, (long long)p.in_h, (long long)p.in_w, p.up, p.down, p.fuh, p.fuw,
                      p.fu_2d ? " 2d" : "", p.fdh, p.fdw, p.fd_2d ? " 2d" : "", p.padx0, p.padx1, p.pady0,
                      p.pady1, p.slope, p.clamp, p.nchw ? "NCHW" : "NHWC", p.has_bias, first_tile, err);
        first_fail = buf;
      }
    }
  }
  const bool ok = fails == 0;
  EmitRecord("\"op\": \"filtered_lrelu_cuda_emulated\", \"dtype\": \"" + std::string(Types<T>::kName) +
             "\", \"device\": \"cpu\", \"cases\": " + std::to_string(count) + ", \"failed\": " +
             std::to_string(fails) + ", \"max_rel_err\": " + Num(worst) + ", \"record_mismatch_bytes\": " +
             std::to_string(rec_mismatch) + ", \"first_failure\": \"" + first_fail + "\", \"pass\": " +
             (ok ? "true" : "false"), ok);
}

// StyleGAN3-sized layers (timed): 12-tap separable Kaiser-like filters, 2x up
// and down at a layer's 10-pixel margin (padding from stylegan3.md 2.2).
template <typename T>
void TimedFilteredLreluCases(cudaStream_t s, std::mt19937* rng) {
  const float g = std::sqrt(2.f);
  RunFilteredLrelu<T>(s, rng, {4, 256, 148, 148, 12, 12, false, false, 2, 2, 11, 10, 11, 10, g, 0.2f, 256.f, false, true}, true, "sg3_148_c256");
  RunFilteredLrelu<T>(s, rng, {4, 32, 1044, 1044, 12, 12, false, false, 2, 2, 11, 10, 11, 10, g, 0.2f, 256.f, false, true}, true, "sg3_1044_c32");
}

int Finish() {
  std::printf("\n  ],\n  \"all_pass\": %s\n}\n", g_all_ok ? "true" : "false");
  return g_all_ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--cpu-only") == 0) {
      g_cpu_only = true;
    } else {
      std::fprintf(stderr, "usage: %s [--cpu-only]\n", argv[0]);
      return 2;
    }
  }
  std::mt19937 rng(1234);
  if (g_cpu_only) {
    // Host-side expectations only: the 16-bit CPU functors against float32.
    cudaStream_t none = nullptr;
    std::printf("{\n  \"device\": \"cpu\",\n  \"mode\": \"cpu_only\",\n  \"cases\": [\n");
    SmallBiasActCases<__half>(none, &rng);
    SmallBiasActCases<sg2::BFloat16>(none, &rng);
    SmallChannelScaleCases<__half>(none, &rng);
    SmallChannelScaleCases<sg2::BFloat16>(none, &rng);
    SmallScaleBiasActCases<float>(none, &rng);
    SmallScaleBiasActCases<double>(none, &rng);
    SmallScaleBiasActCases<__half>(none, &rng);
    SmallScaleBiasActCases<sg2::BFloat16>(none, &rng);
    SmallUpFirDnCases<__half>(none, &rng);
    SmallUpFirDnCases<sg2::BFloat16>(none, &rng);
    SmallAffineCases(none, &rng);
    SmallWinogradCases<float>(none, &rng);
    SmallWinogradCases<double>(none, &rng);
    SmallFilteredLreluCases<__half>(none, &rng);
    SmallFilteredLreluCases<sg2::BFloat16>(none, &rng);
    EmulatedFilteredLreluCases<float>(&rng, 400);
    EmulatedFilteredLreluCases<double>(&rng, 100);
    EmulatedFilteredLreluCases<__half>(&rng, 100);
    EmulatedFilteredLreluCases<sg2::BFloat16>(&rng, 100);
    return Finish();
  }
  cudaDeviceProp prop;
  CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  cudaStream_t s;
  CUDA_CHECK(cudaStreamCreate(&s));
  std::printf("{\n  \"device\": \"%s\",\n  \"cc\": \"%d.%d\",\n  \"mode\": \"gpu\",\n  \"cases\": [\n",
              prop.name, prop.major, prop.minor);

  SmallBiasActCases<float>(s, &rng);
  SmallBiasActCases<double>(s, &rng);
  SmallBiasActCases<__half>(s, &rng);
  SmallBiasActCases<sg2::BFloat16>(s, &rng);
  SmallChannelScaleCases<float>(s, &rng);
  SmallChannelScaleCases<double>(s, &rng);
  SmallChannelScaleCases<__half>(s, &rng);
  SmallChannelScaleCases<sg2::BFloat16>(s, &rng);
  SmallScaleBiasActCases<float>(s, &rng);
  SmallScaleBiasActCases<double>(s, &rng);
  SmallScaleBiasActCases<__half>(s, &rng);
  SmallScaleBiasActCases<sg2::BFloat16>(s, &rng);
  SmallUpFirDnCases<float>(s, &rng);
  SmallUpFirDnCases<double>(s, &rng);
  SmallUpFirDnCases<__half>(s, &rng);
  SmallUpFirDnCases<sg2::BFloat16>(s, &rng);
  SmallAffineCases(s, &rng);
  SmallWinogradCases<float>(s, &rng);
  SmallWinogradCases<double>(s, &rng);
  SmallFilteredLreluCases<float>(s, &rng);
  SmallFilteredLreluCases<double>(s, &rng);
  SmallFilteredLreluCases<__half>(s, &rng);
  SmallFilteredLreluCases<sg2::BFloat16>(s, &rng);

  // StyleGAN-sized cases (timed); SG2_HARNESS_QUICK=1 skips them (e.g. under
  // compute-sanitizer).
  const char* quick = std::getenv("SG2_HARNESS_QUICK");
  if (quick != nullptr && quick[0] == '1') {
    CUDA_CHECK(cudaStreamDestroy(s));
    return Finish();
  }
  const float g = std::sqrt(2.f);
  RunBiasAct<float>(s, &rng, {8, 64, 64, 256}, 3, true, Act::kLrelu, 0.2f, g, -1.f, 0, true);
  RunBiasAct<float>(s, &rng, {8, 64, 64, 256}, 3, true, Act::kLrelu, 0.2f, g, -1.f, 1, true);
  RunChannelScale<float>(s, &rng, 32, 64 * 64, 256, 0, true, true);
  RunChannelScale<float>(s, &rng, 32, 64 * 64, 256, 1, true, true);
  RunChannelSum<float>(s, &rng, 32 * 64 * 64, 256, true);
  RunBiasAct<float>(s, &rng, {8, 64, 64, 256}, 3, true, Act::kLrelu, 0.2f, g, 256.f, 0, true);
  RunBiasAct<float>(s, &rng, {8, 256, 64, 64}, 1, true, Act::kLrelu, 0.2f, g, -1.f, 0, true);
  for (bool nchw : {false, true}) {
    // upsample2d 2x, 4x4 filter: pad (2, 1).
    RunUpFirDn<float>(s, &rng, 8, 256, 32, 32, 4, 4, 2, 2, 1, 1, 2, 1, 2, 1, nchw, true, "up2x_4x4");
    // Separable [1,3,3,1] as two passes: [1,4] along x then [4,1] along y.
    RunUpFirDn<float>(s, &rng, 8, 256, 32, 32, 1, 4, 2, 1, 1, 1, 2, 1, 0, 0, nchw, true, "up2x_pass_x");
    RunUpFirDn<float>(s, &rng, 8, 256, 32, 64, 4, 1, 1, 2, 1, 1, 0, 0, 2, 1, nchw, true, "up2x_pass_y");
    // downsample2d 2x, 4x4 filter: pad (1, 1).
    RunUpFirDn<float>(s, &rng, 8, 256, 32, 32, 4, 4, 1, 1, 2, 2, 1, 1, 1, 1, nchw, true, "down2x_4x4");
    RunUpFirDn<float>(s, &rng, 8, 256, 64, 64, 4, 4, 1, 1, 2, 2, 1, 1, 1, 1, nchw, true, "down2x_4x4");
    RunUpFirDn<float>(s, &rng, 8, 256, 64, 64, 1, 4, 1, 1, 2, 1, 1, 1, 0, 0, nchw, true, "down2x_pass_x");
    RunUpFirDn<float>(s, &rng, 8, 256, 64, 32, 4, 1, 1, 1, 1, 2, 0, 0, 1, 1, nchw, true, "down2x_pass_y");
  }
  TimedHalfCases<__half>(s, &rng);
  TimedHalfCases<sg2::BFloat16>(s, &rng);
  // ADA's geometric resampling at 256x256 RGB, batch 32: output 2 (256 + 6),
  // sym6 taps, the largest margins, rotations of any angle, scales 2^+-0.3.
  RunAffine(s, &rng, 32, 256, 256, 3, 524, 524, 12, {255, 255, 255, 255}, true, 0.8, 1.25,
            0, false, true, "ada_256_rgb");
  // Winograd's transforms at c128_1ch's 32x32x128 (batch 32).
  RunWinograd<float>(s, &rng, 32, 32, 32, 128, true, true, "c128_32x32_input");
  RunWinograd<float>(s, &rng, 32, 32, 32, 128, false, true, "c128_32x32_output");
  TimedFilteredLreluCases<float>(s, &rng);
  TimedFilteredLreluCases<__half>(s, &rng);
  TimedFilteredLreluCases<sg2::BFloat16>(s, &rng);
  CUDA_CHECK(cudaStreamDestroy(s));
  return Finish();
}
