// Attention of query rows over the paged fp16 KV cache: one thread block per
// (row, head), the context walked page by page with an online softmax (the
// CPU backend's algorithm: tile max, rescale, exp weights, value
// accumulation). Each row carries its own context length, so a verify block
// of several rows of one session is causal inside the block (row i sees
// positions < n_ctx_i) and decode is the one-row case of the same kernel. The
// float order per (row, head) is fixed: scores by a fixed lane split and
// shuffle tree, weights summed in token order, values accumulated per
// dimension in token order.
#include <cuda_fp16.h>

#include "kernels/cuda/launch.h"

namespace tandem::kernels::cuda::launch {
namespace {

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
constexpr int kMaxPageTokens = 256;
constexpr int kMaxHeadDim = 256;
constexpr int kDimsPerThread = kMaxHeadDim / kThreads;

__device__ float Half(const uint16_t h) { return __half2float(__ushort_as_half(h)); }

// Every loop below keeps the float order of the first version (which the
// header describes) and only changes how the work is spread and how many
// loads are in flight: that version walked the tokens with one dependent
// KV load per step and recomputed each weight's expf in all 128 threads,
// and took 154 us per layer at 512 tokens of context on the H200 (ncu), as
// long as the layer's seven weight products together.
constexpr int kTokensInFlight = 8;  // value rows loaded ahead per thread
constexpr int kKeysPerWarp = 4;     // key rows a warp scores at once
constexpr int kMaxLaneDims = kMaxHeadDim / 32;

__global__ void __launch_bounds__(kThreads)
AttentionKernel(const float* __restrict__ q, int64_t ld_q, const int32_t* __restrict__ row_desc,
                const int32_t* __restrict__ pages, const uint16_t* __restrict__ kv_base, size_t page_elems,
                size_t layer_off, size_t v_off, int kv_dim, int page_tokens, int n_head, int n_head_kv,
                int head_dim, float scale, float* __restrict__ out, int64_t ld_out) {
  __shared__ float s[kMaxPageTokens];   // scores, then weights exp(s - m)
  __shared__ float qs[kMaxHeadDim];
  __shared__ float warp_max[kWarps];
  __shared__ float l_shared;
  const int64_t r = blockIdx.x / n_head;
  const int h = static_cast<int>(blockIdx.x % n_head);
  const int g = h / (n_head / n_head_kv);
  const int32_t* table = pages + row_desc[2 * r];
  const int n_ctx = row_desc[2 * r + 1];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int lane_dims = (head_dim + 31) / 32;
  for (int d = threadIdx.x; d < head_dim; d += kThreads) qs[d] = q[r * ld_q + static_cast<int64_t>(h) * head_dim + d];
  __syncthreads();
  float acc[kDimsPerThread];
#pragma unroll
  for (int k = 0; k < kDimsPerThread; ++k) acc[k] = 0.0f;
  float m = -INFINITY, l = 0.0f;  // l is kept by thread 0 only
  for (int t0 = 0, p = 0; t0 < n_ctx; t0 += page_tokens, ++p) {
    const int n = min(page_tokens, n_ctx - t0);
    const uint16_t* page = kv_base + static_cast<size_t>(table[p]) * page_elems;
    const uint16_t* kp = page + layer_off + static_cast<size_t>(g) * head_dim;
    const uint16_t* vp = page + layer_off + v_off + static_cast<size_t>(g) * head_dim;
    // Scores: a warp takes kKeysPerWarp keys at a time, all their loads
    // issued before the dot products; each dot is lanes over j in order,
    // then the shuffle tree.
    for (int tb = warp * kKeysPerWarp; tb < n; tb += kWarps * kKeysPerWarp) {
      uint16_t kh[kKeysPerWarp][kMaxLaneDims];
#pragma unroll
      for (int u = 0; u < kKeysPerWarp; ++u) {
        const uint16_t* kt = kp + static_cast<size_t>(tb + u) * kv_dim;
#pragma unroll
        for (int i = 0; i < kMaxLaneDims; ++i) {
          const int j = lane + 32 * i;
          kh[u][i] = (tb + u < n && i < lane_dims && j < head_dim) ? kt[j] : uint16_t{0};
        }
      }
#pragma unroll
      for (int u = 0; u < kKeysPerWarp; ++u) {
        float d = 0.0f;
#pragma unroll
        for (int i = 0; i < kMaxLaneDims; ++i) {
          const int j = lane + 32 * i;
          if (i < lane_dims && j < head_dim) d = __fmaf_rn(qs[j], Half(kh[u][i]), d);
        }
#pragma unroll
        for (int off = 16; off > 0; off /= 2) d = __fadd_rn(d, __shfl_xor_sync(0xffffffffu, d, off));
        if (lane == 0 && tb + u < n) s[tb + u] = __fmul_rn(d, scale);
      }
    }
    __syncthreads();
    // The tile max (fmaxf is exact, so any order gives the same value).
    float tmax = -INFINITY;
    for (int t = threadIdx.x; t < n; t += kThreads) tmax = fmaxf(tmax, s[t]);
#pragma unroll
    for (int off = 16; off > 0; off /= 2) tmax = fmaxf(tmax, __shfl_xor_sync(0xffffffffu, tmax, off));
    if (lane == 0) warp_max[warp] = tmax;
    __syncthreads();
    float tile_max = warp_max[0];
#pragma unroll
    for (int w = 1; w < kWarps; ++w) tile_max = fmaxf(tile_max, warp_max[w]);
    const float new_m = fmaxf(m, tile_max);
    const float c = m == -INFINITY ? 0.0f : expf(__fsub_rn(m, new_m));
#pragma unroll
    for (int k = 0; k < kDimsPerThread; ++k) acc[k] = __fmul_rn(acc[k], c);
    m = new_m;
    // Each weight computed once (thread t), then used by all.
    for (int t = threadIdx.x; t < n; t += kThreads) s[t] = expf(__fsub_rn(s[t], m));
    __syncthreads();
    if (threadIdx.x == 0) {
      l = __fmul_rn(l, c);
      for (int t = 0; t < n; ++t) l = __fadd_rn(l, s[t]);  // token order
    }
    // Values: per dimension in token order, kTokensInFlight rows loaded ahead.
    int t = 0;
    for (; t + kTokensInFlight <= n; t += kTokensInFlight) {
      float vv[kTokensInFlight][kDimsPerThread];
#pragma unroll
      for (int u = 0; u < kTokensInFlight; ++u) {
        const uint16_t* vt = vp + static_cast<size_t>(t + u) * kv_dim;
#pragma unroll
        for (int k = 0; k < kDimsPerThread; ++k) {
          const int d = threadIdx.x + k * kThreads;
          vv[u][k] = d < head_dim ? Half(vt[d]) : 0.0f;
        }
      }
#pragma unroll
      for (int u = 0; u < kTokensInFlight; ++u) {
        const float w = s[t + u];
#pragma unroll
        for (int k = 0; k < kDimsPerThread; ++k) {
          if (threadIdx.x + k * kThreads < head_dim) acc[k] = __fmaf_rn(w, vv[u][k], acc[k]);
        }
      }
    }
    for (; t < n; ++t) {
      const float w = s[t];
      const uint16_t* vt = vp + static_cast<size_t>(t) * kv_dim;
#pragma unroll
      for (int k = 0; k < kDimsPerThread; ++k) {
        const int d = threadIdx.x + k * kThreads;
        if (d < head_dim) acc[k] = __fmaf_rn(w, Half(vt[d]), acc[k]);
      }
    }
    __syncthreads();  // s is overwritten by the next page
  }
  if (threadIdx.x == 0) l_shared = l;
  __syncthreads();
  const float inv = __fdiv_rn(1.0f, l_shared);
#pragma unroll
  for (int k = 0; k < kDimsPerThread; ++k) {
    const int d = threadIdx.x + k * kThreads;
    if (d < head_dim) out[r * ld_out + static_cast<int64_t>(h) * head_dim + d] = __fmul_rn(acc[k], inv);
  }
}

}  // namespace

cudaError_t Attention(const float* q, int64_t ld_q, int64_t n_rows, const int32_t* row_desc, const int32_t* pages,
                      const uint16_t* kv_base, size_t page_elems, size_t layer_off, size_t v_off, int kv_dim,
                      int page_tokens, int n_head, int n_head_kv, int head_dim, float scale, float* out,
                      int64_t ld_out, cudaStream_t stream) {
  if (head_dim > kMaxHeadDim || page_tokens > kMaxPageTokens || n_head_kv <= 0 || n_head % n_head_kv != 0) {
    return cudaErrorInvalidValue;
  }
  if (n_rows == 0) return cudaSuccess;
  AttentionKernel<<<static_cast<unsigned>(n_rows * n_head), kThreads, 0, stream>>>(
      q, ld_q, row_desc, pages, kv_base, page_elems, layer_off, v_off, kv_dim, page_tokens, n_head, n_head_kv,
      head_dim, scale, out, ld_out);
  return cudaGetLastError();
}

}  // namespace tandem::kernels::cuda::launch
