// Token logprobs in OpenAI's shapes: chat's content entries (token, logprob,
// bytes, top_logprobs) and completions' parallel lists (tokens,
// token_logprobs, top_logprobs maps, text_offset), token texts from the
// tokenizer's exact bytes or from a vocabulary's decoder, a character split
// over two tokens, the JSON staying valid UTF-8, and where the objects sit in
// the response bodies and chunks.
#include "services/gateway/openai_logprobs.h"

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "runtime/tokenizer/byte_level.h"
#include "runtime/tokenizer/tokenizer.h"
#include "services/gateway/openai_response.h"

namespace tandem::gateway {
namespace {

using nlohmann::json;
using runtime::TokenLogprob;

const std::string kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Token id -> bytes, as a byte-level tokenizer has them: "€" (E2 82 AC) is
// split over tokens 3 and 4, so "Hello wor€ld!" is 0 1 2 3 4 5 6.
const std::vector<std::string> kPieces = {"He", "llo", " wor", "\xE2\x82", "\xAC", "ld", "!"};

std::string PieceOf(int32_t t) {
  return t >= 0 && t < static_cast<int32_t>(kPieces.size()) ? kPieces[static_cast<size_t>(t)] : std::string();
}

// The tokenizer's view: each token's exact bytes.
TokenBytes RawBytes() {
  return [](int32_t t) { return PieceOf(t); };
}

// A vocabulary whose decoder writes whole characters only, as the streaming
// detokenizer does: "€" waits for its last byte, its halves alone are U+FFFD.
class PieceVocabulary : public decoding::Vocabulary {
 public:
  explicit PieceVocabulary(bool with_text = true) : with_text_(with_text) {}
  int32_t vocab_size() const override { return static_cast<int32_t>(kPieces.size()); }
  bool IsEndOfGeneration(int32_t) const override { return false; }
  std::unique_ptr<decoding::TokenDecoder> NewDecoder() const override {
    if (!with_text_) return nullptr;
    struct Decoder : decoding::TokenDecoder {
      std::string held;
      std::string Push(int32_t t) override {
        held += PieceOf(t);
        if (held == "\xE2\x82") return {};  // "€" is not finished
        std::string out = held == "\xAC" ? kReplacement : held;
        held.clear();
        return out;
      }
      std::string Flush() override {
        if (held.empty()) return {};
        held.clear();
        return kReplacement;
      }
    };
    return std::make_unique<Decoder>();
  }

 private:
  bool with_text_;
};

std::string BytesOf(const json& array) {
  std::string out;
  for (const json& b : array) out.push_back(static_cast<char>(b.get<int>()));
  return out;
}

TEST(OpenAiLogprobsTest, ValidTokenTextReplacesWhatIsNotACharacter) {
  EXPECT_EQ(ValidTokenText("He"), "He");
  EXPECT_EQ(ValidTokenText(""), "");
  EXPECT_EQ(ValidTokenText("\xE2\x82\xAC"), "\xE2\x82\xAC");
  EXPECT_EQ(ValidTokenText("\xE2\x82"), kReplacement);  // unfinished: one U+FFFD
  EXPECT_EQ(ValidTokenText("\xAC"), kReplacement);      // a stray continuation byte
  EXPECT_EQ(ValidTokenText("a\xFF" "b"), "a" + kReplacement + "b");
}

TEST(OpenAiLogprobsTest, TokenTextsComeFromTheTokenizerElseTheDecoder) {
  decoding::GenerationPorts ports;
  PieceVocabulary vocab;
  ports.vocabulary = &vocab;
  auto decoded = DeploymentTokenBytes(ports);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ((*decoded)(0), "He");
  EXPECT_EQ((*decoded)(2), " wor");
  // A fresh decoder per token: half a character is all U+FFFD.
  EXPECT_EQ((*decoded)(3), kReplacement);
  EXPECT_EQ((*decoded)(4), kReplacement);

  // The tokenizer keeps the exact bytes.
  tokenizer::TokenizerConfig config;
  const tokenizer::ByteLevelAlphabet alphabet;
  for (const std::string& piece : kPieces) config.tokens.push_back(alphabet.Encode(piece));
  auto tok = tokenizer::Tokenizer::FromConfig(config);
  ASSERT_TRUE(tok.ok()) << tok.status();
  ports.tokenizer = tok->get();
  auto exact = DeploymentTokenBytes(ports);
  ASSERT_TRUE(exact.ok()) << exact.status();
  EXPECT_EQ((*exact)(0), "He");
  EXPECT_EQ((*exact)(3), "\xE2\x82");
  EXPECT_EQ((*exact)(4), "\xAC");
}

TEST(OpenAiLogprobsTest, NoTokenTextIsAnErrorOnLogprobs) {
  decoding::GenerationPorts ports;
  PieceVocabulary no_text(/*with_text=*/false);
  ports.vocabulary = &no_text;
  for (const decoding::Vocabulary* v : {static_cast<const decoding::Vocabulary*>(&no_text),
                                        static_cast<const decoding::Vocabulary*>(nullptr)}) {
    ports.vocabulary = v;
    auto bytes = DeploymentTokenBytes(ports);
    ASSERT_FALSE(bytes.ok());
    EXPECT_EQ(bytes.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StartsWith(bytes.status().message(), "logprobs: ")) << bytes.status().message();
  }
}

TEST(OpenAiLogprobsTest, ChatContentEntries) {
  LogprobsWriter writer(Endpoint::kChatCompletions, RawBytes(), /*top_n=*/2);
  const std::vector<int32_t> tokens = {0, 1, 3, 4};
  const std::vector<float> logprobs = {-0.25f, -0.5f, -1.5f, -0.125f};
  // Three alternatives each: top_n caps them at two.
  const std::vector<std::vector<TokenLogprob>> top = {{{0, -0.25f}, {6, -2.0f}, {5, -3.0f}},
                                                      {{1, -0.5f}, {2, -1.0f}, {0, -4.0f}},
                                                      {{5, -1.0f}, {3, -1.5f}, {1, -2.0f}},
                                                      {{4, -0.125f}, {6, -3.0f}, {0, -5.0f}}};
  auto lp = writer.Write(tokens, logprobs, top);
  ASSERT_TRUE(lp.ok()) << lp.status();
  EXPECT_TRUE(lp->at("refusal").is_null());
  const json& content = lp->at("content");
  ASSERT_EQ(content.size(), 4u);
  EXPECT_EQ(content[0]["token"], "He");
  EXPECT_EQ(content[0]["logprob"], -0.25);
  EXPECT_EQ(content[0]["bytes"], json::array({72, 101}));
  ASSERT_EQ(content[0]["top_logprobs"].size(), 2u);
  EXPECT_EQ(content[0]["top_logprobs"][0], json({{"token", "He"}, {"logprob", -0.25}, {"bytes", {72, 101}}}));
  EXPECT_EQ(content[0]["top_logprobs"][1], json({{"token", "!"}, {"logprob", -2.0}, {"bytes", {33}}}));
  // Half a character: U+FFFD as text, its own bytes in `bytes`.
  EXPECT_EQ(content[2]["token"], kReplacement);
  EXPECT_EQ(content[2]["bytes"], json::array({0xE2, 0x82}));
  EXPECT_EQ(content[3]["token"], kReplacement);
  EXPECT_EQ(content[3]["bytes"], json::array({0xAC}));
  EXPECT_EQ(content[2]["top_logprobs"][1]["bytes"], json::array({0xE2, 0x82}));
  // The bytes rebuild the text, the split character included.
  std::string text;
  for (const json& e : content) text += BytesOf(e["bytes"]);
  EXPECT_EQ(text, "Hello\xE2\x82\xAC");
  // Valid UTF-8 throughout: it dumps and parses back unchanged.
  const std::string dumped = DumpJson(*lp);
  EXPECT_EQ(json::parse(dumped), *lp);
}

TEST(OpenAiLogprobsTest, ChatWithoutTopLogprobsHasEmptyLists) {
  LogprobsWriter writer(Endpoint::kChatCompletions, RawBytes(), /*top_n=*/0);
  const std::vector<int32_t> tokens = {0, 6};
  const std::vector<float> logprobs = {-0.25f, -1.0f};
  auto lp = writer.Write(tokens, logprobs, {});
  ASSERT_TRUE(lp.ok()) << lp.status();
  ASSERT_EQ(lp->at("content").size(), 2u);
  for (const json& e : lp->at("content")) EXPECT_EQ(e["top_logprobs"], json::array());
  EXPECT_EQ(lp->at("content")[1]["token"], "!");
}

TEST(OpenAiLogprobsTest, ChatFromTheVocabularyDecoder) {
  PieceVocabulary vocab;
  LogprobsWriter writer(Endpoint::kChatCompletions, VocabularyTokenBytes(vocab), /*top_n=*/0);
  const std::vector<int32_t> tokens = {2, 3};
  const std::vector<float> logprobs = {-1.0f, -2.0f};
  auto lp = writer.Write(tokens, logprobs, {});
  ASSERT_TRUE(lp.ok()) << lp.status();
  EXPECT_EQ(lp->at("content")[0]["token"], " wor");
  EXPECT_EQ(lp->at("content")[1]["token"], kReplacement);
  EXPECT_EQ(lp->at("content")[1]["bytes"], json::array({0xEF, 0xBF, 0xBD}));
}

TEST(OpenAiLogprobsTest, CompletionsParallelLists) {
  LogprobsWriter writer(Endpoint::kCompletions, RawBytes(), /*top_n=*/2);
  const std::vector<int32_t> tokens = {0, 1, 2, 3, 4, 5};
  const std::vector<float> logprobs = {-0.25f, -0.5f, -3.0f, -1.5f, -0.125f, -0.75f};
  const std::vector<std::vector<TokenLogprob>> top = {
      {{0, -0.25f}, {6, -2.0f}}, {{1, -0.5f}, {2, -1.0f}},
      {{0, -1.0f}, {1, -2.0f}},  // the chosen " wor" is not among them
      {{3, -1.5f}, {4, -2.0f}},  // two tokens, one text (U+FFFD): the likelier stays
      {{4, -0.125f}, {0, -4.0f}}, {{5, -0.75f}, {6, -1.0f}}};
  auto lp = writer.Write(tokens, logprobs, top);
  ASSERT_TRUE(lp.ok()) << lp.status();
  EXPECT_EQ(lp->at("tokens"), json({"He", "llo", " wor", kReplacement, kReplacement, "ld"}));
  EXPECT_EQ(lp->at("token_logprobs"), json({-0.25, -0.5, -3.0, -1.5, -0.125, -0.75}));
  // Characters into "Hello wor€ld": both halves of "€" start where it does.
  EXPECT_EQ(lp->at("text_offset"), json({0, 2, 5, 9, 9, 10}));
  const json& maps = lp->at("top_logprobs");
  ASSERT_EQ(maps.size(), 6u);
  EXPECT_EQ(maps[0], json({{"He", -0.25}, {"!", -2.0}}));
  // The chosen token is always in its map (up to N + 1 entries).
  EXPECT_EQ(maps[2], json({{"He", -1.0}, {"llo", -2.0}, {" wor", -3.0}}));
  EXPECT_EQ(maps[3], json({{kReplacement, -1.5}}));
  EXPECT_EQ(json::parse(DumpJson(*lp)), *lp);
}

TEST(OpenAiLogprobsTest, CompletionsOffsetsCountOnAcrossStreamedPieces) {
  LogprobsWriter writer(Endpoint::kCompletions, RawBytes(), /*top_n=*/0);
  const std::vector<int32_t> first = {0, 1, 2, 3};
  const std::vector<float> first_lp = {-0.25f, -0.5f, -3.0f, -1.5f};
  const std::vector<int32_t> second = {4, 5, 6};
  const std::vector<float> second_lp = {-0.125f, -0.75f, -1.0f};
  auto a = writer.Write(first, first_lp, {});
  auto b = writer.Write(second, second_lp, {});
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(a->at("text_offset"), json({0, 2, 5, 9}));
  EXPECT_EQ(b->at("text_offset"), json({9, 10, 12}));
  // N = 0: the chosen tokens' logprobs only.
  EXPECT_TRUE(a->at("top_logprobs").is_null());
  EXPECT_EQ(b->at("tokens"), json({kReplacement, "ld", "!"}));
}

TEST(OpenAiLogprobsTest, ValuesStayNumbersAtMostZero) {
  LogprobsWriter writer(Endpoint::kCompletions, RawBytes(), /*top_n=*/0);
  const std::vector<int32_t> tokens = {0, 1, 2};
  const std::vector<float> logprobs = {-std::numeric_limits<float>::infinity(), 1e-7f,
                                       std::numeric_limits<float>::quiet_NaN()};
  auto lp = writer.Write(tokens, logprobs, {});
  ASSERT_TRUE(lp.ok()) << lp.status();
  EXPECT_EQ(lp->at("token_logprobs"), json({kFloorLogprob, 0.0, kFloorLogprob}));
}

TEST(OpenAiLogprobsTest, EntriesMustMatchTheTokens) {
  const std::vector<int32_t> tokens = {0, 1};
  const std::vector<float> one = {-0.5f};
  const std::vector<float> two = {-0.5f, -1.0f};
  const std::vector<std::vector<TokenLogprob>> top_one = {{{0, -0.5f}}};
  LogprobsWriter chat(Endpoint::kChatCompletions, RawBytes(), /*top_n=*/1);
  EXPECT_EQ(chat.Write(tokens, one, top_one).status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(chat.Write(tokens, two, top_one).status().code(), absl::StatusCode::kInternal);
  LogprobsWriter completions(Endpoint::kCompletions, RawBytes(), /*top_n=*/0);
  EXPECT_EQ(completions.Write(tokens, one, {}).status().code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(completions.Write(tokens, two, {}).ok());
}

TEST(OpenAiLogprobsTest, ResponsesCarryThemInTheChoice) {
  ResponseHeader h;
  h.endpoint = Endpoint::kChatCompletions;
  h.id = "chatcmpl-req-1";
  const json lp = {{"content", json::array()}, {"refusal", nullptr}};
  const json usage = {{"prompt_tokens", 3}, {"completion_tokens", 0}, {"total_tokens", 3}};
  const json body = CompletionBody(h, {{"", decoding::FinishReason::kLength, lp}}, usage, json::object());
  EXPECT_EQ(body["choices"][0]["logprobs"], lp);
  EXPECT_TRUE(CompletionBody(h, {{"", decoding::FinishReason::kLength}}, usage, json::object())["choices"][0]["logprobs"]
                  .is_null());
  EXPECT_EQ(TextChunk(h, "x", lp)["choices"][0]["logprobs"], lp);
  EXPECT_TRUE(TextChunk(h, "x")["choices"][0]["logprobs"].is_null());
  EXPECT_TRUE(FirstChunk(h)["choices"][0]["logprobs"].is_null());
  EXPECT_TRUE(FinishChunk(h, decoding::FinishReason::kLength)["choices"][0]["logprobs"].is_null());
  h.endpoint = Endpoint::kCompletions;
  const json piece = {{"tokens", {"x"}}, {"token_logprobs", {-1.0}}, {"top_logprobs", nullptr}, {"text_offset", {0}}};
  EXPECT_EQ(TextChunk(h, "x", piece)["choices"][0]["logprobs"], piece);
  EXPECT_EQ(TextChunk(h, "x", piece)["choices"][0]["text"], "x");
}

}  // namespace
}  // namespace tandem::gateway
