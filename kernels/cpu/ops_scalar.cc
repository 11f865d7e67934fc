// Scalar reference versions of ops.h, and the dispatch.
#include <cmath>
#include <limits>

#include "kernels/cpu/fp16.h"
#include "kernels/cpu/ops.h"

namespace tandem::kernels {
namespace {

void RmsNormS(const float* x, const float* w, float* out, int64_t n, float eps) {
  float ss = 0.0f;
  for (int64_t i = 0; i < n; ++i) ss += x[i] * x[i];
  const float inv = 1.0f / std::sqrt(ss / static_cast<float>(n) + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * inv * w[i];
}

void SiluMulS(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void AddS(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void ScaleS(float* x, float s, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] *= s;
}

void SoftmaxS(float* x, int64_t n) {
  float mx = x[0];
  for (int64_t i = 1; i < n; ++i) mx = std::fmax(mx, x[i]);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  const float inv = 1.0f / sum;
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

float DotF32S(const float* a, const float* b, int64_t n) {
  float s = 0.0f;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

float DotF16S(const uint16_t* a, const float* b, int64_t n) {
  float s = 0.0f;
  for (int64_t i = 0; i < n; ++i) s += Fp16ToFp32(a[i]) * b[i];
  return s;
}

void AxpyF32S(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

void AxpyF16S(float a, const uint16_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * Fp16ToFp32(x[i]);
}

void F32ToF16S(const float* src, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = Fp32ToFp16(src[i]);
}

int64_t FindNanOrPosInfS(const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if (!(x[i] < std::numeric_limits<float>::infinity())) return i;
  }
  return -1;
}

int64_t ArgmaxS(const float* x, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i) {
    if (x[i] > x[best]) best = i;
  }
  return best;
}

int64_t FindGreaterS(const float* x, int64_t n, float threshold) {
  for (int64_t i = 0; i < n; ++i) {
    if (x[i] > threshold) return i;
  }
  return n;
}

double ExpSumS(const float* x, float shift, float scale, float* out, int64_t n) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    out[i] = x[i] == -std::numeric_limits<float>::infinity() ? 0.0f : std::exp((x[i] - shift) * scale);
    sum += out[i];
  }
  return sum;
}

}  // namespace

const OpsTable& ScalarOps() {
  static const OpsTable t{RmsNormS, SiluMulS, AddS,     ScaleS,   SoftmaxS,         DotF32S, DotF16S,
                          AxpyF32S, AxpyF16S, F32ToF16S, FindNanOrPosInfS, ArgmaxS, FindGreaterS, ExpSumS};
  return t;
}

const OpsTable& OpsFor(Isa isa) {
  if (isa != Isa::kScalar && IsaSupported(Isa::kAvx2) && Avx2Ops() != nullptr) return *Avx2Ops();
  return ScalarOps();
}

const OpsTable& Ops() {
  static const OpsTable& t = OpsFor(ActiveIsa());
  return t;
}

}  // namespace tandem::kernels
