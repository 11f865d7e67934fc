// GELU (the exact erf form BERT was trained with, not the tanh
// approximation): x * (1 + erf(x / sqrt 2)) / 2, in place over n floats.
// The AVX2 version evaluates erf with Abramowitz & Stegun 7.1.26 (absolute
// error <= 1.5e-7) and a vectorized exp, 8 lanes at a time: the scalar
// libm erff was 13% of the encoder's time. The scalar fallback uses
// std::erf. Results depend only on the element (no cross-lane math).
#pragma once

#include <cstdint>

#include "kernels/cpu/isa.h"

namespace tandem::embedding {

void GeluInPlace(float* x, int64_t n, kernels::Isa isa = kernels::ActiveIsa());

namespace internal {
using GeluFn = void (*)(float* x, int64_t n);
GeluFn GeluAvx2();  // nullptr when not built for x86-64 with AVX2+FMA
}  // namespace internal

}  // namespace tandem::embedding
