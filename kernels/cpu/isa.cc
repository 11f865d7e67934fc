#include "kernels/cpu/isa.h"

#include <cstdlib>
#include <cstring>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace tandem::kernels {

namespace {

#if defined(__x86_64__)
// One CPUID leaf's registers. Each leaf tandem needs is read once into a
// function-local static: CPUID traps to the hypervisor in a VM (microseconds),
// and MatMul asks IsaSupported and CpuIsAmd on every call (a decode step makes
// hundreds): asking each time cost ~1.7 % of a Qwen2.5-Coder-1.5B decode step.
struct CpuidLeaf {
  bool valid = false;
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
};

CpuidLeaf ReadCpuidLeaf(unsigned leaf) {
  CpuidLeaf r;
  r.valid = __get_cpuid(leaf, &r.eax, &r.ebx, &r.ecx, &r.edx) != 0;
  return r;
}

// F16C from CPUID leaf 1 (ECX bit 29): clang's __builtin_cpu_supports does not
// know "f16c" (GCC's does), and the fuzz build compiles this file with clang.
bool HasF16c() {
  static const CpuidLeaf leaf1 = ReadCpuidLeaf(1);
  return leaf1.valid && (leaf1.ecx & bit_F16C) != 0;
}
#endif

}  // namespace

bool CpuIsAmd() {
#if defined(__x86_64__)
  // Leaf 0 spells the vendor in EBX, EDX, ECX, in that order.
  static const bool amd = [] {
    const CpuidLeaf leaf0 = ReadCpuidLeaf(0);
    if (!leaf0.valid) return false;
    char vendor[12];
    std::memcpy(vendor, &leaf0.ebx, 4);
    std::memcpy(vendor + 4, &leaf0.edx, 4);
    std::memcpy(vendor + 8, &leaf0.ecx, 4);
    return std::memcmp(vendor, "AuthenticAMD", 12) == 0;
  }();
  return amd;
#else
  return false;
#endif
}

bool IsaSupported(Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return true;
    case Isa::kAvx2:
#if defined(__x86_64__)
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && HasF16c();
#else
      return false;
#endif
    case Isa::kAvx512:
#if defined(__x86_64__)
      return IsaSupported(Isa::kAvx2) && __builtin_cpu_supports("avx512f") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vnni") &&
             __builtin_cpu_supports("avx512vbmi");
#else
      return false;
#endif
  }
  return false;
}

namespace {

Isa DecideIsa() {
  Isa best = Isa::kScalar;
  if (IsaSupported(Isa::kAvx512)) {
    best = Isa::kAvx512;
  } else if (IsaSupported(Isa::kAvx2)) {
    best = Isa::kAvx2;
  }
  const char* env = std::getenv("TANDEM_ISA");
  if (env == nullptr) return best;
  Isa cap = best;
  if (std::strcmp(env, "scalar") == 0) cap = Isa::kScalar;
  if (std::strcmp(env, "avx2") == 0) cap = Isa::kAvx2;
  if (std::strcmp(env, "avx512") == 0) cap = Isa::kAvx512;
  return static_cast<int>(cap) < static_cast<int>(best) ? cap : best;
}

}  // namespace

Isa ActiveIsa() {
  static const Isa isa = DecideIsa();
  return isa;
}

const char* IsaName(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512vnni";
  }
  return "unknown";
}

}  // namespace tandem::kernels
