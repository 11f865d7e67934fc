// MatMul for every weight type, ISA level, batch size and thread count against
// a float64 product over DequantizeRow'd weights and unquantized activations.
#include "kernels/cpu/matmul.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/cpu/dequantize.h"
#include "kernels/cpu/dot_kernels.h"
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
    s.push_back({t, 96});   // odd block count: the kernels' tail path
    s.push_back({t, 512});
  }
  for (GgmlType t : {GgmlType::kQ2_K, GgmlType::kQ3_K, GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K}) {
    s.push_back({t, 512});
  }
  for (GgmlType t : {GgmlType::kF32, GgmlType::kF16, GgmlType::kBF16}) {
    s.push_back({t, 100});
    s.push_back({t, 512});
  }
  return s;
}

class MatMulTest : public ::testing::TestWithParam<Isa> {};

TEST_P(MatMulTest, MatchesFloat64Reference) {
  const Isa isa = GetParam();
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const int64_t rows = 37;  // not a multiple of any chunk size
  ThreadPool pool1(1), pool2(2);
  MatMulWorkspace ws;
  for (const Shape& s : Shapes()) {
    const int64_t cols = s.cols;
    const std::vector<uint8_t> w = testing::RandomWeights(s.type, rows, cols, rng);
    const size_t row_bytes = RowBytes(s.type, cols);
    std::vector<float> wd(rows * cols);
    for (int64_t r = 0; r < rows; ++r) {
      ASSERT_TRUE(DequantizeRow(s.type, w.data() + r * row_bytes, wd.data() + r * cols, cols));
    }
    const WeightView view{s.type, w.data(), rows, cols, row_bytes};
    const ActFormat fmt = ActFormatFor(s.type);
    const int64_t qblock = fmt == ActFormat::kQ8A ? 32 : fmt == ActFormat::kQ8K ? 256 : 1;
    for (int64_t m : {1, 3, 8, 17}) {
      const int64_t ldx = cols + 5, ldy = rows + 3;
      std::vector<float> x(m * ldx);
      for (auto& v : x) v = nd(rng);
      for (ThreadPool* pool : {&pool1, &pool2}) {
        std::vector<float> y(m * ldy, -777.0f);
        ASSERT_TRUE(MatMul(view, x.data(), m, ldx, y.data(), ldy, ws, *pool, isa));
        for (int64_t i = 0; i < m; ++i) {
          const float* xi = x.data() + i * ldx;
          // Error budget: the Q8 activation quantization moves each x by at
          // most half a step, amax(block)/254, so |error| <= sum |w| * that;
          // plus float accumulation (1e-5 of the term magnitudes).
          std::vector<double> half_step(cols, 0.0);
          if (qblock > 1) {
            for (int64_t b0 = 0; b0 < cols; b0 += qblock) {
              double amax = 0.0;
              for (int64_t k = b0; k < b0 + qblock; ++k) amax = std::max(amax, std::fabs((double)xi[k]));
              for (int64_t k = b0; k < b0 + qblock; ++k) half_step[k] = amax / 254.0;
            }
          }
          for (int64_t r = 0; r < rows; ++r) {
            const float* wr = wd.data() + r * cols;
            double ref = 0.0, qerr = 0.0, mag = 0.0;
            for (int64_t k = 0; k < cols; ++k) {
              ref += static_cast<double>(wr[k]) * xi[k];
              qerr += std::fabs((double)wr[k]) * half_step[k];
              mag += std::fabs((double)wr[k] * xi[k]);
            }
            ASSERT_NEAR(y[i * ldy + r], ref, 1.0001 * qerr + 1e-5 * mag + 1e-6)
                << IsaName(isa) << " " << FindTypeTraits(static_cast<uint32_t>(s.type))->name << " m=" << m
                << " threads=" << pool->size() << " i=" << i << " r=" << r;
          }
          for (int64_t r = rows; r < ldy; ++r) ASSERT_EQ(y[i * ldy + r], -777.0f) << "wrote past rows";
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Levels, MatMulTest, ::testing::Values(Isa::kScalar, Isa::kAvx2, Isa::kAvx512),
                         [](const ::testing::TestParamInfo<Isa>& i) { return std::string(IsaName(i.param)); });

TEST(MatMul, RejectsBadShapesWithoutWriting) {
  ThreadPool pool(1);
  MatMulWorkspace ws;
  std::vector<uint8_t> w(RowBytes(GgmlType::kQ4_0, 64) * 2);
  std::vector<float> x(64, 1.0f), y(2, 5.0f);
  WeightView v{GgmlType::kQ4_0, w.data(), 2, 64, RowBytes(GgmlType::kQ4_0, 64)};
  WeightView bad_cols = v;
  bad_cols.cols = 48;  // not a multiple of 32
  EXPECT_FALSE(MatMul(bad_cols, x.data(), 1, 64, y.data(), 2, ws, pool));
  WeightView bad_bytes = v;
  bad_bytes.row_bytes = 10;
  EXPECT_FALSE(MatMul(bad_bytes, x.data(), 1, 64, y.data(), 2, ws, pool));
  WeightView unknown = v;
  unknown.type = static_cast<GgmlType>(4);  // removed Q4_2
  EXPECT_FALSE(MatMul(unknown, x.data(), 1, 64, y.data(), 2, ws, pool));
  EXPECT_FALSE(MatMul(v, x.data(), 1, 32, y.data(), 2, ws, pool));  // ldx < cols
  EXPECT_EQ(y[0], 5.0f);
  EXPECT_EQ(y[1], 5.0f);
  EXPECT_TRUE(MatMul(v, x.data(), 1, 64, y.data(), 2, ws, pool));
}

TEST(MatMul, WorkspaceReservedUpFrontIsNotRegrown) {
  std::mt19937 rng(8);
  const std::vector<uint8_t> w = testing::RandomWeights(GgmlType::kQ4_K, 8, 256, rng);
  WeightView v{GgmlType::kQ4_K, w.data(), 8, 256, RowBytes(GgmlType::kQ4_K, 256)};
  MatMulWorkspace ws;
  ws.Reserve(MatMulWorkspaceBytes(v, 4));
  const uint8_t* before = ws.data();
  ThreadPool pool(2);
  std::vector<float> x(4 * 256, 0.5f), y(4 * 8);
  ASSERT_TRUE(MatMul(v, x.data(), 4, 256, y.data(), 8, ws, pool));
  EXPECT_EQ(ws.data(), before);
}

}  // namespace
}  // namespace tandem::kernels
