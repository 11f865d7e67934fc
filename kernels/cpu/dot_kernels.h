// The per-ISA table of row kernels behind MatMul: activation quantizers and
// "one weight row times up to kMaxNx activation rows" dot products. Exposed
// (rather than hidden in matmul.cc) so tests can hold every fast kernel
// against the scalar reference, and benchmarks can pin a level.
//
// Activation formats (what a quantizer writes, one row at a time):
//  * Q8A, for the 32-element weight blocks (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0):
//      int8  qs[n]       q = round(x / d), |q| <= 127 (symmetric, so the
//                        sign trick of the Q8_0 kernel cannot overflow)
//      float ds[n/32][2] per block (d, s): the scale d, and s = d * sum(qs),
//                        the term that carries Q4_1/Q5_1's min (interleaved
//                        so one 16-byte load feeds two blocks)
//      int32 corr[n/32]  -K * sum(qs of the block); K is the offset of the
//                        weight type's unsigned codes (8 for Q4_0, 16 for
//                        Q5_0, 128 for Q8_0 in the AVX-512 kernels, else 0), so the kernels can multiply unsigned
//                        weight codes and start the integer accumulator at
//                        corr: exact integer results, no extra work per row
//    Equivalent to ggml's Q8_0 / Q8_1 pair, with fp32 rather than fp16 scales.
//  * Q8K, for the K-quants: BlockQ8_K[n/256] (d, qs[256], bsums[16]), with
//    symmetric 127 quantization.
//  * F32, for F32/F16/BF16 weights and the dequantize fallback: the fp32
//    activation rows themselves.
// Row strides are rounded up to 64 bytes.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/cpu/ggml_types.h"
#include "kernels/cpu/isa.h"

namespace tandem::kernels {

inline constexpr int kMaxNx = 4;         // activation rows per dot call
inline constexpr int kNumTypeIds = 31;   // GgmlType ids are < 31

enum class ActFormat { kF32, kQ8A, kQ8K };

// The activation format a weight type's kernel consumes.
ActFormat ActFormatFor(GgmlType type);
// The corr multiplier K described above for a weight type.
int32_t Q8ACorrK(GgmlType type);

inline size_t AlignUp64(size_t v) { return (v + 63) & ~static_cast<size_t>(63); }
inline size_t Q8ARowBytes(int64_t n) { return AlignUp64(static_cast<size_t>(n) + 12 * static_cast<size_t>(n / 32)); }
inline size_t Q8KRowBytes(int64_t n) { return AlignUp64(static_cast<size_t>(n / 256) * sizeof(BlockQ8_K)); }

// Quantizes one fp32 row of n elements (n a multiple of the block size).
using QuantizeRowFn = void (*)(const float* x, uint8_t* out, int64_t n, int32_t corr_k);

// out[j] = dot(weight row w, activation row j) for j < nx (1 <= nx <= kMaxNx);
// activation row j starts at x + j * x_stride. n is the row length in
// elements. The weight row is decoded once and reused for all nx rows.
using RowDotFn = void (*)(int64_t n, const void* w, const uint8_t* x, size_t x_stride, int nx,
                          float* out);

// The matrix-vector form: out[r] = dot(weight row r, activation row x) for
// r < nr (1 <= nr <= kMaxNr), weight row r at w + r * w_stride. Several rows
// per call share the activation loads and amortize the per-row call and
// reduction overhead, which is a sixth of the time for 576-wide rows.
inline constexpr int kMaxNr = 4;
using MultiRowDotFn = void (*)(int64_t n, const void* w, size_t w_stride, int nr, const uint8_t* x,
                               float* out);

// The matrix-matrix form: a tile of nr weight rows (1 <= nr <= kTileRows)
// times nx activation rows (1 <= nx <= kMaxTileNx); out[j * ldo + r]
// receives dot(weight row r, activation row j), so a caller can write
// straight into y. Each weight block is decoded once per tile and each
// activation block loaded once per tile (prefill and multi-token
// verification). kMaxTileNx is 8 so that a verify block of gamma + 1 <= 8
// tokens, or up to 8 batched sessions, decode every weight row once.
inline constexpr int kTileRows = 2;
inline constexpr int kMaxTileNx = 8;
using TileDotFn = void (*)(int64_t n, const void* w, size_t w_stride, int nr, const uint8_t* x,
                           size_t x_stride, int nx, float* out, size_t ldo);

// A second copy of a quantized activation row's codes in the order a
// level's tile kernel for one weight type reads (the AVX-512 Q4_K kernel:
// transposed so that each int32 lane of a vpdpbusd sums a single sub-block,
// see dot_simd.inc). For Q8_K rows it is
// written after the row's blocks, at row + Q8KRowBytes(n), Q8KTailBytes(n)
// bytes; the activation rows such a tile kernel reads are then
// Q8KRowBytes(n) + Q8KTailBytes(n) bytes apart. Built once per activation
// row and MatMul call, and read by every weight row.
//
// Q8A rows likewise (the AVX2 Q4_0/Q5_0 tile: per group of four blocks the
// codes transposed by dwords, then the four scales and corrections, zero past
// the last block), at row + Q8ARowBytes(n), Q8ATailBytes(n) bytes.
using ActTailFn = void (*)(uint8_t* row, int64_t n);
inline size_t Q8KTailBytes(int64_t n) { return static_cast<size_t>(n); }
inline constexpr size_t kQ8AGroupTailBytes = 160;
inline size_t Q8ATailBytes(int64_t n) { return static_cast<size_t>((n / 32 + 3) / 4) * kQ8AGroupTailBytes; }

struct CpuKernels {
  Isa isa = Isa::kScalar;
  QuantizeRowFn quantize_q8a = nullptr;
  QuantizeRowFn quantize_q8k = nullptr;
  RowDotFn dot[kNumTypeIds] = {};  // by type id; nullptr: no kernel at this level
  // Optional (nullptr: MatMul calls dot row by row); bitwise the same
  // result as dot for every output, whatever nr and the row's position.
  MultiRowDotFn dot_rows[kNumTypeIds] = {};
  // Optional (nullptr: MatMul calls dot per weight row); bitwise the same
  // result as dot for every output, whatever nr, nx and the position.
  TileDotFn dot_tile[kNumTypeIds] = {};
  // Non-null where dot_tile of that type reads an activation tail (ActTailFn);
  // dot and dot_rows never do.
  ActTailFn act_tail[kNumTypeIds] = {};
  // Where non-zero, the widest rows (in elements) whose tile reads the tail:
  // wider rows take a tile form that does not (the AVX2 Q4_K tile above
  // 2048 columns), so MatMul builds no tail for them. 0: every width.
  int64_t act_tail_max_cols[kNumTypeIds] = {};
  // True where this level's one-activation-row forms (dot with nx = 1,
  // dot_rows) / tile form for the type prefetch the weights they are about
  // to read themselves, between their products; MatMul then leaves it to
  // them instead of requesting the rows in one burst before the call.
  bool row_prefetches[kNumTypeIds] = {};
  bool tile_prefetches[kNumTypeIds] = {};
};

const CpuKernels& ScalarKernels();
// nullptr when the binary was built without that level; callers must also
// check IsaSupported before running them.
const CpuKernels* Avx2Kernels();
const CpuKernels* Avx512Kernels();

// The table for a level, falling back to the best lower level the CPU runs.
const CpuKernels& KernelsFor(Isa isa);

// The 6-bit scales sc[8] and mins m[8] of a Q4_K/Q5_K block's 12 scale bytes.
void UnpackScalesMinsK4(const uint8_t* s, uint8_t* sc, uint8_t* m);

// Dot of a weight row of any dequantizable type with an fp32 row, through
// DequantizeRow in 256-element pieces (types without a dedicated kernel).
void DotDequantFallback(GgmlType type, int64_t n, const void* w, const uint8_t* x,
                        size_t x_stride, int nx, float* out);

}  // namespace tandem::kernels
