#include "kernels/cuda/host_dequantize.h"

#include <cmath>

#include "kernels/cuda/int8_blocks.cuh"
#include "kernels/cuda/quant_blocks.cuh"

namespace tandem::kernels::cuda {

bool DequantizeRowWithDeviceCode(GgmlType type, const void* row, int64_t cols, float* out) {
  if (cols <= 0 || cols % 32 != 0 || RowBytes(type, cols) == 0) return false;
  const auto* r = static_cast<const uint8_t*>(row);
  auto run = [&]<GgmlType T>() {
    for (int64_t u = 0; u < UnitsPerRow(cols); ++u) Unit<T>::Load(r, u, out + 32 * u);
  };
  return DispatchType(type, run);
}

float DotQ4KInt8WithDeviceCode(const void* row, int64_t cols, const int8_t* qs, const float* d,
                               const int32_t* sums) {
  if (cols <= 0 || cols % 256 != 0) return std::nanf("");
  const auto* r = static_cast<const uint8_t*>(row);
  float sum = 0.0f;
  for (int64_t b = 0; b < cols / 256; ++b) {
    const uint8_t* blk = r + b * sizeof(BlockQ4_K);
    int isum = 0, msum = 0;
    for (int c = 0; c < 4; ++c) {
      Q4KPairDot(LoadQ4KPair(blk, c), qs + b * 256 + 64 * c, sums[b * 8 + 2 * c], sums[b * 8 + 2 * c + 1], &isum,
                 &msum);
    }
    sum += Q4KBlockTerm(blk, d[b], isum, msum);
  }
  return sum;
}

}  // namespace tandem::kernels::cuda
