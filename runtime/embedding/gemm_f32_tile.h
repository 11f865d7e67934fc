// The per-ISA tile functions behind GemmF32 (gemm_f32.h). Kept apart so that
// the AVX2 translation unit includes nothing but this (no inline library
// code compiled with AVX2 that the linker could pick for other callers).
#pragma once

#include <cstdint>

namespace tandem::embedding {

inline constexpr int kGemmPanel = 16;  // output columns per packed panel

namespace internal {
// One tile: rows [0, rows) (rows <= 6) of x against a packed panel (k x 16),
// writing columns [0, cols) (cols <= 16) of y = x W^T + bias.
using GemmTileFn = void (*)(const float* x, int64_t ldx, int rows, const float* panel, const float* bias,
                            int64_t k, float* y, int64_t ldy, int cols);
GemmTileFn GemmTileScalar();
GemmTileFn GemmTileAvx2();  // nullptr when not built for x86-64 with AVX2+FMA
}  // namespace internal

}  // namespace tandem::embedding
