// A/B harness for the AVX2 Q4_K tile (raw-result companion, not built by the
// project). old.inc = kernels/cpu/dot_simd.inc at 82a1d7e, new.inc = the same
// file at bf5a30f with the AVX2 dot_tile of Q4_K set to KTileByNx<Q4KT> at
// every width (no kQ4KTransposedMaxCols switch). Each is compiled into its own
// namespace with the project's AVX2 flags:
//   for v in old new; do printf '#include "kernels/cpu/dot_kernels.h"\n#define TANDEM_SIMD_NS %s_impl\n#define TANDEM_SIMD_ISA Isa::kAvx2\n#include "%s.inc"\nnamespace tandem::kernels { const CpuKernels* K_%s() { static const CpuKernels k = %s_impl::MakeKernels(); return &k; } }\n' $v $v $v $v > ab_$v.cc; done
//   F="-O3 -DNDEBUG -std=c++20 -mavx2 -mfma -mf16c -I<repo>"
//   g++ $F -c ab_old.cc; g++ $F -c ab_new.cc
//   g++ $F ab_main.cc ab_old.o ab_new.o <build>/kernels/cpu/libtandem_kernels_cpu.a -lpthread -o ab
//   ./ab q4_K <cols> <weight rows> <activation rows>
// The loop below is MatMul's m > 1 order after bf5a30f (activation group
// outer, weight-row pairs inner); tile_ab_previous_order.txt swapped the two
// inner loops (the order before it).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>
#include "kernels/cpu/dot_kernels.h"
namespace tandem::kernels { const CpuKernels* K_old(); const CpuKernels* K_new(); }
using namespace tandem::kernels;
// One tile pass over `rows` weight rows for nx activation rows; returns seconds.
struct Setup { std::vector<uint8_t> w, x; uint8_t* xa; size_t xs, rb; };
Setup Make(const CpuKernels& k, GgmlType type, int64_t n, int rows, int nx, size_t blk, uint32_t seed) {
  Setup s; const int t = (int)type; s.rb = n / 256 * blk; s.w.resize(s.rb * rows); std::mt19937 g(seed);
  for (auto& b : s.w) b = 0x30 | (g() & 0x0f);
  s.xs = Q8KRowBytes(n) + Q8KTailBytes(n); s.x.resize(s.xs * nx + 64);
  s.xa = s.x.data() + (64 - reinterpret_cast<uintptr_t>(s.x.data()) % 64) % 64;
  std::vector<float> f(n); std::mt19937 g2(7);
  for (int j = 0; j < nx; ++j) { for (auto& v : f) v = (g2() % 1000) / 500.0f - 1; k.quantize_q8k(f.data(), s.xa + j * s.xs, n, 0); if (k.q8k_tail[t]) k.q8k_tail[t](s.xa + j * s.xs, n); }
  return s;
}
double Run(const CpuKernels& k, GgmlType type, Setup& s, int64_t n, int rows, int nx, std::vector<float>& out) {
  const int t = (int)type; auto a = std::chrono::steady_clock::now();
  // MatMul's order for m > 1: chunks of 16 weight rows; per chunk, tiles of
  // 16 activation rows; per tile, weight-row pairs times groups of 8.
  for (int r0 = 0; r0 < rows; r0 += 16)
    for (int i0 = 0; i0 < nx; i0 += 16)
      for (int i = i0; i < i0 + 16; i += 8)
        for (int r = r0; r < r0 + 16; r += 2)
          k.dot_tile[t](n, s.w.data() + r * s.rb, s.rb, 2, s.xa + i * s.xs, s.xs, 8, out.data() + i * rows + r, rows);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count();
}
int main(int argc, char** argv) {
  const char* tn = argc > 1 ? argv[1] : "q4_K"; const int64_t n = argc > 2 ? atoi(argv[2]) : 1536; const int rows = argc > 3 ? atoi(argv[3]) : 256; const int nx = argc > 4 ? atoi(argv[4]) : 8;
  GgmlType type = !strcmp(tn, "q6_K") ? GgmlType::kQ6_K : !strcmp(tn, "q5_K") ? GgmlType::kQ5_K : GgmlType::kQ4_K;
  size_t blk = type == GgmlType::kQ6_K ? 210 : type == GgmlType::kQ5_K ? 176 : 144;
  const CpuKernels& ko = *K_old(); const CpuKernels& kn = *K_new();
  Setup so = Make(ko, type, n, rows, nx, blk, 1), sn = Make(kn, type, n, rows, nx, blk, 1);
  std::vector<float> oo(nx * rows), on(nx * rows);
  std::vector<double> r, to, tn2;
  for (int rep = 0; rep < 41; ++rep) { double a = Run(ko, type, so, n, rows, nx, oo); double b = Run(kn, type, sn, n, rows, nx, on); r.push_back(a / b); to.push_back(a); tn2.push_back(b); }
  std::sort(r.begin(), r.end()); std::sort(to.begin(), to.end()); std::sort(tn2.begin(), tn2.end());
  const double mac = 1.0 * rows * n * nx;
  printf("%s n=%ld rows=%d nx=%d: old %.1f new %.1f GMAC/s (medians); new/old speed median %.3f [p10 %.3f, p90 %.3f]; outputs %s\n", tn, (long)n, rows, nx, mac / to[20] / 1e9, mac / tn2[20] / 1e9, r[20], r[4], r[36], memcmp(oo.data(), on.data(), oo.size() * 4) ? "DIFFER" : "bitwise equal");
}
