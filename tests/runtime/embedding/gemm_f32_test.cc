// GemmF32 (the BERT encoder's matrix product) against a float64 reference
// on awkward shapes (row counts around the 6-row tile and 48-row block,
// column counts around the 16-wide panel, strided inputs and outputs), on
// both the AVX2 and the scalar tile; and its batch invariance: a row's
// result is bitwise the same whatever the row count, position and thread
// count.
#include "runtime/embedding/gemm_f32.h"

#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace tandem::embedding {
namespace {

std::vector<float> Random(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

TEST(GemmF32, MatchesFloat64ReferenceOnAwkwardShapes) {
  kernels::ThreadPool pool(3);
  for (kernels::Isa isa : {kernels::Isa::kAvx2, kernels::Isa::kScalar}) {
    for (int64_t m : {1, 5, 6, 7, 13, 48, 50, 97}) {
      for (int64_t n : {1, 15, 16, 17, 40, 70}) {
        for (int64_t k : {1, 7, 64, 130}) {
          const int64_t ldx = k + 3, ldy = n + 5, ldw = k + 1;
          const std::vector<float> x = Random(static_cast<size_t>(m * ldx), 1), w = Random(static_cast<size_t>(n * ldw), 2);
          const std::vector<float> b = Random(static_cast<size_t>(n), 3);
          const PackedWeights pw(w.data(), ldw, b.data(), n, k);
          std::vector<float> y(static_cast<size_t>(m * ldy), -7.0f);
          GemmF32(pw, x.data(), m, ldx, y.data(), ldy, pool, isa);
          for (int64_t r = 0; r < m; ++r) {
            for (int64_t c = 0; c < n; ++c) {
              double want = b[static_cast<size_t>(c)], mag = std::fabs(want);
              for (int64_t i = 0; i < k; ++i) {
                const double p = static_cast<double>(x[static_cast<size_t>(r * ldx + i)]) * w[static_cast<size_t>(c * ldw + i)];
                want += p;
                mag += std::fabs(p);
              }
              ASSERT_NEAR(y[static_cast<size_t>(r * ldy + c)], want, 1e-6 * mag + 1e-6)
                  << kernels::IsaName(isa) << " m=" << m << " n=" << n << " k=" << k << " at " << r << "," << c;
            }
            for (int64_t c = n; c < ldy; ++c) {
              ASSERT_EQ(y[static_cast<size_t>(r * ldy + c)], -7.0f) << "wrote past column n";
            }
          }
        }
      }
    }
  }
}

TEST(GemmF32, RowResultsDoNotDependOnBatchOrThreads) {
  const int64_t k = 96, n = 40, m = 61;
  const std::vector<float> x = Random(static_cast<size_t>(m * k), 4), w = Random(static_cast<size_t>(n * k), 5);
  const PackedWeights pw(w.data(), k, nullptr, n, k);
  kernels::ThreadPool one(1), three(3);
  std::vector<float> all(static_cast<size_t>(m * n));
  GemmF32(pw, x.data(), m, k, all.data(), n, three);
  // Every contiguous slice of rows, alone and on one thread, gives the same bits.
  for (int64_t begin : {0, 1, 5, 6, 47, 50}) {
    for (int64_t len : {1, 2, 6, 7, 11}) {
      if (begin + len > m) continue;
      std::vector<float> part(static_cast<size_t>(len * n));
      GemmF32(pw, x.data() + begin * k, len, k, part.data(), n, one);
      for (size_t i = 0; i < part.size(); ++i) {
        ASSERT_EQ(part[i], all[static_cast<size_t>(begin * n) + i]) << "rows " << begin << "+" << len;
      }
    }
  }
}

}  // namespace
}  // namespace tandem::embedding
