// The portable half of the AMX path: whether it may run, and the activation
// packing (plain C++; the tile kernel itself is kquants_amx.cc).
#include "kernels/cpu/amx.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include "kernels/cpu/ggml_types.h"
#include "kernels/cpu/isa.h"

#if defined(__x86_64__) && defined(__linux__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace tandem::kernels {

namespace {

bool DecideAmx() {
#if defined(__x86_64__) && defined(__linux__)
  const char* env = std::getenv("TANDEM_AMX");
  if (env != nullptr && std::string(env) == "0") return false;
  if (!AmxKernelCompiled() || !IsaSupported(Isa::kAvx512)) return false;
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d) == 0) return false;
  constexpr unsigned kAmxTile = 1u << 24, kAmxInt8 = 1u << 25;
  if ((d & kAmxTile) == 0 || (d & kAmxInt8) == 0) return false;
  // Linux hands out the 8 KB tile state only on request (ARCH_REQ_XCOMP_PERM
  // for XFEATURE_XTILEDATA); without it the first tile instruction faults.
  constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}

}  // namespace

bool AmxUsable() {
  static const bool usable = DecideAmx();  // once per process, read-only afterwards
  return usable;
}

size_t AmxActBytes(int64_t m, int64_t cols) {
  const auto groups = static_cast<size_t>((m + kAmxRows - 1) / kAmxRows);
  return groups * static_cast<size_t>(cols / 256) * kAmxActSuperblock;
}

void AmxPackQ8K(const uint8_t* q8k, size_t stride, int64_t m, int64_t cols, uint8_t* out) {
  const int64_t nsb = cols / 256;
  std::memset(out, 0, AmxActBytes(m, cols));  // rows past m stay zero
  for (int64_t row = 0; row < m; ++row) {
    const auto* x = reinterpret_cast<const BlockQ8_K*>(q8k + static_cast<size_t>(row) * stride);
    const int64_t g = row / kAmxRows;
    const int i = static_cast<int>(row % kAmxRows);
    for (int64_t b = 0; b < nsb; ++b) {
      uint8_t* sb = out + static_cast<size_t>(g * nsb + b) * kAmxActSuperblock;
      // Codes of sub-block j in VNNI order: [k / 4][row][k % 4].
      for (int j = 0; j < 8; ++j) {
        for (int kk = 0; kk < 8; ++kk) std::memcpy(sb + j * 512 + kk * 64 + i * 4, x[b].qs + 32 * j + 4 * kk, 4);
      }
      // Sub-block sums (two 16-element bsums each) as int16 pairs 2p, 2p + 1.
      for (int p = 0; p < 4; ++p) {
        const auto lo = static_cast<int16_t>(x[b].bsums[4 * p] + x[b].bsums[4 * p + 1]);
        const auto hi = static_cast<int16_t>(x[b].bsums[4 * p + 2] + x[b].bsums[4 * p + 3]);
        const uint32_t pair = static_cast<uint16_t>(lo) | static_cast<uint32_t>(static_cast<uint16_t>(hi)) << 16;
        std::memcpy(sb + 4096 + p * 64 + i * 4, &pair, 4);
      }
      std::memcpy(sb + 4096 + 256 + i * 4, &x[b].d, 4);
      for (int p = 0; p < 8; ++p) {  // the 16-element sums, pairs 2p, 2p + 1
        const uint32_t pair = static_cast<uint16_t>(x[b].bsums[2 * p]) |
                              static_cast<uint32_t>(static_cast<uint16_t>(x[b].bsums[2 * p + 1])) << 16;
        std::memcpy(sb + 4096 + 256 + 64 + p * 64 + i * 4, &pair, 4);
      }
    }
  }
}

}  // namespace tandem::kernels
