// The AMX-INT8 Q4_K and Q6_K tile products (kernels/cpu/amx.h) against the scalar
// kernel, bitwise: every weight-row count 1..16, activation counts that fill,
// split and pad the 16-row groups, rows of all-zero and of extreme activations
// and weights (the folded scale planes' largest and most negative bytes), and through
// MatMul (which takes the AMX path from 10 rows on) against the AVX2 level.
// Skipped, visibly, on CPUs without AMX (or with TANDEM_AMX=0).
#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/amx.h"
#include "kernels/cpu/dot_kernels.h"
#include "kernels/cpu/isa.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/thread_pool.h"
#include "tests/kernels/random_weights.h"

namespace tandem::kernels {
namespace {

std::vector<float> RandomRows(int64_t m, int64_t cols, std::mt19937& rng) {
  std::normal_distribution<float> nd(0.0f, 1.5f);
  std::vector<float> x(static_cast<size_t>(m * cols));
  for (float& v : x) v = nd(rng);
  return x;
}

class AmxKQuant : public ::testing::TestWithParam<GgmlType> {};

TEST_P(AmxKQuant, TileProductIsBitwiseTheScalarKernel) {
  if (!AmxUsable()) GTEST_SKIP() << "no AMX-INT8 on this CPU (or TANDEM_AMX=0)";
  const GgmlType type = GetParam();
  const auto rows_fn = type == GgmlType::kQ6_K ? AmxQ6KRows : AmxQ4KRows;
  std::mt19937 rng(17);
  const CpuKernels& scalar = ScalarKernels();
  for (int64_t cols : {int64_t{256}, int64_t{1536}}) {
    for (int64_t m : {int64_t{1}, int64_t{5}, int64_t{16}, int64_t{17}, int64_t{40}}) {
      std::vector<float> x = RandomRows(m, cols, rng);
      for (int64_t c = 0; c < cols; ++c) x[c] = 0.0f;  // row 0: all-zero activations (d = 0)
      if (m > 1) {  // row 1: every code at +-127, the largest products
        for (int64_t c = 0; c < cols; ++c) x[cols + c] = c % 3 == 0 ? -2.0f : 2.0f;
      }
      const size_t stride = Q8KRowBytes(cols);
      std::vector<uint8_t> q8(stride * m);
      for (int64_t i = 0; i < m; ++i) scalar.quantize_q8k(x.data() + i * cols, q8.data() + i * stride, cols, 0);
      std::vector<uint8_t> packed_storage(AmxActBytes(m, cols) + 64);
      uint8_t* packed = packed_storage.data() + (64 - reinterpret_cast<uintptr_t>(packed_storage.data()) % 64) % 64;
      AmxPackQ8K(q8.data(), stride, m, cols, packed);
      for (int nr : {1, 7, 16}) {
        std::vector<uint8_t> w = testing::RandomWeights(type, nr, cols, rng);
        const size_t rb = RowBytes(type, cols);
        // The folded scale planes' extreme bytes: Q4_K weight row 0 with every
        // code 15 and every scale and min 63 (15 * 15); Q6_K rows 0 and 1 with
        // codes 63 and 0 (centred 31, -32) under scales -128 and 127.
        for (int64_t b = 0; b < cols / 256; ++b) {
          if (type == GgmlType::kQ4_K) {
            auto* blk = reinterpret_cast<BlockQ4_K*>(w.data() + b * sizeof(BlockQ4_K));
            std::memset(blk->scales, 0xFF, sizeof(blk->scales));
            std::memset(blk->qs, 0xFF, sizeof(blk->qs));
          } else {
            for (int r = 0; r < std::min(nr, 2); ++r) {
              auto* blk = reinterpret_cast<BlockQ6_K*>(w.data() + r * rb + b * sizeof(BlockQ6_K));
              for (int j = 0; j < 16; ++j) blk->scales[j] = static_cast<int8_t>(j % 2 == 0 ? -128 : 127);
              std::memset(blk->ql, r == 0 ? 0xFF : 0x00, sizeof(blk->ql));
              std::memset(blk->qh, r == 0 ? 0xFF : 0x00, sizeof(blk->qh));
            }
          }
        }
        const size_t ldy = 19;  // wider than nr: the untouched columns must stay put
        std::vector<float> y(static_cast<size_t>(m) * ldy, -7.0f);
        std::vector<uint8_t> scratch_storage(AmxWeightScratchBytes(cols) + 64);
        uint8_t* scratch = scratch_storage.data() + (64 - reinterpret_cast<uintptr_t>(scratch_storage.data()) % 64) % 64;
        rows_fn(cols, w.data(), rb, nr, packed, m, y.data(), ldy, scratch);
        for (int64_t i = 0; i < m; ++i) {
          for (int r = 0; r < nr; ++r) {
            float want = 0.0f;
            scalar.dot[static_cast<int>(type)](cols, w.data() + r * rb, q8.data() + i * stride, stride, 1, &want);
            const float got = y[i * ldy + r];
            ASSERT_EQ(std::memcmp(&got, &want, sizeof(float)), 0)
                << "cols " << cols << " m " << m << " nr " << nr << " row " << i << " weight " << r << ": " << got
                << " vs " << want;
          }
          for (size_t r = nr; r < ldy; ++r) ASSERT_EQ(y[i * ldy + r], -7.0f) << "wrote past nr";
        }
      }
    }
  }
}

TEST_P(AmxKQuant, MatMulWithAmxEqualsTheAvx2Level) {
  if (!AmxUsable()) GTEST_SKIP() << "no AMX-INT8 on this CPU (or TANDEM_AMX=0)";
  if (!IsaSupported(Isa::kAvx2)) GTEST_SKIP() << "no AVX2 level to compare with";
  const GgmlType type = GetParam();
  std::mt19937 rng(23);
  const int64_t rows = 70, cols = 1024, m = 37;  // chunks of 16 weight rows plus a tail of 6
  const std::vector<uint8_t> w = testing::RandomWeights(type, rows, cols, rng);
  const WeightView view{type, w.data(), rows, cols, RowBytes(type, cols)};
  const std::vector<float> x = RandomRows(m, cols, rng);
  ThreadPool pool(2);
  MatMulWorkspace ws;
  std::vector<float> amx(m * rows), avx2(m * rows);
  ASSERT_TRUE(MatMul(view, x.data(), m, cols, amx.data(), rows, ws, pool, Isa::kAvx512));
  ASSERT_TRUE(MatMul(view, x.data(), m, cols, avx2.data(), rows, ws, pool, Isa::kAvx2));
  ASSERT_EQ(std::memcmp(amx.data(), avx2.data(), amx.size() * sizeof(float)), 0);
}

INSTANTIATE_TEST_SUITE_P(Types, AmxKQuant, ::testing::Values(GgmlType::kQ4_K, GgmlType::kQ6_K),
                         [](const ::testing::TestParamInfo<GgmlType>& i) {
                           return std::string(FindTypeTraits(static_cast<uint32_t>(i.param))->name);
                         });

}  // namespace
}  // namespace tandem::kernels
