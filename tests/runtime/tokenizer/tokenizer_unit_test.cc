// Unit tests of the tokenizer pieces on small synthetic vocabularies (no
// model file needed).
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/tokenizer/byte_level.h"
#include "runtime/tokenizer/chat_template.h"
#include "runtime/tokenizer/pretokenizer.h"
#include "runtime/tokenizer/streaming_detokenizer.h"
#include "runtime/tokenizer/tokenizer.h"
#include "runtime/tokenizer/unicode.h"

namespace tandem::tokenizer {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(UnicodeTest, Classes) {
  EXPECT_EQ(ClassifyCodepoint('a'), kLetter);
  EXPECT_EQ(ClassifyCodepoint('Z'), kLetter);
  EXPECT_EQ(ClassifyCodepoint('7'), kNumber);
  EXPECT_EQ(ClassifyCodepoint(' '), kWhitespace);
  EXPECT_EQ(ClassifyCodepoint('\n'), kWhitespace);
  EXPECT_EQ(ClassifyCodepoint('!'), kOther);
  EXPECT_EQ(ClassifyCodepoint(0x4E2D), kLetter);   // 中
  EXPECT_EQ(ClassifyCodepoint(0x00E9), kLetter);   // é
  EXPECT_EQ(ClassifyCodepoint(0x0661), kNumber);   // Arabic-Indic 1
  EXPECT_EQ(ClassifyCodepoint(0x00BD), kNumber);   // ½ (No)
  EXPECT_EQ(ClassifyCodepoint(0x216B), kNumber);   // Ⅻ (Nl)
  EXPECT_EQ(ClassifyCodepoint(0x00A0), kWhitespace);
  EXPECT_EQ(ClassifyCodepoint(0x3000), kWhitespace);
  EXPECT_EQ(ClassifyCodepoint(0x2028), kWhitespace);
  EXPECT_EQ(ClassifyCodepoint(0x0085), kWhitespace);
  EXPECT_EQ(ClassifyCodepoint(0x001C), kOther);    // not \s in the regex engines
  EXPECT_EQ(ClassifyCodepoint(0x1F600), kOther);   // 😀
  EXPECT_EQ(ClassifyCodepoint(0x0301), kOther);    // combining mark (Mn)
  EXPECT_EQ(ClassifyCodepoint(0x10FFFF), kOther);
}

TEST(UnicodeTest, Utf8SequenceLength) {
  EXPECT_EQ(Utf8SequenceLength("a", 0), 1);
  EXPECT_EQ(Utf8SequenceLength("\xC3\xA9", 0), 2);
  EXPECT_EQ(Utf8SequenceLength("\xE4\xB8\xAD", 0), 3);
  EXPECT_EQ(Utf8SequenceLength("\xF0\x9F\x98\x80", 0), 4);
  EXPECT_EQ(Utf8SequenceLength("\xF0\x9F\x98", 0), -1);  // incomplete
  EXPECT_EQ(Utf8SequenceLength("\xE4", 0), -1);
  EXPECT_EQ(Utf8SequenceLength("\x80", 0), 0);           // stray continuation
  EXPECT_EQ(Utf8SequenceLength("\xC0\xAF", 0), 0);       // overlong
  EXPECT_EQ(Utf8SequenceLength("\xE0\x80", 0), 0);       // overlong prefix
  EXPECT_EQ(Utf8SequenceLength("\xED\xA0\x80", 0), 0);   // surrogate
  EXPECT_EQ(Utf8SequenceLength("\xED\xA0", 0), 0);       // surrogate prefix
  EXPECT_EQ(Utf8SequenceLength("\xF4\x90\x80\x80", 0), 0);  // > U+10FFFF
  EXPECT_EQ(Utf8SequenceLength("\xFF", 0), 0);
  EXPECT_EQ(Utf8SequenceLength("\xC3x", 0), 0);
}

TEST(ByteLevelTest, RoundTripsEveryByte) {
  ByteLevelAlphabet a;
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  const std::string encoded = a.Encode(all);
  EXPECT_EQ(a.Decode(encoded), all);
  EXPECT_EQ(a.Decode("\xC4\xA0"), " ");   // Ġ
  EXPECT_EQ(a.Decode("\xC4\x8A"), "\n");  // Ċ
  EXPECT_EQ(a.Decode("hello"), "hello");
  EXPECT_EQ(a.Decode("\xE4\xB8\xAD"), std::nullopt);  // 中 is not in the alphabet
}

TEST(PreTokenizerTest, Names) {
  EXPECT_EQ(*PreTokenizerFromName("smollm"), PreTokenizerKind::kSmolLM);
  EXPECT_EQ(*PreTokenizerFromName("qwen2"), PreTokenizerKind::kQwen2);
  EXPECT_EQ(*PreTokenizerFromName("llama-bpe"), PreTokenizerKind::kLlama3);
  EXPECT_EQ(*PreTokenizerFromName("gpt2"), PreTokenizerKind::kGpt2);
  EXPECT_EQ(*PreTokenizerFromName("default"), PreTokenizerKind::kGpt2);
  absl::StatusOr<PreTokenizerKind> bad = PreTokenizerFromName("deepseek-llm");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("deepseek-llm"));
}

std::vector<std::string> Split(PreTokenizerKind kind, std::string_view text) {
  std::vector<std::string_view> pieces;
  PreTokenize(kind, text, &pieces);
  return {pieces.begin(), pieces.end()};
}

TEST(PreTokenizerTest, HandCheckedSplits) {
  using K = PreTokenizerKind;
  EXPECT_THAT(Split(K::kGpt2, "Hello world's  12 x"),
              ElementsAre("Hello", " world", "'s", " ", " 12", " x"));
  EXPECT_THAT(Split(K::kSmolLM, "ab 123  c"),
              ElementsAre("ab", " ", "1", "2", "3", " ", " c"));
  EXPECT_THAT(Split(K::kLlama3, "I'M 12345 (ok)\n\n  x"),
              ElementsAre("I", "'M", " ", "123", "45", " (", "ok", ")\n\n", " ", " x"));
  EXPECT_THAT(Split(K::kQwen2, "a 123\tb  \n"),
              ElementsAre("a", " ", "1", "2", "3", "\tb", "  \n"));
  EXPECT_THAT(Split(K::kGpt2, "   "), ElementsAre("   "));
  EXPECT_TRUE(Split(K::kQwen2, "").empty());
}

TEST(PreTokenizerTest, MalformedUtf8IsKeptAndCovered) {
  const std::string text = "ab\xFF\xC3 cd\x80\xE4\xB8";
  for (auto kind : {PreTokenizerKind::kGpt2, PreTokenizerKind::kSmolLM,
                    PreTokenizerKind::kLlama3, PreTokenizerKind::kQwen2}) {
    std::string joined;
    for (const std::string& p : Split(kind, text)) joined += p;
    EXPECT_EQ(joined, text);
  }
}

// A byte-level vocabulary with all 256 bytes plus a few merges.
TokenizerConfig SmallConfig() {
  ByteLevelAlphabet a;
  TokenizerConfig c;
  c.tokens.push_back("<|endoftext|>");  // 0
  c.tokens.push_back("<|im_start|>");   // 1
  c.tokens.push_back("<|im_end|>");     // 2
  c.tokens.push_back("<tool>");         // 3 user-defined
  c.token_types = {3, 3, 3, 4};
  for (int b = 0; b < 256; ++b) {       // 4..259
    c.tokens.push_back(a.Encode(std::string(1, static_cast<char>(b))));
    c.token_types.push_back(1);
  }
  for (const char* t : {"he", "ll", "hell", "hello", "\xC4\xA0w", "aa", "or", "\xC4\xA0wor"}) {
    c.tokens.push_back(t);                // 260..267
    c.token_types.push_back(1);
  }
  c.merges = {"h e", "l l", "he ll", "hell o", "\xC4\xA0 w", "a a", "o r", "\xC4\xA0w or"};
  c.pre = PreTokenizerKind::kGpt2;
  c.bos_id = 1;
  c.eos_id = 2;
  c.chat_template = "";
  return c;
}

int32_t ByteId(char c) { return 4 + static_cast<uint8_t>(c); }

TEST(TokenizerTest, BpeMergesByRank) {
  auto tok = Tokenizer::FromConfig(SmallConfig());
  ASSERT_TRUE(tok.ok()) << tok.status();
  const Tokenizer& t = **tok;
  EXPECT_EQ(t.vocab_size(), 268);
  EXPECT_THAT(t.Encode("hello", false, false), ElementsAre(263));
  EXPECT_THAT(t.Encode("hel", false, false), ElementsAre(260, ByteId('l')));
  // Ties go to the leftmost pair: aaa -> (aa)(a).
  EXPECT_THAT(t.Encode("aaa", false, false), ElementsAre(265, ByteId('a')));
  EXPECT_THAT(t.Encode("aaaa", false, false), ElementsAre(265, 265));
  // " world" -> Ġw + or -> "Ġwor" then l, d.
  EXPECT_THAT(t.Encode("hello world", false, false),
              ElementsAre(263, 267, ByteId('l'), ByteId('d')));
  EXPECT_EQ(t.Decode(t.Encode("hello world", false, false)), "hello world");
  EXPECT_EQ(t.TokenText(267), " wor");
  EXPECT_EQ(t.FindToken(" wor"), 267);
  EXPECT_EQ(t.FindToken("<|im_end|>"), 2);
  EXPECT_EQ(t.FindToken("nope"), std::nullopt);
  EXPECT_EQ(t.TokenText(-1), "");
  EXPECT_EQ(t.TokenText(100000), "");
}

TEST(TokenizerTest, SpecialTokens) {
  auto tok = Tokenizer::FromConfig(SmallConfig());
  ASSERT_TRUE(tok.ok());
  const Tokenizer& t = **tok;
  EXPECT_THAT(t.Encode("<|im_start|>he<|im_end|>", false, true), ElementsAre(1, 260, 2));
  // Without parse_special the control text is ordinary bytes...
  const std::vector<int32_t> plain = t.Encode("<|im_end|>", false, false);
  EXPECT_GT(plain.size(), 1u);
  EXPECT_EQ(t.Decode(plain), "<|im_end|>");
  // ...but user-defined tokens are always whole tokens.
  EXPECT_THAT(t.Encode("<tool>aa", false, false), ElementsAre(3, 265));
  EXPECT_EQ(t.Decode(std::vector<int32_t>{1, 260, 2}), "<|im_start|>he<|im_end|>");
  EXPECT_TRUE(t.IsEndOfGeneration(2));
  EXPECT_TRUE(t.IsEndOfGeneration(0));  // <|endoftext|>
  EXPECT_FALSE(t.IsEndOfGeneration(1));
  EXPECT_FALSE(t.IsEndOfGeneration(263));
  EXPECT_EQ(t.GetTokenType(3), TokenType::kUserDefined);
}

TEST(TokenizerTest, BosEos) {
  TokenizerConfig c = SmallConfig();
  c.add_bos = true;
  c.add_eos = true;
  auto tok = Tokenizer::FromConfig(c);
  ASSERT_TRUE(tok.ok());
  EXPECT_THAT((*tok)->Encode("he", true, false), ElementsAre(1, 260, 2));
  EXPECT_THAT((*tok)->Encode("he", false, false), ElementsAre(260));
  EXPECT_EQ((*tok)->bos_id(), 1);
  EXPECT_EQ((*tok)->eos_id(), 2);
}

// Fill-in-the-middle tokens: found by Qwen2.5-Coder's or StarCoder's
// spellings, named by the GGUF keys when present, absent unless all three are.
TEST(TokenizerTest, FillInTheMiddleTokens) {
  EXPECT_EQ((*Tokenizer::FromConfig(SmallConfig()))->fim_tokens(), std::nullopt);

  TokenizerConfig qwen = SmallConfig();
  for (const char* t : {"<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>"}) {  // 268..270
    qwen.tokens.push_back(t);
    qwen.token_types.push_back(3);
  }
  auto q = Tokenizer::FromConfig(qwen);
  ASSERT_TRUE(q.ok()) << q.status();
  ASSERT_TRUE((*q)->fim_tokens().has_value());
  EXPECT_EQ((*q)->fim_tokens()->prefix, 268);
  EXPECT_EQ((*q)->fim_tokens()->suffix, 270);
  EXPECT_EQ((*q)->fim_tokens()->middle, 269);

  TokenizerConfig star = SmallConfig();
  for (const char* t : {"<fim_suffix>", "<fim_prefix>", "<fim_middle>"}) {  // 268..270
    star.tokens.push_back(t);
    star.token_types.push_back(4);
  }
  auto st = Tokenizer::FromConfig(star);
  ASSERT_TRUE(st.ok()) << st.status();
  ASSERT_TRUE((*st)->fim_tokens().has_value());
  EXPECT_EQ((*st)->fim_tokens()->prefix, 269);
  EXPECT_EQ((*st)->fim_tokens()->suffix, 268);
  EXPECT_EQ((*st)->fim_tokens()->middle, 270);

  TokenizerConfig partial = SmallConfig();  // no middle token: no FIM
  for (const char* t : {"<|fim_prefix|>", "<|fim_suffix|>"}) {
    partial.tokens.push_back(t);
    partial.token_types.push_back(3);
  }
  EXPECT_EQ((*Tokenizer::FromConfig(partial))->fim_tokens(), std::nullopt);

  TokenizerConfig keyed = SmallConfig();  // the GGUF keys win over spellings
  keyed.fim_prefix_id = 1;
  keyed.fim_suffix_id = 3;
  keyed.fim_middle_id = 0;
  auto k = Tokenizer::FromConfig(keyed);
  ASSERT_TRUE(k.ok()) << k.status();
  ASSERT_TRUE((*k)->fim_tokens().has_value());
  EXPECT_EQ((*k)->fim_tokens()->prefix, 1);
  EXPECT_EQ((*k)->fim_tokens()->suffix, 3);
  EXPECT_EQ((*k)->fim_tokens()->middle, 0);

  keyed.fim_middle_id = 5000;  // outside the vocabulary: the config is refused
  auto bad = Tokenizer::FromConfig(keyed);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("FIM middle id 5000"));
}

// A code model's FIM padding, repository-name and file-separator control
// tokens end a generation (llama.cpp stops on them too): after them the
// model has closed the gap or the file. Only as control tokens, unless the
// GGUF names their ids.
TEST(TokenizerTest, FillInTheMiddleControlTokensEndAGeneration) {
  TokenizerConfig qwen = SmallConfig();
  for (const char* t : {"<|fim_pad|>", "<|repo_name|>", "<|file_sep|>"}) {  // 268..270
    qwen.tokens.push_back(t);
    qwen.token_types.push_back(3);
  }
  auto q = Tokenizer::FromConfig(qwen);
  ASSERT_TRUE(q.ok()) << q.status();
  for (int32_t id : {268, 269, 270}) EXPECT_TRUE((*q)->IsEndOfGeneration(id)) << id;
  EXPECT_FALSE((*q)->IsEndOfGeneration(1));  // <|im_start|> still does not

  TokenizerConfig plain = qwen;  // the same spellings as ordinary text pieces
  plain.token_types[268] = plain.token_types[269] = plain.token_types[270] = 1;
  auto p = Tokenizer::FromConfig(plain);
  ASSERT_TRUE(p.ok()) << p.status();
  for (int32_t id : {268, 269, 270}) EXPECT_FALSE((*p)->IsEndOfGeneration(id)) << id;

  TokenizerConfig keyed = SmallConfig();  // the GGUF keys name any token
  keyed.fim_pad_id = 3;
  keyed.fim_repo_id = 260;
  keyed.fim_sep_id = 261;
  auto k = Tokenizer::FromConfig(keyed);
  ASSERT_TRUE(k.ok()) << k.status();
  for (int32_t id : {3, 260, 261}) EXPECT_TRUE((*k)->IsEndOfGeneration(id)) << id;
  EXPECT_FALSE((*k)->IsEndOfGeneration(262));

  keyed.fim_sep_id = 5000;
  auto bad = Tokenizer::FromConfig(keyed);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("FIM file separator id 5000"));
}

TEST(TokenizerTest, RandomBytesRoundTrip) {
  auto tok = Tokenizer::FromConfig(SmallConfig());
  ASSERT_TRUE(tok.ok());
  std::mt19937 rng(1234);
  const std::string alphabet = "helo wra\n\t '<|>";
  for (int iter = 0; iter < 500; ++iter) {
    std::string s;
    const int len = rng() % 40;
    for (int i = 0; i < len; ++i) {
      s.push_back(rng() % 3 == 0 ? static_cast<char>(rng() % 256)
                                 : alphabet[rng() % alphabet.size()]);
    }
    for (bool parse : {false, true}) {
      EXPECT_EQ((*tok)->Decode((*tok)->Encode(s, false, parse)), s);
    }
  }
}

TEST(TokenizerTest, ConfigErrors) {
  TokenizerConfig empty;
  EXPECT_FALSE(Tokenizer::FromConfig(empty).ok());
  TokenizerConfig c = SmallConfig();
  c.token_types.pop_back();
  EXPECT_THAT(Tokenizer::FromConfig(c).status().message(), HasSubstr("token_type"));
  c = SmallConfig();
  c.bos_id = 5000;
  EXPECT_THAT(Tokenizer::FromConfig(c).status().message(), HasSubstr("BOS"));
  c = SmallConfig();
  c.merges.push_back("nospace");
  EXPECT_THAT(Tokenizer::FromConfig(c).status().message(), HasSubstr("merge"));
  c = SmallConfig();
  c.merges.push_back("zz qq");  // parts not in the vocabulary: ignored
  EXPECT_TRUE(Tokenizer::FromConfig(c).ok());
}

TEST(StreamingDetokenizerTest, SplitsNeverBreakUtf8) {
  auto tok = Tokenizer::FromConfig(SmallConfig());
  ASSERT_TRUE(tok.ok());
  const std::string text = "h\xC3\xA9llo \xE4\xB8\x96\xE7\x95\x8C \xF0\x9F\x98\x80!";  // héllo 世界 😀!
  // One token per byte: the worst case for splitting characters.
  StreamingDetokenizer d(**tok);
  std::string out;
  for (char c : text) {
    const std::string piece = d.Push(ByteId(c));
    for (size_t i = 0; i < piece.size();) {
      const int len = Utf8SequenceLength(piece, i);
      ASSERT_GT(len, 0) << "broken UTF-8 emitted";
      i += len;
    }
    out += piece;
  }
  out += d.Flush();
  EXPECT_EQ(out, text);
  // The emoji's first three bytes are held back.
  StreamingDetokenizer d2(**tok);
  EXPECT_EQ(d2.PushBytes("a\xF0\x9F\x98"), "a");
  EXPECT_EQ(d2.pending_bytes(), 3u);
  EXPECT_EQ(d2.PushBytes("\x80"), "\xF0\x9F\x98\x80");
}

TEST(StreamingDetokenizerTest, InvalidBytesBecomeReplacement) {
  auto tok = Tokenizer::FromConfig(SmallConfig());
  ASSERT_TRUE(tok.ok());
  StreamingDetokenizer d(**tok);
  EXPECT_EQ(d.PushBytes("a\x80" "b"), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(d.PushBytes("\xE4\xB8"), "");
  EXPECT_EQ(d.Flush(), "\xEF\xBF\xBD");
  EXPECT_EQ(d.pending_bytes(), 0u);
  EXPECT_EQ(d.PushBytes("\xE4" "x"), "\xEF\xBF\xBD" "x");
  d.Reset();
  EXPECT_EQ(d.Flush(), "");
}

TEST(ChatTemplateTest, DetectsFamilies) {
  EXPECT_EQ(DetectChatTemplateFamily(""), ChatTemplateFamily::kNone);
  EXPECT_EQ(DetectChatTemplateFamily("{{ messages }}"), ChatTemplateFamily::kUnrecognized);
  EXPECT_EQ(DetectChatTemplateFamily(
                "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
                "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"),
            ChatTemplateFamily::kChatML);
}

TEST(ChatTemplateTest, SmolLM2Rendering) {
  const std::string tmpl =
      "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
      "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
      "Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + "
      "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}";
  ChatTemplate t(tmpl, "");
  EXPECT_EQ(t.family(), ChatTemplateFamily::kSmolLM2);
  std::vector<ChatMessage> msgs = {{"user", "Hi"}};
  EXPECT_EQ(*t.Apply(msgs, true),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by "
            "Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  msgs = {{"system", "S"}, {"user", "U"}};
  EXPECT_EQ(*t.Apply(msgs, false),
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n");
}

TEST(ChatTemplateTest, ErrorsAreClear) {
  std::vector<ChatMessage> msgs = {{"user", "Hi"}};
  ChatTemplate none("", "");
  EXPECT_THAT(none.Apply(msgs, true).status().message(), HasSubstr("no chat template"));
  ChatTemplate weird("{{ bos_token }}{% for m in messages %}[{{ m.content }}]{% endfor %}", "");
  absl::StatusOr<std::string> r = weird.Apply(msgs, true);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("unrecognized chat template"));
}

TEST(ChatTemplateTest, Llama3TrimsContent) {
  ChatTemplate t(
      "{% for message in messages %}{% set content = '<|start_header_id|>' + message['role'] + "
      "'<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' %}{{ content }}"
      "{% endfor %}",
      "<|begin_of_text|>");
  EXPECT_EQ(t.family(), ChatTemplateFamily::kLlama3);
  std::vector<ChatMessage> msgs = {{"user", " \t hi there \n\x1c"}};
  EXPECT_EQ(*t.Apply(msgs, true),
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi there<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

}  // namespace
}  // namespace tandem::tokenizer
