// fp32 matrix product for the BERT encoder's linear layers,
// y = x W^T + bias, with W packed once at load time into panels of 16
// output columns (K x 16, zero-padded) so that the inner kernel streams one
// contiguous panel while 6 rows of x are broadcast against it (a 6x16
// register tile of FMA accumulators: AVX2+FMA, or a scalar fallback).
//
// Why not tandem's kernels/cpu MatMul: its F32 path is a dot-product kernel
// built for quantized decode (~42 GFLOP/s on this machine's cores); a
// register-tiled GEMM is about twice as fast on the encoder's 10-500-row
// products. Why not OpenBLAS: its thread count is process-wide state (and
// the pthread build serializes concurrent threaded calls), whereas the
// embedder's threads must be its own option.
//
// Batch invariance, as in kernels/cpu/matmul.h: every output element is
// accumulated over k in the same order by the same instructions whatever
// the row count, the row's position in a tile or the thread split, so a
// row's result is bitwise a function of that row and W only.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/cpu/isa.h"
#include "kernels/cpu/thread_pool.h"
#include "runtime/embedding/gemm_f32_tile.h"

namespace tandem::embedding {

class PackedWeights {
 public:
  PackedWeights() = default;
  // w: n rows of k floats, row r at w + r * ldw (Hugging Face Linear layout
  // [out, in]); bias: n floats or nullptr (zero).
  PackedWeights(const float* w, int64_t ldw, const float* bias, int64_t n, int64_t k);

  int64_t n() const { return n_; }
  int64_t k() const { return k_; }
  int64_t panels() const { return (n_ + kGemmPanel - 1) / kGemmPanel; }
  const float* panel(int64_t p) const { return data_.data() + p * k_ * kGemmPanel; }
  const float* bias(int64_t p) const { return bias_.data() + p * kGemmPanel; }

 private:
  int64_t n_ = 0, k_ = 0;
  std::vector<float> data_;  // panels() x k x 16
  std::vector<float> bias_;  // panels() x 16
};

// y[m x n] (row stride ldy) = x[m x k] (row stride ldx) W^T + bias, split
// over the pool's threads. isa: kAvx2 or better uses the AVX2+FMA kernel
// when the CPU has it; kScalar the portable one (tests).
void GemmF32(const PackedWeights& w, const float* x, int64_t m, int64_t ldx, float* y, int64_t ldy,
             kernels::ThreadPool& pool, kernels::Isa isa = kernels::ActiveIsa());

}  // namespace tandem::embedding
