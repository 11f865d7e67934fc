// The GPU's dequantization code (kernels/cuda/quant_blocks.cuh), compiled
// for the host, against the CPU reference dequantizers: bitwise, every type
// with device kernels, rows with random codes and every kind of scale
// (zero, negative, fp16 subnormal). Needs no GPU, so CI's CUDA build checks
// the GPU's block layouts on every run; gpu_matvec_test repeats the check
// with the kernels themselves on a GPU.
#include <cstring>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/dequantize.h"
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

}  // namespace
}  // namespace tandem::kernels::cuda
