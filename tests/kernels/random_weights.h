// Random weight rows of any ggml type for kernel tests: random code bytes
// with every fp16 scale field replaced by a finite value drawn from a mix of
// ordinary magnitudes, zero, negative values and fp16 subnormals.
#pragma once

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/fp16.h"
#include "kernels/cpu/ggml_types.h"

namespace tandem::kernels::testing {

inline uint16_t RandomScale(std::mt19937& rng, float typical) {
  std::uniform_int_distribution<int> kind(0, 19);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  switch (kind(rng)) {
    case 0: return Fp32ToFp16(0.0f);
    case 1: return 0x0001;                         // smallest fp16 subnormal
    case 2: return static_cast<uint16_t>(0x8000 | (rng() & 0x3ff));  // negative subnormal
    default: return Fp32ToFp16(typical * u(rng));
  }
}

inline void PutHalf(uint8_t* p, uint16_t h) { std::memcpy(p, &h, 2); }

// rows x cols weights of `type` (cols a multiple of the block size).
inline std::vector<uint8_t> RandomWeights(GgmlType type, int64_t rows, int64_t cols, std::mt19937& rng,
                                          float typical = 0.05f) {
  const size_t row_bytes = RowBytes(type, cols);
  std::vector<uint8_t> w(row_bytes * static_cast<size_t>(rows));
  std::normal_distribution<float> nd(0.0f, 1.0f);
  if (type == GgmlType::kF32 || type == GgmlType::kF16 || type == GgmlType::kBF16) {
    for (int64_t i = 0; i < rows * cols; ++i) {
      const float v = nd(rng);
      if (type == GgmlType::kF32) {
        std::memcpy(w.data() + 4 * i, &v, 4);
      } else if (type == GgmlType::kF16) {
        PutHalf(w.data() + 2 * i, Fp32ToFp16(v));
      } else {
        uint32_t bits;
        std::memcpy(&bits, &v, 4);
        PutHalf(w.data() + 2 * i, static_cast<uint16_t>(bits >> 16));
      }
    }
    return w;
  }
  for (auto& b : w) b = static_cast<uint8_t>(rng());
  const TypeTraits* t = FindTypeTraits(static_cast<uint32_t>(type));
  const size_t bb = t->block_bytes;
  for (size_t off = 0; off < w.size(); off += bb) {
    uint8_t* blk = w.data() + off;
    switch (type) {
      case GgmlType::kQ4_0: case GgmlType::kQ5_0: case GgmlType::kQ8_0:
        PutHalf(blk, RandomScale(rng, typical));
        break;
      case GgmlType::kQ4_1: case GgmlType::kQ5_1:
        PutHalf(blk, RandomScale(rng, typical));
        PutHalf(blk + 2, RandomScale(rng, 8 * typical));
        break;
      case GgmlType::kQ4_K: case GgmlType::kQ5_K:
        PutHalf(blk, RandomScale(rng, typical / 16));
        PutHalf(blk + 2, RandomScale(rng, typical / 16));
        break;
      case GgmlType::kQ6_K:
        PutHalf(blk + offsetof(BlockQ6_K, d), RandomScale(rng, typical / 64));
        break;
      case GgmlType::kQ2_K:
        PutHalf(blk + offsetof(BlockQ2_K, d), RandomScale(rng, typical / 16));
        PutHalf(blk + offsetof(BlockQ2_K, dmin), RandomScale(rng, typical / 16));
        break;
      case GgmlType::kQ3_K:
        PutHalf(blk + offsetof(BlockQ3_K, d), RandomScale(rng, typical / 16));
        break;
      default:
        break;
    }
  }
  return w;
}

}  // namespace tandem::kernels::testing
