// Scalar reference dequantizers: one row of a ggml-typed tensor to float32.
// Bit-exact with ggml's (and the `gguf` Python package's) reference
// dequantization: every product is rounded to float in the same order, and
// this file is compiled without FMA contraction so no fused multiply-add can
// change a result. The fast kernels are tested against these.
#pragma once

#include <cstdint>

#include "kernels/cpu/ggml_types.h"

namespace tandem::kernels {

// Dequantizes n elements starting at the beginning of a row (src points at the
// first block). n must be a multiple of the type's block size. Returns false,
// writing nothing, for a type without a dequantizer or a bad n.
bool DequantizeRow(GgmlType type, const void* src, float* dst, int64_t n);

}  // namespace tandem::kernels
