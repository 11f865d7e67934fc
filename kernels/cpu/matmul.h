// Matrix products against weights stored in their GGUF type (zero-copy from
// the mapping). The activations are quantized once per call to the weight
// type's "dot type" (Q8 blocks of 32 with fp32 scales and block sums for the
// 32-blocks, Q8_K for the K-quants; symmetric 127 quantization) and the
// products run as integer dot products with fused dequantization: ggml's
// numerics up to the fp32 (rather than fp16) activation scales. F32/F16/BF16
// weights use the fp32 activations directly. Dispatch picks the best kernel
// for the running CPU (AVX-512 VNNI+VBMI, AVX2+FMA+F16C, or the scalar
// reference; TANDEM_ISA caps it, see isa.h).
//
// Batch invariance: at a given kernel level, row i of y is a function of row
// i of x and W only, bit for bit: it does not depend on m, on the row's
// position among the m rows, on the thread count or on which weight rows a
// thread or tile happens to get. Every kernel variant (row, 4-row matvec,
// 2-row tile, K-quant multi-row) computes each output with one canonical
// float order per weight type (see dot_simd.inc), and the activation
// quantizers are per row. The model's one-token decode and multi-token
// verification, and sessions batched into one pass, rely on this
// (tests/kernels/matmul_invariance_test.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "kernels/cpu/ggml_types.h"
#include "kernels/cpu/isa.h"
#include "kernels/cpu/thread_pool.h"

namespace tandem::kernels {

// A weight matrix W with `rows` rows of `cols` elements, row-major in ggml
// layout (each row is cols/block_elems blocks of `type`).
struct WeightView {
  GgmlType type = GgmlType::kF32;
  const void* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  size_t row_bytes = 0;
};

// Scratch memory for quantized activations, grown outside the hot path
// (Reserve) and reused by every call.
class MatMulWorkspace {
 public:
  void Reserve(size_t bytes);
  uint8_t* data() { return buf_.data(); }
  size_t size() const { return buf_.size(); }
 private:
  std::vector<uint8_t> buf_;
};

// Bytes of workspace MatMul needs for m activation rows against weights w.
size_t MatMulWorkspaceBytes(const WeightView& w, int64_t m);

// y[m x rows] = x[m x cols] * W^T. x and y are row-major fp32 with the given
// leading dimensions (in elements). Threads split the weight rows.
// Returns false (and leaves y untouched) if the type has no kernel or the
// shapes are inconsistent (cols not a multiple of the block size, row_bytes
// too small, ldx < cols, ldy < rows). Types without a dedicated kernel but
// with a dequantizer (Q2_K, Q3_K, ...) run through a slower
// dequantize-then-dot fallback with fp32 activations.
// The workspace grows on first use if it is smaller than
// MatMulWorkspaceBytes(w, m); Reserve it up front to keep calls allocation-free.
bool MatMul(const WeightView& w, const float* x, int64_t m, int64_t ldx,
            float* y, int64_t ldy, MatMulWorkspace& ws, ThreadPool& pool);

// The same with the kernel level pinned (tests, benchmarks); a level the CPU
// lacks falls back to the best one below it.
bool MatMul(const WeightView& w, const float* x, int64_t m, int64_t ldx,
            float* y, int64_t ldy, MatMulWorkspace& ws, ThreadPool& pool, Isa isa);

// Most weights one MatMulMulti call takes.
inline constexpr int kMaxMatMulParts = 4;

// Several weights of the same type and width applied to the same input
// (Q, K, V; gate, up): ys[j][m x w[j].rows] = x * w[j]^T. The activations are
// quantized once and the rows of all weights run in one thread-pool job, so
// a decode step wakes the workers once instead of once per weight. Each
// ys[j] is bitwise what MatMul(w[j], x, ...) writes (the same kernels and
// float order per output; only the split of rows among threads differs,
// which never changes a result). Returns false (nothing written) if w is
// empty or longer than kMaxMatMulParts, the weights differ in type or cols,
// or any shape check of MatMul fails.
bool MatMulMulti(std::span<const WeightView> w, const float* x, int64_t m, int64_t ldx,
                 std::span<float* const> ys, std::span<const int64_t> ldys, MatMulWorkspace& ws,
                 ThreadPool& pool);
bool MatMulMulti(std::span<const WeightView> w, const float* x, int64_t m, int64_t ldx,
                 std::span<float* const> ys, std::span<const int64_t> ldys, MatMulWorkspace& ws,
                 ThreadPool& pool, Isa isa);

// Which instruction set the dispatcher chose ("avx512vnni", "avx2", "scalar").
const char* MatMulIsaName();

}  // namespace tandem::kernels
