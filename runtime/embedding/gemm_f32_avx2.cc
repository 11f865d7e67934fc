// AVX2+FMA tile of GemmF32 (this file alone is compiled with -mavx2 -mfma):
// up to 6 rows x 16 columns of accumulators (12 ymm registers), one
// broadcast of x and two FMAs per row and k. Each accumulator lane sums over
// k in order, one FMA per step, whatever the tile's row count. (Every loop
// over the rows is unrolled so that the accumulators never touch memory.)
#include "runtime/embedding/gemm_f32_tile.h"

#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

namespace tandem::embedding::internal {
namespace {

template <int R>
void Tile(const float* x, int64_t ldx, const float* panel, const float* bias, int64_t k, float* y, int64_t ldy,
          int cols) {
  __m256 lo[R], hi[R];
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) lo[r] = hi[r] = _mm256_setzero_ps();
  for (int64_t kk = 0; kk < k; ++kk) {
    const __m256 w0 = _mm256_loadu_ps(panel + kk * kGemmPanel);
    const __m256 w1 = _mm256_loadu_ps(panel + kk * kGemmPanel + 8);
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      const __m256 xv = _mm256_broadcast_ss(x + r * ldx + kk);
      lo[r] = _mm256_fmadd_ps(xv, w0, lo[r]);
      hi[r] = _mm256_fmadd_ps(xv, w1, hi[r]);
    }
  }
  const __m256 b0 = _mm256_loadu_ps(bias), b1 = _mm256_loadu_ps(bias + 8);
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
    lo[r] = _mm256_add_ps(lo[r], b0);
    hi[r] = _mm256_add_ps(hi[r], b1);
    if (cols == kGemmPanel) {
      _mm256_storeu_ps(y + r * ldy, lo[r]);
      _mm256_storeu_ps(y + r * ldy + 8, hi[r]);
    } else {
      alignas(32) float tmp[kGemmPanel];
      _mm256_store_ps(tmp, lo[r]);
      _mm256_store_ps(tmp + 8, hi[r]);
      for (int j = 0; j < cols; ++j) y[r * ldy + j] = tmp[j];
    }
  }
}

void TileAny(const float* x, int64_t ldx, int rows, const float* panel, const float* bias, int64_t k, float* y,
             int64_t ldy, int cols) {
  switch (rows) {
    case 6: return Tile<6>(x, ldx, panel, bias, k, y, ldy, cols);
    case 5: return Tile<5>(x, ldx, panel, bias, k, y, ldy, cols);
    case 4: return Tile<4>(x, ldx, panel, bias, k, y, ldy, cols);
    case 3: return Tile<3>(x, ldx, panel, bias, k, y, ldy, cols);
    case 2: return Tile<2>(x, ldx, panel, bias, k, y, ldy, cols);
    case 1: return Tile<1>(x, ldx, panel, bias, k, y, ldy, cols);
    default: return;
  }
}

}  // namespace

GemmTileFn GemmTileAvx2() { return &TileAny; }

}  // namespace tandem::embedding::internal
#else
namespace tandem::embedding::internal {
GemmTileFn GemmTileAvx2() { return nullptr; }
}  // namespace tandem::embedding::internal
#endif
