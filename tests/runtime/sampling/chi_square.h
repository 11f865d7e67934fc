// Pearson chi-square goodness of fit for the sampling tests. Bins whose
// expected count is below 5 are pooled into one bin, the usual validity rule.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

namespace tandem::testing {

// Regularised upper incomplete gamma Q(a, x): series for x < a+1, Lentz
// continued fraction otherwise.
inline double UpperGammaQ(double a, double x) {
  if (x <= 0) return 1.0;
  const double log_prefix = -x + a * std::log(x) - std::lgamma(a);
  if (x < a + 1) {
    double sum = 1.0 / a, term = sum;
    for (int n = 1; n < 10000; ++n) {
      term *= x / (a + n);
      sum += term;
      if (std::fabs(term) < std::fabs(sum) * 1e-15) break;
    }
    return 1.0 - sum * std::exp(log_prefix);
  }
  double b = x + 1 - a, c = 1e300, d = 1 / b, h = d;
  for (int i = 1; i < 10000; ++i) {
    const double an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (std::fabs(d) < 1e-300) d = 1e-300;
    c = b + an / c;
    if (std::fabs(c) < 1e-300) c = 1e-300;
    d = 1 / d;
    const double delta = d * c;
    h *= delta;
    if (std::fabs(delta - 1) < 1e-15) break;
  }
  return std::exp(log_prefix) * h;
}

struct ChiSquareResult {
  double statistic = 0;
  int dof = 0;
  double p_value = 1;
};

// observed[i] counts, expected_prob[i] probabilities (sum 1) over the same bins.
inline ChiSquareResult ChiSquare(const std::vector<int64_t>& observed,
                                 const std::vector<double>& expected_prob) {
  int64_t n = 0;
  for (int64_t o : observed) n += o;
  ChiSquareResult r;
  double pooled_obs = 0, pooled_exp = 0;
  int bins = 0;
  for (size_t i = 0; i < observed.size(); ++i) {
    const double e = expected_prob[i] * n;
    if (e < 5) {
      pooled_obs += observed[i];
      pooled_exp += e;
      continue;
    }
    r.statistic += (observed[i] - e) * (observed[i] - e) / e;
    ++bins;
  }
  if (pooled_exp > 0) {
    // A pooled bin with ~0 expectation but observations means an impossible
    // outcome happened: make that count as a certain failure.
    const double e = std::max(pooled_exp, 1e-9);
    r.statistic += (pooled_obs - e) * (pooled_obs - e) / e;
    ++bins;
  }
  r.dof = std::max(bins - 1, 1);
  r.p_value = UpperGammaQ(r.dof / 2.0, r.statistic / 2.0);
  return r;
}

}  // namespace tandem::testing
