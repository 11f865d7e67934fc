// Attention inner loops over fp16 KV pages, with an AVX2/F16C/FMA variant
// chosen at run time and a portable scalar fallback (the reference).
#pragma once

#include <cstddef>
#include <cstdint>

namespace tandem::runtime::cpu {

// Where one head's keys and values live: token t of the session is slot
// t % page_tokens of page pages[t / page_tokens]; its key is at
// kv_base + page * page_elems + k_offset + slot * kv_dim (head_dim halves),
// its value at the same place with v_offset.
struct HeadKv {
  const uint16_t* kv_base;
  size_t page_elems;
  size_t k_offset;
  size_t v_offset;
  int kv_dim;
  int page_tokens;
  const int32_t* pages;
  int n_ctx;
};

// out[head_dim] = softmax(scale * q . K^T) V, streaming over pages with an
// online softmax so no score buffer is needed. n_ctx >= 1.
void AttendHead(const float* q, int head_dim, float scale, const HeadKv& kv, float* out);
void AttendHeadScalar(const float* q, int head_dim, float scale, const HeadKv& kv, float* out);

// One query of AttendHeads: its row of q (head_dim floats), where the result
// goes, and how many tokens of the shared pages it sees (causal: each row of
// a prefill or verify block has its own).
struct HeadQuery {
  const float* q;
  float* out;
  int n_ctx;
};

// AttendHead for several queries over the same head's pages (rows of one
// session, the query heads of one KV group): page by page, every query does
// exactly AttendHead's operations for that page, so each result is bitwise
// AttendHead's, but a page's keys and values come from memory once for all
// queries instead of once per query (at 8K tokens of context a prefill read
// each key ~n_rows x group times). kv.n_ctx is ignored. At most
// kMaxHeadQueries queries per call.
inline constexpr int kMaxHeadQueries = 48;
void AttendHeads(const HeadQuery* queries, int n_queries, int head_dim, float scale, const HeadKv& kv);

// y[i] = exp(x[i]) for n (a multiple of 8) floats, as the AVX2 attention
// computes its softmax weights (a Cephes polynomial, within 2 ulp of std::exp
// on [-87, 88], 0 below -87.3). Only on CPUs with AVX2 and FMA; exposed for
// its accuracy test.
void ExpAvx2Array(const float* x, int n, float* y);

// dst[i] = fp16(src[i]), round to nearest even.
void StoreFp16(const float* src, uint16_t* dst, int n);

}  // namespace tandem::runtime::cpu
