// Device sampling pipeline (see sampling.h). Ties are ordered like the CPU
// sampler's `more_probable`: candidates are sorted by probability descending
// with a stable radix sort over ids given in ascending order, so equal
// probabilities keep the lower id first. Steps whose applicability depends on
// device data (how many candidates survive) read it from the header instead
// of a host round trip, so the whole pipeline is one stream of launches and
// the host syncs once, to read the header.
#include <climits>

#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_reduce.cuh>
#include <cub/device/device_scan.cuh>

#include "kernels/cuda/sampling.h"

namespace tandem::kernels::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kArgmaxThreads = 1024;

unsigned Blocks(int64_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }
size_t Align(size_t n) { return (n + 255) & ~size_t{255}; }

__global__ void CopyKernel(const float* logits, float* work, int32_t* ids, int32_t vocab) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= vocab) return;
  work[i] = logits[i];
  ids[i] = i;
}

// CTRL penalty on distinct ids (deduplicated by the host), each once.
// Explicitly rounded operations: the CPU sampler's fp32 steps, no FMA.
__global__ void EditKernel(float* work, const LogitEdit* edits, int32_t n, float pen, int32_t additive) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const LogitEdit e = edits[i];
  float x = work[e.token];
  if (e.flags & kEditBiased) x = __fadd_rn(x, e.bias);
  if (e.flags & kEditPenalized) {
    if (pen != 1.0f) x = x > 0.0f ? __fdiv_rn(x, pen) : __fmul_rn(x, pen);
    if (additive) x = __fsub_rn(x, e.offset);
  }
  work[e.token] = x;
}

// One block: the first maximum (lowest id on ties), NaN / +inf detection.
__global__ void __launch_bounds__(kArgmaxThreads) ArgmaxKernel(const float* work, int32_t vocab, SampleHeader* h) {
  __shared__ float sv[kArgmaxThreads];
  __shared__ int32_t si[kArgmaxThreads];
  __shared__ int32_t bad;
  if (threadIdx.x == 0) bad = 0;
  __syncthreads();
  float best = -INFINITY;
  int32_t idx = -1;
  for (int32_t i = threadIdx.x; i < vocab; i += blockDim.x) {
    const float x = work[i];
    if (isnan(x)) atomicMax(&bad, kSampleStatusNan);
    if (x == INFINITY) atomicMax(&bad, kSampleStatusPosInf);
    if (idx < 0 || x > best) {
      best = x;
      idx = i;
    }
  }
  sv[threadIdx.x] = best;
  si[threadIdx.x] = idx;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) {
      const float ov = sv[threadIdx.x + stride];
      const int32_t oi = si[threadIdx.x + stride];
      const int32_t mi = si[threadIdx.x];
      if (oi >= 0 && (mi < 0 || ov > sv[threadIdx.x] || (ov == sv[threadIdx.x] && oi < mi))) {
        sv[threadIdx.x] = ov;
        si[threadIdx.x] = oi;
      }
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    h->best = si[0];
    h->max_logit = sv[0];
    h->status = bad != 0 ? bad : (sv[0] == -INFINITY ? kSampleStatusAllNegInf : 0);
    h->size = 1;
    h->dense = 0;
  }
}

// Softmax numerators, max-subtracted (every exponent <= 0, the max maps to 1).
__global__ void ExpKernel(float* work, int32_t vocab, const SampleHeader* h, float inv_t) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= vocab || h->status != 0) return;
  const float x = work[i];
  work[i] = i == h->best ? 1.0f : (x == -INFINITY ? 0.0f : expf(__fmul_rn(__fsub_rn(x, h->max_logit), inv_t)));
}

// cum[i] = value i as fp64 for i < *kept (all when kept is null), else 0;
// then reduced or scanned.
__global__ void WidenKernel(const float* v, int32_t vocab, const int32_t* kept, double* cum) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= vocab) return;
  cum[i] = kept == nullptr || i < *kept ? static_cast<double>(v[i]) : 0.0;
}

__global__ void DenseOutKernel(const float* work, int32_t vocab, SampleHeader* h, float* out) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= vocab || h->status != 0) return;
  const float inv = static_cast<float>(1.0 / h->mass);
  out[i] = __fmul_rn(work[i], inv);
  if (i == 0) {
    h->size = vocab;
    h->dense = 1;
  }
}

// Sorted descending, every value >= 0: the candidates with mass are a
// prefix; kept = its length, capped at top_k when top_k > 0.
__global__ void CountPositiveKernel(const float* sorted, int32_t vocab, int32_t top_k, SampleHeader* h) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= vocab) return;
  if (sorted[i] > 0.0f && (i + 1 == vocab || !(sorted[i + 1] > 0.0f))) {
    h->kept[0] = top_k > 0 && top_k < i + 1 ? top_k : i + 1;
  }
}

// Top-p over the inclusive prefix sums: keep the shortest prefix whose mass
// is >= top_p of the candidates' mass.
__global__ void TopPCutKernel(const double* cum, float top_p, SampleHeader* h, int stage) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  const int32_t m = h->kept[stage];
  if (i >= m) return;
  const double target = static_cast<double>(top_p) * cum[m - 1];
  if (cum[i] >= target && (i == 0 || cum[i - 1] < target)) h->kept[stage + 1] = i + 1;
}

// Min-p relative to the top token (numerator 1): a prefix again.
__global__ void MinPCutKernel(const float* sorted, float min_p, SampleHeader* h, int stage) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  const int32_t m = h->kept[stage];
  if (i >= m) return;
  const bool ok = sorted[i] >= min_p;
  const bool next_ok = i + 1 < m && sorted[i + 1] >= min_p;
  if (ok && !next_ok) h->kept[stage + 1] = i + 1;
}

// The final support: dense (scatter into a zeroed row) when it is more than
// half the vocabulary, else masked pairs for the ascending-id sort.
__global__ void FinishKernel(const float* sorted, const int32_t* ids, int32_t vocab, SampleHeader* h, int stage,
                             float* dense, int32_t* masked_ids, float* masked_probs) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= vocab || h->status != 0) return;
  const int32_t m = h->kept[stage];
  const float inv = static_cast<float>(1.0 / h->mass);
  const bool is_dense = 2 * static_cast<int64_t>(m) > vocab;
  if (is_dense) {
    dense[i] = 0.0f;
  } else {
    masked_ids[i] = i < m ? ids[i] : INT_MAX;
    masked_probs[i] = i < m ? __fmul_rn(sorted[i], inv) : 0.0f;
  }
  if (i == 0) {
    h->size = is_dense ? vocab : m;
    h->dense = is_dense ? 1 : 0;
  }
}

__global__ void ScatterDenseKernel(const float* sorted, const int32_t* ids, int32_t vocab, const SampleHeader* h,
                                   int stage, float* dense) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= vocab || h->status != 0 || h->dense != 1 || i >= h->kept[stage]) return;
  dense[ids[i]] = __fmul_rn(sorted[i], static_cast<float>(1.0 / h->mass));
}

size_t CubTempBytes(int32_t vocab) {
  size_t a = 0, b = 0, c = 0, d = 0;
  cub::DeviceRadixSort::SortPairsDescending(nullptr, a, static_cast<const float*>(nullptr),
                                            static_cast<float*>(nullptr), static_cast<const int32_t*>(nullptr),
                                            static_cast<int32_t*>(nullptr), vocab);
  cub::DeviceRadixSort::SortPairs(nullptr, b, static_cast<const int32_t*>(nullptr), static_cast<int32_t*>(nullptr),
                                  static_cast<const float*>(nullptr), static_cast<float*>(nullptr), vocab);
  cub::DeviceScan::InclusiveSum(nullptr, c, static_cast<const double*>(nullptr), static_cast<double*>(nullptr),
                                vocab);
  cub::DeviceReduce::Sum(nullptr, d, static_cast<const double*>(nullptr), static_cast<double*>(nullptr), vocab);
  size_t m = a;
  for (size_t x : {b, c, d}) m = x > m ? x : m;
  return m;
}

}  // namespace

size_t SampleScratchBytes(int32_t vocab) {
  const size_t v = static_cast<size_t>(vocab);
  return Align(sizeof(SampleHeader)) + 9 * Align(v * 4) + Align(v * 8) + Align(CubTempBytes(vocab));
}

SampleBuffers SampleScratchLayout(void* base, int32_t vocab) {
  const size_t v = static_cast<size_t>(vocab);
  char* p = static_cast<char*>(base);
  auto take = [&p](size_t bytes) {
    char* q = p;
    p += Align(bytes);
    return q;
  };
  SampleBuffers b;
  b.header = reinterpret_cast<SampleHeader*>(take(sizeof(SampleHeader)));
  b.work = reinterpret_cast<float*>(take(v * 4));
  b.keys_sorted = reinterpret_cast<float*>(take(v * 4));
  b.ids_in = reinterpret_cast<int32_t*>(take(v * 4));
  b.ids_sorted = reinterpret_cast<int32_t*>(take(v * 4));
  b.ids_masked = reinterpret_cast<int32_t*>(take(v * 4));
  b.probs_masked = reinterpret_cast<float*>(take(v * 4));
  b.out_probs = reinterpret_cast<float*>(take(v * 4));
  b.out_ids = reinterpret_cast<int32_t*>(take(v * 4));
  b.out_sparse = reinterpret_cast<float*>(take(v * 4));
  b.cum = reinterpret_cast<double*>(take(v * 8));
  b.cub_temp_bytes = CubTempBytes(vocab);
  b.cub_temp = take(b.cub_temp_bytes);
  return b;
}

cudaError_t SampleProcess(const float* logits, const SampleArgs& a, const SampleBuffers& b, cudaStream_t stream) {
  const int32_t V = a.vocab;
  const unsigned grid = Blocks(V);
  CopyKernel<<<grid, kThreads, 0, stream>>>(logits, b.work, b.ids_in, V);
  if (a.n_edits > 0) {
    EditKernel<<<Blocks(a.n_edits), kThreads, 0, stream>>>(b.work, a.edits, a.n_edits, a.repetition_penalty,
                                                           a.additive_penalty);
  }
  ArgmaxKernel<<<1, kArgmaxThreads, 0, stream>>>(b.work, V, b.header);
  if (a.temperature == 0.0f) return cudaGetLastError();  // greedy: the header's best is the answer
  ExpKernel<<<grid, kThreads, 0, stream>>>(b.work, V, b.header, 1.0f / a.temperature);
  size_t temp = b.cub_temp_bytes;
  const bool top_k = a.top_k > 0 && a.top_k < V, top_p = a.top_p < 1.0f, min_p = a.min_p > 0.0f;
  if (!top_k && !top_p && !min_p) {
    WidenKernel<<<grid, kThreads, 0, stream>>>(b.work, V, nullptr, b.cum);
    cub::DeviceReduce::Sum(b.cub_temp, temp, b.cum, &b.header->mass, V, stream);
    DenseOutKernel<<<grid, kThreads, 0, stream>>>(b.work, V, b.header, b.out_probs);
    return cudaGetLastError();
  }
  cub::DeviceRadixSort::SortPairsDescending(b.cub_temp, temp, b.work, b.keys_sorted, b.ids_in, b.ids_sorted, V, 0,
                                            32, stream);
  CountPositiveKernel<<<grid, kThreads, 0, stream>>>(b.keys_sorted, V, top_k ? a.top_k : 0, b.header);
  int stage = 0;
  if (top_p) {
    WidenKernel<<<grid, kThreads, 0, stream>>>(b.keys_sorted, V, &b.header->kept[stage], b.cum);
    temp = b.cub_temp_bytes;
    cub::DeviceScan::InclusiveSum(b.cub_temp, temp, b.cum, b.cum, V, stream);
    TopPCutKernel<<<grid, kThreads, 0, stream>>>(b.cum, a.top_p, b.header, stage++);
  }
  if (min_p) MinPCutKernel<<<grid, kThreads, 0, stream>>>(b.keys_sorted, a.min_p, b.header, stage++);
  WidenKernel<<<grid, kThreads, 0, stream>>>(b.keys_sorted, V, &b.header->kept[stage], b.cum);
  temp = b.cub_temp_bytes;
  cub::DeviceReduce::Sum(b.cub_temp, temp, b.cum, &b.header->mass, V, stream);
  FinishKernel<<<grid, kThreads, 0, stream>>>(b.keys_sorted, b.ids_sorted, V, b.header, stage, b.out_probs,
                                              b.ids_masked, b.probs_masked);
  ScatterDenseKernel<<<grid, kThreads, 0, stream>>>(b.keys_sorted, b.ids_sorted, V, b.header, stage, b.out_probs);
  // Sparse: ids ascending (masked entries carry INT_MAX and sort last). When
  // the result is dense this sort is wasted work on scratch, not a wrong answer.
  temp = b.cub_temp_bytes;
  cub::DeviceRadixSort::SortPairs(b.cub_temp, temp, b.ids_masked, b.out_ids, b.probs_masked, b.out_sparse, V, 0, 32,
                                  stream);
  return cudaGetLastError();
}

}  // namespace tandem::kernels::cuda
