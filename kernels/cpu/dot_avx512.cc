// AVX-512 (VL/BW) + VNNI build of the fast row kernels (see dot_simd.inc):
// the same 256-bit algorithms with vpdpbusd/vpdpwssd replacing the
// maddubs/madd/add chains and mask moves for the Q5 fifth bits.
#include "kernels/cpu/dot_kernels.h"

#if defined(__x86_64__) && defined(__AVX512VL__) && defined(__AVX512BW__) && defined(__AVX512VNNI__) && \
    defined(__AVX512VBMI__)
#define TANDEM_SIMD_NS avx512_impl
#define TANDEM_SIMD_ISA Isa::kAvx512
#define TANDEM_VNNI 1
// GCC 12 warns that the _mm512_undefined_*() inside its own broadcast,
// insert and extract intrinsics are (maybe) uninitialized: a false positive
// of the intrinsic header (GCC bug 105593), reported at the header's lines.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "kernels/cpu/dot_simd.inc"

namespace tandem::kernels {
const CpuKernels* Avx512Kernels() {
  static const CpuKernels k = avx512_impl::MakeKernels();
  return &k;
}
}  // namespace tandem::kernels
#else
namespace tandem::kernels {
const CpuKernels* Avx512Kernels() { return nullptr; }
}  // namespace tandem::kernels
#endif
