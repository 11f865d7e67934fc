// Attention over the paged fp16 KV cache, split over the context
// ("flash-decoding"): the CUDA backend's attention for every row count.
//
// Why: the one-block-per-(row, head) kernel (attention.cu) gives a decode
// step of Llama-3-8B only 32 blocks, each walking the context with a few
// loads in flight; on the H200 it took 108 us per layer at 512 tokens of
// context (ncu), half the decode step, at 0.4 % of DRAM bandwidth.
//
// Here a block serves one (row, KV head, head chunk, split): the query heads
// of a KV group (up to kGroupHeads of them) share every K/V load, the
// row's pages are cut into kSplits contiguous ranges with one block each,
// and each 32-token tile of K and V is copied to shared memory with all of
// its 16-byte loads issued at once. A second kernel combines the splits.
//
// Order of operations for output (row r, head h), all of it a function of
// the row's n_ctx and data only, never of the batch (batch-invariant, so
// greedy speculation equals target-only on the GPU):
//  - pages [0, ceil(n_ctx / page_tokens)) cut into kSplits ranges of
//    ceil(n_pages / kSplits) pages; split s walks its range in token order,
//    32-token tiles within a page;
//  - score of token t: lanes L take dimensions L, L + 32, ... (fused
//    multiply-add in that order), then a butterfly over the 32 lanes, times
//    the scale;
//  - per tile: m' = max(m, tile max), c = exp(m - m') (0 while m = -inf),
//    weights exp(s - m'), l = l * c + (butterfly sum of the weights),
//    acc[d] = acc[d] * c then the weights times V[t][d] in token order;
//  - combine: M = max over splits of m_s; in split order,
//    L = sum l_s * exp(m_s - M) and o[d] = sum acc_s[d] * exp(m_s - M);
//    out = o * (1 / L).
#include <cuda_fp16.h>

#include <algorithm>

#include "kernels/cuda/launch.h"

namespace tandem::kernels::cuda::launch {
namespace {

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
constexpr int kTile = 32;  // tokens per shared-memory tile: one per lane in the softmax
constexpr int kMaxHeadDim = 256;
constexpr int kGroupHeads = 8;  // query heads a block serves
constexpr int kDimsPerThread = kMaxHeadDim / kThreads;
constexpr int kChunksPerTile = kTile * kMaxHeadDim / 8;  // 16-byte chunks of K (or V) in a tile
constexpr int kLoadsPerThread = kChunksPerTile / kThreads;

__device__ float Half(const __half h) { return __half2float(h); }

__global__ void __launch_bounds__(kThreads)
AttentionPartialKernel(const float* __restrict__ q, int64_t ld_q, const int32_t* __restrict__ row_desc,
                       const int32_t* __restrict__ pages, const uint16_t* __restrict__ kv_base, size_t page_elems,
                       size_t layer_off, size_t v_off, int kv_dim, int page_tokens, int n_head, int n_head_kv,
                       int head_dim, float scale, int head_chunks, float* __restrict__ part,
                       float* __restrict__ part_ml) {
  __shared__ __align__(16) __half kt[kTile * kMaxHeadDim];
  __shared__ __align__(16) __half vt[kTile * kMaxHeadDim];
  __shared__ float qs[kGroupHeads * kMaxHeadDim];
  __shared__ float w[kGroupHeads][kTile];  // scores, then weights
  __shared__ float m_s[kGroupHeads], l_s[kGroupHeads], c_s[kGroupHeads];

  const int64_t r = blockIdx.y;
  const int s = static_cast<int>(blockIdx.x % kAttentionSplits);
  const int gc = static_cast<int>(blockIdx.x / kAttentionSplits);
  const int g = gc / head_chunks, chunk = gc % head_chunks;
  const int hpg = n_head / n_head_kv;
  const int i0 = chunk * kGroupHeads;
  const int nh = min(kGroupHeads, hpg - i0);  // heads of this block
  const int h0 = g * hpg + i0;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int32_t* table = pages + row_desc[2 * r];
  const int n_ctx = row_desc[2 * r + 1];
  const int n_pages = (n_ctx + page_tokens - 1) / page_tokens;
  const int per = (n_pages + kAttentionSplits - 1) / kAttentionSplits;
  const int p0 = s * per, p1 = min(n_pages, p0 + per);
  const int64_t part_row = (r * n_head + h0) * kAttentionSplits + s;  // + i * kAttentionSplits per head
  if (p0 >= p1) {  // an empty split: the combine skips it
    if (threadIdx.x < nh) {
      part_ml[2 * (part_row + threadIdx.x * kAttentionSplits)] = -INFINITY;
      part_ml[2 * (part_row + threadIdx.x * kAttentionSplits) + 1] = 0.0f;
    }
    return;
  }
  for (int k = threadIdx.x; k < nh * head_dim; k += kThreads) {
    qs[k] = q[r * ld_q + static_cast<int64_t>(h0) * head_dim + k];
  }
  if (threadIdx.x < kGroupHeads) {
    m_s[threadIdx.x] = -INFINITY;
    l_s[threadIdx.x] = 0.0f;
  }
  float acc[kGroupHeads][kDimsPerThread];
#pragma unroll
  for (int i = 0; i < kGroupHeads; ++i) {
#pragma unroll
    for (int k = 0; k < kDimsPerThread; ++k) acc[i][k] = 0.0f;
  }
  const int chunks_per_token = head_dim / 8;
  const int lane_dims = head_dim / 32;
  for (int p = p0; p < p1; ++p) {
    const uint16_t* page = kv_base + static_cast<size_t>(table[p]) * page_elems + layer_off +
                           static_cast<size_t>(g) * head_dim;
    const int in_page = min(page_tokens, n_ctx - p * page_tokens);
    for (int t0 = 0; t0 < in_page; t0 += kTile) {
      const int nt = min(kTile, in_page - t0);
      // The tile's K and V rows: every 16-byte load issued, then stored.
      const int chunks = nt * chunks_per_token;
      uint4 kr[kLoadsPerThread], vr[kLoadsPerThread];
#pragma unroll
      for (int u = 0; u < kLoadsPerThread; ++u) {
        const int idx = threadIdx.x + u * kThreads;
        if (idx < chunks) {
          const int tok = idx / chunks_per_token, ch = idx % chunks_per_token;
          const size_t off = static_cast<size_t>(t0 + tok) * kv_dim + static_cast<size_t>(ch) * 8;
          kr[u] = __ldg(reinterpret_cast<const uint4*>(page + off));
          vr[u] = __ldg(reinterpret_cast<const uint4*>(page + v_off + off));
        }
      }
      __syncthreads();  // the previous tile's readers are done with kt / vt / w
#pragma unroll
      for (int u = 0; u < kLoadsPerThread; ++u) {
        const int idx = threadIdx.x + u * kThreads;
        if (idx < chunks) {
          const int tok = idx / chunks_per_token, ch = idx % chunks_per_token;
          *reinterpret_cast<uint4*>(kt + tok * head_dim + ch * 8) = kr[u];
          *reinterpret_cast<uint4*>(vt + tok * head_dim + ch * 8) = vr[u];
        }
      }
      __syncthreads();
      // Scores: a warp per (head, token).
      for (int task = warp; task < nh * nt; task += kWarps) {
        const int i = task / nt, t = task % nt;
        float d = 0.0f;
        for (int jj = 0; jj < lane_dims; ++jj) {
          const int j = lane + 32 * jj;
          d = __fmaf_rn(qs[i * head_dim + j], Half(kt[t * head_dim + j]), d);
        }
#pragma unroll
        for (int off = 16; off > 0; off /= 2) d = __fadd_rn(d, __shfl_xor_sync(0xffffffffu, d, off));
        if (lane == 0) w[i][t] = __fmul_rn(d, scale);
      }
      __syncthreads();
      // Online softmax: a warp per head, a lane per token.
      for (int i = warp; i < nh; i += kWarps) {
        const float sc = lane < nt ? w[i][lane] : -INFINITY;
        float tmax = sc;
#pragma unroll
        for (int off = 16; off > 0; off /= 2) tmax = fmaxf(tmax, __shfl_xor_sync(0xffffffffu, tmax, off));
        const float m_old = m_s[i];
        const float m_new = fmaxf(m_old, tmax);
        const float c = m_old == -INFINITY ? 0.0f : expf(__fsub_rn(m_old, m_new));
        const float e = lane < nt ? expf(__fsub_rn(sc, m_new)) : 0.0f;
        float sum = e;
#pragma unroll
        for (int off = 16; off > 0; off /= 2) sum = __fadd_rn(sum, __shfl_xor_sync(0xffffffffu, sum, off));
        __syncwarp();
        if (lane < nt) w[i][lane] = e;
        if (lane == 0) {
          l_s[i] = __fadd_rn(__fmul_rn(l_s[i], c), sum);
          m_s[i] = m_new;
          c_s[i] = c;
        }
      }
      __syncthreads();
      // Values: a thread per dimension, heads of the block unrolled.
#pragma unroll
      for (int k = 0; k < kDimsPerThread; ++k) {
        const int dim = threadIdx.x + k * kThreads;
        if (dim < head_dim) {
#pragma unroll
          for (int i = 0; i < kGroupHeads; ++i) {
            if (i < nh) {
              float a = __fmul_rn(acc[i][k], c_s[i]);
              for (int t = 0; t < nt; ++t) a = __fmaf_rn(w[i][t], Half(vt[t * head_dim + dim]), a);
              acc[i][k] = a;
            }
          }
        }
      }
    }
  }
#pragma unroll
  for (int i = 0; i < kGroupHeads; ++i) {
    if (i < nh) {
      const int64_t row = part_row + static_cast<int64_t>(i) * kAttentionSplits;
#pragma unroll
      for (int k = 0; k < kDimsPerThread; ++k) {
        const int dim = threadIdx.x + k * kThreads;
        if (dim < head_dim) part[row * head_dim + dim] = acc[i][k];
      }
      if (threadIdx.x == 0) {
        part_ml[2 * row] = m_s[i];
        part_ml[2 * row + 1] = l_s[i];
      }
    }
  }
}

__global__ void __launch_bounds__(kThreads)
AttentionCombineKernel(const float* __restrict__ part, const float* __restrict__ part_ml, int n_head, int head_dim,
                       float* __restrict__ out, int64_t ld_out) {
  const int64_t r = blockIdx.x / n_head;
  const int h = static_cast<int>(blockIdx.x % n_head);
  const int64_t base = (r * n_head + h) * kAttentionSplits;
  float big = -INFINITY;
  for (int s = 0; s < kAttentionSplits; ++s) big = fmaxf(big, part_ml[2 * (base + s)]);
  float weight[kAttentionSplits];
  float l = 0.0f;
#pragma unroll
  for (int s = 0; s < kAttentionSplits; ++s) {
    const float m = part_ml[2 * (base + s)];
    weight[s] = m == -INFINITY ? 0.0f : expf(__fsub_rn(m, big));
    l = __fadd_rn(l, __fmul_rn(part_ml[2 * (base + s) + 1], weight[s]));
  }
  const float inv = __fdiv_rn(1.0f, l);
  for (int dim = threadIdx.x; dim < head_dim; dim += kThreads) {
    float o = 0.0f;
#pragma unroll
    for (int s = 0; s < kAttentionSplits; ++s) {
      if (weight[s] != 0.0f) o = __fadd_rn(o, __fmul_rn(part[(base + s) * head_dim + dim], weight[s]));
    }
    out[r * ld_out + static_cast<int64_t>(h) * head_dim + dim] = __fmul_rn(o, inv);
  }
}

}  // namespace

size_t AttentionSplitScratchFloats(int64_t rows, int n_head, int head_dim) {
  return static_cast<size_t>(rows) * n_head * kAttentionSplits * (head_dim + 2);
}

cudaError_t AttentionSplit(const float* q, int64_t ld_q, int64_t n_rows, const int32_t* row_desc,
                           const int32_t* pages, const uint16_t* kv_base, size_t page_elems, size_t layer_off,
                           size_t v_off, int kv_dim, int page_tokens, int n_head, int n_head_kv, int head_dim,
                           float scale, float* out, int64_t ld_out, float* scratch, int64_t scratch_rows,
                           cudaStream_t stream) {
  if (head_dim > kMaxHeadDim || head_dim % 32 != 0 || kv_dim % 8 != 0 || page_tokens < 1 || n_head_kv <= 0 ||
      n_head % n_head_kv != 0 || scratch == nullptr || scratch_rows < 1) {
    return cudaErrorInvalidValue;
  }
  const int hpg = n_head / n_head_kv;
  const int head_chunks = (hpg + kGroupHeads - 1) / kGroupHeads;
  const int64_t chunk_rows = std::min<int64_t>(scratch_rows, 65535);  // grid.y limit
  for (int64_t r0 = 0; r0 < n_rows; r0 += chunk_rows) {
    const int64_t n = std::min(chunk_rows, n_rows - r0);
    float* part = scratch;
    float* part_ml = scratch + static_cast<size_t>(n) * n_head * kAttentionSplits * head_dim;
    const dim3 grid(static_cast<unsigned>(n_head_kv * head_chunks * kAttentionSplits), static_cast<unsigned>(n));
    AttentionPartialKernel<<<grid, kThreads, 0, stream>>>(q + r0 * ld_q, ld_q, row_desc + 2 * r0, pages, kv_base,
                                                         page_elems, layer_off, v_off, kv_dim, page_tokens, n_head,
                                                         n_head_kv, head_dim, scale, head_chunks, part, part_ml);
    AttentionCombineKernel<<<static_cast<unsigned>(n * n_head), kThreads, 0, stream>>>(
        part, part_ml, n_head, head_dim, out + r0 * ld_out, ld_out);
    if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
  }
  return cudaSuccess;
}

}  // namespace tandem::kernels::cuda::launch
