#include "kernels/cuda/host_dequantize.h"

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

}  // namespace tandem::kernels::cuda
