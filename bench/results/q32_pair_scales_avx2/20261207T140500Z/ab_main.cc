// Raw-result companion, not built by the project. old.inc = kernels/cpu/dot_simd.inc at 1e2b5ed (before
// the pair step), new.inc = the working tree with Block32PairStep1. Each compiled into its own
// namespace with the AVX2 flags, as in bench/results/q4k_transposed_avx2/20261207T102000Z/ab_main.cc:
//   ./ab q5_0|q8_0|q4_0 <cols> <weight rows>   (weights in L1/L2; 61 alternations of 20 passes)
// A/B of the AVX2 32-block row kernel (dot, nx = 1), one process, alternating.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <random>
#include <vector>
#include "kernels/cpu/dot_kernels.h"
#include "kernels/cpu/ggml_types.h"
namespace tandem::kernels { const CpuKernels* K_old(); const CpuKernels* K_new(); }
using namespace tandem::kernels;
int main(int argc, char** argv) {
  const GgmlType type = std::strcmp(argv[1], "q8_0") == 0 ? GgmlType::kQ8_0 : std::strcmp(argv[1], "q4_0") == 0 ? GgmlType::kQ4_0 : GgmlType::kQ5_0;
  const int64_t n = atoi(argv[2]); const int rows = atoi(argv[3]);
  const size_t blk = type == GgmlType::kQ8_0 ? 34 : type == GgmlType::kQ4_0 ? 18 : 22;
  const size_t rb = n / 32 * blk;
  std::vector<uint8_t> w(rb * rows); std::mt19937 g(1);
  for (size_t i = 0; i < w.size(); ++i) w[i] = g();
  for (int r = 0; r < rows; ++r) for (int64_t b = 0; b < n / 32; ++b) { uint16_t d = 0x2c00 | (g() & 0x3ff); std::memcpy(&w[r * rb + b * blk], &d, 2); }
  std::vector<float> f(n); for (auto& v : f) v = (g() % 1000) / 500.0f - 1;
  std::vector<uint8_t> x(Q8ARowBytes(n) + 64); uint8_t* xa = x.data() + (64 - reinterpret_cast<uintptr_t>(x.data()) % 64) % 64;
  const CpuKernels* ks[2] = {K_old(), K_new()};
  ks[0]->quantize_q8a(f.data(), xa, n, Q8ACorrK(type));
  std::vector<float> out[2] = {std::vector<float>(rows), std::vector<float>(rows)};
  std::vector<double> t[2];
  for (int it = 0; it < 61; ++it) for (int v = 0; v < 2; ++v) {
    const int vv = it % 2 ? 1 - v : v;
    auto a = std::chrono::steady_clock::now();
    for (int rep = 0; rep < 20; ++rep) for (int r = 0; r < rows; ++r) ks[vv]->dot[(int)type](n, w.data() + r * rb, xa, 0, 1, &out[vv][r]);
    t[vv].push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count());
  }
  for (auto& v : t) std::sort(v.begin(), v.end());
  std::printf("%s n=%ld rows=%d: old %.1f us new %.1f us (median per pass), new/old time %.3f, same bits %d\n", argv[1], (long)n, rows,
              t[0][30] * 1e6 / 20, t[1][30] * 1e6 / 20, t[1][30] / t[0][30], std::memcmp(out[0].data(), out[1].data(), rows * 4) == 0);
}
