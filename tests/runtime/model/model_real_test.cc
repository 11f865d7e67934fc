// The real bundled models against the independent float64 numpy reference
// (tests/tools/reference_forward.py), with and without the engine's
// activation quantization simulated (see CheckAgainstReference for the
// bounds); engine paths bitwise equal to each other; plus the perplexity of
// SmolLM2 on a fixed prose excerpt from tests/data/long_text (printed for
// the record and pinned to within 1 % of its measured value). Models come from
// TANDEM_MODEL_DIR (default ~/.cache/tandem/models); a missing model fails
// with a clear message.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/model/model.h"
#include "runtime/model/perplexity.h"
#include "tests/runtime/model/model_test_util.h"

namespace tandem::runtime {
namespace {

[[maybe_unused]] ::testing::Environment* const kScratchCleanup =
    ::testing::AddGlobalTestEnvironment(new testing_util::ScratchCleanup);

std::string RequireModel(const std::string& file) {
  const std::string path = testing_util::ModelDir() + "/" + file;
  if (!std::filesystem::exists(path)) {
    ADD_FAILURE() << "model " << path << " is missing: run scripts/setup.sh (or scripts/fetch_models.py) "
                  << "or point TANDEM_MODEL_DIR at a folder holding " << file;
    return "";
  }
  return path;
}

// Top-1 and second logit of a row.
template <typename T>
std::pair<double, double> TopTwo(const T* v, int64_t n) {
  double a = -INFINITY, b = -INFINITY;
  for (int64_t i = 0; i < n; ++i) {
    const double x = static_cast<double>(v[i]);
    if (x > a) {
      b = a;
      a = x;
    } else if (x > b) {
      b = x;
    }
  }
  return {a, b};
}

struct RefPrompt {
  std::string text = {};                               // plain text prompt (BOS as the model asks)...
  std::vector<tokenizer::ChatMessage> messages = {};  // ...or a chat, rendered with the model's template
};

// Engine logits of every prompt against two float64 references computed in
// one run of tests/tools/reference_forward.py (numpy, weights dequantized by
// gguf.quants, Hugging Face rope/attention formulation): "pure" (no
// activation rounding) and "q8" (the engine's documented activation
// numerics simulated: 8-bit per-block rounding with fp32 scales,
// nearest-even, fp16 KV cache). The row's quantization noise is
// max|q8 - pure| (measured by the independent simulation).
//
// Why the engine cannot match the q8 simulation position by position: the
// 8-bit rounding is discontinuous, and fp32 vs float64 arithmetic puts a few
// activations per token on the other side of a rounding boundary; each flip
// perturbs the next layer far above fp32 precision and flips more. After a
// few layers the engine and the simulation are two independent draws of the
// quantization noise (measured: engine vs q8 ~ 0.001-0.013 of the row
// scale at a prompt's first position, as large as the noise itself by the
// third). So the checks are calibrated by the measured noise:
//  (a) vs q8: row-relative error (max|diff| / max|ref logit|) at most
//      kNoiseFactor x the largest measured noise (two independent draws
//      differ by up to ~sqrt(2) x one draw), and top-1 equal wherever the q8
//      reference's top-2 margin exceeds twice the row's noise;
//  (b) vs pure: row-relative error below max_rel_pure and at most
//      kNoiseFactor x the largest noise, mean error at most kNoiseFactor x
//      the mean noise, and top-1 equal wherever the pure reference's top-2
//      margin exceeds twice the row's noise: rounding moves every logit by
//      about that noise, so it cannot swap two candidates further apart;
//      only near-ties below it may flip.
// A broken rope, QKV bias or attention adds an error of its own and lands
// far outside these bounds.
constexpr double kNoiseFactor = 2.0;

void CheckAgainstReference(const std::string& file, const std::vector<RefPrompt>& prompts, double max_rel_pure) {
  const std::string path = RequireModel(file);
  if (path.empty()) return;
  ModelOptions opt;
  opt.n_threads = 2;
  auto m = Model::Load(path, opt);
  ASSERT_TRUE(m.ok()) << m.status();
  Model& model = **m;
  const int64_t vocab = model.config().vocab_size;

  std::vector<std::vector<int32_t>> seqs;
  std::vector<std::vector<float>> engine;
  for (const RefPrompt& p : prompts) {
    std::vector<int32_t> tokens;
    if (p.messages.empty()) {
      tokens = model.tokenizer().Encode(p.text, true, false);
    } else {
      auto text = model.tokenizer().ApplyChatTemplate(p.messages, true);
      ASSERT_TRUE(text.ok()) << text.status();
      tokens = model.tokenizer().Encode(*text, false, true);
    }
    ASSERT_GE(tokens.size(), 18u);
    ASSERT_LE(tokens.size(), 40u);
    auto s = std::move(*model.NewSession());
    std::vector<float> logits;
    ForwardItem it{s.get(), tokens, true, &logits};
    ASSERT_TRUE(model.Forward(std::span<ForwardItem>(&it, 1)).ok());
    seqs.push_back(std::move(tokens));
    engine.push_back(std::move(logits));
  }
  std::vector<testing_util::RefLogits> q8;
  const std::vector<testing_util::RefLogits> pure = testing_util::ReferenceLogitsMany(path, seqs, &q8);
  ASSERT_EQ(pure.size(), seqs.size());
  ASSERT_EQ(q8.size(), seqs.size());

  double worst_q8 = 0, worst_pure = 0, worst_noise = 0, sum_noise = 0, sum_pure = 0;
  int positions = 0, decisive_q8 = 0, decisive = 0, q8_flips = 0, pure_flips = 0;
  for (size_t si = 0; si < seqs.size(); ++si) {
    ASSERT_EQ(pure[si].rows, static_cast<int64_t>(seqs[si].size()));
    ASSERT_EQ(q8[si].vocab, vocab);
    ASSERT_EQ(pure[si].vocab, vocab);
    for (int64_t i = 0; i < pure[si].rows; ++i) {
      ++positions;
      const float* row = engine[si].data() + i * vocab;
      const double* rq = q8[si].row(i);
      const double* rp = pure[si].row(i);
      double scale = 0, noise = 0;
      for (int64_t v = 0; v < vocab; ++v) {
        scale = std::max(scale, std::fabs(rp[v]));
        noise = std::max(noise, std::fabs(rq[v] - rp[v]));
      }
      worst_noise = std::max(worst_noise, noise / scale);
      sum_noise += noise / scale;
      worst_q8 = std::max(worst_q8, testing_util::RowRelError(row, rq, vocab));
      const double rel_pure = testing_util::RowRelError(row, rp, vocab);
      worst_pure = std::max(worst_pure, rel_pure);
      sum_pure += rel_pure;
      const int64_t got = testing_util::ArgMax(row, vocab);
      const int64_t want_q8 = testing_util::ArgMax(rq, vocab), want_pure = testing_util::ArgMax(rp, vocab);
      const auto [q1, q2] = TopTwo(rq, vocab);
      if (q1 - q2 > 2 * noise) {
        ++decisive_q8;
        EXPECT_EQ(got, want_q8) << file << " prompt " << si << " position " << i << ": engine top-1 " << got
                                << ", q8 reference top-1 " << want_q8 << " (margin " << q1 - q2 << " > 2 x noise "
                                << noise << ")";
      }
      q8_flips += got != want_q8;
      const auto [p1, p2] = TopTwo(rp, vocab);
      if (p1 - p2 > 2 * noise) {
        ++decisive;
        EXPECT_EQ(got, want_pure) << file << " prompt " << si << " position " << i << ": pure margin " << p1 - p2
                                  << " > 2 x noise " << noise;
      }
      pure_flips += got != want_pure;
    }
  }
  const double mean_noise = sum_noise / positions, mean_pure = sum_pure / positions;
  std::printf("[ %s ] %zu prompts, %d positions; quantization noise max|q8 - pure| up to %.3g of the row scale "
              "(mean %.3g). Engine vs q8-simulating reference: max row-relative error %.3g, top-1 checked at %d "
              "decisive positions, differs at %d near-ties. Engine vs pure float64: max %.3g (mean %.3g), top-1 "
              "checked at %d decisive positions, differs at %d near-ties\n",
              file.c_str(), seqs.size(), positions, worst_noise, mean_noise, worst_q8, decisive_q8, q8_flips,
              worst_pure, mean_pure, decisive, pure_flips);
  EXPECT_LT(worst_q8, kNoiseFactor * worst_noise);
  EXPECT_LT(worst_pure, kNoiseFactor * worst_noise);
  EXPECT_LT(mean_pure, kNoiseFactor * mean_noise);
  EXPECT_LT(worst_pure, max_rel_pure);
  // The margin checks must not be vacuous.
  EXPECT_GE(decisive, positions / 3);
  EXPECT_GE(decisive_q8, positions / 3);
}

constexpr const char* kPrompt =
    "The quick brown fox jumps over the lazy dog. In the morning, the farmer walked to the market "
    "to sell his apples";

TEST(RealModel, SmolLM2MatchesReference) {
  CheckAgainstReference("smollm2-135m.gguf",
                        {{.text = kPrompt},
                         {.messages = {{"system", "You are a helpful assistant."},
                                       {"user", "What is the capital of France?"}}}},
                        0.12);
}

TEST(RealModel, Qwen25Coder05BMatchesReference) {
  CheckAgainstReference(
      "qwen2.5-coder-0.5b.gguf",
      {{.text = "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n    if n < 2:"},
       {.messages = {{"system", "You are a coding assistant."},
                     {"user", "Write a Python function that reverses a string."}}}},
      0.08);
}

// The same tokens along every engine path give bitwise equal logits on the
// real weights (Q4_1/Q8_0 for SmolLM2; Q5_0/Q8_0/Q4_K/Q6_K for Qwen 0.5B):
// one prefill vs one token at a time (m-row tiles vs 1-row matvecs), and
// sessions batched into one pass vs each alone. Greedy speculative decoding
// is token-identical to target-only only because of this; a last-bit
// difference flips 8-bit activation roundings and grows into ~0.4 logits.
void CheckPathsBitwise(const std::string& file, int threads) {
  const std::string path = RequireModel(file);
  if (path.empty()) return;
  ModelOptions opt;
  opt.n_threads = threads;
  auto m = Model::Load(path, opt);
  ASSERT_TRUE(m.ok()) << m.status();
  Model& model = **m;
  const std::vector<int32_t> tokens = model.tokenizer().Encode(kPrompt, true, false);
  const size_t n = tokens.size();
  ASSERT_GE(n, 10u);
  const int64_t vocab = model.config().vocab_size;
  auto row = [&](const std::vector<float>& all, size_t i) {
    return std::vector<float>(all.begin() + i * vocab, all.begin() + (i + 1) * vocab);
  };
  auto forward = [&](Session* s, std::span<const int32_t> toks, std::vector<float>* out) {
    ForwardItem it{s, toks, true, out};
    return model.Forward(std::span<ForwardItem>(&it, 1));
  };

  auto a = std::move(*model.NewSession());
  std::vector<float> prefill;
  ASSERT_TRUE(forward(a.get(), tokens, &prefill).ok());

  // One token at a time.
  auto b = std::move(*model.NewSession());
  for (size_t i = 0; i < n; ++i) {
    std::vector<float> one;
    ASSERT_TRUE(forward(b.get(), std::span<const int32_t>(&tokens[i], 1), &one).ok());
    ASSERT_EQ(testing_util::CountBitDiffs(one, row(prefill, i)), 0u) << file << ": decode position " << i;
  }

  // Three sessions in one pass: a full prompt, a 5-token prefix, and a decode
  // step of a session that already holds all but the last token.
  auto c = std::move(*model.NewSession());
  auto d = std::move(*model.NewSession());
  auto e = std::move(*model.NewSession());
  ASSERT_TRUE(forward(e.get(), std::span<const int32_t>(tokens).first(n - 1), nullptr).ok());
  std::vector<float> lc, ld, le;
  std::vector<ForwardItem> batch = {{c.get(), tokens, true, &lc},
                                    {d.get(), std::span<const int32_t>(tokens).first(5), true, &ld},
                                    {e.get(), std::span<const int32_t>(&tokens[n - 1], 1), true, &le}};
  ASSERT_TRUE(model.Forward(batch).ok());
  EXPECT_EQ(testing_util::CountBitDiffs(lc, prefill), 0u) << file << ": batched full prompt";
  EXPECT_EQ(testing_util::CountBitDiffs(ld, std::vector<float>(prefill.begin(), prefill.begin() + 5 * vocab)), 0u)
      << file << ": batched prefix";
  EXPECT_EQ(testing_util::CountBitDiffs(le, row(prefill, n - 1)), 0u) << file << ": batched decode step";
}

TEST(RealModel, SmolLM2PathsAreBitwiseEqual) { CheckPathsBitwise("smollm2-135m.gguf", 2); }
TEST(RealModel, Qwen25Coder05BPathsAreBitwiseEqual) { CheckPathsBitwise("qwen2.5-coder-0.5b.gguf", 2); }

// Measured values (see SmolLM2Perplexity).
constexpr double kSmolLM2Perplexity = 11.3303;
constexpr double kSmolLM2PerplexityLlamaCpp = 9.2102;

TEST(RealModel, SmolLM2Perplexity) {
  const std::string path = RequireModel("smollm2-135m.gguf");
  if (path.empty()) return;
  auto m = Model::Load(path, ModelOptions{});
  ASSERT_TRUE(m.ok()) << m.status();
  // The fixed text: the first 2048 tokens of the repository's long English
  // prose (tests/data/long_text, GSM8K questions; see tests/data/README.md).
  const std::vector<std::string> files = test_paths::LongTextFiles();
  ASSERT_FALSE(files.empty()) << test_paths::DataDir() << "/long_text has no .txt files";
  std::ifstream f(files[0]);
  ASSERT_TRUE(static_cast<bool>(f)) << files[0];
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string text = ss.str();
  std::vector<int32_t> tokens = (*m)->tokenizer().Encode(text, false, false);
  if (tokens.size() > 2048) tokens.resize(2048);
  ASSERT_EQ(tokens.size(), 2048u);
  auto r = ComputePerplexity(**m, tokens, 512);
  ASSERT_TRUE(r.ok()) << r.status();
  std::printf("[ smollm2-135m ] perplexity on the first %zu tokens of %s, window 512: %.4f "
              "(%lld tokens scored, %lld windows)\n",
              tokens.size(), std::filesystem::path(files[0]).filename().c_str(), r->perplexity, static_cast<long long>(r->tokens_scored),
              static_cast<long long>(r->windows));
  // Pinned to within 1 % of the value measured when this test was written
  // (11.3303; 9.2102 with llama.cpp scoring; x86-64 CPU kernels): a broken rope or attention lands in the
  // hundreds, and subtler numerics bugs (a mis-scaled norm, a wrong rope
  // base, a quantization off by one block) move it by more than 1 %.
  EXPECT_NEAR(r->perplexity, kSmolLM2Perplexity, 0.01 * kSmolLM2Perplexity);
  // llama.cpp's scoring (second half of each window) on the same tokens:
  // every scored token has at least 256 tokens of context, so it is lower.
  auto l = ComputePerplexity(**m, tokens, 512, PerplexityScoring::kLlamaCpp);
  ASSERT_TRUE(l.ok()) << l.status();
  std::printf("[ smollm2-135m ] the same, llama-cpp scoring: %.4f (%lld tokens scored)\n", l->perplexity,
              static_cast<long long>(l->tokens_scored));
  EXPECT_EQ(l->tokens_scored, 4 * 255);
  EXPECT_LT(l->perplexity, r->perplexity);
  EXPECT_NEAR(l->perplexity, kSmolLM2PerplexityLlamaCpp, 0.01 * kSmolLM2PerplexityLlamaCpp);
}

}  // namespace
}  // namespace tandem::runtime
