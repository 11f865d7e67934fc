// Instruction-set levels the CPU kernels are built for, and the run-time
// choice between them. The env var TANDEM_ISA=scalar|avx2|avx512 caps the
// level (for tests and benchmarks); a level the CPU lacks is never chosen.
#pragma once

namespace tandem::kernels {

enum class Isa { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

// Whether this CPU can run kernels of that level (AVX2 means AVX2+FMA+F16C;
// AVX512 means F/BW/VL/DQ + VNNI + VBMI: Ice Lake, Zen 4 and later).
bool IsaSupported(Isa isa);

// The level used by default: the best supported one, capped by TANDEM_ISA.
// Decided once per process (read-only afterwards).
Isa ActiveIsa();

const char* IsaName(Isa isa);

// Whether the CPU reports itself as AMD (CPUID vendor "AuthenticAMD"): the
// kernel tables choose between prefetch schemes that measured differently
// on AMD Zen 4 and Intel Sapphire Rapids. Decided once per process.
bool CpuIsAmd();

}  // namespace tandem::kernels
