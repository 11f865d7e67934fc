// Every op of the CUDA backend against the CPU backend on the same inputs,
// through the Backend interface: Embed, RmsNorm (alone and fused with the
// deferred residual Add), both RoPE styles, SiluMul, GatherRows, StoreKv +
// Attention for a decode row and a causal verify block over three KV pages
// (and the split attention's shapes, bitwise batch-invariant),
// and the device sampler against runtime::Sampler. Tolerance: 1e-5 of the
// largest reference magnitude per op (fp32 with a different summation order
// and expf; zeros or garbage miss it by orders of magnitude).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/backend/backend.h"
#include "runtime/backend/cuda/cuda_backend.h"
#include "runtime/backend/cuda/device_sampler.h"
#include "runtime/sampling/sampler.h"
#include "tests/kernels/cuda/gpu_test_util.h"

namespace tandem::runtime {
namespace {

using gpu_testing::DeviceVector;

constexpr double kOpTol = 1e-5;

void ExpectClose(const std::vector<float>& got, const std::vector<float>& want, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double scale = 0, diff = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    scale = std::max(scale, std::fabs(double{want[i]}));
    diff = std::max(diff, std::fabs(double{got[i]} - want[i]));
  }
  ASSERT_GT(scale, 0.0) << what << ": the reference is all zeros, the check would be vacuous";
  EXPECT_LE(diff, kOpTol * scale) << what;
}

// The same op sequence on both backends.
struct Pair {
  std::unique_ptr<Backend> cpu, gpu;
  std::vector<std::vector<float>> tables;  // host data behind F32 "input" weights (CPU views them)

  Pair() {
    cpu = MakeCpuBackend(2);
    auto g = MakeCudaBackend(CudaBackendOptions{});
    if (g.ok()) gpu = std::move(*g);
  }
  // Activations filled with `data` (rows x cols) on both, via Embed of an F32 table.
  std::pair<Activation, Activation> Input(const std::vector<float>& data, int64_t rows, int64_t cols) {
    tables.push_back(data);
    WeightHandle wc = *cpu->AddWeight("in", kernels::GgmlType::kF32, tables.back().data(), rows, cols, true);
    WeightHandle wg = *gpu->AddWeight("in", kernels::GgmlType::kF32, tables.back().data(), rows, cols, true);
    Activation ac = *cpu->NewActivation(cols), ag = *gpu->NewActivation(cols);
    EXPECT_TRUE(cpu->EnsureRows(ac, rows).ok());
    EXPECT_TRUE(gpu->EnsureRows(ag, rows).ok());
    std::vector<int32_t> ids(rows);
    for (int64_t i = 0; i < rows; ++i) ids[i] = static_cast<int32_t>(i);
    cpu->Embed(wc, ids, ac);
    gpu->Embed(wg, ids, ag);
    return {ac, ag};
  }
  std::pair<Activation, Activation> Output(int64_t rows, int64_t cols) {
    Activation ac = *cpu->NewActivation(cols), ag = *gpu->NewActivation(cols);
    EXPECT_TRUE(cpu->EnsureRows(ac, rows).ok());
    EXPECT_TRUE(gpu->EnsureRows(ag, rows).ok());
    return {ac, ag};
  }
  std::pair<WeightHandle, WeightHandle> Vector(const std::vector<float>& v) {
    tables.push_back(v);
    return {*cpu->AddWeight("w", kernels::GgmlType::kF32, tables.back().data(), 1, v.size(), false),
            *gpu->AddWeight("w", kernels::GgmlType::kF32, tables.back().data(), 1, v.size(), false)};
  }
  void Compare(const std::pair<Activation, Activation>& a, const char* what) {
    std::vector<float> c(a.first.rows * a.first.cols), g(c.size());
    cpu->ReadRows(a.first, 0, a.first.rows, c.data());
    gpu->ReadRows(a.second, 0, a.second.rows, g.data());
    ExpectClose(g, c, what);
  }
};

std::vector<float> Random(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = nd(rng);
  return v;
}

TEST(CudaBackend, ElementwiseOpsMatchTheCpuBackend) {
  TANDEM_REQUIRE_GPU();
  Pair p;
  ASSERT_NE(p.gpu, nullptr);
  const int64_t rows = 5, cols = 512;
  auto x = p.Input(Random(rows * cols, 1), rows, cols);
  auto y = p.Input(Random(rows * cols, 2), rows, cols);
  auto w = p.Vector(Random(cols, 3, 0.2f));
  auto out = p.Output(rows, cols);
  p.cpu->RmsNorm(x.first, w.first, 1e-5f, out.first);
  p.gpu->RmsNorm(x.second, w.second, 1e-5f, out.second);
  p.Compare(out, "RmsNorm");
  // Residual add then norm: fused on the GPU, sequential on the CPU.
  p.cpu->Add(x.first, y.first);
  p.gpu->Add(x.second, y.second);
  p.cpu->RmsNorm(x.first, w.first, 1e-5f, out.first);
  p.gpu->RmsNorm(x.second, w.second, 1e-5f, out.second);
  p.Compare(out, "Add + RmsNorm (fused)");
  p.Compare(x, "the residual sum written by the fused kernel");
  p.cpu->SiluMul(x.first, y.first, out.first);
  p.gpu->SiluMul(x.second, y.second, out.second);
  p.Compare(out, "SiluMul");
  auto g = p.Output(3, cols);
  const std::vector<int32_t> pick = {4, 0, 4};
  p.cpu->GatherRows(out.first, pick, g.first);
  p.gpu->GatherRows(out.second, pick, g.second);
  p.Compare(g, "GatherRows");
}

TEST(CudaBackend, RopeBothStylesMatchTheCpuBackend) {
  TANDEM_REQUIRE_GPU();
  for (RopeStyle style : {RopeStyle::kAdjacentPairs, RopeStyle::kHalfSplit}) {
    Pair p;
    ASSERT_NE(p.gpu, nullptr);
    RopeConfig rc;
    rc.style = style;
    rc.head_dim = 64;
    rc.rot_dim = 64;
    for (int i = 0; i < 32; ++i) rc.inv_freq.push_back(std::pow(10000.0f, -2.0f * i / 64.0f));
    p.cpu->SetRope(rc);
    p.gpu->SetRope(rc);
    ASSERT_TRUE(p.cpu->ReserveScratch(8).ok());
    ASSERT_TRUE(p.gpu->ReserveScratch(8).ok());
    const std::vector<int32_t> pos = {0, 1, 7, 100, 4095, 4096, 30000};
    auto x = p.Input(Random(pos.size() * 256, 5), pos.size(), 256);
    p.cpu->SetPositions(pos);
    p.gpu->SetPositions(pos);
    p.cpu->Rope(x.first, 4);
    p.gpu->Rope(x.second, 4);
    p.Compare(x, style == RopeStyle::kAdjacentPairs ? "Rope (adjacent pairs)" : "Rope (half split)");
  }
}

TEST(CudaBackend, PagedAttentionDecodeAndVerifyMatchTheCpuBackend) {
  TANDEM_REQUIRE_GPU();
  Pair p;
  ASSERT_NE(p.gpu, nullptr);
  const int n_head = 8, n_kv = 2, hd = 64, kv_dim = n_kv * hd, layers = 2, page = 64;
  const KvLayout layout{layers, kv_dim, page};
  ASSERT_TRUE(p.cpu->InitKvPool(layout, 8).ok());
  ASSERT_TRUE(p.gpu->InitKvPool(layout, 8).ok());
  // 150 cached tokens over pages 5, 2, 7 (a non-contiguous table), layer 1.
  const int n = 150;
  const std::vector<int32_t> table = {5, 2, 7};
  std::vector<KvSlot> slots;
  for (int t = 0; t < n; ++t) slots.push_back(KvSlot{table[t / page], t % page});
  auto k = p.Input(Random(n * kv_dim, 6), n, kv_dim);
  auto v = p.Input(Random(n * kv_dim, 7), n, kv_dim);
  p.cpu->StoreKv(1, k.first, v.first, slots);
  p.gpu->StoreKv(1, k.second, v.second, slots);
  const AttentionShape shape{n_head, n_kv, hd, 0.125f};
  // Decode: one row over all 150; verify: 5 rows, causal (n_ctx 146..150).
  for (int rows : {1, 5}) {
    std::vector<AttentionRow> ar;
    for (int r = 0; r < rows; ++r) ar.push_back(AttentionRow{table.data(), n - rows + 1 + r});
    auto q = p.Input(Random(rows * n_head * hd, 8 + rows), rows, n_head * hd);
    auto out = p.Output(rows, n_head * hd);
    p.cpu->Attention(1, q.first, ar, shape, out.first);
    p.gpu->Attention(1, q.second, ar, shape, out.second);
    p.Compare(out, rows == 1 ? "Attention (decode)" : "Attention (verify block)");
  }
  // Copy-on-write page copy, then attend over the copy.
  p.cpu->CopyKvPage(2, 3);
  p.gpu->CopyKvPage(2, 3);
  const std::vector<int32_t> table2 = {5, 3, 7};
  std::vector<AttentionRow> ar = {AttentionRow{table2.data(), n}};
  auto q = p.Input(Random(n_head * hd, 20), 1, n_head * hd);
  auto out = p.Output(1, n_head * hd);
  p.cpu->Attention(1, q.first, ar, shape, out.first);
  p.gpu->Attention(1, q.second, ar, shape, out.second);
  p.Compare(out, "Attention over a copied page");
}

// The split attention (launch::AttentionSplit) across the shapes it must
// handle: several pages per split (44 pages of 16 tokens over 16 splits,
// tiles shorter than 32 tokens), more query heads per KV head than a block
// serves (16, so two head chunks), head_dim 64/128/256, and head_dim 80,
// which takes the per-(row, head) kernel. Each against the CPU backend, and
// each row of a 5-row causal block bitwise equal to the same row alone (the
// split depends on the row's n_ctx only).
TEST(CudaBackend, PagedAttentionShapesMatchTheCpuBackendAndAreBatchInvariant) {
  TANDEM_REQUIRE_GPU();
  struct S {
    int n_head, n_kv, hd, page, n;
  };
  for (const S& c : {S{32, 8, 128, 16, 700}, S{16, 1, 128, 64, 300}, S{4, 4, 256, 64, 200}, S{6, 2, 80, 64, 100},
                     S{14, 2, 64, 64, 1000}}) {
    SCOPED_TRACE(::testing::Message() << "heads " << c.n_head << "/" << c.n_kv << " head_dim " << c.hd << " page "
                                      << c.page << " ctx " << c.n);
    Pair p;
    ASSERT_NE(p.gpu, nullptr);
    const int kv_dim = c.n_kv * c.hd, n_pages = (c.n + c.page - 1) / c.page;
    const KvLayout layout{1, kv_dim, c.page};
    ASSERT_TRUE(p.cpu->InitKvPool(layout, n_pages + 3).ok());
    ASSERT_TRUE(p.gpu->InitKvPool(layout, n_pages + 3).ok());
    // Scattered, distinct pages (a repeated page would make the slots of two
    // tokens collide, and parallel stores race on them).
    std::vector<int32_t> table(n_pages + 3);
    for (int i = 0; i < n_pages + 3; ++i) table[i] = i;
    std::shuffle(table.begin(), table.end(), std::mt19937(c.n));
    table.resize(n_pages);
    std::vector<KvSlot> slots;
    for (int t = 0; t < c.n; ++t) slots.push_back(KvSlot{table[t / c.page], t % c.page});
    auto k = p.Input(Random(static_cast<size_t>(c.n) * kv_dim, 30), c.n, kv_dim);
    auto v = p.Input(Random(static_cast<size_t>(c.n) * kv_dim, 31), c.n, kv_dim);
    p.cpu->StoreKv(0, k.first, v.first, slots);
    p.gpu->StoreKv(0, k.second, v.second, slots);
    const AttentionShape shape{c.n_head, c.n_kv, c.hd, 1.0f / std::sqrt(static_cast<float>(c.hd))};
    const int rows = 5, qd = c.n_head * c.hd;
    std::vector<AttentionRow> ar;
    for (int r = 0; r < rows; ++r) ar.push_back(AttentionRow{table.data(), c.n - rows + 1 + r});
    const std::vector<float> qh = Random(static_cast<size_t>(rows) * qd, 32, 2.0f);
    auto q = p.Input(qh, rows, qd);
    auto out = p.Output(rows, qd);
    p.cpu->Attention(0, q.first, ar, shape, out.first);
    p.gpu->Attention(0, q.second, ar, shape, out.second);
    p.Compare(out, "Attention");
    std::vector<float> block(static_cast<size_t>(rows) * qd);
    p.gpu->ReadRows(out.second, 0, rows, block.data());
    for (int r = 0; r < rows; ++r) {
      auto q1 = p.Input(std::vector<float>(qh.begin() + r * qd, qh.begin() + (r + 1) * qd), 1, qd);
      auto o1 = p.Output(1, qd);
      p.gpu->Attention(0, q1.second, std::span<const AttentionRow>(&ar[r], 1), shape, o1.second);
      std::vector<float> alone(qd);
      p.gpu->ReadRows(o1.second, 0, 1, alone.data());
      ASSERT_EQ(std::memcmp(alone.data(), block.data() + static_cast<size_t>(r) * qd, qd * sizeof(float)), 0)
          << "row " << r << " of the block differs from the row alone";
    }
  }
}

// Device sampler vs runtime::Sampler: same layout, same support, same ids;
// probabilities within 2e-6 relative (expf and parallel fp64 sums).
TEST(DeviceSampler, MatchesTheCpuSampler) {
  TANDEM_REQUIRE_GPU();
  const int32_t V = 5000;
  std::vector<float> logits = Random(V, 30, 2.0f);
  logits[10] = logits[4000] = 9.0f;  // a tie for the maximum: lowest id wins
  logits[11] = -INFINITY;
  DeviceVector<float> dl(logits);
  cudaStream_t stream;
  ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  auto ds = DeviceSampler::Create(V, stream);
  ASSERT_TRUE(ds.ok()) << ds.status();
  const std::vector<int32_t> history = {10, 3, 3, 4000, 77, 10};
  std::vector<SamplingParams> cases(9);
  cases[0].temperature = 0.0f;
  cases[1].temperature = 0.7f;
  cases[2].temperature = 1.0f, cases[2].top_k = 40;
  cases[3].temperature = 0.9f, cases[3].top_p = 0.9f;
  cases[4].temperature = 1.3f, cases[4].min_p = 0.05f;
  cases[5].temperature = 0.8f, cases[5].top_k = 100, cases[5].top_p = 0.8f, cases[5].min_p = 0.01f,
  cases[5].repetition_penalty = 1.3f;
  cases[6].temperature = 5.0f, cases[6].top_p = 0.99f;  // a flat distribution: dense output
  // Bias on a penalized token (3), on the maximum (4000), on an unseen one,
  // and every penalty at once.
  cases[7].temperature = 0.9f, cases[7].top_k = 50, cases[7].repetition_penalty = 1.2f;
  cases[7].presence_penalty = 0.4f, cases[7].frequency_penalty = 0.3f;
  cases[7].logit_bias = {{3, 2.5f}, {77, -100.0f}, {4000, -1.0f}, {4999, 1.0f}};
  cases[8].temperature = 0.0f, cases[8].logit_bias = {{12, 50.0f}};  // greedy forced onto 12
  for (size_t i = 0; i < cases.size(); ++i) {
    Distribution want, got;
    Sampler cpu(cases[i]);
    ASSERT_TRUE(cpu.Process(logits, history, &want).ok());
    absl::Status s = (*ds)->Process(dl.get(), cases[i], history, &got);
    ASSERT_TRUE(s.ok()) << "case " << i << ": " << s;
    ASSERT_EQ(got.dense(), want.dense()) << "case " << i;
    ASSERT_EQ(got.size(), want.size()) << "case " << i;
    EXPECT_EQ(got.Argmax(), want.Argmax()) << "case " << i;
    for (size_t j = 0; j < want.size(); ++j) {
      ASSERT_EQ(got.id_at(j), want.id_at(j)) << "case " << i << " entry " << j;
      ASSERT_NEAR(got.probs()[j], want.probs()[j], 2e-6 * std::max(1e-3f, want.probs()[j]) + 1e-9)
          << "case " << i << " entry " << j;
    }
  }
  EXPECT_EQ(cudaStreamDestroy(stream), cudaSuccess);
}

TEST(DeviceSampler, RejectsNanAndAllNegInf) {
  TANDEM_REQUIRE_GPU();
  auto ds = DeviceSampler::Create(64, nullptr);
  ASSERT_TRUE(ds.ok());
  std::vector<float> bad(64, 0.0f);
  bad[9] = NAN;
  DeviceVector<float> d1(bad);
  Distribution out;
  SamplingParams sp;
  EXPECT_FALSE((*ds)->Process(d1.get(), sp, {}, &out).ok());
  std::vector<float> ninf(64, -INFINITY);
  DeviceVector<float> d2(ninf);
  EXPECT_FALSE((*ds)->Process(d2.get(), sp, {}, &out).ok());
}

}  // namespace
}  // namespace tandem::runtime
