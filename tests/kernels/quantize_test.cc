// Weight quantizers (kernels/cpu/quantize.h): the codes of hand-worked
// blocks, the round trip through the reference dequantizer, and bad input.
#include "kernels/cpu/quantize.h"

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/dequantize.h"
#include "kernels/cpu/fp16.h"

namespace tandem::kernels {
namespace {

TEST(Quantize, Q4_0BlockCodesAsTheReferenceQuantizer) {
  // Largest magnitude -4 (negative): d = -4 / -8 = 0.5, so -4 -> code 0 and
  // x -> trunc(x / 0.5 + 8.5) clamped to 15.
  float x[32];
  for (int j = 0; j < 32; ++j) x[j] = 0.0f;
  x[0] = -4.0f;   // code 0
  x[1] = 3.9f;    // 7.8 + 8.5 -> 16 -> clamped 15
  x[2] = 0.24f;   // 0.48 + 8.5 -> 8
  x[16] = 0.26f;  // 0.52 + 8.5 -> 9 (high nibble of byte 0)
  BlockQ4_0 b;
  ASSERT_TRUE(QuantizeRow(GgmlType::kQ4_0, x, &b, 32));
  EXPECT_EQ(Fp16ToFp32(b.d), 0.5f);
  EXPECT_EQ(b.qs[0], 0 | 9 << 4);
  EXPECT_EQ(b.qs[1], 15 | 8 << 4);
  EXPECT_EQ(b.qs[2], 8 | 8 << 4);
  // A zero block: d = 0, every code 8 (value 0).
  float z[32] = {};
  ASSERT_TRUE(QuantizeRow(GgmlType::kQ4_0, z, &b, 32));
  EXPECT_EQ(Fp16ToFp32(b.d), 0.0f);
  for (uint8_t q : b.qs) EXPECT_EQ(q, 8 | 8 << 4);
}

TEST(Quantize, RoundTripErrorIsWithinHalfAStep) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int n = 32 * 64;
  std::vector<float> x(n), y(n);
  for (float& v : x) v = normal(rng);
  for (GgmlType type : {GgmlType::kQ4_0, GgmlType::kQ8_0}) {
    std::vector<uint8_t> q(RowBytes(type, n));
    ASSERT_TRUE(QuantizeRow(type, x.data(), q.data(), n));
    ASSERT_TRUE(DequantizeRow(type, q.data(), y.data(), n));
    for (int b = 0; b < n / 32; ++b) {
      float amax = 0;
      for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[32 * b + j]));
      // One step is amax / 8 (Q4_0) or amax / 127 (Q8_0); half of it, plus
      // the fp16 rounding of the scale (relative 2^-11 of each value).
      // Q4_0's codes reach -8 steps on the side of the largest magnitude but
      // only +7 on the other: values beyond 7.5 steps there are clamped, a
      // whole step off at most.
      const float step = amax / (type == GgmlType::kQ4_0 ? 8.0f : 127.0f);
      for (int j = 0; j < 32; ++j) {
        const float v = x[32 * b + j];
        const float e = std::fabs(v - y[32 * b + j]);
        const bool clamped = type == GgmlType::kQ4_0 && std::fabs(v) > 7.5f * step;
        ASSERT_LE(e, (clamped ? 1.0f : 0.5f) * step + amax * 1e-3f)
            << "type " << static_cast<int>(type) << " element " << 32 * b + j;
      }
    }
    // Not a constant: the round trip follows the data.
    double dot = 0, nx = 0, ny = 0;
    for (int i = 0; i < n; ++i) dot += x[i] * y[i], nx += x[i] * x[i], ny += y[i] * y[i];
    EXPECT_GT(dot / std::sqrt(nx * ny), type == GgmlType::kQ4_0 ? 0.99 : 0.9999);
  }
}

TEST(Quantize, NamesAndBadInput) {
  GgmlType t = GgmlType::kF32;
  ASSERT_TRUE(QuantizeTypeFromName("q4_0", &t));
  EXPECT_EQ(t, GgmlType::kQ4_0);
  ASSERT_TRUE(QuantizeTypeFromName("q8_0", &t));
  EXPECT_EQ(t, GgmlType::kQ8_0);
  EXPECT_FALSE(QuantizeTypeFromName("q4_K", &t));
  EXPECT_FALSE(QuantizeTypeFromName("", &t));
  EXPECT_TRUE(CanQuantize(GgmlType::kQ4_0));
  EXPECT_FALSE(CanQuantize(GgmlType::kQ6_K));
  float x[48] = {};
  uint8_t out[64];
  std::memset(out, 0xAB, sizeof out);
  EXPECT_FALSE(QuantizeRow(GgmlType::kQ4_0, x, out, 48));  // not a whole block
  EXPECT_FALSE(QuantizeRow(GgmlType::kQ6_K, x, out, 256));  // no quantizer
  for (uint8_t b : out) EXPECT_EQ(b, 0xAB);  // nothing written
}

}  // namespace
}  // namespace tandem::kernels
