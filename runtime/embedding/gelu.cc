#include "runtime/embedding/gelu.h"

#include <cmath>

namespace tandem::embedding {

void GeluInPlace(float* x, int64_t n, kernels::Isa isa) {
  int64_t done = 0;
  if (isa != kernels::Isa::kScalar && kernels::IsaSupported(kernels::Isa::kAvx2) && internal::GeluAvx2() != nullptr) {
    done = n / 8 * 8;
    internal::GeluAvx2()(x, done);
  }
  for (int64_t i = done; i < n; ++i) x[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * 0.70710678118654752f));
}

}  // namespace tandem::embedding
