// The request's context (`--context-file`, GenerateRequest.context) is never
// dropped silently: target_only and speculative read the whole context and
// the question (the same prompt RAPID's target reads, the long-context
// baseline), rapid retrieves from it, and every other strategy rejects it
// with an INVALID_ARGUMENT naming the field.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "decoding/registry/strategy_registry.h"
#include "decoding/request/request_translation.h"
#include "decoding/strategies/rapid/rapid_strategy.h"
#include "runtime/tokenizer/byte_level.h"
#include "runtime/tokenizer/tokenizer.h"

namespace tandem::decoding {
namespace {

using ::testing::HasSubstr;

// One token per byte (ids 1..256), id 0 = end of text: token counts are
// byte counts, so truncation lengths are easy to state.
std::unique_ptr<tokenizer::Tokenizer> ByteTokenizer() {
  tokenizer::ByteLevelAlphabet a;
  tokenizer::TokenizerConfig c;
  c.tokens.push_back("<|endoftext|>");
  c.token_types.push_back(3);
  for (int b = 0; b < 256; ++b) {
    c.tokens.push_back(a.Encode(std::string(1, static_cast<char>(b))));
    c.token_types.push_back(1);
  }
  c.eos_id = 0;
  auto tok = tokenizer::Tokenizer::FromConfig(std::move(c));
  EXPECT_TRUE(tok.ok()) << tok.status();
  return *std::move(tok);
}

class ContextTranslation : public ::testing::Test {
 protected:
  ContextTranslation() : tok_(ByteTokenizer()) {
    ports_.tokenizer = tok_.get();
    ports_.target.name = "tiny";
    ports_.target.context_length = 4096;
  }

  absl::StatusOr<PreparedRequest> Prepare(const std::string& strategy, const std::string& context,
                                          int64_t max_tokens = 16) {
    DecodeRequest r;
    r.strategy = strategy;
    r.prompt = kQuestion;
    r.context = context;
    r.max_tokens = max_tokens;
    return PrepareRequest(r, ports_, TranslationDefaults{});
  }
  std::vector<int32_t> Encode(const std::string& text) const { return tok_->Encode(text, true, false); }

  static constexpr char kQuestion[] = "What is the secret code?";
  const std::string kContext = "The secret code is 4711. Nothing else matters here.";
  std::unique_ptr<tokenizer::Tokenizer> tok_;
  GenerationPorts ports_;
};

TEST_F(ContextTranslation, TargetOnlyAndSpeculativeReadTheWholeContextAndTheQuestion) {
  const std::vector<int32_t> expected = Encode(RenderRapidTemplate(kContext, kQuestion, /*retrieved=*/false));
  for (const std::string strategy : {"target_only", "speculative"}) {
    auto prepared = Prepare(strategy, kContext);
    ASSERT_TRUE(prepared.ok()) << strategy << ": " << prepared.status();
    EXPECT_EQ(prepared->generation.prompt, expected) << strategy;
    EXPECT_EQ(prepared->generation.max_tokens, 16);
    // Without a context the prompt is the bare question, as before.
    auto bare = Prepare(strategy, "");
    ASSERT_TRUE(bare.ok()) << bare.status();
    EXPECT_EQ(bare->generation.prompt, Encode(kQuestion)) << strategy;
  }
}

// The baseline reads exactly what RAPID's target reads.
TEST_F(ContextTranslation, TheBaselinePromptIsRapidsTargetPrompt) {
  auto rapid = Prepare("rapid", kContext);
  ASSERT_TRUE(rapid.ok()) << rapid.status();
  ASSERT_NE(rapid->generation.long_context, nullptr);
  const LongContextInput& in = *rapid->generation.long_context;
  auto target_prompt = in.render(in.context, /*retrieved=*/false);
  ASSERT_TRUE(target_prompt.ok());
  auto baseline = Prepare("target_only", kContext);
  ASSERT_TRUE(baseline.ok());
  EXPECT_EQ(baseline->generation.prompt, *target_prompt);
}

// A context longer than the window is middle-truncated to the window minus
// max_tokens, as RAPID truncates its target's prompt: the instruction at the
// head and the question at the tail survive.
TEST_F(ContextTranslation, ALongContextIsMiddleTruncatedToTheWindow) {
  ports_.target.context_length = 300;
  const std::string long_context(2000, 'a');
  auto prepared = Prepare("target_only", long_context, 40);
  ASSERT_TRUE(prepared.ok()) << prepared.status();
  const std::vector<int32_t>& p = prepared->generation.prompt;
  ASSERT_EQ(p.size(), 260u);
  const std::vector<int32_t> full = Encode(RenderRapidTemplate(long_context, kQuestion, false));
  EXPECT_TRUE(std::equal(p.begin(), p.begin() + 130, full.begin()));
  EXPECT_TRUE(std::equal(p.end() - 130, p.end(), full.end() - 130));
}

TEST_F(ContextTranslation, StrategiesThatDoNotReadAContextRejectIt) {
  for (const std::string strategy : {"cards", "best_of_n", "args", "rsd", "draft_only"}) {
    auto prepared = Prepare(strategy, kContext);
    ASSERT_FALSE(prepared.ok()) << strategy << " accepted a context it does not read";
    EXPECT_EQ(prepared.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(prepared.status().message()), HasSubstr("context"));
    EXPECT_THAT(std::string(prepared.status().message()), HasSubstr("does not read a context"));
    EXPECT_THAT(std::string(prepared.status().message()), HasSubstr("target_only, speculative"));
  }
  // Every registered strategy is covered: it reads the context or rejects it.
  for (const StrategyDefinition* d : Strategies()) {
    auto prepared = Prepare(std::string(d->name()), kContext);
    if (prepared.ok()) {
      const bool reads = prepared->generation.long_context != nullptr ||
                         prepared->generation.prompt != Encode(kQuestion);
      EXPECT_TRUE(reads) << d->name() << " accepted a context and dropped it";
    } else {
      EXPECT_THAT(std::string(prepared.status().message()), HasSubstr("context")) << d->name();
    }
  }
}

// A token prompt has no text question to put the context around.
TEST_F(ContextTranslation, AContextWithATokenPromptIsInvalid) {
  DecodeRequest r;
  r.strategy = "target_only";
  r.prompt_tokens = std::vector<int32_t>{5, 6, 7};
  r.context = kContext;
  r.max_tokens = 4;
  auto prepared = PrepareRequest(r, ports_, TranslationDefaults{});
  EXPECT_EQ(prepared.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(prepared.status().message()), HasSubstr("prompt_tokens"));
}

}  // namespace
}  // namespace tandem::decoding
