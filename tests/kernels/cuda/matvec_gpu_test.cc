// GPU matrix-vector kernels against the CPU reference, for every type with
// device kernels and every batch size 1..16 (and 20, which is chunked):
// - dequantization: bitwise equal to kernels/cpu DequantizeRow;
// - products: within kTol * sum_i |w_i x_i| of the float64 product of the
//   CPU-dequantized weights (fp32 accumulation over <= 4096 terms stays
//   below ~3e-6 of that sum; an all-zero or wrong-layout output misses it by
//   orders of magnitude, which AllZerosFailsTheCheck proves);
// - batch invariance: every row bitwise equal to the same row computed alone.
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/dequantize.h"
#include "kernels/cuda/matvec.h"
#include "tests/kernels/cuda/gpu_test_util.h"
#include "tests/kernels/random_weights.h"

namespace tandem::kernels::cuda {
namespace {

using gpu_testing::DeviceVector;

constexpr double kTol = 1e-5;

const GgmlType kTypes[] = {GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ5_0, GgmlType::kQ8_0, GgmlType::kQ4_K,
                           GgmlType::kQ5_K, GgmlType::kQ6_K, GgmlType::kF16,  GgmlType::kBF16, GgmlType::kF32};

struct Problem {
  GgmlType type;
  int64_t rows, cols;
  std::vector<uint8_t> w;
  std::vector<float> wf;  // CPU-dequantized
};

Problem Make(GgmlType type, int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  Problem p{type, rows, cols, testing::RandomWeights(type, rows, cols, rng), {}};
  p.wf.resize(static_cast<size_t>(rows * cols));
  const size_t rb = RowBytes(type, cols);
  for (int64_t r = 0; r < rows; ++r) EXPECT_TRUE(DequantizeRow(type, p.w.data() + r * rb, p.wf.data() + r * cols, cols));
  return p;
}

std::vector<float> RandomX(int64_t m, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(m * cols));
  for (float& v : x) v = nd(rng);
  return x;
}

// Number of outputs outside the tolerance.
int64_t Violations(const Problem& p, const std::vector<float>& x, int64_t m, const std::vector<float>& y,
                   const std::vector<float>* bias) {
  int64_t bad = 0;
  for (int64_t r = 0; r < m; ++r) {
    for (int64_t o = 0; o < p.rows; ++o) {
      double exact = 0.0, mag = 0.0;
      for (int64_t c = 0; c < p.cols; ++c) {
        const double t = double{p.wf[o * p.cols + c]} * x[r * p.cols + c];
        exact += t;
        mag += std::fabs(t);
      }
      if (bias != nullptr) {
        exact += (*bias)[o];
        mag += std::fabs((*bias)[o]);
      }
      if (!(std::fabs(y[r * p.rows + o] - exact) <= kTol * mag + 1e-30)) ++bad;
    }
  }
  return bad;
}

std::vector<float> RunGpu(const Problem& p, const std::vector<float>& x, int64_t m, const float* bias_d) {
  DeviceVector<uint8_t> w(p.w);
  DeviceVector<float> xd(x);
  DeviceVector<float> y(static_cast<size_t>(m * p.rows));
  DeviceWeight dw{p.type, w.get(), p.rows, p.cols, RowBytes(p.type, p.cols)};
  absl::Status s = MatVec(dw, xd.get(), m, p.cols, y.get(), p.rows, bias_d, nullptr);
  EXPECT_TRUE(s.ok()) << s;
  return y.Read();
}

class MatVecGpuTest : public ::testing::TestWithParam<GgmlType> {};

TEST_P(MatVecGpuTest, DequantizationIsBitwiseTheCpuReference) {
  TANDEM_REQUIRE_GPU();
  Problem p = Make(GetParam(), 37, 512, 1);
  DeviceVector<uint8_t> w(p.w);
  DeviceVector<float> out(p.wf.size());
  DeviceWeight dw{p.type, w.get(), p.rows, p.cols, RowBytes(p.type, p.cols)};
  ASSERT_TRUE(DequantizeRows(dw, nullptr, p.rows, out.get(), p.cols, nullptr).ok());
  std::vector<float> got = out.Read();
  ASSERT_EQ(std::memcmp(got.data(), p.wf.data(), got.size() * sizeof(float)), 0);
  // Row gather (the embedding lookup).
  std::vector<int32_t> ids = {36, 0, 5, 5};
  DeviceVector<int32_t> idd(ids);
  DeviceVector<float> g(ids.size() * p.cols);
  ASSERT_TRUE(DequantizeRows(dw, idd.get(), 4, g.get(), p.cols, nullptr).ok());
  std::vector<float> gh = g.Read();
  for (size_t i = 0; i < ids.size(); ++i) {
    ASSERT_EQ(std::memcmp(gh.data() + i * p.cols, p.wf.data() + ids[i] * p.cols, p.cols * sizeof(float)), 0);
  }
}

TEST_P(MatVecGpuTest, EveryBatchSizeMatchesTheReference) {
  TANDEM_REQUIRE_GPU();
  for (int64_t cols : {int64_t{512}, int64_t{4096}}) {
    Problem p = Make(GetParam(), 67, cols, 2);  // 67 rows: a partial last block of 4 warps
    for (int64_t m : {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 20}) {
      std::vector<float> x = RandomX(m, cols, static_cast<uint32_t>(100 + m));
      std::vector<float> y = RunGpu(p, x, m, nullptr);
      EXPECT_EQ(Violations(p, x, m, y, nullptr), 0) << "cols " << cols << " m " << m;
    }
  }
}

TEST_P(MatVecGpuTest, RowsAreBatchInvariantBitwise) {
  TANDEM_REQUIRE_GPU();
  Problem p = Make(GetParam(), 45, 1024, 3);
  const int64_t m = 20;  // crosses the 16-row chunk
  std::vector<float> x = RandomX(m, p.cols, 4);
  std::vector<float> all = RunGpu(p, x, m, nullptr);
  for (int64_t r = 0; r < m; ++r) {
    std::vector<float> one(x.begin() + r * p.cols, x.begin() + (r + 1) * p.cols);
    std::vector<float> y = RunGpu(p, one, 1, nullptr);
    ASSERT_EQ(std::memcmp(y.data(), all.data() + r * p.rows, p.rows * sizeof(float)), 0) << "row " << r;
  }
}

TEST_P(MatVecGpuTest, BiasIsAdded) {
  TANDEM_REQUIRE_GPU();
  Problem p = Make(GetParam(), 33, 512, 5);
  std::vector<float> bias(33);
  for (int i = 0; i < 33; ++i) bias[i] = 0.25f * static_cast<float>(i) - 3.0f;
  DeviceVector<float> bd(bias);
  std::vector<float> x = RandomX(3, p.cols, 6);
  std::vector<float> y = RunGpu(p, x, 3, bd.get());
  EXPECT_EQ(Violations(p, x, 3, y, &bias), 0);
}

INSTANTIATE_TEST_SUITE_P(Types, MatVecGpuTest, ::testing::ValuesIn(kTypes),
                         [](const ::testing::TestParamInfo<GgmlType>& i) {
                           return std::string(FindTypeTraits(static_cast<uint32_t>(i.param))->name);
                         });

// The check itself: zeros (a kernel that wrote nothing) and a transposed
// layout must be reported. Runs without a GPU: it tests the checker.
TEST(MatVecCheck, AllZerosFailsTheCheck) {
  Problem p = Make(GgmlType::kQ4_K, 16, 512, 9);
  std::vector<float> x = RandomX(2, 512, 10);
  std::vector<float> zeros(2 * 16, 0.0f);
  EXPECT_GE(Violations(p, x, 2, zeros, nullptr), 30);
  std::vector<float> exact(2 * 16);
  for (int r = 0; r < 2; ++r) {
    for (int o = 0; o < 16; ++o) {
      double s = 0;
      for (int c = 0; c < 512; ++c) s += double{p.wf[o * 512 + c]} * x[r * 512 + c];
      exact[r * 16 + o] = static_cast<float>(s);
    }
  }
  EXPECT_EQ(Violations(p, x, 2, exact, nullptr), 0);
  std::swap(exact[0], exact[1]);
  EXPECT_GE(Violations(p, x, 2, exact, nullptr), 1);
}

TEST(MatVecCheck, RejectsTypesWithoutKernelsAndBadShapes) {
  DeviceWeight w{GgmlType::kQ2_K, reinterpret_cast<void*>(256), 4, 256, RowBytes(GgmlType::kQ2_K, 256)};
  EXPECT_FALSE(HasDeviceKernel(GgmlType::kQ2_K));
  EXPECT_FALSE(MatVec(w, nullptr, 1, 256, nullptr, 4, nullptr, nullptr).ok());
  DeviceWeight q{GgmlType::kQ4_0, reinterpret_cast<void*>(256), 4, 48, 0};
  EXPECT_FALSE(MatVec(q, nullptr, 1, 48, nullptr, 4, nullptr, nullptr).ok());
}

}  // namespace
}  // namespace tandem::kernels::cuda
