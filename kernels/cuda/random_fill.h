// Synthetic weights generated on the device, for benchmarks and GPU checks
// in real model shapes (an 8B model's 16 GB of F16 weights cannot travel
// with the source tree, and generating them on the host would dominate the
// check's time budget). Random code bytes with every scale field set to a
// finite, normal fp16 value (K-quant sub-block scales small, offsets that
// centre the codes), so dequantized values have mean ~0 and magnitude
// ~typical; deterministic in the seed. Plain types only (nvcc compiles this
// header).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "kernels/cpu/ggml_types.h"

namespace tandem::kernels::cuda {

// Fills rows x cols weights of `type` (row_bytes = RowBytes(type, cols))
// at device pointer w. `typical`: the magnitude of a dequantized value.
// cudaErrorInvalidValue for a type without device kernels.
cudaError_t FillRandomWeights(GgmlType type, void* w, int64_t rows, int64_t cols, size_t row_bytes, uint64_t seed,
                              float typical, cudaStream_t stream);

// n floats uniform in [-scale, scale) (activations, norm weights around 1
// with offset = 1).
cudaError_t FillRandomFloats(float* x, int64_t n, uint64_t seed, float scale, float offset, cudaStream_t stream);

}  // namespace tandem::kernels::cuda
