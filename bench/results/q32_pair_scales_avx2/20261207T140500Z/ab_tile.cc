// Raw-result companion, not built by the project: the tile (dot_tile) A/B, built like ab_main.cc;
//   ./abt q5_0|q4_0|q8_0 <cols> <weight rows> <activation rows>
// A/B of the AVX2 32-block tile (dot_tile), MatMul's m > 1 order, one process, alternating.
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
  const int64_t n = atoi(argv[2]); const int rows = atoi(argv[3]); const int m = atoi(argv[4]);
  const size_t blk = type == GgmlType::kQ8_0 ? 34 : type == GgmlType::kQ4_0 ? 18 : 22;
  const size_t rb = n / 32 * blk;
  std::vector<uint8_t> w(rb * rows); std::mt19937 g(1);
  for (size_t i = 0; i < w.size(); ++i) w[i] = g();
  for (int r = 0; r < rows; ++r) for (int64_t b = 0; b < n / 32; ++b) { uint16_t d = 0x2c00 | (g() & 0x3ff); std::memcpy(&w[r * rb + b * blk], &d, 2); }
  const size_t xs = Q8ARowBytes(n);
  std::vector<uint8_t> x(xs * m + 64); uint8_t* xa = x.data() + (64 - reinterpret_cast<uintptr_t>(x.data()) % 64) % 64;
  const CpuKernels* ks[2] = {K_old(), K_new()};
  std::vector<float> f(n);
  for (int j = 0; j < m; ++j) { for (auto& v : f) v = (g() % 1000) / 500.0f - 1; ks[0]->quantize_q8a(f.data(), xa + j * xs, n, Q8ACorrK(type)); }
  std::vector<float> out[2] = {std::vector<float>(rows * m), std::vector<float>(rows * m)};
  std::vector<double> t[2];
  const int t_id = (int)type;
  for (int it = 0; it < 41; ++it) for (int v = 0; v < 2; ++v) {
    const int vv = it % 2 ? 1 - v : v;
    auto a = std::chrono::steady_clock::now();
    for (int r0 = 0; r0 < rows; r0 += 16)
      for (int i = 0; i < m; i += 8)
        for (int r = r0; r < r0 + 16 && r < rows; r += 2)
          ks[vv]->dot_tile[t_id](n, w.data() + r * rb, rb, 2, xa + i * xs, xs, std::min(8, m - i), out[vv].data() + i * rows + r, rows);
    t[vv].push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count());
  }
  for (auto& v : t) std::sort(v.begin(), v.end());
  std::printf("%s tile n=%ld rows=%d m=%d: old %.1f us new %.1f us (median), new/old time %.3f, same bits %d\n", argv[1], (long)n, rows, m,
              t[0][20] * 1e6, t[1][20] * 1e6, t[1][20] / t[0][20], std::memcmp(out[0].data(), out[1].data(), rows * m * 4) == 0);
}
