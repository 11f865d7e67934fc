// The device dequantizers (quant_blocks.cuh) compiled for the host: the very
// source the GPU kernels inline, run on the CPU so that CI machines without a
// GPU check the GPU's block layouts and formulas against kernels/cpu's
// reference dequantizers, bit for bit. Plain types (nvcc compiles this).
#pragma once

#include <cstdint>

#include "kernels/cpu/ggml_types.h"

namespace tandem::kernels::cuda {

// out[0, cols) = row dequantized by the device code's loaders, unit by unit.
// False for a type without device kernels or cols not a multiple of 32.
bool DequantizeRowWithDeviceCode(GgmlType type, const void* row, int64_t cols, float* out);

}  // namespace tandem::kernels::cuda
