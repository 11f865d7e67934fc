// Fast vector ops against the scalar reference (and the reference against
// plain math).
#include "kernels/cpu/ops.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/cpu/fp16.h"

namespace tandem::kernels {
namespace {

std::vector<float> Rand(int64_t n, std::mt19937& rng, float scale = 1.0f) {
  std::normal_distribution<float> nd(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = nd(rng);
  return v;
}

const OpsTable* Fast() { return IsaSupported(Isa::kAvx2) ? Avx2Ops() : nullptr; }

const int64_t kSizes[] = {1, 7, 8, 15, 16, 33, 576, 1000};

TEST(Ops, ScalarReferenceIsPlainMath) {
  const OpsTable& s = ScalarOps();
  std::vector<float> x = {1.0f, -2.0f, 3.0f, 0.5f};
  std::vector<float> w = {1.0f, 2.0f, 1.0f, 2.0f};
  std::vector<float> out(4);
  s.rms_norm(x.data(), w.data(), out.data(), 4, 0.0f);
  const float rms = std::sqrt((1 + 4 + 9 + 0.25f) / 4);
  EXPECT_FLOAT_EQ(out[1], -2.0f / rms * 2.0f);
  std::vector<float> sm = {0.0f, std::log(3.0f)};
  s.softmax(sm.data(), 2);
  EXPECT_FLOAT_EQ(sm[0], 0.25f);
  EXPECT_FLOAT_EQ(sm[1], 0.75f);
  std::vector<float> g = {1.0f}, u = {2.0f}, o(1);
  s.silu_mul(g.data(), u.data(), o.data(), 1);
  EXPECT_FLOAT_EQ(o[0], 2.0f / (1.0f + std::exp(-1.0f)));
}

TEST(Ops, FastMatchesScalar) {
  const OpsTable* f = Fast();
  if (f == nullptr) GTEST_SKIP() << "no AVX2 on this CPU: only the scalar ops run here";
  const OpsTable& s = ScalarOps();
  std::mt19937 rng(11);
  for (int64_t n : kSizes) {
    const auto a = Rand(n, rng), b = Rand(n, rng), w = Rand(n, rng);
    std::vector<float> r1(n), r2(n);

    s.rms_norm(a.data(), w.data(), r1.data(), n, 1e-5f);
    f->rms_norm(a.data(), w.data(), r2.data(), n, 1e-5f);
    for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(r2[i], r1[i], 1e-5f * std::fabs(r1[i]) + 1e-7f) << "rms n=" << n;

    // Gates over the whole useful range, including saturation on both sides.
    auto gate = Rand(n, rng, 6.0f);
    if (n > 2) { gate[0] = -100.0f; gate[1] = 100.0f; gate[2] = 0.0f; }
    s.silu_mul(gate.data(), b.data(), r1.data(), n);
    f->silu_mul(gate.data(), b.data(), r2.data(), n);
    for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(r2[i], r1[i], 1e-6f * std::fabs(r1[i]) + 1e-30f) << "silu n=" << n << " g=" << gate[i];

    s.add(a.data(), b.data(), r1.data(), n);
    f->add(a.data(), b.data(), r2.data(), n);
    ASSERT_EQ(r1, r2);

    r1 = a; r2 = a;
    s.scale(r1.data(), 0.37f, n);
    f->scale(r2.data(), 0.37f, n);
    ASSERT_EQ(r1, r2);

    auto logits = Rand(n, rng, 10.0f);
    if (n > 1) logits[n - 1] = -INFINITY;  // masked position
    r1 = logits; r2 = logits;
    s.softmax(r1.data(), n);
    f->softmax(r2.data(), n);
    double total = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_NEAR(r2[i], r1[i], 2e-6f * r1[i] + 1e-37f) << "softmax n=" << n;
      total += r2[i];
    }
    ASSERT_NEAR(total, 1.0, 1e-5);
    if (n > 1) {
      ASSERT_EQ(r2[n - 1], 0.0f) << "masked logit must get exactly 0";
    }

    double mag = 0.0;
    for (int64_t i = 0; i < n; ++i) mag += std::fabs(a[i] * b[i]);
    ASSERT_NEAR(f->dot_f32(a.data(), b.data(), n), s.dot_f32(a.data(), b.data(), n), 1e-6 * mag + 1e-7);

    std::vector<uint16_t> h(n), h2(n);
    s.f32_to_f16(a.data(), h.data(), n);
    f->f32_to_f16(a.data(), h2.data(), n);
    ASSERT_EQ(h, h2);
    ASSERT_NEAR(f->dot_f16(h.data(), b.data(), n), s.dot_f16(h.data(), b.data(), n), 1e-6 * mag + 1e-7);

    r1 = b; r2 = b;
    s.axpy_f32(0.3f, a.data(), r1.data(), n);
    f->axpy_f32(0.3f, a.data(), r2.data(), n);
    for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(r2[i], r1[i], 1e-6f * (std::fabs(b[i]) + std::fabs(a[i])));
    r1 = b; r2 = b;
    s.axpy_f16(-1.7f, h.data(), r1.data(), n);
    f->axpy_f16(-1.7f, h.data(), r2.data(), n);
    for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(r2[i], r1[i], 1e-6f * (std::fabs(b[i]) + 2 * std::fabs(a[i])));
  }
}

// The sampler's passes: same answers as the scalar forms wherever the special
// value lies (vector body or tail), ties resolved to the first index, and the
// exponential's sum within its error with masked entries exactly 0.
TEST(Ops, SamplerPassesMatchScalar) {
  const OpsTable& s = ScalarOps();
  std::vector<const OpsTable*> tables = {&s};
  if (Fast() != nullptr) tables.push_back(Fast());
  std::mt19937 rng(12);
  for (const OpsTable* t : tables) {
    for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{33}, int64_t{100}, int64_t{1000}}) {
      std::vector<float> x = Rand(n, rng, 4.0f);
      ASSERT_EQ(t->find_nan_or_pos_inf(x.data(), n), -1);
      for (int64_t at : {int64_t{0}, n / 2, n - 1}) {
        for (float bad : {std::nanf(""), INFINITY}) {
          std::vector<float> y = x;
          y[at] = bad;
          if (at != n - 1) y[n - 1] = bad;  // a later one must not win
          ASSERT_EQ(t->find_nan_or_pos_inf(y.data(), n), at) << "n=" << n;
        }
        std::vector<float> y = x;
        y[at] = -INFINITY;  // -inf is a valid (masked) logit
        ASSERT_EQ(t->find_nan_or_pos_inf(y.data(), n), -1);
      }
      ASSERT_EQ(t->argmax(x.data(), n), s.argmax(x.data(), n));
      std::vector<float> ties = x;
      const int64_t first = n / 3, second = n - 1;
      ties[first] = ties[second] = 50.0f;
      ASSERT_EQ(t->argmax(ties.data(), n), first) << "n=" << n;
      // find_greater: strictly greater, first index, n when none, wherever
      // the hit lies (vector body or tail).
      for (float threshold : {-INFINITY, -1.0f, 0.5f, 3.9f, 100.0f}) {
        ASSERT_EQ(t->find_greater(x.data(), n, threshold), s.find_greater(x.data(), n, threshold)) << "n=" << n;
      }
      for (int64_t at : {int64_t{0}, n / 2, n - 1}) {
        std::vector<float> y(n, 1.0f);
        y[at] = 2.0f;
        if (at != n - 1) y[n - 1] = 3.0f;  // a later one must not win
        ASSERT_EQ(t->find_greater(y.data(), n, 1.0f), at) << "n=" << n;
        ASSERT_EQ(t->find_greater(y.data(), n, 3.0f), n) << "equal is not greater";
      }
      ASSERT_EQ(t->find_greater(x.data(), 0, -INFINITY), 0);
      std::vector<float> zeros(n, -INFINITY);
      zeros[n - 1] = 0.0f;
      if (n > 2) zeros[1] = -0.0f;
      ASSERT_EQ(t->argmax(zeros.data(), n), n > 2 ? 1 : n - 1);

      std::vector<float> l = Rand(n, rng, 10.0f);
      if (n > 1) l[0] = -INFINITY;
      std::vector<float> r1(n), r2(n);
      const float mx = l[s.argmax(l.data(), n)];
      const double sum1 = s.exp_sum(l.data(), mx, 1.0f / 0.7f, r1.data(), n);
      const double sum2 = t->exp_sum(l.data(), mx, 1.0f / 0.7f, r2.data(), n);
      for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(r2[i], r1[i], 2e-6f * r1[i] + 1e-37f) << "exp n=" << n;
      ASSERT_NEAR(sum2, sum1, 2e-6 * sum1);
      if (n > 1) {
        ASSERT_EQ(r2[0], 0.0f) << "masked logit must get exactly 0";
      }
      std::vector<float> inplace = l;
      t->exp_sum(inplace.data(), mx, 1.0f / 0.7f, inplace.data(), n);  // out == x
      ASSERT_EQ(inplace, r2);
    }
  }
}

TEST(Ops, F16ConversionEdgeValues) {
  const OpsTable* f = Fast();
  if (f == nullptr) GTEST_SKIP() << "no AVX2";
  // Round-half-even boundaries, overflow, subnormals, signed zero, infinity.
  std::vector<float> v = {0.0f, -0.0f, 65504.0f, 65520.0f, 1e6f, -1e6f, 6e-8f, 3e-8f, 2.98e-8f,
                          1.0009765625f, 1.00048828125f, 1.00146484375f, INFINITY, -INFINITY, 5.96e-8f};
  std::vector<uint16_t> a(v.size()), b(v.size());
  ScalarOps().f32_to_f16(v.data(), a.data(), v.size());
  f->f32_to_f16(v.data(), b.data(), v.size());
  EXPECT_EQ(a, b);
}

TEST(Ops, DispatchedFreeFunctionsWork) {
  std::vector<float> a = {1, 2, 3}, b = {4, 5, 6}, out(3);
  Add(a.data(), b.data(), out.data(), 3);
  EXPECT_EQ(out, (std::vector<float>{5, 7, 9}));
  EXPECT_FLOAT_EQ(DotF32(a.data(), b.data(), 3), 32.0f);
}

}  // namespace
}  // namespace tandem::kernels
