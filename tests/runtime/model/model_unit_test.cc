// Model engine tests on tiny synthetic llama and qwen2 GGUF files written at
// test time (tests/tools/make_tiny_model.py): logits against the float64
// numpy reference, and the session semantics (batching, prefill vs decode,
// truncate, fork, budget and context errors).
#include <cmath>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/model/model.h"
#include "runtime/model/perplexity.h"
#include "tests/runtime/model/model_test_util.h"

namespace tandem::runtime {
namespace {

[[maybe_unused]] ::testing::Environment* const kScratchCleanup =
    ::testing::AddGlobalTestEnvironment(new testing_util::ScratchCleanup);

using testing_util::ArgMax;
using testing_util::CountBitDiffs;
using testing_util::ReferenceLogits;
using testing_util::RowRelError;

std::string MakeTiny(const std::string& arch, const std::string& extra = "", const std::string& tag = "") {
  const std::string path = testing_util::ScratchDir() + "/tiny_" + arch + tag + ".gguf";
  const std::string cmd = testing_util::PythonPath() + " " + testing_util::ToolPath("make_tiny_model.py") +
                          " --arch " + arch + " --out " + path + " " + extra;
  EXPECT_EQ(testing_util::RunCommand(cmd), 0) << cmd;
  return path;
}

std::vector<int32_t> RandomTokens(int n, int vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> t(n);
  for (int& x : t) x = static_cast<int32_t>(rng() % vocab);
  return t;
}

// Runs tokens through a fresh session in one call; returns all logits.
std::vector<float> Prefill(Model& m, const std::vector<int32_t>& tokens,
                           std::unique_ptr<Session>* keep = nullptr) {
  auto s = m.NewSession();
  EXPECT_TRUE(s.ok());
  std::vector<float> logits;
  ForwardItem it{s->get(), tokens, true, &logits};
  absl::Status st = m.Forward(std::span<ForwardItem>(&it, 1));
  EXPECT_TRUE(st.ok()) << st;
  if (keep != nullptr) *keep = std::move(*s);
  return logits;
}

class TinyModelTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    path_ = MakeTiny(GetParam());
    ModelOptions opt;
    opt.n_threads = 2;
    auto m = Model::Load(path_, opt);
    ASSERT_TRUE(m.ok()) << m.status();
    model_ = std::move(*m);
    vocab_ = model_->config().vocab_size;
  }
  std::string path_;
  std::unique_ptr<Model> model_;
  int vocab_ = 0;
};

TEST_P(TinyModelTest, ConfigFromMetadata) {
  const ModelConfig& c = model_->config();
  EXPECT_EQ(c.arch, GetParam());
  EXPECT_EQ(c.n_layers, 2);
  EXPECT_EQ(c.n_embd, 64);
  EXPECT_EQ(c.n_head, 4);
  EXPECT_EQ(c.n_head_kv, 2);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.vocab_size, 261);
  EXPECT_EQ(c.tied_embeddings, GetParam() == "llama");
  EXPECT_EQ(c.rope_style, GetParam() == "llama" ? RopeStyle::kAdjacentPairs : RopeStyle::kHalfSplit);
}

TEST_P(TinyModelTest, LogitsMatchFloat64Reference) {
  const std::vector<int32_t> tokens = RandomTokens(40, vocab_, 7);
  const std::vector<float> logits = Prefill(*model_, tokens);
  const testing_util::RefLogits ref = ReferenceLogits(path_, tokens);
  ASSERT_EQ(ref.rows, 40);
  ASSERT_EQ(ref.vocab, vocab_);
  const testing_util::Comparison c = testing_util::CompareToReference(logits, ref, 0.01);
  std::printf("[ tiny %s ] max row-relative logit error vs float64: %.3g; top-1 differs at %d near-tie positions\n",
              GetParam().c_str(), c.max_rel_error, c.near_ties);
  EXPECT_LE(c.near_ties, 2);
  EXPECT_LT(c.max_rel_error, 0.03);
}

TEST_P(TinyModelTest, PartialHeadGivesTheSameLogitsBelowItsVocabulary) {
  // A drafter's cheaper head (ModelOptions::head_vocab): the same rows of
  // the same weights (tied for llama, output.weight for qwen2), so ids below
  // K are bitwise the full head's and the others cannot be drawn.
  const int64_t k = 100;
  ModelOptions opt;
  opt.n_threads = 2;
  opt.head_vocab = k;
  auto part = Model::Load(path_, opt);
  ASSERT_TRUE(part.ok()) << part.status();
  EXPECT_EQ((*part)->head_vocab(), k);
  EXPECT_EQ(model_->head_vocab(), vocab_);
  EXPECT_EQ((*part)->config().vocab_size, vocab_);  // logit rows keep the vocabulary's width
  const std::vector<int32_t> tokens = RandomTokens(9, vocab_, 11);
  const std::vector<float> full = Prefill(*model_, tokens);
  const std::vector<float> cut = Prefill(**part, tokens);
  ASSERT_EQ(cut.size(), full.size());
  for (size_t r = 0; r < tokens.size(); ++r) {
    const float* f = full.data() + r * vocab_;
    const float* c = cut.data() + r * vocab_;
    EXPECT_EQ(CountBitDiffs(std::vector<float>(f, f + k), std::vector<float>(c, c + k)), 0) << "row " << r;
    for (int i = k; i < vocab_; ++i) ASSERT_EQ(c[i], -std::numeric_limits<float>::infinity()) << "row " << r << " id " << i;
  }
  // At or above the vocabulary: the whole head. Negative: an error.
  opt.head_vocab = vocab_ + 5;
  auto whole = Model::Load(path_, opt);
  ASSERT_TRUE(whole.ok()) << whole.status();
  EXPECT_EQ((*whole)->head_vocab(), vocab_);
  opt.head_vocab = -1;
  auto bad = Model::Load(path_, opt);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("head_vocab"), std::string::npos) << bad.status();
}

TEST_P(TinyModelTest, RequantizedWeightsAreWhatTheReferenceQuantizerWrites) {
  // ModelOptions::requantize = Q4_0 converts every layer matrix whose Q4_0
  // rows are smaller (F16, Q8_0, Q4_1, Q5_0; Q4_0 stays), never the head or
  // the embedding table: exactly the file the gguf package's reference
  // quantizer writes with --requantize-q4-0, so the logits must be bitwise
  // that file's.
  ModelOptions opt;
  opt.n_threads = 2;
  opt.requantize = kernels::GgmlType::kQ4_0;
  auto rq = Model::Load(path_, opt);
  ASSERT_TRUE(rq.ok()) << rq.status();
  const std::vector<int32_t> tokens = RandomTokens(12, vocab_, 5);
  const std::vector<float> original = Prefill(*model_, tokens);
  const std::vector<float> requantized = Prefill(**rq, tokens);
  ASSERT_EQ(requantized.size(), original.size());
  EXPECT_GT(CountBitDiffs(original, requantized), 0);  // the weights did change
  auto ref = Model::Load(MakeTiny(GetParam(), "--requantize-q4-0", "_q4_0"), ModelOptions{.n_threads = 2});
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_EQ(CountBitDiffs(Prefill(**ref, tokens), requantized), 0);
  for (size_t r = 0; r < tokens.size(); ++r) {
    double diff = 0, norm = 0;
    for (int i = 0; i < vocab_; ++i) {
      const double a = original[r * vocab_ + i], b = requantized[r * vocab_ + i];
      diff += (a - b) * (a - b);
      norm += a * a;
    }
    EXPECT_LT(std::sqrt(diff / norm), 0.5) << "row " << r;  // coarser, not another model
  }
  // A type the quantizer cannot write is an error.
  opt.requantize = kernels::GgmlType::kQ4_K;
  auto bad = Model::Load(path_, opt);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("requantize"), std::string::npos) << bad.status();
}

TEST_P(TinyModelTest, BatchedEqualsEachAlone) {
  const std::vector<std::vector<int32_t>> prompts = {RandomTokens(5, vocab_, 1), RandomTokens(9, vocab_, 2),
                                                     RandomTokens(3, vocab_, 3)};
  std::vector<std::vector<float>> alone;
  for (const auto& p : prompts) alone.push_back(Prefill(*model_, p));

  std::vector<std::unique_ptr<Session>> sessions;
  std::vector<std::vector<float>> out(3);
  std::vector<ForwardItem> batch;
  for (int i = 0; i < 3; ++i) {
    sessions.push_back(std::move(*model_->NewSession()));
    batch.push_back(ForwardItem{sessions.back().get(), prompts[i], true, &out[i]});
  }
  ASSERT_TRUE(model_->Forward(batch).ok());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(CountBitDiffs(out[i], alone[i]), 0u) << "item " << i;

  // A decode step for all three at once equals each continuing alone.
  const int32_t next[3] = {10, 20, 30};
  std::vector<std::vector<float>> step(3);
  batch.clear();
  for (int i = 0; i < 3; ++i) batch.push_back(ForwardItem{sessions[i].get(), {&next[i], 1}, true, &step[i]});
  ASSERT_TRUE(model_->Forward(batch).ok());
  for (int i = 0; i < 3; ++i) {
    std::vector<int32_t> full = prompts[i];
    full.push_back(next[i]);
    std::vector<float> ref = Prefill(*model_, full);
    std::vector<float> last(ref.end() - vocab_, ref.end());
    EXPECT_EQ(CountBitDiffs(step[i], last), 0u) << "item " << i;
    EXPECT_EQ(sessions[i]->length(), static_cast<int64_t>(full.size()));
  }
}

TEST_P(TinyModelTest, PrefillEqualsTokenByToken) {
  const std::vector<int32_t> tokens = RandomTokens(70, vocab_, 11);  // crosses a 64-token page
  const std::vector<float> all = Prefill(*model_, tokens);
  auto s = std::move(*model_->NewSession());
  std::vector<float> one;
  for (size_t i = 0; i < tokens.size(); ++i) {
    ForwardItem it{s.get(), {&tokens[i], 1}, true, &one};
    ASSERT_TRUE(model_->Forward(std::span<ForwardItem>(&it, 1)).ok());
    std::vector<float> expect(all.begin() + i * vocab_, all.begin() + (i + 1) * vocab_);
    ASSERT_EQ(CountBitDiffs(one, expect), 0u) << "position " << i;
  }
  EXPECT_EQ(s->length(), 70);
  EXPECT_EQ(std::vector<int32_t>(s->tokens().begin(), s->tokens().end()), tokens);
}

TEST_P(TinyModelTest, LastLogitsOnly) {
  const std::vector<int32_t> tokens = RandomTokens(12, vocab_, 5);
  const std::vector<float> all = Prefill(*model_, tokens);
  auto s = std::move(*model_->NewSession());
  std::vector<float> last;
  ForwardItem it{s.get(), tokens, false, &last};
  ASSERT_TRUE(model_->Forward(std::span<ForwardItem>(&it, 1)).ok());
  ASSERT_EQ(last.size(), static_cast<size_t>(vocab_));
  EXPECT_EQ(CountBitDiffs(last, std::vector<float>(all.end() - vocab_, all.end())), 0u);
}

TEST_P(TinyModelTest, TruncateThenReforwardEqualsFresh) {
  const std::vector<int32_t> a = RandomTokens(100, vocab_, 21);
  std::vector<int32_t> b(a.begin(), a.begin() + 60);
  const std::vector<int32_t> tail = RandomTokens(15, vocab_, 22);
  b.insert(b.end(), tail.begin(), tail.end());
  const std::vector<float> fresh = Prefill(*model_, b);

  auto s = std::move(*model_->NewSession());
  std::vector<float> logits;
  ForwardItem it{s.get(), a, false, &logits};
  ASSERT_TRUE(model_->Forward(std::span<ForwardItem>(&it, 1)).ok());
  const size_t bytes_before = model_->kv_bytes_in_use();
  ASSERT_TRUE(s->Truncate(60).ok());
  EXPECT_LT(model_->kv_bytes_in_use(), bytes_before);  // the second page went back
  EXPECT_EQ(s->length(), 60);
  EXPECT_FALSE(s->Truncate(61).ok());
  ForwardItem it2{s.get(), tail, true, &logits};
  ASSERT_TRUE(model_->Forward(std::span<ForwardItem>(&it2, 1)).ok());
  EXPECT_EQ(CountBitDiffs(logits, std::vector<float>(fresh.end() - 15 * vocab_, fresh.end())), 0u);
}

TEST_P(TinyModelTest, ForkIsIndependent) {
  const std::vector<int32_t> prefix = RandomTokens(70, vocab_, 31);
  const std::vector<int32_t> x = RandomTokens(4, vocab_, 32), y = RandomTokens(6, vocab_, 33);
  std::unique_ptr<Session> parent_session;
  Prefill(*model_, prefix, &parent_session);
  Session* parent = parent_session.get();
  const size_t used = model_->kv_bytes_in_use();
  auto child = parent->Fork();
  ASSERT_TRUE(child.ok());
  EXPECT_EQ(model_->kv_bytes_in_use(), used);  // pages are shared until written
  EXPECT_EQ((*child)->length(), 70);

  std::vector<float> lx, ly;
  std::vector<ForwardItem> batch = {{parent, x, true, &lx}, {child->get(), y, true, &ly}};
  ASSERT_TRUE(model_->Forward(batch).ok());
  std::vector<int32_t> px = prefix, py = prefix;
  px.insert(px.end(), x.begin(), x.end());
  py.insert(py.end(), y.begin(), y.end());
  const std::vector<float> rx = Prefill(*model_, px), ry = Prefill(*model_, py);
  EXPECT_EQ(CountBitDiffs(lx, std::vector<float>(rx.end() - 4 * vocab_, rx.end())), 0u);
  EXPECT_EQ(CountBitDiffs(ly, std::vector<float>(ry.end() - 6 * vocab_, ry.end())), 0u);

  // Destroying the fork leaves the parent intact.
  child->reset();
  std::vector<float> lz;
  const int32_t z = 3;
  ForwardItem it{parent, {&z, 1}, true, &lz};
  ASSERT_TRUE(model_->Forward(std::span<ForwardItem>(&it, 1)).ok());
  px.push_back(z);
  const std::vector<float> rz = Prefill(*model_, px);
  EXPECT_EQ(CountBitDiffs(lz, std::vector<float>(rz.end() - vocab_, rz.end())), 0u);
}

TEST_P(TinyModelTest, LongBatchSplitsIntoPasses) {
  // 700 rows in one call exceed one pass (512 rows) and must still be exact.
  const std::vector<int32_t> a = RandomTokens(400, vocab_, 41), b = RandomTokens(300, vocab_, 42);
  const std::vector<float> ra = Prefill(*model_, a), rb = Prefill(*model_, b);
  auto sa = std::move(*model_->NewSession());
  auto sb = std::move(*model_->NewSession());
  std::vector<float> la, lb;
  std::vector<ForwardItem> batch = {{sa.get(), a, true, &la}, {sb.get(), b, false, &lb}};
  ASSERT_TRUE(model_->Forward(batch).ok());
  EXPECT_EQ(CountBitDiffs(la, ra), 0u);
  EXPECT_EQ(CountBitDiffs(lb, std::vector<float>(rb.end() - vocab_, rb.end())), 0u);
}

TEST_P(TinyModelTest, BadInputsLeaveSessionsUnchanged) {
  auto s = std::move(*model_->NewSession());
  const std::vector<int32_t> bad = {1, vocab_};
  ForwardItem it{s.get(), bad, true, nullptr};
  absl::Status st = model_->Forward(std::span<ForwardItem>(&it, 1));
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_EQ(s->length(), 0);
  const std::vector<int32_t> ok = {1, 2};
  std::vector<ForwardItem> twice = {{s.get(), ok, true, nullptr}, {s.get(), ok, true, nullptr}};
  EXPECT_EQ(model_->Forward(twice).code(), absl::StatusCode::kInvalidArgument);
  ForwardItem empty{s.get(), {}, true, nullptr};
  EXPECT_EQ(model_->Forward(std::span<ForwardItem>(&empty, 1)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s->length(), 0);
}

TEST_P(TinyModelTest, PerplexityUsesNonOverlappingWindows) {
  const std::vector<int32_t> tokens = RandomTokens(20, vocab_, 51);
  auto r = ComputePerplexity(*model_, tokens, 8);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->windows, 3);               // [0,8) [8,16) [16,20)
  EXPECT_EQ(r->tokens_scored, 7 + 7 + 3);
  double nll = 0;
  for (int start = 0; start < 20; start += 8) {
    std::vector<int32_t> w(tokens.begin() + start, tokens.begin() + std::min(20, start + 8));
    testing_util::RefLogits ref = ReferenceLogits(path_, w);
    for (size_t i = 0; i + 1 < w.size(); ++i) {
      const double* row = ref.row(static_cast<int64_t>(i));
      double mx = row[0], sum = 0;
      for (int v = 0; v < vocab_; ++v) mx = std::max(mx, row[v]);
      for (int v = 0; v < vocab_; ++v) sum += std::exp(row[v] - mx);
      nll += mx + std::log(sum) - row[w[i + 1]];
    }
  }
  EXPECT_NEAR(r->perplexity, std::exp(nll / 17), 0.02 * std::exp(nll / 17));
  EXPECT_FALSE(ComputePerplexity(*model_, tokens, 1).ok());
}

// llama.cpp's scoring by hand on the float64 reference: full windows only,
// BOS first when the model adds one, rows window/2 .. window-2 scored.
TEST_P(TinyModelTest, PerplexityLlamaCppScoresTheSecondHalfOfFullWindows) {
  const std::vector<int32_t> tokens = RandomTokens(20, vocab_, 51);
  auto r = ComputePerplexity(*model_, tokens, 8, PerplexityScoring::kLlamaCpp);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->windows, 2);  // [0,8) [8,16); the 4-token tail is dropped
  EXPECT_EQ(r->tokens_scored, 3 + 3);
  const auto& tok = model_->tokenizer();
  double nll = 0;
  for (int start = 0; start + 8 <= 20; start += 8) {
    std::vector<int32_t> w(tokens.begin() + start, tokens.begin() + start + 8);
    if (tok.add_bos() && tok.bos_id() >= 0) w[0] = tok.bos_id();
    testing_util::RefLogits ref = ReferenceLogits(path_, w);
    for (size_t i = 4; i + 1 < w.size(); ++i) {
      const double* row = ref.row(static_cast<int64_t>(i));
      double mx = row[0], sum = 0;
      for (int v = 0; v < vocab_; ++v) mx = std::max(mx, row[v]);
      for (int v = 0; v < vocab_; ++v) sum += std::exp(row[v] - mx);
      nll += mx + std::log(sum) - row[w[i + 1]];
    }
  }
  // On the mean NLL (the random tiny model's perplexity is astronomical):
  // within the engine's activation-quantization noise of the float64 sum;
  // scoring another set of tokens moves it by nats.
  EXPECT_NEAR(r->mean_nll, nll / 6, 0.01 * std::fabs(nll / 6) + 0.01);
  // Not the default scoring: other tokens, another number.
  auto all = ComputePerplexity(*model_, tokens, 8);
  ASSERT_TRUE(all.ok());
  EXPECT_NE(all->tokens_scored, r->tokens_scored);
  EXPECT_NE(all->mean_nll, r->mean_nll);
  EXPECT_FALSE(ComputePerplexity(*model_, std::vector<int32_t>(tokens.begin(), tokens.begin() + 7), 8,
                                 PerplexityScoring::kLlamaCpp).ok());  // no full window
  EXPECT_FALSE(ComputePerplexity(*model_, tokens, 2, PerplexityScoring::kLlamaCpp).ok());
}

INSTANTIATE_TEST_SUITE_P(Arch, TinyModelTest, ::testing::Values("llama", "qwen2"));

TEST(TinyModelLimits, KvBudgetExceeded) {
  const std::string path = MakeTiny("llama");
  ModelOptions opt;
  opt.n_threads = 1;
  // One page = 2 layers * 2 * 64 tokens * 32 kv dims * 2 bytes = 16 KiB; allow 2 pages.
  opt.kv_budget_bytes = 2 * 16384;
  auto m = Model::Load(path, opt);
  ASSERT_TRUE(m.ok()) << m.status();
  Model& model = **m;
  EXPECT_EQ(model.kv_budget_bytes(), 2u * 16384);
  auto a = std::move(*model.NewSession());
  auto b = std::move(*model.NewSession());
  const std::vector<int32_t> t100 = RandomTokens(100, 261, 1), t40 = RandomTokens(40, 261, 2);
  ForwardItem ia{a.get(), t100, false, nullptr};
  ASSERT_TRUE(model.Forward(std::span<ForwardItem>(&ia, 1)).ok());  // 2 pages
  ForwardItem ib{b.get(), t40, false, nullptr};
  absl::Status st = model.Forward(std::span<ForwardItem>(&ib, 1));
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted) << st;
  EXPECT_EQ(b->length(), 0);
  // In a batch, the failing item rolls back the one that fit.
  ASSERT_TRUE(a->Truncate(50).ok());  // frees one page
  auto c = std::move(*model.NewSession());
  std::vector<ForwardItem> batch = {{b.get(), t40, false, nullptr}, {c.get(), t40, false, nullptr}};
  EXPECT_EQ(model.Forward(batch).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(b->length(), 0);
  EXPECT_EQ(c->length(), 0);
  EXPECT_EQ(model.kv_bytes_in_use(), 16384u);
  // A fork writing into a shared page needs a page of its own.
  auto f = std::move(*a->Fork());
  const int32_t one = 5;
  ForwardItem fi{f.get(), {&one, 1}, false, nullptr};
  ASSERT_TRUE(model.Forward(std::span<ForwardItem>(&fi, 1)).ok());  // takes the last page (copy)
  ForwardItem ai{a.get(), {&one, 1}, false, nullptr};
  ASSERT_TRUE(model.Forward(std::span<ForwardItem>(&ai, 1)).ok());  // now sole owner: in place
  EXPECT_EQ(model.Forward(std::span<ForwardItem>(&ib, 1)).code(), absl::StatusCode::kResourceExhausted);
  f.reset();
  EXPECT_TRUE(model.Forward(std::span<ForwardItem>(&ib, 1)).ok());
}

TEST(TinyModelLimits, ContextLengthExceeded) {
  const std::string path = MakeTiny("qwen2");
  ModelOptions opt;
  opt.max_context = 16;
  auto m = Model::Load(path, opt);
  ASSERT_TRUE(m.ok()) << m.status();
  auto s = std::move(*(*m)->NewSession());
  const std::vector<int32_t> t = RandomTokens(10, 261, 3);
  ForwardItem it{s.get(), t, false, nullptr};
  ASSERT_TRUE((*m)->Forward(std::span<ForwardItem>(&it, 1)).ok());
  absl::Status st = (*m)->Forward(std::span<ForwardItem>(&it, 1));
  EXPECT_EQ(st.code(), absl::StatusCode::kOutOfRange) << st;
  EXPECT_EQ(s->length(), 10);
}

TEST(TinyModelLimits, MissingTensorIsNamed) {
  const std::string path = MakeTiny("qwen2", "--drop blk.1.attn_k.bias", "_drop");
  auto m = Model::Load(path, ModelOptions{});
  ASSERT_FALSE(m.ok());
  EXPECT_NE(std::string(m.status().message()).find("blk.1.attn_k.bias"), std::string::npos) << m.status();
  const std::string path2 = MakeTiny("llama", "--drop blk.0.ffn_up.weight", "_drop2");
  auto m2 = Model::Load(path2, ModelOptions{});
  ASSERT_FALSE(m2.ok());
  EXPECT_NE(std::string(m2.status().message()).find("blk.0.ffn_up.weight"), std::string::npos);
}

// Weights on huge pages (the CPU default where the kernel offers them) and
// through the file mapping: the same bytes, so bitwise the same logits.
TEST_P(TinyModelTest, HugePagesAndMappingGiveTheSameLogits) {
  const std::vector<int32_t> tokens = RandomTokens(24, vocab_, 11);
  std::vector<std::vector<float>> logits;
  for (WeightMemory w : {WeightMemory::kMapped, WeightMemory::kHugePages}) {
    ModelOptions opt;
    opt.n_threads = 2;
    opt.weights = w;
    auto m = Model::Load(path_, opt);
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ((*m)->gguf().memory(),
              w == WeightMemory::kMapped ? gguf::GgufMemory::kMapped : gguf::GgufMemory::kHugePages);
    logits.push_back(Prefill(**m, tokens));
  }
  ASSERT_EQ(logits[0].size(), logits[1].size());
  EXPECT_EQ(CountBitDiffs(logits[0], logits[1]), 0u);
}

// TANDEM_WEIGHTS overrides the automatic choice; a value it does not know is
// an error that names it, not a silent default.
TEST(TinyModelWeights, EnvironmentChoosesAndRejectsUnknownValues) {
  const std::string path = MakeTiny("qwen2");
  struct Case {
    const char* value;
    bool ok;
    gguf::GgufMemory memory;
  };
  for (const Case& c : {Case{"mmap", true, gguf::GgufMemory::kMapped},
                        Case{"hugepages", true, gguf::GgufMemory::kHugePages}, Case{"fast", false, {}}}) {
    ASSERT_EQ(::setenv("TANDEM_WEIGHTS", c.value, 1), 0);
    auto m = Model::Load(path, ModelOptions{});
    ::unsetenv("TANDEM_WEIGHTS");
    if (!c.ok) {
      ASSERT_FALSE(m.ok());
      EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_NE(std::string(m.status().message()).find("TANDEM_WEIGHTS='fast'"), std::string::npos) << m.status();
      continue;
    }
    ASSERT_TRUE(m.ok()) << c.value << ": " << m.status();
    EXPECT_EQ((*m)->gguf().memory(), c.memory) << c.value;
  }
}

}  // namespace
}  // namespace tandem::runtime
