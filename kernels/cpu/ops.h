// Vector operations of a transformer forward pass besides the matrix
// products: normalization, the gated activation, residual adds, softmax and
// the dot/axpy pair attention is made of (fp32 or fp16 KV cache). Every
// function dispatches to the active ISA (see isa.h); OpsFor() exposes the
// per-level tables so tests can hold the fast versions against the scalar
// reference. All pointers may alias only where stated; n may be any size.
#pragma once

#include <cstdint>

#include "kernels/cpu/isa.h"

namespace tandem::kernels {

struct OpsTable {
  // out[i] = x[i] * w[i] / sqrt(mean(x^2) + eps). out may equal x.
  void (*rms_norm)(const float* x, const float* w, float* out, int64_t n, float eps);
  // out[i] = gate[i] * sigmoid(gate[i]) * up[i]. out may equal gate or up.
  void (*silu_mul)(const float* gate, const float* up, float* out, int64_t n);
  // out[i] = a[i] + b[i]. out may equal a or b.
  void (*add)(const float* a, const float* b, float* out, int64_t n);
  // x[i] *= s.
  void (*scale)(float* x, float s, int64_t n);
  // x = softmax(x) in place (max-subtracted; n >= 1).
  void (*softmax)(float* x, int64_t n);
  // sum a[i] * b[i].
  float (*dot_f32)(const float* a, const float* b, int64_t n);
  // sum half(a[i]) * b[i] (fp16 keys against an fp32 query).
  float (*dot_f16)(const uint16_t* a, const float* b, int64_t n);
  // y[i] += a * x[i].
  void (*axpy_f32)(float a, const float* x, float* y, int64_t n);
  // y[i] += a * half(x[i]) (fp16 values into an fp32 accumulator).
  void (*axpy_f16)(float a, const uint16_t* x, float* y, int64_t n);
  // dst[i] = half(src[i]), round to nearest even (writing an fp16 KV cache).
  void (*f32_to_f16)(const float* src, uint16_t* dst, int64_t n);
  // The sampler's passes over a vocabulary of logits:
  // the index of the first NaN or +inf in x, or -1;
  int64_t (*find_nan_or_pos_inf)(const float* x, int64_t n);
  // the index of the first maximum of x (n >= 1; x holds no NaN);
  int64_t (*argmax)(const float* x, int64_t n);
  // the index of the first x[i] > threshold, or n (x holds no NaN; the
  // top-k scan's filter, runtime/sampling/top_k.h);
  int64_t (*find_greater)(const float* x, int64_t n, float threshold);
  // out[i] = exp((x[i] - shift) * scale), exactly 0 where x[i] is -inf (and,
  // in the vector version, wherever the exponent is below -87.3, where
  // std::exp gives a denormal), and the sum of out accumulated in double.
  // out may equal x.
  double (*exp_sum)(const float* x, float shift, float scale, float* out, int64_t n);
};

const OpsTable& ScalarOps();
const OpsTable* Avx2Ops();  // nullptr when not built for x86-64
// The table for a level, falling back to the best lower level the CPU runs.
// (There is no separate AVX-512 table: these loops are memory-bound and the
// AVX2 versions already saturate them.)
const OpsTable& OpsFor(Isa isa);
// The table of ActiveIsa(), looked up once.
const OpsTable& Ops();

inline void RmsNorm(const float* x, const float* w, float* out, int64_t n, float eps) { Ops().rms_norm(x, w, out, n, eps); }
inline void SiluMul(const float* gate, const float* up, float* out, int64_t n) { Ops().silu_mul(gate, up, out, n); }
inline void Add(const float* a, const float* b, float* out, int64_t n) { Ops().add(a, b, out, n); }
inline void Scale(float* x, float s, int64_t n) { Ops().scale(x, s, n); }
inline void Softmax(float* x, int64_t n) { Ops().softmax(x, n); }
inline float DotF32(const float* a, const float* b, int64_t n) { return Ops().dot_f32(a, b, n); }
inline float DotF16(const uint16_t* a, const float* b, int64_t n) { return Ops().dot_f16(a, b, n); }
inline void AxpyF32(float a, const float* x, float* y, int64_t n) { Ops().axpy_f32(a, x, y, n); }
inline void AxpyF16(float a, const uint16_t* x, float* y, int64_t n) { Ops().axpy_f16(a, x, y, n); }
inline void F32ToF16(const float* src, uint16_t* dst, int64_t n) { Ops().f32_to_f16(src, dst, n); }
inline int64_t FindNanOrPosInf(const float* x, int64_t n) { return Ops().find_nan_or_pos_inf(x, n); }
inline int64_t Argmax(const float* x, int64_t n) { return Ops().argmax(x, n); }
inline int64_t FindGreater(const float* x, int64_t n, float threshold) { return Ops().find_greater(x, n, threshold); }
inline double ExpSum(const float* x, float shift, float scale, float* out, int64_t n) {
  return Ops().exp_sum(x, shift, scale, out, n);
}

}  // namespace tandem::kernels
