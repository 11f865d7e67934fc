// The vectorized erf GELU against float64 erf over [-12, 12] (dense grid plus
// the extremes), and the scalar path; a vector's tail (n not a multiple of
// 8) goes through the scalar path and must agree too.
#include "runtime/embedding/gelu.h"

#include <cmath>
#include <limits>
#include <vector>

#include "gtest/gtest.h"

namespace tandem::embedding {
namespace {

double GeluRef(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }

TEST(Gelu, MatchesFloat64Erf) {
  std::vector<float> xs;
  for (int i = -120000; i <= 120000; ++i) xs.push_back(static_cast<float>(i) * 1e-4f);
  for (float v : {-80.0f, -30.0f, -13.0f, 0.0f, -0.0f, 1e-30f, -1e-30f, 13.0f, 30.0f, 1e4f}) xs.push_back(v);
  for (kernels::Isa isa : {kernels::Isa::kAvx2, kernels::Isa::kScalar}) {
    std::vector<float> y = xs;
    GeluInPlace(y.data(), static_cast<int64_t>(y.size()), isa);
    double worst = 0;
    for (size_t i = 0; i < xs.size(); ++i) {
      const double want = GeluRef(xs[i]);
      const double err = std::fabs(y[i] - want);
      worst = std::max(worst, err / (1.0 + std::fabs(xs[i])));
      ASSERT_LE(err, 3e-7 * (1.0 + std::fabs(xs[i]))) << kernels::IsaName(isa) << " x=" << xs[i] << " got " << y[i];
    }
    std::printf("[gelu] %s: worst |err| / (1 + |x|) = %.3g\n", kernels::IsaName(isa), worst);
  }
}

}  // namespace
}  // namespace tandem::embedding
