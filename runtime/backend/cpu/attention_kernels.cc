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

// Lane u: the sum of the 8 lanes of d[u] (a fixed tree: pairs, then quads,
// then the two halves), 9 instructions for 8 keys where a horizontal sum per
// key takes 6 each.
__attribute__((target("avx2,fma,f16c"))) inline __m256 SumLanes8(const __m256* d) {
  const __m256 a01 = _mm256_hadd_ps(d[0], d[1]);
  const __m256 a23 = _mm256_hadd_ps(d[2], d[3]);
  const __m256 a45 = _mm256_hadd_ps(d[4], d[5]);
  const __m256 a67 = _mm256_hadd_ps(d[6], d[7]);
  const __m256 b0 = _mm256_hadd_ps(a01, a23);  // d0..d3: lanes 0-3 sums | lanes 4-7 sums
  const __m256 b1 = _mm256_hadd_ps(a45, a67);
  return _mm256_add_ps(_mm256_permute2f128_ps(b0, b1, 0x20), _mm256_permute2f128_ps(b0, b1, 0x31));
}

// exp(x) for 8 lanes, Cephes' single-precision method: x = n ln2 + r with
// |r| <= ln2 / 2 (ln2 split in two for an exact n ln2), a degree-6
// polynomial for e^r, and 2^n put into the exponent. Within 2 ulp of
// std::exp on [-87, 88] (attention_kernels_test); below -87.3 the result is 0
// (std::exp gives a denormal there; a softmax weight that small is 0 either way).
__attribute__((target("avx2,fma"))) inline __m256 ExpAvx2(__m256 x) {
  const __m256 lo = _mm256_set1_ps(-87.3f);
  const __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
  x = _mm256_min_ps(_mm256_max_ps(x, lo), _mm256_set1_ps(88.3762626647949f));
  const __m256 fx = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
  const __m256 z = _mm256_mul_ps(x, x);
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_fmadd_ps(y, z, x);
  y = _mm256_add_ps(y, _mm256_set1_ps(1.0f));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(fx), _mm256_set1_epi32(127)), 23);
  return _mm256_andnot_ps(under, _mm256_mul_ps(y, _mm256_castsi256_ps(e)));
}

// Where a page's keys (or values) for one head are: token t's 8-float slice
// j, widened from fp16 (exact).
struct F16Rows {
  const uint16_t* base;
  size_t stride;  // elements between consecutive tokens
  // Token t's row alone (Load(0, j) reads its slice j).
  F16Rows Row(int t) const { return {base + static_cast<size_t>(t) * stride, stride}; }
  __attribute__((target("avx2,fma,f16c"))) __m256 Load(int t, int j) const {
    return _mm256_cvtph_ps(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(base + static_cast<size_t>(t) * stride + 8 * j)));
  }
};

// The same rows already widened to fp32: a page that several queries read
// is converted once (the conversion is exact, so every value is the same).
struct F32Rows {
  const float* base;
  size_t stride;
  F32Rows Row(int t) const { return {base + static_cast<size_t>(t) * stride, stride}; }
  __attribute__((target("avx2,fma,f16c"))) __m256 Load(int t, int j) const {
    return _mm256_loadu_ps(base + static_cast<size_t>(t) * stride + 8 * j);
  }
};

// Floats of the per-call fp32 copy of one page's keys (and as many for its
// values): 64 tokens of 128 dimensions, the default page of the 1.5B; a
// bigger page is read as fp16 by every query.
constexpr int kWidePageFloats = 64 * 128;

// One page of a query's online softmax: the scores of its n keys (q already
// scaled), the rescale of acc and l for the new running maximum m, then the
// weighted values. Scores go 8 keys at a time (8 independent dot products,
// one transposed sum; a last partial group repeats its last key in the
// missing lanes and drops them, so a key's score never depends on n), and the weights
// exp(s - m) 8 at a time (ExpAvx2). kNv > 0: head_dim == 8 * kNv known at
// compile time, so the accumulator lives in registers instead of going
// through memory (a store-to-load chain per key) for every key; the
// arithmetic per element is the same sequence of operations either way
// (bitwise equal). Shared by the one-query and the several-query variants,
// so both do exactly these steps.
template <int kNv, class Rows>
__attribute__((target("avx2,fma,f16c"))) inline void AttendPageAvx2(const __m256* qv, int nv, const Rows& keys,
                                                                     const Rows& values, int n, __m256* acc,
                                                                     float& m, float& l) {
  if constexpr (kNv > 0) nv = kNv;
  alignas(32) float s[kMaxPageTokens + 8];
  __m256 max8 = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  for (int t0 = 0; t0 < n; t0 += 8) {
    const int g = std::min(8, n - t0);
    // Lane u scores key t0 + u; a last partial group repeats its last key in
    // the missing lanes (dropped below), so every group runs the same loop.
    Rows key[8];
    _Pragma("GCC unroll 8") for (int u = 0; u < 8; ++u) key[u] = keys.Row(t0 + std::min(u, g - 1));
    __m256 d[8];
    _Pragma("GCC unroll 8") for (int u = 0; u < 8; ++u) d[u] = _mm256_setzero_ps();
    // Dimensions outside, keys inside: the 8 accumulators stay in registers
    // (keys outside would keep d[] in memory, a store-to-load chain per
    // FMA). Each d[u] adds its terms in dimension order.
    for (int j = 0; j < nv; ++j) {
      const __m256 q = qv[j];
      _Pragma("GCC unroll 8") for (int u = 0; u < 8; ++u) d[u] = _mm256_fmadd_ps(q, key[u].Load(0, j), d[u]);
    }
    const __m256 sc = SumLanes8(d);
    _mm256_store_ps(s + t0, sc);
    const __m256 valid = _mm256_castsi256_ps(
        _mm256_cmpgt_epi32(_mm256_set1_epi32(g), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)));
    max8 = _mm256_max_ps(max8, _mm256_blendv_ps(max8, sc, valid));
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, max8);
  float tile_max = lanes[0];
  for (int u = 1; u < 8; ++u) tile_max = std::max(tile_max, lanes[u]);
  const float new_m = std::max(m, tile_max);
  const float c = Rescale(m, new_m);
  if (c != 1.0f) {
    const __m256 cv = _mm256_set1_ps(c);
    for (int j = 0; j < nv; ++j) acc[j] = _mm256_mul_ps(acc[j], cv);
    l *= c;
  }
  m = new_m;
  const __m256 mv = _mm256_set1_ps(new_m);
  for (int t0 = 0; t0 < n; t0 += 8) _mm256_store_ps(s + t0, ExpAvx2(_mm256_sub_ps(_mm256_load_ps(s + t0), mv)));
  for (int t = 0; t < n; ++t) {
    const float w = s[t];
    l += w;
    const __m256 wv = _mm256_set1_ps(w);
    for (int j = 0; j < nv; ++j) acc[j] = _mm256_fmadd_ps(wv, values.Load(t, j), acc[j]);
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
    const F16Rows keys{page + kv.k_offset, static_cast<size_t>(kv.kv_dim)};
    const F16Rows values{page + kv.v_offset, static_cast<size_t>(kv.kv_dim)};
    AttendPageAvx2<kNv>(qv, nv, keys, values, std::min(kv.page_tokens, kv.n_ctx - t0), acc, m, l);
  }
  const __m256 inv = _mm256_set1_ps(1.0f / l);
  for (int j = 0; j < nv; ++j) _mm256_storeu_ps(out + 8 * j, _mm256_mul_ps(acc[j], inv));
}

// AttendHeads' AVX2 variant: pages outside and queries inside; each query's
// accumulator, maximum and sum are parked in `state` between pages (a copy,
// which changes no value), so each page is read once for all queries, and
// widened from fp16 once for all of them (without the copy every query
// converts every key and value again: a conversion per FMA, on the port the
// FMAs need).
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
  const bool widen = kv.page_tokens * head_dim <= kWidePageFloats;
  alignas(32) float wide_k[kWidePageFloats], wide_v[kWidePageFloats];
  for (int t0 = 0, p = 0; t0 < max_ctx; t0 += kv.page_tokens, ++p) {
    const uint16_t* page = kv.kv_base + static_cast<size_t>(kv.pages[p]) * kv.page_elems;
    const F16Rows keys{page + kv.k_offset, static_cast<size_t>(kv.kv_dim)};
    const F16Rows values{page + kv.v_offset, static_cast<size_t>(kv.kv_dim)};
    const int page_n = std::min(kv.page_tokens, max_ctx - t0);
    if (widen) {
      for (int t = 0; t < page_n; ++t) {
        for (int j = 0; j < nv; ++j) {
          _mm256_store_ps(wide_k + t * head_dim + 8 * j, keys.Load(t, j));
          _mm256_store_ps(wide_v + t * head_dim + 8 * j, values.Load(t, j));
        }
      }
    }
    const F32Rows wkeys{wide_k, static_cast<size_t>(head_dim)};
    const F32Rows wvalues{wide_v, static_cast<size_t>(head_dim)};
    for (int i = 0; i < n_queries; ++i) {
      const int n = std::min(kv.page_tokens, queries[i].n_ctx - t0);
      if (n <= 0) continue;
      __m256 qv[kRegs];
      __m256 acc[kRegs];
      for (int j = 0; j < nv; ++j) {
        qv[j] = _mm256_mul_ps(_mm256_loadu_ps(queries[i].q + 8 * j), scale_v);
        acc[j] = _mm256_load_ps(acc_state[i] + 8 * j);
      }
      if (widen) {
        AttendPageAvx2<kNv>(qv, nv, wkeys, wvalues, n, acc, m_state[i], l_state[i]);
      } else {
        AttendPageAvx2<kNv>(qv, nv, keys, values, n, acc, m_state[i], l_state[i]);
      }
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

__attribute__((target("avx2,fma"))) void ExpAvx2Array(const float* x, int n, float* y) {
  for (int i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, ExpAvx2(_mm256_loadu_ps(x + i)));
}

void StoreFp16(const float* src, uint16_t* dst, int n) {
  if (HasAvx2()) {
    StoreFp16Avx2(src, dst, n);
  } else {
    for (int i = 0; i < n; ++i) dst[i] = kernels::Fp32ToFp16(src[i]);
  }
}

}  // namespace tandem::runtime::cpu
