// Weight quantizers: float rows into a ggml block type, for weights that are
// re-quantized at load (runtime::ModelOptions::requantize: a draft model
// streamed with fewer bytes per weight). Scalar: it runs once per weight.
#pragma once

#include <cstdint>
#include <string_view>

#include "kernels/cpu/ggml_types.h"

namespace tandem::kernels {

// Whether QuantizeRow can write `type`.
bool CanQuantize(GgmlType type);

// The type QuantizeRow writes for its ggml name ("q4_0", "q8_0"); false for
// any other name. kQuantizeTypeNames lists them, for messages.
bool QuantizeTypeFromName(std::string_view name, GgmlType* type);
inline constexpr const char* kQuantizeTypeNames = "q4_0 or q8_0";

// Quantizes n floats (a multiple of the type's block size) into RowBytes(type, n)
// bytes at dst. Returns false, writing nothing, for a type CanQuantize rejects or
// a bad n.
//
// Q4_0, per block of 32: the element of largest magnitude m sets d = m / -8
// (so m itself maps to code 0 exactly, and the rest of the range is
// [-8, 7] * d), codes round(x / d) + 8 clamped to 0..15, d stored as fp16; as
// ggml's reference quantizer, so a file written from the result reads back
// as llama.cpp would read it.
// Q8_0, per block of 32: d = max|x| / 127, codes round(x / d).
bool QuantizeRow(GgmlType type, const float* x, void* dst, int64_t n);

}  // namespace tandem::kernels
