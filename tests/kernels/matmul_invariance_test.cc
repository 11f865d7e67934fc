// Batch invariance of MatMul: for a given ISA level, the fp32 result for one
// (activation row, weight row) pair must not depend on how many activation
// rows share the call, where the row sits in the batch, or how many threads
// split the weight rows. The model relies on this for one-token decode ==
// multi-token verification (greedy speculative decoding is token-identical
// to target-only) and for batching sessions into one forward pass; a last-bit
// difference flips 8-bit activation roundings downstream and grows to
// visible logit differences. So the comparisons here are memcmp, not
// tolerances.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/dot_kernels.h"
#include "kernels/cpu/matmul.h"
#include "tests/kernels/random_weights.h"

namespace tandem::kernels {
namespace {

struct Shape {
  GgmlType type;
  int64_t cols;
};

std::vector<Shape> Shapes() {
  std::vector<Shape> s;
  for (GgmlType t : {GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ5_0, GgmlType::kQ5_1, GgmlType::kQ8_0}) {
    s.push_back({t, 32});   // a single block: only the tail path
    s.push_back({t, 96});   // odd block count: pairs plus the tail
    s.push_back({t, 576});  // SmolLM2's width
  }
  for (GgmlType t : {GgmlType::kQ2_K, GgmlType::kQ3_K, GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K}) {
    s.push_back({t, 256});
    s.push_back({t, 768});
  }
  // Wider than the AVX2 Q4_K tile's switch to its natural form, where
  // MatMul builds no Q8_K tail.
  s.push_back({GgmlType::kQ4_K, 2304});
  for (GgmlType t : {GgmlType::kF32, GgmlType::kF16, GgmlType::kBF16}) {
    s.push_back({t, 100});  // vector tail
    s.push_back({t, 576});
  }
  return s;
}

class MatMulInvarianceTest : public ::testing::TestWithParam<Isa> {};

std::string TypeName(GgmlType t) {
  const TypeTraits* tr = FindTypeTraits(static_cast<uint32_t>(t));
  return tr != nullptr ? tr->name : "?";
}

// The first n floats of a and b are bitwise equal.
bool SameBits(const float* a, const float* b, int64_t n) { return std::memcmp(a, b, n * sizeof(float)) == 0; }

TEST_P(MatMulInvarianceTest, EveryRowEqualsTheRowAloneBitwise) {
  const Isa isa = GetParam();
  std::mt19937 rng(11);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::uniform_real_distribution<float> mag(0.01f, 30.0f);
  const int64_t rows = 45;  // not a multiple of the 4-row matvec, 2-row tile or 16-row chunk
  ThreadPool pool1(1), pool2(2);
  MatMulWorkspace ws;
  int checked = 0;
  for (const Shape& s : Shapes()) {
    const int64_t cols = s.cols;
    const std::vector<uint8_t> w = testing::RandomWeights(s.type, rows, cols, rng);
    const WeightView view{s.type, w.data(), rows, cols, RowBytes(s.type, cols)};
    for (int64_t m : {1, 2, 3, 4, 5, 8, 17, 33}) {
      const int64_t ldx = cols + 3, ldy = rows + 1;
      // Rows of mixed magnitude, so that any change of summation order
      // shows up in the last bits.
      std::vector<float> x(m * ldx);
      for (int64_t i = 0; i < m; ++i) {
        const float scale = mag(rng);
        for (int64_t k = 0; k < ldx; ++k) x[i * ldx + k] = scale * nd(rng);
      }
      // The same rows in reverse order: every row at another position.
      std::vector<float> xr(m * ldx);
      for (int64_t i = 0; i < m; ++i) std::memcpy(&xr[i * ldx], &x[(m - 1 - i) * ldx], ldx * sizeof(float));

      // Reference: each row alone, one thread.
      std::vector<float> alone(m * ldy, -1.0f);
      for (int64_t i = 0; i < m; ++i) {
        ASSERT_TRUE(MatMul(view, &x[i * ldx], 1, ldx, &alone[i * ldy], ldy, ws, pool1, isa));
      }
      for (ThreadPool* pool : {&pool1, &pool2}) {
        const std::string where = "type " + TypeName(s.type) + " cols " + std::to_string(cols) +
                                  " m " + std::to_string(m) + " threads " + std::to_string(pool->size());
        std::vector<float> y(m * ldy, -2.0f), yr(m * ldy, -3.0f), y1(ldy, -4.0f);
        ASSERT_TRUE(MatMul(view, x.data(), m, ldx, y.data(), ldy, ws, *pool, isa)) << where;
        ASSERT_TRUE(MatMul(view, xr.data(), m, ldx, yr.data(), ldy, ws, *pool, isa)) << where;
        for (int64_t i = 0; i < m; ++i) {
          EXPECT_TRUE(SameBits(&y[i * ldy], &alone[i * ldy], rows)) << where << ": row " << i << " vs alone";
          EXPECT_TRUE(SameBits(&yr[(m - 1 - i) * ldy], &alone[i * ldy], rows))
              << where << ": row " << i << " at position " << (m - 1 - i) << " vs alone";
        }
        // The row alone on this pool equals the one-thread row alone.
        ASSERT_TRUE(MatMul(view, x.data(), 1, ldx, y1.data(), ldy, ws, *pool, isa)) << where;
        EXPECT_TRUE(SameBits(y1.data(), alone.data(), rows)) << where << ": alone, threads";
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 0);
}

// A weight sub-matrix (rows r0.. of the same weights, as a thread's chunk or
// a tile would see them) gives the same bits as the full matrix's rows.
TEST_P(MatMulInvarianceTest, WeightRowOffsetDoesNotMatter) {
  const Isa isa = GetParam();
  std::mt19937 rng(12);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const int64_t rows = 23;
  ThreadPool pool1(1);
  MatMulWorkspace ws;
  for (const Shape& s : Shapes()) {
    const int64_t cols = s.cols;
    const std::vector<uint8_t> w = testing::RandomWeights(s.type, rows, cols, rng);
    const size_t rb = RowBytes(s.type, cols);
    for (int64_t m : {1, 3, 5}) {
      std::vector<float> x(m * cols);
      for (auto& v : x) v = nd(rng);
      std::vector<float> full(m * rows);
      ASSERT_TRUE(MatMul(WeightView{s.type, w.data(), rows, cols, rb}, x.data(), m, cols, full.data(), rows, ws,
                         pool1, isa));
      for (int64_t r0 : {1, 2, 3, 5}) {
        const int64_t sub_rows = rows - r0;
        std::vector<float> sub(m * sub_rows);
        ASSERT_TRUE(MatMul(WeightView{s.type, w.data() + r0 * rb, sub_rows, cols, rb}, x.data(), m, cols,
                           sub.data(), sub_rows, ws, pool1, isa));
        for (int64_t i = 0; i < m; ++i) {
          EXPECT_TRUE(SameBits(&sub[i * sub_rows], &full[i * rows + r0], sub_rows))
              << "type " << TypeName(s.type) << " cols " << cols << " m " << m << " offset " << r0 << " row " << i;
        }
      }
    }
  }
}

// MatMulMulti (several weights, one input, one job) writes exactly the bits
// of separate MatMul calls, at any thread count; mismatched weights are
// refused without writing.
TEST_P(MatMulInvarianceTest, MultiEqualsSeparateCallsBitwise) {
  const Isa isa = GetParam();
  std::mt19937 rng(13);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const int64_t rows[3] = {45, 16, 7};  // unequal parts, none a multiple of every tile size
  ThreadPool pool1(1), pool2(2);
  MatMulWorkspace ws;
  for (const Shape& s : Shapes()) {
    const int64_t cols = s.cols;
    std::vector<uint8_t> w[3];
    WeightView views[3];
    for (int j = 0; j < 3; ++j) {
      w[j] = testing::RandomWeights(s.type, rows[j], cols, rng);
      views[j] = WeightView{s.type, w[j].data(), rows[j], cols, RowBytes(s.type, cols)};
    }
    for (int64_t m : {1, 3, 17}) {
      const int64_t ldx = cols + 1;
      std::vector<float> x(m * ldx);
      for (auto& v : x) v = nd(rng);
      for (ThreadPool* pool : {&pool1, &pool2}) {
        const std::string where = "type " + TypeName(s.type) + " cols " + std::to_string(cols) + " m " +
                                  std::to_string(m) + " threads " + std::to_string(pool->size());
        std::vector<float> sep[3], multi[3];
        float* ys[3];
        int64_t ldys[3];
        for (int j = 0; j < 3; ++j) {
          ldys[j] = rows[j] + 2;
          sep[j].assign(m * ldys[j], -1.0f);
          multi[j].assign(m * ldys[j], -1.0f);
          ys[j] = multi[j].data();
          ASSERT_TRUE(MatMul(views[j], x.data(), m, ldx, sep[j].data(), ldys[j], ws, *pool, isa)) << where;
        }
        ASSERT_TRUE(MatMulMulti(views, x.data(), m, ldx, ys, ldys, ws, *pool, isa)) << where;
        for (int j = 0; j < 3; ++j) {
          EXPECT_TRUE(SameBits(sep[j].data(), multi[j].data(), m * ldys[j])) << where << ": weight " << j;
        }
      }
    }
  }
  // Different widths cannot share one quantized input.
  const std::vector<uint8_t> a = testing::RandomWeights(GgmlType::kQ4_1, 8, 64, rng);
  const std::vector<uint8_t> b = testing::RandomWeights(GgmlType::kQ4_1, 8, 128, rng);
  const WeightView mixed[2] = {{GgmlType::kQ4_1, a.data(), 8, 64, RowBytes(GgmlType::kQ4_1, 64)},
                               {GgmlType::kQ4_1, b.data(), 8, 128, RowBytes(GgmlType::kQ4_1, 128)}};
  std::vector<float> x(128, 1.0f), y0(8, -5.0f), y1(8, -5.0f);
  float* ys[2] = {y0.data(), y1.data()};
  const int64_t ldys[2] = {8, 8};
  EXPECT_FALSE(MatMulMulti(mixed, x.data(), 1, 128, ys, ldys, ws, pool1, isa));
  EXPECT_EQ(y0[0], -5.0f);
  EXPECT_FALSE(MatMulMulti(std::span<const WeightView>(), x.data(), 1, 128, std::span<float* const>(),
                           std::span<const int64_t>(), ws, pool1, isa));
}

std::vector<Isa> Levels() {
  std::vector<Isa> v{Isa::kScalar};
  if (IsaSupported(Isa::kAvx2) && Avx2Kernels() != nullptr) v.push_back(Isa::kAvx2);
  if (IsaSupported(Isa::kAvx512) && Avx512Kernels() != nullptr) v.push_back(Isa::kAvx512);
  return v;
}

INSTANTIATE_TEST_SUITE_P(AllLevels, MatMulInvarianceTest, ::testing::ValuesIn(Levels()),
                         [](const ::testing::TestParamInfo<Isa>& info) { return std::string(IsaName(info.param)); });

}  // namespace
}  // namespace tandem::kernels
