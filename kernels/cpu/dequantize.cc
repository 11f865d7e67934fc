// Scalar reference dequantizers. Written from the format descriptions (see
// ggml_types.h for the block layouts); each function documents where each
// element's bits live, because that is the part that is easy to get wrong.
#include "kernels/cpu/dequantize.h"

#include <cstring>

#include "kernels/cpu/fp16.h"

// A fused multiply-add would round once instead of twice and break
// bit-exactness with the reference; forbid contraction in this file even if
// the build adds -mfma or -march=native.
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace tandem::kernels {
namespace {

// Blocks are read through memcpy: rows of 18- or 20-byte blocks are only
// 2-byte aligned, and buffers handed in by tests need not be aligned at all.
template <typename Block>
Block LoadBlock(const uint8_t* p) {
  Block b;
  std::memcpy(&b, p, sizeof b);
  return b;
}

void DequantF32(const uint8_t* src, float* y, int64_t n) {
  std::memcpy(y, src, static_cast<size_t>(n) * sizeof(float));
}

void DequantF16(const uint8_t* src, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, src + 2 * i, 2);
    y[i] = Fp16ToFp32(h);
  }
}

void DequantBF16(const uint8_t* src, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, src + 2 * i, 2);
    y[i] = Bf16ToFp32(h);
  }
}

// Q4_0: 32 elements; element j < 16 is the low nibble of qs[j], element
// j + 16 the high nibble; value = d * (q - 8).
void DequantQ4_0(const uint8_t* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, src += sizeof(BlockQ4_0), y += kQK4_0) {
    const auto b = LoadBlock<BlockQ4_0>(src);
    const float d = Fp16ToFp32(b.d);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      y[j] = d * static_cast<float>((b.qs[j] & 0x0f) - 8);
      y[j + kQK4_0 / 2] = d * static_cast<float>((b.qs[j] >> 4) - 8);
    }
  }
}

// Q4_1: as Q4_0 without the offset; value = d * q + m.
void DequantQ4_1(const uint8_t* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, src += sizeof(BlockQ4_1), y += kQK4_1) {
    const auto b = LoadBlock<BlockQ4_1>(src);
    const float d = Fp16ToFp32(b.d);
    const float m = Fp16ToFp32(b.m);
    for (int j = 0; j < kQK4_1 / 2; ++j) {
      y[j] = d * static_cast<float>(b.qs[j] & 0x0f) + m;
      y[j + kQK4_1 / 2] = d * static_cast<float>(b.qs[j] >> 4) + m;
    }
  }
}

// Q5_0: the nibbles as in Q4_0 plus a fifth bit: bit j of the little-endian
// 32-bit qh belongs to element j; value = d * (q - 16).
void DequantQ5_0(const uint8_t* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, src += sizeof(BlockQ5_0), y += kQK5_0) {
    const auto b = LoadBlock<BlockQ5_0>(src);
    const float d = Fp16ToFp32(b.d);
    const uint32_t qh = static_cast<uint32_t>(b.qh[0]) | static_cast<uint32_t>(b.qh[1]) << 8 |
                        static_cast<uint32_t>(b.qh[2]) << 16 | static_cast<uint32_t>(b.qh[3]) << 24;
    for (int j = 0; j < kQK5_0 / 2; ++j) {
      const int lo = (b.qs[j] & 0x0f) | static_cast<int>((qh >> j) & 1u) << 4;
      const int hi = (b.qs[j] >> 4) | static_cast<int>((qh >> (j + 16)) & 1u) << 4;
      y[j] = d * static_cast<float>(lo - 16);
      y[j + kQK5_0 / 2] = d * static_cast<float>(hi - 16);
    }
  }
}

// Q5_1: Q5_0's bits with Q4_1's affine form; value = d * q + m.
void DequantQ5_1(const uint8_t* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, src += sizeof(BlockQ5_1), y += kQK5_1) {
    const auto b = LoadBlock<BlockQ5_1>(src);
    const float d = Fp16ToFp32(b.d);
    const float m = Fp16ToFp32(b.m);
    const uint32_t qh = static_cast<uint32_t>(b.qh[0]) | static_cast<uint32_t>(b.qh[1]) << 8 |
                        static_cast<uint32_t>(b.qh[2]) << 16 | static_cast<uint32_t>(b.qh[3]) << 24;
    for (int j = 0; j < kQK5_1 / 2; ++j) {
      const int lo = (b.qs[j] & 0x0f) | static_cast<int>((qh >> j) & 1u) << 4;
      const int hi = (b.qs[j] >> 4) | static_cast<int>((qh >> (j + 16)) & 1u) << 4;
      y[j] = d * static_cast<float>(lo) + m;
      y[j + kQK5_1 / 2] = d * static_cast<float>(hi) + m;
    }
  }
}

// Q8_0: value = d * qs[j].
void DequantQ8_0(const uint8_t* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, src += sizeof(BlockQ8_0), y += kQK8_0) {
    const auto b = LoadBlock<BlockQ8_0>(src);
    const float d = Fp16ToFp32(b.d);
    for (int j = 0; j < kQK8_0; ++j) y[j] = d * static_cast<float>(b.qs[j]);
  }
}

// Q2_K: 256 elements in 16 groups of 16. Group g has a 4-bit scale (low
// nibble of scales[g]) and a 4-bit min (high nibble). Element e = 128*h +
// 32*s + l (h < 2, s < 4, l < 32) is bits 2s..2s+1 of qs[32*h + l];
// value = (d * scale) * q - (dmin * min).
void DequantQ2_K(const uint8_t* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, src += sizeof(BlockQ2_K), y += kQK_K) {
    const auto b = LoadBlock<BlockQ2_K>(src);
    const float d = Fp16ToFp32(b.d);
    const float dmin = Fp16ToFp32(b.dmin);
    for (int e = 0; e < kQK_K; ++e) {
      const int h = e / 128, s = (e / 32) % 4, l = e % 32;
      const int g = e / 16;
      const float dl = d * static_cast<float>(b.scales[g] & 0x0f);
      const float ml = dmin * static_cast<float>(b.scales[g] >> 4);
      const int q = (b.qs[32 * h + l] >> (2 * s)) & 3;
      y[e] = dl * static_cast<float>(q) - ml;
    }
  }
}

// Q3_K: 16 groups of 16 with signed 6-bit scales (stored +32): the low four
// bits of scale g are nibble g/8 of scales[g % 8], the high two bits are bits
// 2*(g/4).. of scales[8 + g % 4]. Element e = 128*h + 32*s + l has its low two
// bits at bits 2s.. of qs[32*h + l] and its "high" bit at bit e/32 of
// hmask[e % 32]; a clear high bit subtracts 4. value = (d * scale) * q.
void DequantQ3_K(const uint8_t* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, src += sizeof(BlockQ3_K), y += kQK_K) {
    const auto b = LoadBlock<BlockQ3_K>(src);
    const float d = Fp16ToFp32(b.d);
    float dl[16];
    for (int g = 0; g < 16; ++g) {
      const int low = (b.scales[g % 8] >> (4 * (g / 8))) & 0x0f;
      const int high = (b.scales[8 + g % 4] >> (2 * (g / 4))) & 0x03;
      dl[g] = d * static_cast<float>((low | high << 4) - 32);
    }
    for (int e = 0; e < kQK_K; ++e) {
      const int h = e / 128, s = (e / 32) % 4, l = e % 32;
      const int low = (b.qs[32 * h + l] >> (2 * s)) & 3;
      const bool high = (b.hmask[e % 32] >> (e / 32)) & 1;
      y[e] = dl[e / 16] * static_cast<float>(low - (high ? 0 : 4));
    }
  }
}

// The 6-bit scale and min of sub-block j (of 8) shared by Q4_K and Q5_K:
// j < 4 live in the low six bits of bytes j and j + 4; j >= 4 take their low
// four bits from byte j + 4 (scale: low nibble, min: high nibble) and their
// top two bits from the spare top bits of bytes j - 4 (scale) and j (min).
void ScaleMinK4(int j, const uint8_t* q, uint8_t* scale, uint8_t* min) {
  if (j < 4) {
    *scale = q[j] & 63;
    *min = q[j + 4] & 63;
  } else {
    *scale = static_cast<uint8_t>((q[j + 4] & 0x0f) | (q[j - 4] >> 6) << 4);
    *min = static_cast<uint8_t>((q[j + 4] >> 4) | (q[j] >> 6) << 4);
  }
}

// Q4_K: 8 sub-blocks of 32. Element e = 64*c + 32*h + l is nibble h of
// qs[32*c + l] and belongs to sub-block e/32; value = (d*scale) * q - dmin*min.
void DequantQ4_K(const uint8_t* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, src += sizeof(BlockQ4_K), y += kQK_K) {
    const auto b = LoadBlock<BlockQ4_K>(src);
    const float d = Fp16ToFp32(b.d);
    const float dmin = Fp16ToFp32(b.dmin);
    for (int j = 0; j < 8; ++j) {
      uint8_t sc, m;
      ScaleMinK4(j, b.scales, &sc, &m);
      const float dl = d * static_cast<float>(sc);
      const float ml = dmin * static_cast<float>(m);
      const int c = j / 2, h = j % 2;
      for (int l = 0; l < 32; ++l) {
        const int q = (b.qs[32 * c + l] >> (4 * h)) & 0x0f;
        y[32 * j + l] = dl * static_cast<float>(q) - ml;
      }
    }
  }
}

// Q5_K: Q4_K plus a fifth bit for element e at bit e/32 of qh[e % 32].
void DequantQ5_K(const uint8_t* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, src += sizeof(BlockQ5_K), y += kQK_K) {
    const auto b = LoadBlock<BlockQ5_K>(src);
    const float d = Fp16ToFp32(b.d);
    const float dmin = Fp16ToFp32(b.dmin);
    for (int j = 0; j < 8; ++j) {
      uint8_t sc, m;
      ScaleMinK4(j, b.scales, &sc, &m);
      const float dl = d * static_cast<float>(sc);
      const float ml = dmin * static_cast<float>(m);
      const int c = j / 2, h = j % 2;
      for (int l = 0; l < 32; ++l) {
        const int low = (b.qs[32 * c + l] >> (4 * h)) & 0x0f;
        const int high = (b.qh[l] >> j) & 1;
        y[32 * j + l] = dl * static_cast<float>(low | high << 4) - ml;
      }
    }
  }
}

// Q6_K: 16 groups of 16 with signed 8-bit scales. Element e = 128*c + r
// (r < 128) takes its low four bits from nibble r/64 of ql[64*c + r % 64] and
// its top two bits from bits 2*(r/32).. of qh[32*c + r % 32];
// value = (d * scale) * (q - 32).
void DequantQ6_K(const uint8_t* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, src += sizeof(BlockQ6_K), y += kQK_K) {
    const auto b = LoadBlock<BlockQ6_K>(src);
    const float d = Fp16ToFp32(b.d);
    for (int e = 0; e < kQK_K; ++e) {
      const int c = e / 128, r = e % 128;
      const int low = (b.ql[64 * c + r % 64] >> (4 * (r / 64))) & 0x0f;
      const int high = (b.qh[32 * c + r % 32] >> (2 * (r / 32))) & 0x03;
      const float dl = d * static_cast<float>(b.scales[e / 16]);
      y[e] = dl * static_cast<float>((low | high << 4) - 32);
    }
  }
}

// Q8_K: a float32 scale; value = d * qs[j] (bsums are a dot-product aid).
void DequantQ8_K(const uint8_t* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, src += sizeof(BlockQ8_K), y += kQK_K) {
    const auto b = LoadBlock<BlockQ8_K>(src);
    for (int j = 0; j < kQK_K; ++j) y[j] = b.d * static_cast<float>(b.qs[j]);
  }
}

}  // namespace

bool DequantizeRow(GgmlType type, const void* src_void, float* dst, int64_t n) {
  const TypeTraits* traits = FindTypeTraits(static_cast<uint32_t>(type));
  if (traits == nullptr || !traits->can_dequantize || n < 0 || n % traits->block_elems != 0) {
    return false;
  }
  const auto* src = static_cast<const uint8_t*>(src_void);
  const int64_t nb = n / traits->block_elems;
  switch (type) {
    case GgmlType::kF32: DequantF32(src, dst, n); return true;
    case GgmlType::kF16: DequantF16(src, dst, n); return true;
    case GgmlType::kBF16: DequantBF16(src, dst, n); return true;
    case GgmlType::kQ4_0: DequantQ4_0(src, dst, nb); return true;
    case GgmlType::kQ4_1: DequantQ4_1(src, dst, nb); return true;
    case GgmlType::kQ5_0: DequantQ5_0(src, dst, nb); return true;
    case GgmlType::kQ5_1: DequantQ5_1(src, dst, nb); return true;
    case GgmlType::kQ8_0: DequantQ8_0(src, dst, nb); return true;
    case GgmlType::kQ2_K: DequantQ2_K(src, dst, nb); return true;
    case GgmlType::kQ3_K: DequantQ3_K(src, dst, nb); return true;
    case GgmlType::kQ4_K: DequantQ4_K(src, dst, nb); return true;
    case GgmlType::kQ5_K: DequantQ5_K(src, dst, nb); return true;
    case GgmlType::kQ6_K: DequantQ6_K(src, dst, nb); return true;
    case GgmlType::kQ8_K: DequantQ8_K(src, dst, nb); return true;
    default: return false;
  }
}

}  // namespace tandem::kernels
