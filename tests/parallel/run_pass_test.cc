// The pass contract of Backend::RunPass on the CPU: the model issues every
// op of a pass inside it, with the pass' row count, and the ops may be run
// twice (the CUDA backend re-runs a pass eagerly when recording a graph
// failed) without changing the result: a backend that runs each pass twice
// must give bitwise the same logits as one that runs it once, over a
// prefill, decode steps and a verify block (KV writes of the second run
// rewrite the same values; nothing outside the backend is consumed).
#include <cstring>
#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/backend/backend.h"
#include "runtime/gguf/gguf_file.h"
#include "runtime/parallel/local_communicator.h"
#include "runtime/parallel/tp_model.h"
#include "tests/kernels/cuda/synthetic_model.h"

namespace tandem::runtime {
namespace {

// Forwards every op to `inner`; RunPass records the row count, checks that
// ops are issued only inside a pass for the pass-only ops, and runs `ops`
// `repeats` times.
class TwiceBackend final : public Backend {
 public:
  TwiceBackend(std::unique_ptr<Backend> inner, int repeats) : inner_(std::move(inner)), repeats_(repeats) {}
  std::vector<int64_t> pass_rows;
  int ops_outside_pass = 0;

  std::string_view name() const override { return inner_->name(); }
  int n_threads() const override { return inner_->n_threads(); }
  absl::StatusOr<WeightHandle> AddWeight(std::string_view name, kernels::GgmlType type, const void* data,
                                         int64_t rows, int64_t cols, bool for_matmul) override {
    return inner_->AddWeight(name, type, data, rows, cols, for_matmul);
  }
  absl::StatusOr<Activation> NewActivation(int64_t cols) override { return inner_->NewActivation(cols); }
  absl::Status EnsureRows(Activation& a, int64_t rows) override { return inner_->EnsureRows(a, rows); }
  absl::Status ReserveScratch(int64_t rows) override { return inner_->ReserveScratch(rows); }
  void SetRope(const RopeConfig& config) override { inner_->SetRope(config); }
  absl::Status InitKvPool(const KvLayout& layout, int64_t max_pages) override {
    return inner_->InitKvPool(layout, max_pages);
  }
  size_t KvPageBytes() const override { return inner_->KvPageBytes(); }
  void CopyKvPage(int32_t src, int32_t dst) override { inner_->CopyKvPage(src, dst); }
  void Embed(const WeightHandle& table, std::span<const int32_t> ids, Activation& out) override {
    Inside();
    inner_->Embed(table, ids, out);
  }
  void RmsNorm(const Activation& x, const WeightHandle& w, float eps, Activation& out) override {
    inner_->RmsNorm(x, w, eps, out);
  }
  absl::Status MatMul(const WeightHandle& w, const WeightHandle* bias, const Activation& x,
                      Activation& out) override {
    return inner_->MatMul(w, bias, x, out);
  }
  absl::Status MatMulMulti(std::span<const WeightHandle* const> ws, std::span<const WeightHandle* const> biases,
                           const Activation& x, std::span<Activation* const> outs) override {
    return inner_->MatMulMulti(ws, biases, x, outs);
  }
  void SetPositions(std::span<const int32_t> positions) override {
    Inside();
    inner_->SetPositions(positions);
  }
  void Rope(Activation& x, int n_heads) override { inner_->Rope(x, n_heads); }
  void StoreKv(int layer, const Activation& k, const Activation& v, std::span<const KvSlot> slots) override {
    Inside();
    inner_->StoreKv(layer, k, v, slots);
  }
  void Attention(int layer, const Activation& q, std::span<const AttentionRow> rows, const AttentionShape& shape,
                 Activation& out) override {
    Inside();
    inner_->Attention(layer, q, rows, shape, out);
  }
  void SiluMul(const Activation& gate, const Activation& up, Activation& out) override {
    inner_->SiluMul(gate, up, out);
  }
  void Add(Activation& x, const Activation& y) override { inner_->Add(x, y); }
  void GatherRows(const Activation& x, std::span<const int32_t> rows, Activation& out) override {
    inner_->GatherRows(x, rows, out);
  }
  void ReadRows(const Activation& x, int64_t row_begin, int64_t n, float* dst) override {
    // A pass runs asynchronously on a device: reading back inside it is a bug.
    if (in_pass_) ++ops_outside_pass;
    inner_->ReadRows(x, row_begin, n, dst);
  }
  float* RowData(const Activation& x) override { return inner_->RowData(x); }
  absl::Status RunPass(int64_t rows, absl::FunctionRef<absl::Status()> ops) override {
    pass_rows.push_back(rows);
    in_pass_ = true;
    absl::Status s;
    for (int i = 0; i < repeats_ && s.ok(); ++i) s = ops();
    in_pass_ = false;
    return s;
  }

 private:
  // The per-pass descriptions (ids, positions, KV slots, attention rows)
  // must be issued inside a pass: that is what a graph records.
  void Inside() {
    if (!in_pass_) ++ops_outside_pass;
  }
  std::unique_ptr<Backend> inner_;
  const int repeats_;
  bool in_pass_ = false;
};

struct PassRun {
  std::vector<std::vector<float>> logits;
  std::vector<int64_t> pass_rows;
  int ops_outside_pass = 0;
};

PassRun Drive(int repeats) {
  PassRun r;
  const std::vector<uint8_t> image = testing_util::BuildSyntheticGguf(testing_util::SyntheticShape{});
  auto file = gguf::GgufFile::FromBuffer(image);
  EXPECT_TRUE(file.ok()) << file.status();
  auto backend = std::make_unique<TwiceBackend>(MakeCpuBackend(2), repeats);
  TwiceBackend* b = backend.get();
  auto group = parallel::LocalGroup::Create(1);
  auto comm = std::move(*(*group)->Rank(0));
  auto m = parallel::TensorParallelModel::Load(**file, *b, *comm, parallel::TpOptions{});
  EXPECT_TRUE(m.ok()) << m.status();
  if (!m.ok()) return r;
  auto s = (*m)->NewSession();
  const std::vector<std::vector<int32_t>> steps = {{5, 900, 17, 42, 3, 777}, {64}, {1}, {250, 999, 12, 0, 600}, {7}};
  for (const auto& tokens : steps) {
    std::vector<float> out;
    EXPECT_TRUE((*m)->Forward(**s, tokens, &out).ok());
    r.logits.push_back(std::move(out));
  }
  r.pass_rows = b->pass_rows;
  r.ops_outside_pass = b->ops_outside_pass;
  return r;
}

TEST(RunPass, OpsRunTwiceGiveBitwiseTheSameLogits) {
  const PassRun once = Drive(1), twice = Drive(2);
  ASSERT_EQ(once.logits.size(), twice.logits.size());
  for (size_t i = 0; i < once.logits.size(); ++i) {
    ASSERT_FALSE(once.logits[i].empty());
    ASSERT_EQ(once.logits[i].size(), twice.logits[i].size());
    EXPECT_EQ(std::memcmp(once.logits[i].data(), twice.logits[i].data(), once.logits[i].size() * sizeof(float)), 0)
        << "step " << i;
  }
}

TEST(RunPass, EveryForwardIsOnePassOfItsRowsWithItsDescriptionsInside) {
  const PassRun r = Drive(1);
  EXPECT_EQ(r.pass_rows, (std::vector<int64_t>{6, 1, 1, 5, 1}));
  EXPECT_EQ(r.ops_outside_pass, 0);
}

}  // namespace
}  // namespace tandem::runtime
