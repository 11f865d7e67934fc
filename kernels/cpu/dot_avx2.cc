// AVX2 + FMA + F16C build of the fast row kernels (see dot_simd.inc).
#include "kernels/cpu/dot_kernels.h"

#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define TANDEM_SIMD_NS avx2_impl
#define TANDEM_SIMD_ISA Isa::kAvx2
#include "kernels/cpu/dot_simd.inc"

namespace tandem::kernels {
const CpuKernels* Avx2Kernels() {
  static const CpuKernels k = avx2_impl::MakeKernels();
  return &k;
}
}  // namespace tandem::kernels
#else
namespace tandem::kernels {
const CpuKernels* Avx2Kernels() { return nullptr; }
}  // namespace tandem::kernels
#endif
