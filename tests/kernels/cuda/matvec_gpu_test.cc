// GPU matrix-vector kernels against the CPU reference, for every type with
// device kernels and every batch size 1..16 (and 20, which is chunked):
// - dequantization: bitwise equal to kernels/cpu DequantizeRow;
// - products: within kTol * sum_i |w_i x_i| of the float64 product of the
//   CPU-dequantized weights (fp32 accumulation over <= 4096 terms stays
//   below ~3e-6 of that sum; an all-zero or wrong-layout output misses it by
//   orders of magnitude, which AllZerosFailsTheCheck proves);
// - batch invariance: every row bitwise equal to the same row computed alone.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <random>
#include <tuple>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/dequantize.h"
#include "kernels/cuda/matvec.h"
#include "kernels/cuda/random_fill.h"
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

std::vector<float> RunGpu(const Problem& p, const std::vector<float>& x, int64_t m, const float* bias_d,
                          MatVecLayout layout) {
  DeviceVector<uint8_t> w(p.w);
  DeviceVector<float> xd(x);
  DeviceVector<float> y(static_cast<size_t>(m * p.rows));
  DeviceWeight dw{p.type, w.get(), p.rows, p.cols, RowBytes(p.type, p.cols)};
  absl::Status s = MatVec(dw, xd.get(), m, p.cols, y.get(), p.rows, bias_d, nullptr, layout);
  EXPECT_TRUE(s.ok()) << s;
  return y.Read();
}

// Every type in both thread layouts.
class MatVecGpuTest : public ::testing::TestWithParam<std::tuple<GgmlType, MatVecLayout>> {
 protected:
  GgmlType Type() const { return std::get<0>(GetParam()); }
  MatVecLayout Layout() const { return std::get<1>(GetParam()); }
};

TEST_P(MatVecGpuTest, DequantizationIsBitwiseTheCpuReference) {
  TANDEM_REQUIRE_GPU();
  Problem p = Make(Type(), 37, 512, 1);
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
  const bool k_quant = Type() == GgmlType::kQ4_K || Type() == GgmlType::kQ5_K || Type() == GgmlType::kQ6_K;
  std::vector<int64_t> widths = {512, 4096};
  // Rows that end in a partial 256-element span (the plain kernels' tail)
  // or hold fewer units than a row group has warps.
  if (!k_quant) widths.insert(widths.end(), {96, 288, 1056});
  for (int64_t cols : widths) {
    Problem p = Make(Type(), 67, cols, 2);  // 67 rows: a partial last block of 4 warps
    for (int64_t m : {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 20}) {
      std::vector<float> x = RandomX(m, cols, static_cast<uint32_t>(100 + m));
      std::vector<float> y = RunGpu(p, x, m, nullptr, Layout());
      EXPECT_EQ(Violations(p, x, m, y, nullptr), 0) << "cols " << cols << " m " << m;
    }
  }
}

TEST_P(MatVecGpuTest, RowsAreBatchInvariantBitwise) {
  TANDEM_REQUIRE_GPU();
  Problem p = Make(Type(), 45, 1024, 3);
  const int64_t m = 20;  // crosses the 16-row chunk
  std::vector<float> x = RandomX(m, p.cols, 4);
  std::vector<float> all = RunGpu(p, x, m, nullptr, Layout());
  for (int64_t r = 0; r < m; ++r) {
    std::vector<float> one(x.begin() + r * p.cols, x.begin() + (r + 1) * p.cols);
    std::vector<float> y = RunGpu(p, one, 1, nullptr, Layout());
    ASSERT_EQ(std::memcmp(y.data(), all.data() + r * p.rows, p.rows * sizeof(float)), 0) << "row " << r;
  }
}

TEST_P(MatVecGpuTest, BiasIsAdded) {
  TANDEM_REQUIRE_GPU();
  Problem p = Make(Type(), 33, 512, 5);
  std::vector<float> bias(33);
  for (int i = 0; i < 33; ++i) bias[i] = 0.25f * static_cast<float>(i) - 3.0f;
  DeviceVector<float> bd(bias);
  std::vector<float> x = RandomX(3, p.cols, 6);
  std::vector<float> y = RunGpu(p, x, 3, bd.get(), Layout());
  EXPECT_EQ(Violations(p, x, 3, y, &bias), 0);
}

INSTANTIATE_TEST_SUITE_P(
    Types, MatVecGpuTest,
    ::testing::Combine(::testing::ValuesIn(kTypes),
                       ::testing::Values(MatVecLayout::kWarpPerRow, MatVecLayout::kRowGroups)),
    [](const ::testing::TestParamInfo<std::tuple<GgmlType, MatVecLayout>>& i) {
      return std::string(FindTypeTraits(static_cast<uint32_t>(std::get<0>(i.param)))->name) +
             (std::get<1>(i.param) == MatVecLayout::kRowGroups ? "_groups" : "_warps");
    });

// The device generator the benchmarks build models from: every type's rows,
// dequantized on the host, are finite, not zero, centred and near the asked
// magnitude (an all-zero Q6_K output head once made the 8B benchmark's
// logits all zero).
TEST(RandomFill, EveryTypeGivesCentredRowsOfTheAskedMagnitude) {
  TANDEM_REQUIRE_GPU();
  constexpr int64_t kRows = 16, kCols = 1024;
  constexpr float kTypical = 0.05f;
  for (GgmlType type : kTypes) {
    const char* name = FindTypeTraits(static_cast<uint32_t>(type))->name;
    const size_t rb = RowBytes(type, kCols);
    DeviceVector<uint8_t> w(rb * kRows);
    ASSERT_EQ(FillRandomWeights(type, w.get(), kRows, kCols, rb, 11, kTypical, nullptr), cudaSuccess) << name;
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    std::vector<uint8_t> host = w.Read();
    std::vector<float> row(kCols);
    double sum = 0, sq = 0;
    for (int64_t r = 0; r < kRows; ++r) {
      ASSERT_TRUE(DequantizeRow(type, host.data() + r * rb, row.data(), kCols)) << name;
      double row_sq = 0;
      for (float v : row) {
        ASSERT_TRUE(std::isfinite(v)) << name << " row " << r;
        sum += v;
        row_sq += double{v} * v;
      }
      if (row_sq == 0.0) {  // show the block headers of the row
        std::string dump;
        const size_t bb = FindTypeTraits(static_cast<uint32_t>(type))->block_bytes;
        for (size_t off = 0; bb >= 8 && off < rb; off += bb) {
          char b[64];
          const uint8_t* blk = host.data() + r * rb + off;
          std::snprintf(b, sizeof b, " [%02x%02x..%02x%02x %02x%02x]", blk[0], blk[1], blk[bb - 4], blk[bb - 3],
                        blk[bb - 2], blk[bb - 1]);
          dump += b;
        }
        ADD_FAILURE() << name << " row " << r << " is all zero; blocks (first 2, last 4 bytes):" << dump;
      }
      sq += row_sq;
    }
    const double n = static_cast<double>(kRows * kCols);
    const double rms = std::sqrt(sq / n), mean = sum / n;
    EXPECT_GT(rms, 0.1 * kTypical) << name;
    EXPECT_LT(rms, 3.0 * kTypical) << name;
    EXPECT_LT(std::fabs(mean), 0.1 * rms) << name << ": mean " << mean;
  }
}

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
