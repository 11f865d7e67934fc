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

// The int8-activation product's device code (int8_blocks.cuh) for one Q4_K
// row against one quantized activation row (Int8Rows layout: qs[cols],
// d[cols / 256], sums[cols / 32]), blocks summed in order as the CPU scalar
// kernel does; qs 16-byte aligned. NaN for cols not a multiple of 256.
float DotQ4KInt8WithDeviceCode(const void* row, int64_t cols, const int8_t* qs, const float* d,
                               const int32_t* sums);

}  // namespace tandem::kernels::cuda
