// ggml tensor types as they appear in GGUF files: the numeric type ids and the
// exact on-disk block layouts. One definition shared by the GGUF reader, the
// dequantizers and the dot-product kernels, so a layout can never disagree
// between them. Layouts follow ggml's ggml-common.h byte for byte.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tandem::kernels {

// Type ids are fixed by the GGUF format; gaps are types ggml removed.
enum class GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kIQ2_XXS = 16,
  kIQ2_XS = 17,
  kIQ3_XXS = 18,
  kIQ1_S = 19,
  kIQ4_NL = 20,
  kIQ3_S = 21,
  kIQ2_S = 22,
  kIQ4_XS = 23,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kIQ1_M = 29,
  kBF16 = 30,
};

struct TypeTraits {
  const char* name;       // ggml's name, e.g. "q4_K"
  int64_t block_elems;    // elements per block (1 for plain types)
  size_t block_bytes;     // bytes per block
  bool can_dequantize;    // tandem has a dequantizer for it
};

// Traits of a type id read from a file; nullptr for an id tandem does not know
// (the caller turns that into a clear error naming the tensor).
const TypeTraits* FindTypeTraits(uint32_t type_id);

// Bytes of one row of n elements, or 0 when n is not a multiple of the block size.
size_t RowBytes(GgmlType type, int64_t n);

using ggml_half = uint16_t;  // IEEE binary16 bits
using ggml_bf16 = uint16_t;  // bfloat16 bits

inline constexpr int kQK4_0 = 32;
inline constexpr int kQK4_1 = 32;
inline constexpr int kQK5_0 = 32;
inline constexpr int kQK5_1 = 32;
inline constexpr int kQK8_0 = 32;
inline constexpr int kQK8_1 = 32;
inline constexpr int kQK_K = 256;
inline constexpr int kKScaleSize = 12;

struct BlockQ4_0 { ggml_half d; uint8_t qs[kQK4_0 / 2]; };
struct BlockQ4_1 { ggml_half d; ggml_half m; uint8_t qs[kQK4_1 / 2]; };
struct BlockQ5_0 { ggml_half d; uint8_t qh[4]; uint8_t qs[kQK5_0 / 2]; };
struct BlockQ5_1 { ggml_half d; ggml_half m; uint8_t qh[4]; uint8_t qs[kQK5_1 / 2]; };
struct BlockQ8_0 { ggml_half d; int8_t qs[kQK8_0]; };
struct BlockQ8_1 { ggml_half d; ggml_half s; int8_t qs[kQK8_1]; };
struct BlockQ2_K { uint8_t scales[kQK_K / 16]; uint8_t qs[kQK_K / 4]; ggml_half d; ggml_half dmin; };
struct BlockQ3_K { uint8_t hmask[kQK_K / 8]; uint8_t qs[kQK_K / 4]; uint8_t scales[12]; ggml_half d; };
struct BlockQ4_K { ggml_half d; ggml_half dmin; uint8_t scales[kKScaleSize]; uint8_t qs[kQK_K / 2]; };
struct BlockQ5_K { ggml_half d; ggml_half dmin; uint8_t scales[kKScaleSize]; uint8_t qh[kQK_K / 8]; uint8_t qs[kQK_K / 2]; };
struct BlockQ6_K { uint8_t ql[kQK_K / 2]; uint8_t qh[kQK_K / 4]; int8_t scales[kQK_K / 16]; ggml_half d; };
struct BlockQ8_K { float d; int8_t qs[kQK_K]; int16_t bsums[kQK_K / 16]; };

static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ8_1) == 36);
static_assert(sizeof(BlockQ2_K) == 84);
static_assert(sizeof(BlockQ3_K) == 110);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockQ8_K) == 292);

}  // namespace tandem::kernels
