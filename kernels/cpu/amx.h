// AMX-INT8 tile products for Q4_K and Q6_K weights: the multi-row products of prefill
// and of batched decode, where the AVX-512 tiles are bound by the integer
// multiply rate (two multiply uops per 32 products). One TDPBUSD multiplies
// 16 weight rows by 16 activation rows over 64 elements (Q4_K: two
// sub-blocks, their scales folded into the weight bytes) or one 16-element
// sub-block (Q6_K).
//
// Numerics: every sub-block dot product is exact in int32, the 6-bit scales
// and mins are applied in integer arithmetic, and each superblock adds the
// scalar kernel's term (DotQ4_KRow: (d_x * d_w) * isum - (d_x * d_min) *
// msum, unfused) in superblock order, so each output is bitwise the scalar
// kernel's, and the AVX2/AVX-512 kernels' (dot_simd.inc): MatMul may mix them
// freely without breaking batch invariance.
//
// Layouts (all 64-byte aligned):
//  activations, per group of 16 rows and per superblock (kAmxActSuperblock
//  bytes): for each of the 8 sub-blocks, the 32 int8 codes of the 16 rows in
//  the tiles' VNNI order ([k / 4][row][k % 4], 512 bytes); the 32-element
//  sub-block sums as int16 pairs (sub-blocks 2p, 2p+1) per row (4 x 64
//  bytes); d per row (64 bytes); the 16-element sums (Q8_K's bsums) as int16
//  pairs per row (8 x 64 bytes). Rows past m are zero.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tandem::kernels {

inline constexpr int kAmxRows = 16;  // weight rows and activation rows per tile
inline constexpr size_t kAmxActSuperblock = 8 * 512 + 4 * 64 + 64 + 8 * 64;

// The CPU has AMX-TILE and AMX-INT8 (and the AVX-512 level the kernels use),
// and the kernel granted this process the tile state (arch_prctl
// ARCH_REQ_XCOMP_PERM). Decided once; TANDEM_AMX=0 turns it off.
bool AmxUsable();

// Whether this build compiled the tile kernel (a compiler without AMX
// support leaves a stub); part of AmxUsable().
bool AmxKernelCompiled();

// Bytes of the packed activations of m rows of `cols` (a multiple of 256).
size_t AmxActBytes(int64_t m, int64_t cols);

// Packs m Q8_K activation rows (row r at q8k + r * stride) into `out`
// (AmxActBytes(m, cols) bytes, 64-byte aligned).
void AmxPackQ8K(const uint8_t* q8k, size_t stride, int64_t m, int64_t cols, uint8_t* out);

// Bytes of the scratch the row products unpack their weight rows into
// (either type), for rows of `cols` elements.
size_t AmxWeightScratchBytes(int64_t cols);

// y[i * ldy + r] = dot(weight row r, activation row i) for r < nr (<= 16)
// Q4_K rows at w + r * w_stride and i < m packed activation rows: bitwise
// DotQ4_KRow. `scratch`: AmxWeightScratchBytes(cols) bytes, 64-byte aligned,
// owned by the calling thread (MatMul gives each thread its own, so the hot
// path allocates nothing). Only when AmxUsable().
void AmxQ4KRows(int64_t cols, const void* w, size_t w_stride, int nr, const uint8_t* acts, int64_t m, float* y,
                size_t ldy, uint8_t* scratch);
// The same for Q6_K rows: bitwise DotQ6_KRow.
void AmxQ6KRows(int64_t cols, const void* w, size_t w_stride, int nr, const uint8_t* acts, int64_t m, float* y,
                size_t ldy, uint8_t* scratch);

}  // namespace tandem::kernels
