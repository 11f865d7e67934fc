// Device-side dequantization of one 32-element "unit" of a ggml weight row.
// A unit is the granule the matrix-vector kernels hand to a lane: one block
// of the 32-element types, one sub-block of 32 of the 256-element K-quants,
// or 32 consecutive elements of F16/BF16/F32. Every formula is the one of
// kernels/cpu/dequantize.cc with the same operations in the same order
// (compiled with --fmad=false), so a unit's values equal DequantizeRow's bit
// for bit; tests/kernels/cuda holds them to that. The loaders are also host
// functions (host_dequantize.h), so CPU-only CI checks these formulas
// against the CPU dequantizers without a GPU.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <cstring>

#include "kernels/cpu/ggml_types.h"

namespace tandem::kernels::cuda {

#define TANDEM_HD __host__ __device__ __forceinline__
// Unrolled on the device; the host compiler (which sees the same loops in
// host_dequantize.cu) does not know the pragma.
#if defined(__CUDA_ARCH__)
#define TANDEM_UNROLL _Pragma("unroll")
#else
#define TANDEM_UNROLL
#endif

TANDEM_HD float BitsToFloat(uint32_t bits) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(bits);
#else
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
#endif
}

TANDEM_HD float HalfAt(const uint8_t* p) {
  const uint16_t bits = static_cast<uint16_t>(p[0] | (p[1] << 8));
  return __half2float(__ushort_as_half(bits));
}

TANDEM_HD float Bf16Bits(uint16_t b) { return BitsToFloat(static_cast<uint32_t>(b) << 16); }

// A 16-byte aligned load of four little-endian words (see the callers for why
// each address is aligned; the host path does not need it).
TANDEM_HD void Load16(const uint8_t* p, uint32_t* words) {
#if defined(__CUDA_ARCH__)
  const uint4 v = __ldg(reinterpret_cast<const uint4*>(p));
  words[0] = v.x;
  words[1] = v.y;
  words[2] = v.z;
  words[3] = v.w;
#else
  std::memcpy(words, p, 16);
#endif
}

// Units per row of `cols` elements (cols is a multiple of the block size).
__host__ __device__ constexpr int64_t UnitsPerRow(int64_t cols) { return cols / 32; }

template <GgmlType T>
struct Unit;

// Q4_0: element j < 16 is the low nibble of qs[j], j + 16 the high nibble; d * (q - 8).
template <>
struct Unit<GgmlType::kQ4_0> {
  TANDEM_HD static void Load(const uint8_t* row, int64_t u, float* y) {
    const uint8_t* b = row + u * sizeof(BlockQ4_0);
    const float d = HalfAt(b);
    const uint8_t* qs = b + 2;
TANDEM_UNROLL
    for (int j = 0; j < 16; ++j) {
      y[j] = d * static_cast<float>((qs[j] & 0x0f) - 8);
      y[j + 16] = d * static_cast<float>((qs[j] >> 4) - 8);
    }
  }
};

// Q4_1: d * q + m.
template <>
struct Unit<GgmlType::kQ4_1> {
  TANDEM_HD static void Load(const uint8_t* row, int64_t u, float* y) {
    const uint8_t* b = row + u * sizeof(BlockQ4_1);
    const float d = HalfAt(b), m = HalfAt(b + 2);
    const uint8_t* qs = b + 4;
TANDEM_UNROLL
    for (int j = 0; j < 16; ++j) {
      y[j] = d * static_cast<float>(qs[j] & 0x0f) + m;
      y[j + 16] = d * static_cast<float>(qs[j] >> 4) + m;
    }
  }
};

// Q5_0: Q4_0's nibbles plus bit j of the little-endian qh; d * (q - 16).
template <>
struct Unit<GgmlType::kQ5_0> {
  TANDEM_HD static void Load(const uint8_t* row, int64_t u, float* y) {
    const uint8_t* b = row + u * sizeof(BlockQ5_0);
    const float d = HalfAt(b);
    const uint32_t qh = static_cast<uint32_t>(b[2]) | static_cast<uint32_t>(b[3]) << 8 |
                        static_cast<uint32_t>(b[4]) << 16 | static_cast<uint32_t>(b[5]) << 24;
    const uint8_t* qs = b + 6;
TANDEM_UNROLL
    for (int j = 0; j < 16; ++j) {
      const int lo = (qs[j] & 0x0f) | static_cast<int>((qh >> j) & 1u) << 4;
      const int hi = (qs[j] >> 4) | static_cast<int>((qh >> (j + 16)) & 1u) << 4;
      y[j] = d * static_cast<float>(lo - 16);
      y[j + 16] = d * static_cast<float>(hi - 16);
    }
  }
};

// Q8_0: d * qs[j].
template <>
struct Unit<GgmlType::kQ8_0> {
  TANDEM_HD static void Load(const uint8_t* row, int64_t u, float* y) {
    const uint8_t* b = row + u * sizeof(BlockQ8_0);
    const float d = HalfAt(b);
    const int8_t* qs = reinterpret_cast<const int8_t*>(b + 2);
TANDEM_UNROLL
    for (int j = 0; j < 32; ++j) y[j] = d * static_cast<float>(qs[j]);
  }
};

// Byte k < 12 of the three little-endian words s0, s1, s2, by selects rather
// than an indexed array (a run-time index would put the array in local
// memory on the device).
TANDEM_HD int ByteOf(uint32_t s0, uint32_t s1, uint32_t s2, int k) {
  const uint32_t w = k < 4 ? s0 : (k < 8 ? s1 : s2);
  return static_cast<int>((w >> (8 * (k & 3))) & 0xffu);
}

TANDEM_HD float HalfBitsToFloat(uint32_t bits16) {
  return __half2float(__ushort_as_half(static_cast<uint16_t>(bits16 & 0xffffu)));
}

// d, dmin and the 6-bit scale and min of sub-block j of Q4_K/Q5_K
// (ScaleMinK4 in kernels/cpu/dequantize.cc) from the block header read as
// four words: d | dmin << 16, then the 12 scale bytes in words 1..3. One
// 16-byte load instead of six byte loads (K-quant blocks are 16-byte
// aligned, as Load16 needs).
TANDEM_HD void HeaderK4(const uint32_t* h, int j, float* d, float* dmin, int* scale, int* min) {
  *d = HalfBitsToFloat(h[0]);
  *dmin = HalfBitsToFloat(h[0] >> 16);
  if (j < 4) {
    *scale = ByteOf(h[1], h[2], h[3], j) & 63;
    *min = ByteOf(h[1], h[2], h[3], j + 4) & 63;
  } else {
    *scale = (ByteOf(h[1], h[2], h[3], j + 4) & 0x0f) | (ByteOf(h[1], h[2], h[3], j - 4) >> 6) << 4;
    *min = (ByteOf(h[1], h[2], h[3], j + 4) >> 4) | (ByteOf(h[1], h[2], h[3], j) >> 6) << 4;
  }
}

// Q4_K sub-block j = u % 8 of block u / 8: nibble j % 2 of qs[32 * (j / 2) + l].
template <>
struct Unit<GgmlType::kQ4_K> {
  TANDEM_HD static void Load(const uint8_t* row, int64_t u, float* y) {
    const uint8_t* b = row + (u / 8) * sizeof(BlockQ4_K);
    const int j = static_cast<int>(u % 8);
    uint32_t hdr[4];
    Load16(b, hdr);
    float d, dmin;
    int sc, m;
    HeaderK4(hdr, j, &d, &dmin, &sc, &m);
    const float dl = d * static_cast<float>(sc);
    const float ml = dmin * static_cast<float>(m);
    // qs sits at offset 16 of a 144-byte block: 16-byte loads (aligned base).
    uint32_t w[8];
    Load16(b + 4 + kKScaleSize + 32 * (j / 2), w);
    Load16(b + 4 + kKScaleSize + 32 * (j / 2) + 16, w + 4);
    const int shift = 4 * (j % 2);
TANDEM_UNROLL
    for (int l = 0; l < 32; ++l) {
      const int q = static_cast<int>((w[l / 4] >> (8 * (l % 4) + shift)) & 0x0fu);
      y[l] = dl * static_cast<float>(q) - ml;
    }
  }
};

// Q5_K: Q4_K plus bit j of qh[l].
template <>
struct Unit<GgmlType::kQ5_K> {
  TANDEM_HD static void Load(const uint8_t* row, int64_t u, float* y) {
    const uint8_t* b = row + (u / 8) * sizeof(BlockQ5_K);
    const int j = static_cast<int>(u % 8);
    uint32_t hdr[4];
    Load16(b, hdr);
    float d, dmin;
    int sc, m;
    HeaderK4(hdr, j, &d, &dmin, &sc, &m);
    const float dl = d * static_cast<float>(sc);
    const float ml = dmin * static_cast<float>(m);
    // qh at offset 16 and qs at 48 of a 176-byte block: 16-byte loads.
    uint32_t h[8], w[8];
    Load16(b + 16, h);
    Load16(b + 32, h + 4);
    Load16(b + 48 + 32 * (j / 2), w);
    Load16(b + 48 + 32 * (j / 2) + 16, w + 4);
    const int shift = 4 * (j % 2);
TANDEM_UNROLL
    for (int l = 0; l < 32; ++l) {
      const int low = static_cast<int>((w[l / 4] >> (8 * (l % 4) + shift)) & 0x0fu);
      const int high = static_cast<int>((h[l / 4] >> (8 * (l % 4) + j)) & 1u);
      y[l] = dl * static_cast<float>(low | high << 4) - ml;
    }
  }
};

// Q6_K: element e = 128 c + r takes nibble r / 64 of ql[64 c + r % 64] and
// bits 2 (r / 32).. of qh[32 c + r % 32]; (d * scales[e / 16]) * (q - 32).
template <>
struct Unit<GgmlType::kQ6_K> {
  TANDEM_HD static void Load(const uint8_t* row, int64_t u, float* y) {
    const uint8_t* b = row + (u / 8) * sizeof(BlockQ6_K);
    const int k = static_cast<int>(u % 8);
    const uint8_t* ql = b;
    const uint8_t* qh = b + kQK_K / 2;
    const int8_t* scales = reinterpret_cast<const int8_t*>(b + kQK_K / 2 + kQK_K / 4);
    const float d = HalfAt(b + kQK_K / 2 + kQK_K / 4 + kQK_K / 16);
TANDEM_UNROLL
    for (int i = 0; i < 32; ++i) {
      const int e = 32 * k + i;
      const int c = e / 128, r = e % 128;
      const int low = (ql[64 * c + r % 64] >> (4 * (r / 64))) & 0x0f;
      const int high = (qh[32 * c + r % 32] >> (2 * (r / 32))) & 0x03;
      const float dl = d * static_cast<float>(scales[e / 16]);
      y[i] = dl * static_cast<float>((low | high << 4) - 32);
    }
  }
};

// The plain types read a unit with 16-byte loads: a unit of F16/BF16 is 64
// bytes and of F32 128 bytes, so with a 16-byte aligned weight base (MatVec
// checks it) every unit is 16-byte aligned.

template <>
struct Unit<GgmlType::kF16> {
  TANDEM_HD static void Load(const uint8_t* row, int64_t u, float* y) {
    uint32_t w[16];
TANDEM_UNROLL
    for (int q = 0; q < 4; ++q) Load16(row + u * 64 + 16 * q, w + 4 * q);
TANDEM_UNROLL
    for (int i = 0; i < 16; ++i) {
      y[2 * i] = __half2float(__ushort_as_half(static_cast<uint16_t>(w[i] & 0xffffu)));
      y[2 * i + 1] = __half2float(__ushort_as_half(static_cast<uint16_t>(w[i] >> 16)));
    }
  }
};

template <>
struct Unit<GgmlType::kBF16> {
  TANDEM_HD static void Load(const uint8_t* row, int64_t u, float* y) {
    uint32_t w[16];
TANDEM_UNROLL
    for (int q = 0; q < 4; ++q) Load16(row + u * 64 + 16 * q, w + 4 * q);
TANDEM_UNROLL
    for (int i = 0; i < 16; ++i) {
      y[2 * i] = Bf16Bits(static_cast<uint16_t>(w[i] & 0xffffu));
      y[2 * i + 1] = Bf16Bits(static_cast<uint16_t>(w[i] >> 16));
    }
  }
};

template <>
struct Unit<GgmlType::kF32> {
  TANDEM_HD static void Load(const uint8_t* row, int64_t u, float* y) {
    uint32_t w[32];
TANDEM_UNROLL
    for (int q = 0; q < 8; ++q) Load16(row + u * 128 + 16 * q, w + 4 * q);
TANDEM_UNROLL
    for (int i = 0; i < 32; ++i) y[i] = BitsToFloat(w[i]);
  }
};

// Calls f.template operator()<T>() for the runtime type; false for a type
// without device kernels.
template <typename F>
bool DispatchType(GgmlType type, F&& f) {
  switch (type) {
    case GgmlType::kQ4_0: f.template operator()<GgmlType::kQ4_0>(); return true;
    case GgmlType::kQ4_1: f.template operator()<GgmlType::kQ4_1>(); return true;
    case GgmlType::kQ5_0: f.template operator()<GgmlType::kQ5_0>(); return true;
    case GgmlType::kQ8_0: f.template operator()<GgmlType::kQ8_0>(); return true;
    case GgmlType::kQ4_K: f.template operator()<GgmlType::kQ4_K>(); return true;
    case GgmlType::kQ5_K: f.template operator()<GgmlType::kQ5_K>(); return true;
    case GgmlType::kQ6_K: f.template operator()<GgmlType::kQ6_K>(); return true;
    case GgmlType::kF16: f.template operator()<GgmlType::kF16>(); return true;
    case GgmlType::kBF16: f.template operator()<GgmlType::kBF16>(); return true;
    case GgmlType::kF32: f.template operator()<GgmlType::kF32>(); return true;
    default: return false;
  }
}

}  // namespace tandem::kernels::cuda
