// The GPU's dequantization code (kernels/cuda/quant_blocks.cuh), compiled
// for the host, against the CPU reference dequantizers: bitwise, every type
// with device kernels, rows with random codes and every kind of scale
// (zero, negative, fp16 subnormal). Needs no GPU, so CI's CUDA build checks
// the GPU's block layouts on every run; gpu_matvec_test repeats the check
// with the kernels themselves on a GPU.
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/dequantize.h"
#include "kernels/cpu/dot_kernels.h"
#include "kernels/cuda/host_dequantize.h"
#include "tests/kernels/random_weights.h"

namespace tandem::kernels::cuda {
namespace {

class DeviceDequantOnHostTest : public ::testing::TestWithParam<GgmlType> {};

TEST_P(DeviceDequantOnHostTest, BitwiseTheCpuReference) {
  const GgmlType type = GetParam();
  std::mt19937 rng(11);
  for (int64_t cols : {int64_t{256}, int64_t{1024}}) {
    const int64_t rows = 40;
    std::vector<uint8_t> w = testing::RandomWeights(type, rows, cols, rng);
    const size_t rb = RowBytes(type, cols);
    std::vector<float> want(cols), got(cols);
    for (int64_t r = 0; r < rows; ++r) {
      ASSERT_TRUE(DequantizeRow(type, w.data() + r * rb, want.data(), cols));
      std::fill(got.begin(), got.end(), -12345.0f);
      ASSERT_TRUE(DequantizeRowWithDeviceCode(type, w.data() + r * rb, cols, got.data()));
      for (int64_t c = 0; c < cols; ++c) {
        ASSERT_EQ(std::memcmp(&got[c], &want[c], sizeof(float)), 0)
            << "row " << r << " col " << c << ": device code " << got[c] << ", reference " << want[c];
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Types, DeviceDequantOnHostTest,
                         ::testing::Values(GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ5_0, GgmlType::kQ8_0,
                                           GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K, GgmlType::kF16,
                                           GgmlType::kBF16, GgmlType::kF32),
                         [](const ::testing::TestParamInfo<GgmlType>& i) {
                           return std::string(FindTypeTraits(static_cast<uint32_t>(i.param))->name);
                         });

TEST(DeviceDequantOnHost, RejectsTypesWithoutDeviceKernels) {
  std::vector<uint8_t> w(1024);
  std::vector<float> out(256);
  EXPECT_FALSE(DequantizeRowWithDeviceCode(GgmlType::kQ2_K, w.data(), 256, out.data()));
  EXPECT_FALSE(DequantizeRowWithDeviceCode(GgmlType::kQ4_0, w.data(), 48, out.data()));
}

// The int8-activation product's block math (int8_blocks.cuh) against the CPU
// scalar Q4_K x Q8_K kernel, both fed the CPU quantizer's activations: the
// integer sums are exact and each block's float term uses the same
// operations in the same order, so with blocks summed in order the two are
// bitwise equal. The GPU kernel sums the same block terms in another order.
TEST(DeviceInt8DotOnHost, Q4KBitwiseTheCpuScalarKernel) {
  const CpuKernels& cpu = ScalarKernels();
  ASSERT_NE(cpu.dot[static_cast<int>(GgmlType::kQ4_K)], nullptr);
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int64_t cols : {int64_t{256}, int64_t{1536}, int64_t{4096}}) {
    const int64_t rows = 24;
    std::vector<uint8_t> w = testing::RandomWeights(GgmlType::kQ4_K, rows, cols, rng);
    const size_t rb = RowBytes(GgmlType::kQ4_K, cols);
    std::vector<float> x(cols);
    for (float& v : x) v = normal(rng) * 3.0f;
    x[7] = 0.0f;
    std::vector<uint8_t> q8(Q8KRowBytes(cols));
    cpu.quantize_q8k(x.data(), q8.data(), cols, 0);
    const auto* blocks = reinterpret_cast<const BlockQ8_K*>(q8.data());
    std::vector<int8_t> qs(cols);
    std::vector<float> d(cols / 256);
    std::vector<int32_t> sums(cols / 32);
    for (int64_t b = 0; b < cols / 256; ++b) {
      std::memcpy(qs.data() + b * 256, blocks[b].qs, 256);
      d[b] = blocks[b].d;
      for (int j = 0; j < 8; ++j) sums[b * 8 + j] = blocks[b].bsums[2 * j] + blocks[b].bsums[2 * j + 1];
    }
    for (int64_t r = 0; r < rows; ++r) {
      float want = 0.0f;
      cpu.dot[static_cast<int>(GgmlType::kQ4_K)](cols, w.data() + r * rb, q8.data(), 0, 1, &want);
      const float got = DotQ4KInt8WithDeviceCode(w.data() + r * rb, cols, qs.data(), d.data(), sums.data());
      ASSERT_EQ(std::memcmp(&got, &want, sizeof(float)), 0)
          << "cols " << cols << " row " << r << ": device code " << got << ", CPU " << want;
    }
  }
  const std::vector<uint8_t> none(1024);
  EXPECT_TRUE(std::isnan(DotQ4KInt8WithDeviceCode(none.data(), 100, nullptr, nullptr, nullptr)));
}

}  // namespace
}  // namespace tandem::kernels::cuda
