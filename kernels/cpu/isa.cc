#include "kernels/cpu/isa.h"

#include <cstdlib>
#include <cstring>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace tandem::kernels {

namespace {

#if defined(__x86_64__)
// F16C from CPUID leaf 1 (ECX bit 29): clang's __builtin_cpu_supports does not
// know "f16c" (GCC's does), and the fuzz build compiles this file with clang.
// Decided once: CPUID traps to the hypervisor in a VM (microseconds), and
// MatMul asks IsaSupported on every call (a decode step makes hundreds):
// asking each time cost ~1.7 % of a Qwen2.5-Coder-1.5B decode step.
bool HasF16c() {
  static const bool has = [] {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0) return false;
    return (ecx & bit_F16C) != 0;
  }();
  return has;
}
#endif

}  // namespace

bool CpuIsAmd() {
#if defined(__x86_64__)
  static const bool amd = [] {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (__get_cpuid(0, &eax, &ebx, &ecx, &edx) == 0) return false;
    char vendor[12];
    std::memcpy(vendor, &ebx, 4);
    std::memcpy(vendor + 4, &edx, 4);
    std::memcpy(vendor + 8, &ecx, 4);
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
