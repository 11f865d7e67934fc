// The GGUF reward model backend on tiny generated models (tests/tools/
// make_tiny_model.py --reward-head): the score head against the float64
// reference (tests/tools/reward_head_reference.py), the PRM mode with and
// without prefix reuse, and the errors for files that are not reward models.
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "runtime/model/model.h"
#include "services/reward/gguf_reward_backend.h"
#include "services/reward/prefix_evaluator.h"
#include "services/reward/reward_registry.h"
#include "tests/common/scratch.h"
#include "tests/common/test_paths.h"

namespace tandem::reward {
namespace {

using test_scratch::ScratchDir;

std::string MakeModel(const std::string& name, const std::string& args) {
  const std::string path = ScratchDir() + "/" + name + ".gguf";
  if (!std::filesystem::exists(path)) {
    const std::string cmd = test_paths::PythonPath() + " " + test_paths::ToolPath("make_tiny_model.py") + " --out " + path + " " + args;
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
  return path;
}

const auto* const kCleanup = ::testing::AddGlobalTestEnvironment(new test_scratch::ScratchCleanup);

// Reference scores: [mode][sequence][label], mode 0 = float64, 1 = with the
// engine's activation quantization simulated.
std::vector<std::vector<std::vector<double>>> Reference(const std::string& model,
                                                        const std::vector<std::vector<int32_t>>& seqs) {
  std::vector<std::string> parts;
  for (const auto& s : seqs) parts.push_back(absl::StrJoin(s, ","));
  const std::string out = ScratchDir() + "/ref.bin";
  const std::string cmd = test_paths::PythonPath() + " " + test_paths::ToolPath("reward_head_reference.py") + " " + model +
                          " '" + absl::StrJoin(parts, ";") + "' " + out;
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::ifstream f(out, std::ios::binary);
  std::vector<std::vector<std::vector<double>>> ref(2);
  for (int mode = 0; mode < 2; ++mode) {
    for (size_t i = 0; i < seqs.size(); ++i) {
      int64_t n = 0;
      f.read(reinterpret_cast<char*>(&n), sizeof n);
      std::vector<double> y(static_cast<size_t>(n));
      f.read(reinterpret_cast<char*>(y.data()), static_cast<std::streamsize>(n * sizeof(double)));
      EXPECT_TRUE(f.good());
      ref[mode].push_back(y);
    }
  }
  return ref;
}

RewardRegistryOptions WithRewardModel(const std::string& path) {
  RewardRegistryOptions o;
  o.judge_model = "";
  o.similarity_embedder = "";
  o.reward_model = path;
  o.default_backend = "gguf";
  o.threads = 2;
  return o;
}

void ExpectHeadMatchesReference(const std::string& model_path, int labels) {
  // Token ids as the backend builds them (template=raw: prompt with BOS,
  // then the response).
  runtime::ModelOptions mo;
  mo.n_threads = 1;
  auto model = runtime::Model::Load(model_path, mo);
  ASSERT_TRUE(model.ok()) << model.status();
  const auto& tok = (*model)->tokenizer();
  const std::vector<RewardItem> items = {{"the cat", " sat on the mat", ""}, {"hello", " world, again and again", ""},
                                         {"x", "y", ""}};
  std::vector<std::vector<int32_t>> seqs;
  for (const auto& it : items) {
    std::vector<int32_t> t = tok.Encode(it.prompt, true, false);
    std::vector<int32_t> r = tok.Encode(it.response, false, false);
    t.insert(t.end(), r.begin(), r.end());
    seqs.push_back(t);
  }
  const auto ref = Reference(model_path, seqs);
  RewardRegistry registry(WithRewardModel(model_path));
  for (int label = 0; label < labels; ++label) {
    RewardSpec spec{"gguf", {{"label", std::to_string(label)}, {"template", "raw"}}};
    auto got = registry.Score(spec, items);
    ASSERT_TRUE(got.ok()) << got.status();
    for (size_t i = 0; i < items.size(); ++i) {
      const double q8 = ref[1][i][label], exact = ref[0][i][label];
      // Against the quantization-simulating reference: float32 rounding only.
      EXPECT_NEAR((*got)[i], q8, 2e-3 * (1 + std::fabs(q8))) << "item " << i << " label " << label;
      // Against pure float64: within the activation-quantization noise.
      EXPECT_NEAR((*got)[i], exact, 0.05 * (1 + std::fabs(exact))) << "item " << i << " label " << label;
    }
  }
}

TEST(GgufReward, ScoreHeadMatchesFloat64Reference) {
  ExpectHeadMatchesReference(MakeModel("rm_score", "--arch llama --reward-head score --pooling 3"), 1);
}

TEST(GgufReward, DenseTanhHeadWithSeveralLabelsMatchesReference) {
  ExpectHeadMatchesReference(MakeModel("rm_dense", "--arch qwen2 --reward-head dense --labels 3 --pooling 4"), 3);
}

TEST(GgufReward, ProcessScoresEqualWithAndWithoutPrefixReuse) {
  RewardRegistry registry(WithRewardModel(MakeModel("rm_score", "--arch llama --reward-head score --pooling 3")));
  const std::string q = "the question";
  const std::vector<std::string> steps = {"first the thing", "then the other thing", "in the end 42"};
  RewardSpec fresh{"gguf", {{"cache", "false"}}};
  auto all = registry.ScoreSteps(fresh, q, steps);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 3u);
  for (float s : *all) {
    EXPECT_GT(s, 0.0f);  // sigmoid by default
    EXPECT_LT(s, 1.0f);
  }
  const EvalStats before = registry.Stats().at("gguf").eval;
  RewardSpec cached{"gguf", {}};
  for (size_t k = 1; k <= steps.size(); ++k) {
    auto s = registry.ScoreSteps(cached, q, std::span<const std::string>(steps.data(), k));
    ASSERT_TRUE(s.ok()) << s.status();
    for (size_t i = 0; i < k; ++i) EXPECT_EQ((*s)[i], (*all)[i]) << i;
  }
  const EvalStats after = registry.Stats().at("gguf").eval;
  // Each call forwards only its new step: the three calls together forward
  // the whole sequence once.
  runtime::ModelOptions mo;
  auto model = runtime::Model::Load(MakeModel("rm_score", ""), mo);
  ASSERT_TRUE(model.ok());
  const auto& tok = (*model)->tokenizer();
  int64_t total = static_cast<int64_t>(tok.Encode(q + "\n", true, false).size());  // "problem\n"
  for (const auto& s : steps) total += static_cast<int64_t>(tok.Encode(s, false, false).size() + tok.Encode("\n\n", false, false).size());
  EXPECT_EQ(after.tokens_forwarded - before.tokens_forwarded, total);
  EXPECT_GT(after.tokens_reused - before.tokens_reused, 0);
  // activation=none gives the raw head output: logit of the sigmoid score.
  RewardSpec raw{"gguf", {{"activation", "none"}}};
  auto r = registry.ScoreSteps(raw, q, steps);
  ASSERT_TRUE(r.ok());
  for (size_t i = 0; i < steps.size(); ++i) EXPECT_NEAR(1.0 / (1.0 + std::exp(-(*r)[i])), (*all)[i], 1e-6);
}

// The PRM input follows the reference (RSD / Skywork-PRM): BOS + problem +
// "\n", then the step and its delimiter; the score is read at the
// delimiter's last token. Score with template=raw reads exactly that sequence
// when given prompt "problem\n" and response "step\n\n" (each tokenized on
// its own, BOS before the prompt), so the two must agree bit for bit.
TEST(GgufReward, ProcessInputIsProblemNewlineThenSteps) {
  const std::string path = MakeModel("rm_score", "--arch llama --reward-head score --pooling 3");
  runtime::ModelOptions mo;
  auto model = runtime::Model::Load(path, mo);
  ASSERT_TRUE(model.ok());
  const auto& tok = (*model)->tokenizer();
  const std::string q = "the question", step = "first the thing";
  // Precondition of the comparison: the step and its delimiter tokenize the
  // same apart and together.
  std::vector<int32_t> apart = tok.Encode(step, false, false);
  const std::vector<int32_t> delim = tok.Encode("\n\n", false, false);
  apart.insert(apart.end(), delim.begin(), delim.end());
  ASSERT_EQ(apart, tok.Encode(step + "\n\n", false, false));

  RewardRegistry registry(WithRewardModel(path));
  const std::vector<std::string> steps = {step};
  auto process = registry.ScoreSteps(RewardSpec{"gguf", {{"activation", "none"}, {"cache", "false"}}}, q, steps);
  ASSERT_TRUE(process.ok()) << process.status();
  std::vector<RewardItem> with_newline = {{q + "\n", step + "\n\n", ""}};
  std::vector<RewardItem> without = {{q, step + "\n\n", ""}};
  RewardSpec raw{"gguf", {{"template", "raw"}, {"activation", "none"}, {"cache", "false"}}};
  auto a = registry.Score(raw, with_newline);
  auto b = registry.Score(raw, without);
  ASSERT_TRUE(a.ok() && b.ok()) << a.status() << b.status();
  EXPECT_EQ((*process)[0], (*a)[0]);
  EXPECT_NE((*process)[0], (*b)[0]);  // the "\n" after the problem is really there
}

TEST(GgufReward, NotARewardModelOrUnsupportedPoolingIsInvalidArgument) {
  {
    RewardRegistry registry(WithRewardModel(MakeModel("plain", "--arch llama")));
    std::vector<RewardItem> items = {{"a", "b", ""}};
    auto s = registry.Score(RewardSpec{"gguf", {}}, items);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(s.status().message().find("no score head"), std::string::npos) << s.status();
  }
  {
    RewardRegistry registry(WithRewardModel(MakeModel("rm_mean", "--arch llama --reward-head score --pooling 1")));
    std::vector<RewardItem> items = {{"a", "b", ""}};
    auto s = registry.Score(RewardSpec{"gguf", {}}, items);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(s.status().message().find("pooling_type"), std::string::npos) << s.status();
  }
  {
    RewardRegistry registry(WithRewardModel(MakeModel("rm_score", "--arch llama --reward-head score --pooling 3")));
    std::vector<RewardItem> items = {{"a", "b", ""}};
    auto s = registry.Score(RewardSpec{"gguf", {{"label", "1"}}}, items);
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << s.status();
    s = registry.Score(RewardSpec{"gguf", {{"template", "chat"}}}, items);  // the tiny model has no template
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << s.status();
  }
}

TEST(PrefixEvaluator, SharedPrefixOfABatchIsForwardedOnce) {
  runtime::ModelOptions mo;
  mo.n_threads = 2;
  auto model = runtime::Model::Load(MakeModel("rm_score", "--arch llama --reward-head score --pooling 3"), mo);
  ASSERT_TRUE(model.ok()) << model.status();
  PrefixEvaluator cached(**model, OutputKind::kHidden, 16);
  PrefixEvaluator fresh(**model, OutputKind::kHidden, 0);
  std::vector<EvalQuery> qs;
  for (int c = 0; c < 4; ++c) {
    EvalQuery q;
    for (int i = 0; i < 40; ++i) q.tokens.push_back(30 + i % 50);
    q.tokens.push_back(100 + c);  // candidates differ in the last token
    q.read_positions = {static_cast<int64_t>(q.tokens.size()) - 1};
    qs.push_back(q);
  }
  RowReducer first = [](std::span<const float> row) { return row[0] + 2 * row[1]; };
  auto a = cached.Run(qs, first, "k");
  auto b = fresh.Run(qs, first, "k");
  ASSERT_TRUE(a.ok() && b.ok());
  for (size_t i = 0; i < qs.size(); ++i) EXPECT_EQ((*a)[i][0], (*b)[i][0]) << i;
  EXPECT_EQ(cached.stats().tokens_forwarded, 40 + 4);  // shared 40 once, one token per candidate
  EXPECT_EQ(fresh.stats().tokens_forwarded, 4 * 41);
  // The same queries again: answered from the cache without a forward.
  auto c = cached.Run(qs, first, "k");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(cached.stats().cache_hits, 4);
  EXPECT_EQ(cached.stats().tokens_forwarded, 44);
  // A different reducer key does not reuse the cached scores.
  auto d = cached.Run(qs, [](std::span<const float> row) { return row[3]; }, "other");
  ASSERT_TRUE(d.ok());
  EXPECT_GT(cached.stats().tokens_forwarded, 44);
}

}  // namespace
}  // namespace tandem::reward
