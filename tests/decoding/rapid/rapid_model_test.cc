// RAPID on the real bundled model through the in-process ports (the wiring
// `tandem generate --strategy rapid` uses): SmolLM2-135M drafts for itself on
// the chunks all-MiniLM-L6-v2 retrieves from an essay with a needle fact, and
// verifies on the whole essay. Greedy with eta = 0 must be token-identical to
// target-only greedy on the full prompt (batch-invariant kernels make that
// exact); the default (eta > 0) run must draft from a context shorter than
// the target's and report consistent statistics.
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "services/orchestrator/server/inprocess_ports.h"
#include "decoding/request/prompt_encoding.h"
#include "decoding/registry/strategy_registry.h"
#include "decoding/strategies/rapid/rapid_strategy.h"
#include "decoding/registry/strategy_runner.h"
#include "decoding/strategies/target_only/target_only.h"
#include "tests/common/test_paths.h"

namespace tandem::decoding {
namespace {

// ~750 tokens of the repository's long text with one invented fact in the middle.
std::string EssayWithNeedle() {
  const std::vector<std::string> files = test_paths::LongTextFiles();
  if (files.empty()) return {};
  std::ifstream in(files.front());
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str().substr(0, 3200);
  const size_t middle = text.find("\n\n", text.size() / 2);
  text.insert(middle == std::string::npos ? text.size() / 2 : middle,
              "\n\nThe secret code of the old lighthouse is 48213.");
  return text;
}

class RapidModel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    orchestrator::server::InProcessPortsOptions o;
    o.target_model = "smollm2-135m";
    o.draft_model = "smollm2-135m";  // self-speculation: shares the target's weights
    o.threads = 2;
    auto ports = orchestrator::server::BuildInProcessPorts(o);
    if (ports.ok()) {
      ports_ = ports->release();
    } else {
      error_ = new std::string(ports.status().ToString());
    }
  }
  static void TearDownTestSuite() {
    delete ports_;
    ports_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(ports_, nullptr) << "in-process ports (smollm2-135m, all-minilm-l6-v2) failed: "
                               << (error_ ? *error_ : std::string("?")) << " (run scripts/setup.sh)";
    context_ = EssayWithNeedle();
    ASSERT_GT(context_.size(), 3000u) << "long text not found under " << test_paths::DataDir() << "/long_text";
  }

  decoding::PreparedStrategy Choice(float eta) const {
    // A short context: keep the drafter's much shorter still.
    auto c = decoding::PrepareStrategy(
        "rapid", {{"eta", absl::StrCat(eta)}, {"chunk_tokens", "64"}, {"l_min", "128"}, {"theta", "0"}});
    EXPECT_TRUE(c.ok()) << c.status();
    return *c;
  }
  GenerationRequest Request(float temperature) const {
    GenerationRequest r;
    decoding::QuestionInput q;
    q.messages = {{"user", "What is the secret code of the old lighthouse?"}};
    auto in = decoding::MakeLongContextInput(*ports_->tokenizer, q, context_, ports_->target.context_length);
    EXPECT_TRUE(in.ok()) << in.status();
    r.long_context = *in;
    r.prompt = {1};  // rapid renders its own prompts
    r.sampling.temperature = temperature;
    r.sampling.seed = 7;
    r.max_tokens = 16;
    return r;
  }

  static decoding::GenerationPorts* ports_;
  static std::string* error_;
  std::string context_;
};
decoding::GenerationPorts* RapidModel::ports_ = nullptr;
std::string* RapidModel::error_ = nullptr;

TEST_F(RapidModel, GreedyEtaZeroEqualsTargetOnlyOnTheFullContext) {
  const GenerationRequest req = Request(0.0f);
  GenerationResult rapid;
  absl::Status s = decoding::RunStrategy(Choice(0.0f), req, *ports_, /*ignore_eos=*/false, nullptr, &rapid);
  ASSERT_TRUE(s.ok()) << s;

  GenerationRequest plain = req;
  plain.prompt = *req.long_context->render(context_, /*retrieved=*/false);
  GenerationResult target;
  ASSERT_TRUE(RunTargetOnly(plain, *ports_->verifier, *ports_->vocabulary, nullptr, &target).ok());
  EXPECT_EQ(rapid.tokens, target.tokens) << "rapid: " << rapid.text << "\ntarget: " << target.text;
  EXPECT_EQ(rapid.stats.prompt_tokens, static_cast<int64_t>(plain.prompt.size()));
  EXPECT_GT(rapid.stats.retrieval.context_tokens, 600);
  EXPECT_GE(rapid.stats.retrieval.retrieved_chunks, 1);
  EXPECT_LT(rapid.stats.retrieval.retrieved_tokens, rapid.stats.retrieval.context_tokens / 2);
  EXPECT_LT(rapid.stats.retrieval.draft_prompt_tokens, rapid.stats.prompt_tokens / 2);
  EXPECT_GT(rapid.stats.speculation.drafted_tokens, 0);
  EXPECT_GT(rapid.stats.speculation.accepted_tokens, 0);
}

TEST_F(RapidModel, DefaultKnowledgeTransferSampledRunIsConsistent) {
  GenerationResult r;
  absl::Status s = decoding::RunStrategy(Choice(5.0f), Request(0.7f), *ports_, false, nullptr, &r);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(r.stats.strategy, "rapid");
  EXPECT_EQ(r.stats.drafter, "model");
  EXPECT_GT(r.stats.speculation.drafted_tokens, 0);
  EXPECT_LE(r.stats.speculation.accepted_tokens, r.stats.speculation.drafted_tokens);
  EXPECT_GE(r.stats.target_calls, r.stats.speculation.num_drafts);
  EXPECT_TRUE(r.finish_reason == FinishReason::kLength || r.finish_reason == FinishReason::kEndOfGeneration);
  EXPECT_FALSE(r.tokens.empty());
}

}  // namespace
}  // namespace tandem::decoding
