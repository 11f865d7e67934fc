// cpu::AttendHeads (several queries over one head's pages, pages outside)
// against cpu::AttendHead one query at a time: bitwise equal, for the
// head sizes with a register-resident accumulator (64, 128), the generic
// one (96), causal rows of different lengths, and pages that end mid-page.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/fp16.h"
#include "kernels/cpu/isa.h"
#include "runtime/backend/cpu/attention_kernels.h"

namespace tandem::runtime::cpu {
namespace {

struct Pool {
  int head_dim, kv_dim, page_tokens, n_pages;
  std::vector<uint16_t> kv;  // per page: page_tokens keys, then page_tokens values (kv_dim each)
  std::vector<int32_t> pages;
};

Pool MakePool(int head_dim, int kv_heads, int page_tokens, int n_pages, uint32_t seed) {
  Pool p{head_dim, head_dim * kv_heads, page_tokens, n_pages, {}, {}};
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  p.kv.resize(static_cast<size_t>(n_pages) * 2 * page_tokens * p.kv_dim);
  for (uint16_t& h : p.kv) h = kernels::Fp32ToFp16(nd(rng));
  // A shuffled page table, as sessions get pages from a shared pool.
  for (int i = 0; i < n_pages; ++i) p.pages.push_back(i);
  std::shuffle(p.pages.begin(), p.pages.end(), rng);
  return p;
}

HeadKv Kv(const Pool& p, int g, int n_ctx) {
  return HeadKv{p.kv.data(),
                static_cast<size_t>(2 * p.page_tokens * p.kv_dim),
                static_cast<size_t>(g * p.head_dim),
                static_cast<size_t>(p.page_tokens * p.kv_dim + g * p.head_dim),
                p.kv_dim,
                p.page_tokens,
                p.pages.data(),
                n_ctx};
}

class AttendHeadsTest : public ::testing::TestWithParam<int> {};

TEST_P(AttendHeadsTest, EveryQueryIsBitwiseAttendHead) {
  const int head_dim = GetParam();
  // Pages of 16 tokens are widened to fp32 once for all queries; pages of 64
  // tokens of 256 dimensions are past that copy's size and read as fp16 by
  // every query: both must give AttendHead's bits.
  for (const int page_tokens : {16, 64}) {
    SCOPED_TRACE(page_tokens);
    const int n_pages = 192 / page_tokens + 1, group = 3, rows = 9;
    Pool pool = MakePool(head_dim, 2, page_tokens, n_pages, 7);
    std::mt19937 rng(11);
    std::normal_distribution<float> nd(0.0f, 2.0f);
    std::vector<float> q(static_cast<size_t>(rows * group * head_dim));
    for (float& v : q) v = nd(rng);
    std::vector<float> got(q.size(), -1.0f), want(q.size(), -2.0f);
    std::vector<HeadQuery> queries;
    for (int r = 0; r < rows; ++r) {
      const int n_ctx = 150 + 5 * r;  // causal rows; 150 ends mid-page
      for (int h = 0; h < group; ++h) {
        const size_t off = static_cast<size_t>((r * group + h) * head_dim);
        queries.push_back({q.data() + off, got.data() + off, n_ctx});
        AttendHead(q.data() + off, head_dim, 0.125f, Kv(pool, 1, n_ctx), want.data() + off);
      }
    }
    AttendHeads(queries.data(), static_cast<int>(queries.size()), head_dim, 0.125f, Kv(pool, 1, 0));
    ASSERT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0);
    // Not vacuous: the outputs differ between rows.
    EXPECT_NE(std::memcmp(got.data(), got.data() + group * head_dim, head_dim * sizeof(float)), 0);
  }
}

INSTANTIATE_TEST_SUITE_P(HeadDims, AttendHeadsTest, ::testing::Values(64, 96, 128, 256));

// The AVX2 path (8-key score groups, polynomial exp) against the scalar
// reference (one key at a time, std::exp): different rounding, same result
// to a few ulp of the output's scale, including pages that end mid-group.
TEST_P(AttendHeadsTest, Avx2PathMatchesTheScalarReference) {
  if (!kernels::IsaSupported(kernels::Isa::kAvx2)) GTEST_SKIP() << "no AVX2 on this CPU";
  const int head_dim = GetParam();
  Pool pool = MakePool(head_dim, 2, 64, 6, 5);
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 2.0f);
  std::vector<float> q(head_dim);
  for (float& v : q) v = nd(rng);
  for (int n_ctx : {1, 7, 8, 9, 64, 301, 384}) {
    std::vector<float> fast(head_dim), ref(head_dim);
    AttendHead(q.data(), head_dim, 0.125f, Kv(pool, 1, n_ctx), fast.data());
    AttendHeadScalar(q.data(), head_dim, 0.125f, Kv(pool, 1, n_ctx), ref.data());
    float scale = 0.0f;
    for (float v : ref) scale = std::max(scale, std::fabs(v));
    for (int j = 0; j < head_dim; ++j) {
      ASSERT_NEAR(fast[j], ref[j], 2e-5f * scale + 1e-6f) << "n_ctx " << n_ctx << " dim " << j;
    }
  }
}

// ExpAvx2Array against std::exp: within 2 ulp on [-87, 88], 0 below -87.3 (where
// std::exp is denormal), exact at 0.
TEST(ExpAvx2Array, WithinTwoUlpOfStdExp) {
  if (!kernels::IsaSupported(kernels::Isa::kAvx2)) GTEST_SKIP() << "no AVX2 on this CPU";
  float x[8], y[8];
  int64_t worst = 0;
  for (int i = 0; i <= 2000000; i += 8) {
    for (int u = 0; u < 8; ++u) x[u] = -87.0f + 175.0f * static_cast<float>(i + u) / 2000000.0f;
    ExpAvx2Array(x, 8, y);
    for (int u = 0; u < 8; ++u) {
      const float want = std::exp(x[u]);
      int32_t a, b;
      std::memcpy(&a, &y[u], 4);
      std::memcpy(&b, &want, 4);
      worst = std::max<int64_t>(worst, std::llabs(static_cast<int64_t>(a) - b));
    }
  }
  EXPECT_LE(worst, 2) << "max ulp difference";
  for (int u = 0; u < 8; ++u) x[u] = u == 0 ? 0.0f : -87.5f - 10.0f * u;
  ExpAvx2Array(x, 8, y);
  EXPECT_EQ(y[0], 1.0f);
  for (int u = 1; u < 8; ++u) EXPECT_EQ(y[u], 0.0f) << x[u];
}

}  // namespace
}  // namespace tandem::runtime::cpu
