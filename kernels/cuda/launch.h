// The raw kernel launchers, one per .cu file's kernels. Plain C++ types and
// cudaError_t only: the .cu files are compiled by nvcc, whose front end does
// not take absl's headers, so argument checks and absl::Status live in the
// callers (matvec.cc, runtime/backend/cuda/).
// Callers here have validated shapes; each returns the launch status.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "kernels/cpu/ggml_types.h"

namespace tandem::kernels::cuda {

// Activations of m rows of `cols` elements quantized per 256-element block
// like the CPU kernels' Q8_K (kernels/cpu/dot_scalar.cc), as structure of
// arrays so the kernels' loads stay 16-byte aligned:
//   qs   int8  [m][cols]       q = clamp(nearest-even(x / d), -127, 127)
//   d    float [m][cols / 256] amax / 127
//   sums int32 [m][cols / 32]  sum of q over each 32-element sub-block
// (Q8_K keeps 16-element sums; two of them make one of these).
struct Int8Rows {
  const int8_t* qs = nullptr;
  const float* d = nullptr;
  const int32_t* sums = nullptr;
  int64_t cols = 0;
};

}  // namespace tandem::kernels::cuda

namespace tandem::kernels::cuda::launch {

// Matrix-vector products and dequantization (matvec.cu). m <= 16 rows.
bool HasKernel(GgmlType type);
// row_groups picks the row-group layout (see matvec.h's MatVecLayout).
cudaError_t MatVec(GgmlType type, const void* w, size_t row_bytes, int64_t rows, int64_t cols, const float* x,
                   int64_t ldx, int m, float* y, int64_t ldy, const float* bias, cudaStream_t stream,
                   bool row_groups = false);
cudaError_t DequantizeRows(GgmlType type, const void* w, size_t row_bytes, int64_t cols, const int32_t* row_ids,
                           int64_t n, float* out, int64_t ld_out, cudaStream_t stream);

// Int8-activation products (matvec_int8.cu): QuantizeQ8K writes Int8Rows
// (cols a multiple of 256, x rows 16-byte aligned) into qs / d / sums
// (qs 16-byte aligned); MatVecInt8 multiplies them by a weight type with
// HasInt8Kernel (Q4_K), m <= 16.
bool HasInt8Kernel(GgmlType type);
cudaError_t QuantizeQ8K(const float* x, int64_t ldx, int64_t m, int64_t cols, int8_t* qs, float* d, int32_t* sums,
                        cudaStream_t stream);
cudaError_t MatVecInt8(GgmlType type, const void* w, size_t row_bytes, int64_t rows, const Int8Rows& x, int m,
                       float* y, int64_t ldy, const float* bias, cudaStream_t stream);

// Elementwise and row ops (ops.cu).
cudaError_t RmsNorm(const float* x, const float* residual, float* x_out, const float* w, float eps, int64_t rows,
                    int64_t cols, float* out, cudaStream_t stream);
cudaError_t RopeTables(const int32_t* positions, int64_t rows, const float* inv_freq, int half,
                       float position_scale, float* cos_out, float* sin_out, cudaStream_t stream);
cudaError_t Rope(float* x, int64_t rows, int64_t ld, int n_heads, int head_dim, int half, bool adjacent,
                 const float* cos_t, const float* sin_t, cudaStream_t stream);
cudaError_t SiluMul(const float* gate, const float* up, float* out, int64_t n, cudaStream_t stream);
cudaError_t Add(float* x, const float* y, int64_t n, cudaStream_t stream);
cudaError_t AddBias(float* y, int64_t rows, int64_t ld, const float* bias, int64_t cols, cudaStream_t stream);
cudaError_t GatherRows(const float* x, int64_t ld_x, const int32_t* rows, int64_t n, int64_t cols, float* out,
                       int64_t ld_out, cudaStream_t stream);
cudaError_t StoreKv(const float* k, int64_t ld_k, const float* v, int64_t ld_v, const int32_t* slots, int64_t n,
                    uint16_t* kv_base, size_t page_elems, size_t layer_off, size_t v_off, int kv_dim,
                    cudaStream_t stream);

// Paged attention (attention.cu). rows_desc: per query row {page-table offset
// into pages, n_ctx}.
cudaError_t Attention(const float* q, int64_t ld_q, int64_t n_rows, const int32_t* row_desc, const int32_t* pages,
                      const uint16_t* kv_base, size_t page_elems, size_t layer_off, size_t v_off, int kv_dim,
                      int page_tokens, int n_head, int n_head_kv, int head_dim, float scale, float* out,
                      int64_t ld_out, cudaStream_t stream);

// Paged attention split over the context (attention_split.cu): the same
// contract as Attention, with each row's pages cut into kAttentionSplits
// contiguous ranges (a function of the row's n_ctx only, so batch-invariant)
// and the ranges combined by a second kernel. scratch holds the partial
// results of scratch_rows rows (AttentionSplitScratchFloats floats); more
// rows go through it in chunks. head_dim a multiple of 32, at most 256.
inline constexpr int kAttentionSplits = 16;
size_t AttentionSplitScratchFloats(int64_t rows, int n_head, int head_dim);
cudaError_t AttentionSplit(const float* q, int64_t ld_q, int64_t n_rows, const int32_t* row_desc,
                           const int32_t* pages, const uint16_t* kv_base, size_t page_elems, size_t layer_off,
                           size_t v_off, int kv_dim, int page_tokens, int n_head, int n_head_kv, int head_dim,
                           float scale, float* out, int64_t ld_out, float* scratch, int64_t scratch_rows,
                           cudaStream_t stream);

}  // namespace tandem::kernels::cuda::launch
