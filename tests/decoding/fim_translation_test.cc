// Fill in the middle (DecodeRequest::suffix): the prompt a FIM-capable target
// reads is <prefix> code-before <suffix> code-after <middle>, with both texts
// plain; a target without FIM tokens, a non-text input, a context, a
// long-context strategy or a reward-scored one is refused naming the field,
// never ignored.
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "decoding/request/request_translation.h"
#include "runtime/tokenizer/byte_level.h"
#include "runtime/tokenizer/tokenizer.h"

namespace tandem::decoding {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// One token per byte (ids 0..255); with `fim`, Qwen2.5-Coder's three FIM
// control tokens at 256..258 and <|endoftext|> at 259.
std::unique_ptr<tokenizer::Tokenizer> ByteTokenizer(bool fim) {
  tokenizer::ByteLevelAlphabet a;
  tokenizer::TokenizerConfig c;
  for (int b = 0; b < 256; ++b) {
    c.tokens.push_back(a.Encode(std::string(1, static_cast<char>(b))));
    c.token_types.push_back(1);
  }
  if (fim) {
    for (const char* t : {"<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"}) {
      c.tokens.push_back(t);
      c.token_types.push_back(3);
    }
  }
  c.tokens.push_back("<|endoftext|>");
  c.token_types.push_back(3);
  c.eos_id = static_cast<int32_t>(c.tokens.size()) - 1;
  auto tok = tokenizer::Tokenizer::FromConfig(std::move(c));
  EXPECT_TRUE(tok.ok()) << tok.status();
  return *std::move(tok);
}

std::vector<int32_t> Bytes(const std::string& s) { return {s.begin(), s.end()}; }

class FimTranslation : public ::testing::Test {
 protected:
  absl::StatusOr<PreparedRequest> Prepare(const tokenizer::Tokenizer& tok, DecodeRequest r) {
    GenerationPorts ports;
    ports.tokenizer = &tok;
    ports.target.name = "tiny";
    ports.target.vocab_size = tok.vocab_size();
    ports.target.context_length = 4096;
    if (r.strategy.empty()) r.strategy = "target_only";
    r.max_tokens = 8;
    return PrepareRequest(r, ports, TranslationDefaults{});
  }
  static DecodeRequest Fim(std::string prefix, std::string suffix) {
    DecodeRequest r;
    r.prompt = std::move(prefix);
    r.suffix = std::move(suffix);
    return r;
  }
  std::unique_ptr<tokenizer::Tokenizer> fim_ = ByteTokenizer(true);
  std::unique_ptr<tokenizer::Tokenizer> plain_ = ByteTokenizer(false);
};

TEST_F(FimTranslation, PrefixSuffixMiddleWithPlainTexts) {
  auto p = Prepare(*fim_, Fim("def f(", "):\n  pass"));
  ASSERT_TRUE(p.ok()) << p.status();
  std::vector<int32_t> want{256};
  for (int32_t b : Bytes("def f(")) want.push_back(b);
  want.push_back(257);
  for (int32_t b : Bytes("):\n  pass")) want.push_back(b);
  want.push_back(258);
  EXPECT_THAT(p->generation.prompt, ElementsAreArray(want));

  // Control-token text inside the code stays bytes: a suffix cannot close the
  // prompt early.
  p = Prepare(*fim_, Fim("a", "<|fim_middle|>"));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->generation.prompt.size(), 2u + 1u + 14u + 1u);
  EXPECT_EQ(p->generation.prompt.back(), 258);
}

TEST_F(FimTranslation, EmptyPrefixOrSuffixIsAGapAtAnEnd) {
  auto start = Prepare(*fim_, Fim("", "x"));
  ASSERT_TRUE(start.ok()) << start.status();
  EXPECT_THAT(start->generation.prompt, ElementsAre(256, 257, 'x', 258));
  auto end = Prepare(*fim_, Fim("x", ""));
  ASSERT_TRUE(end.ok()) << end.status();
  EXPECT_THAT(end->generation.prompt, ElementsAre(256, 'x', 257, 258));
  // Without a suffix an empty prompt is still refused.
  DecodeRequest r;
  r.prompt = "";
  EXPECT_EQ(Prepare(*fim_, r).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(FimTranslation, RefusedWhereItCannotApply) {
  auto expect_refused = [&](const tokenizer::Tokenizer& tok, DecodeRequest r, const std::string& detail) {
    auto p = Prepare(tok, std::move(r));
    ASSERT_FALSE(p.ok()) << detail;
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(p.status().message()), StartsWith("suffix"));
    EXPECT_THAT(std::string(p.status().message()), HasSubstr(detail));
  };
  expect_refused(*plain_, Fim("a", "b"), "no fill-in-the-middle tokens");

  DecodeRequest tokens;
  tokens.prompt_tokens = std::vector<int32_t>{1, 2};
  tokens.suffix = "b";
  expect_refused(*fim_, tokens, "text prompt");

  DecodeRequest chat;
  chat.messages = std::vector<tokenizer::ChatMessage>{{"user", "hi"}};
  chat.suffix = "b";
  expect_refused(*fim_, chat, "text prompt");

  DecodeRequest context = Fim("a", "b");
  context.context = "a long document";
  expect_refused(*fim_, context, "context");

  DecodeRequest rapid = Fim("a", "b");
  rapid.strategy = "rapid";
  expect_refused(*fim_, rapid, "rapid");

  for (const char* strategy : {"best_of_n", "args", "rsd"}) {
    DecodeRequest reward = Fim("a", "b");
    reward.strategy = strategy;
    expect_refused(*fim_, reward, "reward model");
  }
  for (const char* strategy : {"speculative", "draft_only"}) {
    DecodeRequest ok = Fim("a", "b");
    ok.strategy = strategy;
    EXPECT_TRUE(Prepare(*fim_, ok).ok()) << strategy;
  }

  auto bad_utf8 = Prepare(*fim_, Fim("a", "\xC3"));
  ASSERT_FALSE(bad_utf8.ok());
  EXPECT_THAT(std::string(bad_utf8.status().message()), StartsWith("suffix"));
}

}  // namespace
}  // namespace tandem::decoding
