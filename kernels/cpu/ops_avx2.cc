// AVX2 + FMA + F16C versions of ops.h. The exponential is a polynomial
// (range reduction by ln 2, degree-6 Taylor on [-ln2/2, ln2/2]: relative error
// below 2e-7 for inputs that do not underflow), accurate enough to be
// indistinguishable from std::exp after softmax/SiLU in fp32.
#include "kernels/cpu/ops.h"

#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>

#include <cmath>

namespace tandem::kernels {
namespace {

inline float HSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float HMax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

inline __m256 Exp(__m256 x) {
  // Below -87.3 the result is flushed to 0 (so masked -inf logits give exactly
  // 0 after softmax); otherwise clamp so 2^k stays a normal float.
  const __m256 underflow = _mm256_cmp_ps(x, _mm256_set1_ps(-87.3f), _CMP_LT_OQ);
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
  const __m256 k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  // r = x - k ln2, with ln2 split in two for an exact first product.
  __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693145751953125f), x);
  r = _mm256_fnmadd_ps(k, _mm256_set1_ps(1.428606765330187045e-06f), r);
  __m256 p = _mm256_set1_ps(1.0f / 720.0f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
  return _mm256_andnot_ps(underflow, _mm256_mul_ps(p, _mm256_castsi256_ps(e)));
}

inline float ExpOne(float x) { return _mm256_cvtss_f32(Exp(_mm256_set1_ps(x))); }

inline float H2F(uint16_t h) { return _cvtsh_ss(h); }

inline __m256 LoadH(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

void RmsNormV(const float* x, const float* w, float* out, int64_t n, float eps) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 v0 = _mm256_loadu_ps(x + i), v1 = _mm256_loadu_ps(x + i + 8);
    a0 = _mm256_fmadd_ps(v0, v0, a0);
    a1 = _mm256_fmadd_ps(v1, v1, a1);
  }
  float ss = HSum(_mm256_add_ps(a0, a1));
  for (; i < n; ++i) ss += x[i] * x[i];
  const float inv = 1.0f / std::sqrt(ss / static_cast<float>(n) + eps);
  const __m256 vinv = _mm256_set1_ps(inv);
  for (i = 0; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vinv), _mm256_loadu_ps(w + i)));
  }
  for (; i < n; ++i) out[i] = x[i] * inv * w[i];
}

void SiluMulV(const float* gate, const float* up, float* out, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 neg = _mm256_set1_ps(-0.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 s = _mm256_div_ps(g, _mm256_add_ps(one, Exp(_mm256_xor_ps(g, neg))));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(s, _mm256_loadu_ps(up + i)));
  }
  for (; i < n; ++i) out[i] = gate[i] / (1.0f + ExpOne(-gate[i])) * up[i];
}

void AddV(const float* a, const float* b, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
  for (; i < n; ++i) out[i] = a[i] + b[i];
}

void ScaleV(float* x, float s, int64_t n) {
  const __m256 vs = _mm256_set1_ps(s);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), vs));
  for (; i < n; ++i) x[i] *= s;
}

void SoftmaxV(float* x, int64_t n) {
  __m256 vm = _mm256_set1_ps(-INFINITY);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(x + i));
  float mx = HMax(vm);
  for (; i < n; ++i) mx = std::fmax(mx, x[i]);
  const __m256 vmx = _mm256_set1_ps(mx);
  __m256 vs = _mm256_setzero_ps();
  for (i = 0; i + 8 <= n; i += 8) {
    const __m256 e = Exp(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmx));
    _mm256_storeu_ps(x + i, e);
    vs = _mm256_add_ps(vs, e);
  }
  float sum = HSum(vs);
  for (; i < n; ++i) {
    x[i] = ExpOne(x[i] - mx);
    sum += x[i];
  }
  ScaleV(x, 1.0f / sum, n);
}

float DotF32V(const float* a, const float* b, int64_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), a1);
  }
  for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), a0);
  float s = HSum(_mm256_add_ps(a0, a1));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

float DotF16V(const uint16_t* a, const float* b, int64_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    a0 = _mm256_fmadd_ps(LoadH(a + i), _mm256_loadu_ps(b + i), a0);
    a1 = _mm256_fmadd_ps(LoadH(a + i + 8), _mm256_loadu_ps(b + i + 8), a1);
  }
  for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(LoadH(a + i), _mm256_loadu_ps(b + i), a0);
  float s = HSum(_mm256_add_ps(a0, a1));
  for (; i < n; ++i) s += H2F(a[i]) * b[i];
  return s;
}

void AxpyF32V(float a, const float* x, float* y, int64_t n) {
  const __m256 va = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] += a * x[i];
}

void AxpyF16V(float a, const uint16_t* x, float* y, int64_t n) {
  const __m256 va = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, LoadH(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] += a * H2F(x[i]);
}

void F32ToF16V(const float* src, uint16_t* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
  }
  for (; i < n; ++i) dst[i] = _cvtss_sh(src[i], _MM_FROUND_TO_NEAREST_INT);
}

// 32 floats per step (one movemask for four compares); the exact index
// comes from the scalar loop over the step that has one.
int64_t FindNanOrPosInfV(const float* x, int64_t n) {
  const __m256 inf = _mm256_set1_ps(INFINITY);
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256 bad = _mm256_cmp_ps(_mm256_loadu_ps(x + i), inf, _CMP_NLT_UQ);  // NaN or +inf
    for (int k = 8; k < 32; k += 8) bad = _mm256_or_ps(bad, _mm256_cmp_ps(_mm256_loadu_ps(x + i + k), inf, _CMP_NLT_UQ));
    if (_mm256_movemask_ps(bad) != 0) break;
  }
  for (; i < n; ++i) {
    if (!(x[i] < INFINITY)) return i;
  }
  return -1;
}

// The maximum with four independent accumulators, then the first element
// equal to it (the scalar form's first maximum; -0.0 == +0.0 as there).
int64_t ArgmaxV(const float* x, int64_t n) {
  __m256 m[4] = {_mm256_set1_ps(-INFINITY), _mm256_set1_ps(-INFINITY), _mm256_set1_ps(-INFINITY),
                 _mm256_set1_ps(-INFINITY)};
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    for (int k = 0; k < 4; ++k) m[k] = _mm256_max_ps(m[k], _mm256_loadu_ps(x + i + 8 * k));
  }
  float mx = HMax(_mm256_max_ps(_mm256_max_ps(m[0], m[1]), _mm256_max_ps(m[2], m[3])));
  for (; i < n; ++i) mx = std::fmax(mx, x[i]);
  const __m256 vmx = _mm256_set1_ps(mx);
  for (i = 0; i + 8 <= n; i += 8) {
    const int hit = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i), vmx, _CMP_EQ_OQ));
    if (hit != 0) return i + __builtin_ctz(static_cast<unsigned>(hit));
  }
  for (; i < n; ++i) {
    if (x[i] == mx) return i;
  }
  return 0;  // unreachable for n >= 1 without NaN
}

// As FindNanOrPosInfV: 32 floats per step, the exact index from the scalar
// loop over the step that has one. Past the first k ids of a row almost no
// element beats the k-th best, so the scan runs at load speed.
int64_t FindGreaterV(const float* x, int64_t n, float threshold) {
  const __m256 t = _mm256_set1_ps(threshold);
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256 hit = _mm256_cmp_ps(_mm256_loadu_ps(x + i), t, _CMP_GT_OQ);
    for (int k = 8; k < 32; k += 8) hit = _mm256_or_ps(hit, _mm256_cmp_ps(_mm256_loadu_ps(x + i + k), t, _CMP_GT_OQ));
    if (_mm256_movemask_ps(hit) != 0) break;
  }
  for (; i < n; ++i) {
    if (x[i] > threshold) return i;
  }
  return n;
}

double ExpSumV(const float* x, float shift, float scale, float* out, int64_t n) {
  const __m256 vshift = _mm256_set1_ps(shift), vscale = _mm256_set1_ps(scale);
  __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = Exp(_mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vshift), vscale));
    _mm256_storeu_ps(out + i, e);
    s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
    s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
  }
  alignas(32) double lanes[4];
  _mm256_store_pd(lanes, _mm256_add_pd(s0, s1));
  double sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
  for (; i < n; ++i) {
    out[i] = ExpOne((x[i] - shift) * scale);
    sum += out[i];
  }
  return sum;
}

}  // namespace

const OpsTable* Avx2Ops() {
  static const OpsTable t{RmsNormV, SiluMulV, AddV,     ScaleV,   SoftmaxV,         DotF32V, DotF16V,
                          AxpyF32V, AxpyF16V, F32ToF16V, FindNanOrPosInfV, ArgmaxV, FindGreaterV, ExpSumV};
  return &t;
}

}  // namespace tandem::kernels
#else
namespace tandem::kernels {
const OpsTable* Avx2Ops() { return nullptr; }
}  // namespace tandem::kernels
#endif
