#include "runtime/backend/cpu/attention_kernels.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/cpu/fp16.h"
#include "kernels/cpu/isa.h"

namespace tandem::runtime::cpu {
namespace {

constexpr int kMaxPageTokens = 256;
constexpr int kMaxHeadDim = 256;

bool HasAvx2() {
  static const bool has = kernels::IsaSupported(kernels::Isa::kAvx2);  // AVX2 + FMA + F16C
  return has;
}

// Rescales the running accumulator for a new running maximum and returns the
// factor, the shared step of both variants' online softmax.
inline float Rescale(float old_max, float new_max) {
  return old_max == -std::numeric_limits<float>::infinity() ? 0.0f : std::exp(old_max - new_max);
}

__attribute__((target("avx2,fma,f16c"))) inline float Hsum(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v);
  __m128 hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
  return _mm_cvtss_f32(lo);
}

// One page of a query's online softmax: the scores of its n keys (q already
// scaled), the rescale of acc and l for the new running maximum m, then the
// weighted values. kNv > 0: head_dim == 8 * kNv known at compile time, so the
// accumulator lives in registers instead of going through memory (a
// store-to-load chain per key) for every key; the arithmetic per element is
// the same sequence of operations either way (bitwise equal). Shared by the
// one-query and the several-query variants, so both do exactly these steps.
template <int kNv>
__attribute__((target("avx2,fma,f16c"))) inline void AttendPageAvx2(const __m256* qv, int nv, const uint16_t* page,
                                                                     int n, const HeadKv& kv, __m256* acc, float& m,
                                                                     float& l) {
  if constexpr (kNv > 0) nv = kNv;
  float s[kMaxPageTokens];
  const uint16_t* k = page + kv.k_offset;
  float tile_max = -std::numeric_limits<float>::infinity();
  for (int t = 0; t < n; ++t, k += kv.kv_dim) {
    __m256 d = _mm256_setzero_ps();
    for (int j = 0; j < nv; ++j) {
      __m256 kf = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(k + 8 * j)));
      d = _mm256_fmadd_ps(qv[j], kf, d);
    }
    s[t] = Hsum(d);
    tile_max = std::max(tile_max, s[t]);
  }
  const float new_m = std::max(m, tile_max);
  const float c = Rescale(m, new_m);
  if (c != 1.0f) {
    const __m256 cv = _mm256_set1_ps(c);
    for (int j = 0; j < nv; ++j) acc[j] = _mm256_mul_ps(acc[j], cv);
    l *= c;
  }
  m = new_m;
  const uint16_t* v = page + kv.v_offset;
  for (int t = 0; t < n; ++t, v += kv.kv_dim) {
    const float w = std::exp(s[t] - m);
    l += w;
    const __m256 wv = _mm256_set1_ps(w);
    for (int j = 0; j < nv; ++j) {
      __m256 vf = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(v + 8 * j)));
      acc[j] = _mm256_fmadd_ps(wv, vf, acc[j]);
    }
  }
}

template <int kNv>
__attribute__((target("avx2,fma,f16c")))
void AttendHeadAvx2T(const float* q, int head_dim, float scale, const HeadKv& kv, float* out) {
  const int nv = kNv > 0 ? kNv : head_dim / 8;
  constexpr int kRegs = kNv > 0 ? kNv : kMaxHeadDim / 8;
  __m256 qv[kRegs];
  __m256 acc[kRegs];
  for (int j = 0; j < nv; ++j) {
    qv[j] = _mm256_mul_ps(_mm256_loadu_ps(q + 8 * j), _mm256_set1_ps(scale));
    acc[j] = _mm256_setzero_ps();
  }
  float m = -std::numeric_limits<float>::infinity();
  float l = 0.0f;
  for (int t0 = 0, p = 0; t0 < kv.n_ctx; t0 += kv.page_tokens, ++p) {
    const uint16_t* page = kv.kv_base + static_cast<size_t>(kv.pages[p]) * kv.page_elems;
    AttendPageAvx2<kNv>(qv, nv, page, std::min(kv.page_tokens, kv.n_ctx - t0), kv, acc, m, l);
  }
  const __m256 inv = _mm256_set1_ps(1.0f / l);
  for (int j = 0; j < nv; ++j) _mm256_storeu_ps(out + 8 * j, _mm256_mul_ps(acc[j], inv));
}

// AttendHeads' AVX2 variant: pages outside and queries inside; each query's
// accumulator, maximum and sum are parked in `state` between pages (a copy,
// which changes no value), so each page is read once for all queries.
template <int kNv>
__attribute__((target("avx2,fma,f16c")))
void AttendHeadsAvx2T(const HeadQuery* queries, int n_queries, int head_dim, float scale, const HeadKv& kv) {
  const int nv = kNv > 0 ? kNv : head_dim / 8;
  constexpr int kRegs = kNv > 0 ? kNv : kMaxHeadDim / 8;
  alignas(32) float acc_state[kMaxHeadQueries][kMaxHeadDim];
  float m_state[kMaxHeadQueries], l_state[kMaxHeadQueries];
  int max_ctx = 0;
  for (int i = 0; i < n_queries; ++i) {
    for (int j = 0; j < head_dim; ++j) acc_state[i][j] = 0.0f;
    m_state[i] = -std::numeric_limits<float>::infinity();
    l_state[i] = 0.0f;
    max_ctx = std::max(max_ctx, queries[i].n_ctx);
  }
  const __m256 scale_v = _mm256_set1_ps(scale);
  for (int t0 = 0, p = 0; t0 < max_ctx; t0 += kv.page_tokens, ++p) {
    const uint16_t* page = kv.kv_base + static_cast<size_t>(kv.pages[p]) * kv.page_elems;
    for (int i = 0; i < n_queries; ++i) {
      const int n = std::min(kv.page_tokens, queries[i].n_ctx - t0);
      if (n <= 0) continue;
      __m256 qv[kRegs];
      __m256 acc[kRegs];
      for (int j = 0; j < nv; ++j) {
        qv[j] = _mm256_mul_ps(_mm256_loadu_ps(queries[i].q + 8 * j), scale_v);
        acc[j] = _mm256_load_ps(acc_state[i] + 8 * j);
      }
      AttendPageAvx2<kNv>(qv, nv, page, n, kv, acc, m_state[i], l_state[i]);
      for (int j = 0; j < nv; ++j) _mm256_store_ps(acc_state[i] + 8 * j, acc[j]);
    }
  }
  for (int i = 0; i < n_queries; ++i) {
    const __m256 inv = _mm256_set1_ps(1.0f / l_state[i]);
    for (int j = 0; j < nv; ++j) {
      _mm256_storeu_ps(queries[i].out + 8 * j, _mm256_mul_ps(_mm256_load_ps(acc_state[i] + 8 * j), inv));
    }
  }
}

void AttendHeadAvx2(const float* q, int head_dim, float scale, const HeadKv& kv, float* out) {
  switch (head_dim) {
    case 64: AttendHeadAvx2T<8>(q, head_dim, scale, kv, out); break;
    case 128: AttendHeadAvx2T<16>(q, head_dim, scale, kv, out); break;
    default: AttendHeadAvx2T<0>(q, head_dim, scale, kv, out); break;
  }
}

__attribute__((target("avx2,fma,f16c"))) void StoreFp16Avx2(const float* src, uint16_t* dst, int n) {
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), h);
  }
  for (; i < n; ++i) dst[i] = kernels::Fp32ToFp16(src[i]);
}

}  // namespace

void AttendHeadScalar(const float* q, int head_dim, float scale, const HeadKv& kv, float* out) {
  float acc[kMaxHeadDim];
  float s[kMaxPageTokens];
  for (int j = 0; j < head_dim; ++j) acc[j] = 0.0f;
  float m = -std::numeric_limits<float>::infinity();
  float l = 0.0f;
  for (int t0 = 0, p = 0; t0 < kv.n_ctx; t0 += kv.page_tokens, ++p) {
    const int n = std::min(kv.page_tokens, kv.n_ctx - t0);
    const uint16_t* page = kv.kv_base + static_cast<size_t>(kv.pages[p]) * kv.page_elems;
    const uint16_t* k = page + kv.k_offset;
    float tile_max = -std::numeric_limits<float>::infinity();
    for (int t = 0; t < n; ++t, k += kv.kv_dim) {
      float d = 0.0f;
      for (int j = 0; j < head_dim; ++j) d += q[j] * kernels::Fp16ToFp32(k[j]);
      s[t] = d * scale;
      tile_max = std::max(tile_max, s[t]);
    }
    const float new_m = std::max(m, tile_max);
    const float c = Rescale(m, new_m);
    for (int j = 0; j < head_dim; ++j) acc[j] *= c;
    l *= c;
    m = new_m;
    const uint16_t* v = page + kv.v_offset;
    for (int t = 0; t < n; ++t, v += kv.kv_dim) {
      const float w = std::exp(s[t] - m);
      l += w;
      for (int j = 0; j < head_dim; ++j) acc[j] += w * kernels::Fp16ToFp32(v[j]);
    }
  }
  const float inv = 1.0f / l;
  for (int j = 0; j < head_dim; ++j) out[j] = acc[j] * inv;
}

void AttendHead(const float* q, int head_dim, float scale, const HeadKv& kv, float* out) {
  if (HasAvx2() && head_dim % 8 == 0 && head_dim <= kMaxHeadDim && kv.page_tokens <= kMaxPageTokens) {
    AttendHeadAvx2(q, head_dim, scale, kv, out);
  } else {
    AttendHeadScalar(q, head_dim, scale, kv, out);
  }
}

void AttendHeads(const HeadQuery* queries, int n_queries, int head_dim, float scale, const HeadKv& kv) {
  if (HasAvx2() && head_dim % 8 == 0 && head_dim <= kMaxHeadDim && kv.page_tokens <= kMaxPageTokens &&
      n_queries <= kMaxHeadQueries) {
    switch (head_dim) {
      case 64: AttendHeadsAvx2T<8>(queries, n_queries, head_dim, scale, kv); return;
      case 128: AttendHeadsAvx2T<16>(queries, n_queries, head_dim, scale, kv); return;
      default: AttendHeadsAvx2T<0>(queries, n_queries, head_dim, scale, kv); return;
    }
  }
  for (int i = 0; i < n_queries; ++i) {  // the reference: one query at a time
    HeadKv one = kv;
    one.n_ctx = queries[i].n_ctx;
    AttendHead(queries[i].q, head_dim, scale, one, queries[i].out);
  }
}

void StoreFp16(const float* src, uint16_t* dst, int n) {
  if (HasAvx2()) {
    StoreFp16Avx2(src, dst, n);
  } else {
    for (int i = 0; i < n; ++i) dst[i] = kernels::Fp32ToFp16(src[i]);
  }
}

}  // namespace tandem::runtime::cpu
