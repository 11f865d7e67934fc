// The int8-activation products (kernels/cuda/matvec_int8.cu) on a GPU:
// - the device quantizer writes bitwise what the CPU's Q8_K quantizer does
//   (codes, scales, and the 32-element sums from its 16-element ones);
// - Q4_K products against the CPU scalar kernel fed the CPU's quantized
//   activations, for every batch size 1..16 and 20 (chunked): each block's
//   term is the same float computation, only the order the block terms are
//   summed in differs, so the bound is kTol * sum over blocks |term| (an
//   all-zero output misses it: the test asserts the terms are not all zero);
// - batch invariance: every row bitwise equal to the same row computed alone;
// - the bias, and clear errors for what the kernel does not take.
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/dot_kernels.h"
#include "kernels/cuda/host_dequantize.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/matvec.h"
#include "tests/kernels/cuda/gpu_test_util.h"
#include "tests/kernels/random_weights.h"

namespace tandem::kernels::cuda {
namespace {

using gpu_testing::DeviceVector;

constexpr double kTol = 1e-5;

std::vector<float> RandomX(int64_t m, int64_t ld, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 2.0f);
  std::vector<float> x(static_cast<size_t>(m * ld));
  for (float& v : x) v = nd(rng);
  return x;
}

// The CPU's quantization of one row, in the Int8Rows layout too.
struct CpuQ8 {
  std::vector<uint8_t> blocks;  // BlockQ8_K[cols / 256]
  std::vector<int8_t> qs;
  std::vector<float> d;
  std::vector<int32_t> sums;
};

CpuQ8 QuantizeOnCpu(const float* x, int64_t cols) {
  CpuQ8 q;
  q.blocks.resize(Q8KRowBytes(cols));
  ScalarKernels().quantize_q8k(x, q.blocks.data(), cols, 0);
  const auto* b = reinterpret_cast<const BlockQ8_K*>(q.blocks.data());
  for (int64_t i = 0; i < cols / 256; ++i) {
    q.qs.insert(q.qs.end(), b[i].qs, b[i].qs + 256);
    q.d.push_back(b[i].d);
    for (int j = 0; j < 8; ++j) q.sums.push_back(b[i].bsums[2 * j] + b[i].bsums[2 * j + 1]);
  }
  return q;
}

TEST(QuantizeQ8KGpu, BitwiseTheCpuQuantizer) {
  TANDEM_REQUIRE_GPU();
  const int64_t m = 5, cols = 4096, ldx = cols + 64;
  std::vector<float> x = RandomX(m, ldx, 3);
  for (int64_t c = 256; c < 512; ++c) x[c] = 0.0f;  // an all-zero block: d = 0, codes 0
  x[ldx + 3] = 1e6f;                               // one large value dominates its block
  x[2 * ldx + 700] = -0.5f * 1e-38f;                // a subnormal
  DeviceVector<float> xd(x);
  DeviceVector<int8_t> qs(m * cols);
  DeviceVector<float> d(m * cols / 256);
  DeviceVector<int32_t> sums(m * cols / 32);
  ASSERT_EQ(launch::QuantizeQ8K(xd.get(), ldx, m, cols, qs.get(), d.get(), sums.get(), nullptr), cudaSuccess);
  const std::vector<int8_t> got_qs = qs.Read();
  const std::vector<float> got_d = d.Read();
  const std::vector<int32_t> got_sums = sums.Read();
  for (int64_t r = 0; r < m; ++r) {
    const CpuQ8 want = QuantizeOnCpu(x.data() + r * ldx, cols);
    ASSERT_EQ(std::memcmp(got_qs.data() + r * cols, want.qs.data(), cols), 0) << "codes of row " << r;
    ASSERT_EQ(std::memcmp(got_d.data() + r * (cols / 256), want.d.data(), want.d.size() * sizeof(float)), 0)
        << "scales of row " << r;
    ASSERT_EQ(std::memcmp(got_sums.data() + r * (cols / 32), want.sums.data(), want.sums.size() * sizeof(int32_t)),
              0)
        << "sums of row " << r;
  }
}

struct Q4KProblem {
  int64_t rows, cols;
  std::vector<uint8_t> w;
  DeviceVector<uint8_t> wd;
  DeviceWeight view;
  Q4KProblem(int64_t r, int64_t c, uint32_t seed) : rows(r), cols(c), w(Weights(r, c, seed)), wd(w) {
    view = DeviceWeight{GgmlType::kQ4_K, wd.get(), rows, cols, RowBytes(GgmlType::kQ4_K, cols)};
  }
  static std::vector<uint8_t> Weights(int64_t r, int64_t c, uint32_t seed) {
    std::mt19937 rng(seed);
    return testing::RandomWeights(GgmlType::kQ4_K, r, c, rng);
  }
};

std::vector<float> RunGpu(const Q4KProblem& p, const std::vector<float>& x, int64_t m, const float* bias) {
  DeviceVector<float> xd(x);
  DeviceVector<float> y(static_cast<size_t>(m * p.rows));
  DeviceVector<uint8_t> scratch(Int8ScratchBytes(p.cols));
  const absl::Status s = MatVecInt8(p.view, xd.get(), m, p.cols, y.get(), p.rows, bias, scratch.get(),
                                    Int8ScratchBytes(p.cols), nullptr);
  EXPECT_TRUE(s.ok()) << s;
  return y.Read();
}

// Outputs outside kTol * sum |block terms| of the CPU scalar kernel.
int64_t Violations(const Q4KProblem& p, const std::vector<float>& x, int64_t m, const std::vector<float>& y,
                   const std::vector<float>* bias) {
  const size_t rb = RowBytes(GgmlType::kQ4_K, p.cols);
  const int64_t nb = p.cols / 256;
  int64_t bad = 0;
  double all = 0.0;
  for (int64_t r = 0; r < m; ++r) {
    const CpuQ8 q = QuantizeOnCpu(x.data() + r * p.cols, p.cols);
    for (int64_t o = 0; o < p.rows; ++o) {
      const uint8_t* row = p.w.data() + o * rb;
      float want = 0.0f;
      ScalarKernels().dot[static_cast<int>(GgmlType::kQ4_K)](p.cols, row, q.blocks.data(), 0, 1, &want);
      double mag = 0.0;
      for (int64_t b = 0; b < nb; ++b) {
        mag += std::fabs(DotQ4KInt8WithDeviceCode(row + b * sizeof(BlockQ4_K), 256, q.qs.data() + b * 256,
                                                  q.d.data() + b, q.sums.data() + b * 8));
      }
      double expect = want;
      if (bias != nullptr) {
        expect += (*bias)[o];
        mag += std::fabs((*bias)[o]);
      }
      all += mag;
      if (!(std::fabs(y[r * p.rows + o] - expect) <= kTol * mag)) ++bad;
    }
  }
  EXPECT_GT(all, 0.0) << "the check needs non-zero terms";
  return bad;
}

TEST(MatVecInt8Gpu, EveryBatchSizeMatchesTheCpuKernel) {
  TANDEM_REQUIRE_GPU();
  for (int64_t cols : {int64_t{256}, int64_t{1536}, int64_t{4096}}) {
    const Q4KProblem p(203, cols, static_cast<uint32_t>(cols));
    for (int64_t m : {1, 2, 3, 4, 5, 7, 8, 9, 16, 20}) {
      const std::vector<float> x = RandomX(m, cols, static_cast<uint32_t>(m * 31 + cols));
      const std::vector<float> y = RunGpu(p, x, m, nullptr);
      EXPECT_EQ(Violations(p, x, m, y, nullptr), 0) << "cols " << cols << " m " << m;
    }
  }
}

TEST(MatVecInt8Gpu, RowsAreBatchInvariantBitwise) {
  TANDEM_REQUIRE_GPU();
  const Q4KProblem p(517, 2048, 9);
  const int64_t m = 16;
  const std::vector<float> x = RandomX(m, p.cols, 4);
  const std::vector<float> all = RunGpu(p, x, m, nullptr);
  for (int64_t r = 0; r < m; ++r) {
    const std::vector<float> one(x.begin() + r * p.cols, x.begin() + (r + 1) * p.cols);
    const std::vector<float> alone = RunGpu(p, one, 1, nullptr);
    ASSERT_EQ(std::memcmp(alone.data(), all.data() + r * p.rows, p.rows * sizeof(float)), 0) << "row " << r;
  }
}

TEST(MatVecInt8Gpu, BiasIsAdded) {
  TANDEM_REQUIRE_GPU();
  const Q4KProblem p(64, 512, 2);
  std::vector<float> bias(p.rows);
  for (int64_t o = 0; o < p.rows; ++o) bias[o] = 0.25f * static_cast<float>(o) - 4.0f;
  DeviceVector<float> bd(bias);
  const std::vector<float> x = RandomX(3, p.cols, 8);
  EXPECT_EQ(Violations(p, x, 3, RunGpu(p, x, 3, bd.get()), &bias), 0);
}

TEST(MatVecInt8Check, RejectsWhatItDoesNotTake) {
  TANDEM_REQUIRE_GPU();
  DeviceVector<uint8_t> w(1 << 16);
  DeviceVector<float> x(4096), y(4096);
  DeviceVector<uint8_t> scratch(Int8ScratchBytes(512));
  const DeviceWeight f16{GgmlType::kF16, w.get(), 8, 512, 1024};
  EXPECT_FALSE(HasInt8Kernel(GgmlType::kF16));
  EXPECT_TRUE(HasInt8Kernel(GgmlType::kQ4_K));
  EXPECT_EQ(MatVecInt8(f16, x.get(), 1, 512, y.get(), 8, nullptr, scratch.get(), Int8ScratchBytes(512), nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  const DeviceWeight q4k{GgmlType::kQ4_K, w.get(), 8, 512, RowBytes(GgmlType::kQ4_K, 512)};
  EXPECT_EQ(MatVecInt8(q4k, x.get(), 1, 512, y.get(), 8, nullptr, scratch.get(), 100, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MatVecInt8(q4k, x.get(), 1, 512, y.get(), 8, nullptr, nullptr, 1 << 20, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(MatVecInt8(q4k, x.get(), 1, 512, y.get(), 8, nullptr, scratch.get(), Int8ScratchBytes(512), nullptr)
                  .ok());
}

}  // namespace
}  // namespace tandem::kernels::cuda
