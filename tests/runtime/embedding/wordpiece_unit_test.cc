// WordPiece and the BERT BasicTokenizer on a tiny hand-written vocabulary:
// each normalization and splitting rule in isolation, greedy longest match,
// [UNK] rules, special tokens, truncation and input errors. (The model test
// checks the real vocabulary against Hugging Face tokenizers.)
#include "runtime/embedding/wordpiece.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/runtime/embedding/embedding_test_util.h"

namespace tandem::embedding {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::vector<std::string> kVocab = {
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",                   // 0-4
    "un", "##want", "##ed", "want", "wa", "##nt", "runn", "##ing",  // 5-12
    ",", "!", "the", "cafe", "a", "##a", "ab", "##b", "的", "##s",   // 13-22
};

std::unique_ptr<WordPieceTokenizer> Tiny() {
  auto t = WordPieceTokenizer::FromVocab(kVocab);
  EXPECT_TRUE(t.ok()) << t.status();
  return std::move(*t);
}

std::vector<int32_t> Ids(const WordPieceTokenizer& t, const std::string& text) {
  auto ids = t.Tokenize(text);
  EXPECT_TRUE(ids.ok()) << ids.status();
  return ids.ok() ? *ids : std::vector<int32_t>{};
}

std::vector<std::string> Words(const WordPieceTokenizer& t, const std::string& text) {
  auto w = t.BasicTokenize(text);
  EXPECT_TRUE(w.ok()) << w.status();
  return w.ok() ? *w : std::vector<std::string>{};
}

TEST(WordPiece, GreedyLongestMatchWithContinuations) {
  auto t = Tiny();
  EXPECT_THAT(Ids(*t, "unwanted running"), ElementsAre(5, 6, 7, 11, 12));
  // "want" beats "wa" + "##nt": the longest prefix wins.
  EXPECT_THAT(Ids(*t, "want"), ElementsAre(8));
  EXPECT_THAT(Ids(*t, "aaa"), ElementsAre(17, 18, 18));
  EXPECT_THAT(Ids(*t, "abs"), ElementsAre(19, 22));
}

TEST(WordPiece, UnmatchedOrOverlongWordIsOneUnknown) {
  auto t = Tiny();
  // "unwanted" matches up to "x": the whole word is [UNK], nothing partial.
  EXPECT_THAT(Ids(*t, "unwantedx the"), ElementsAre(1, 15));
  EXPECT_THAT(Ids(*t, std::string(100, 'a')).size(), 100u);
  EXPECT_THAT(Ids(*t, std::string(101, 'a')), ElementsAre(1));
  auto limited = WordPieceTokenizer::FromVocab(kVocab, {.lowercase = true, .max_input_chars_per_word = 3});
  ASSERT_TRUE(limited.ok());
  EXPECT_THAT(Ids(**limited, "aaa aaaa"), ElementsAre(17, 18, 18, 1));
}

TEST(WordPiece, PunctuationIsSplitIntoSingleCharacters) {
  auto t = Tiny();
  EXPECT_THAT(Words(*t, "the,the!!a"), ElementsAre("the", ",", "the", "!", "!", "a"));
  // ASCII symbols count as punctuation too, as do Unicode P* characters.
  EXPECT_THAT(Words(*t, "a$b+c`d~e"), ElementsAre("a", "$", "b", "+", "c", "`", "d", "~", "e"));
  EXPECT_THAT(Words(*t, "x\xe2\x80\x94y\xc2\xbfz"), ElementsAre("x", "\xe2\x80\x94", "y", "\xc2\xbf", "z"));  // em dash, ¿
  // Non-punctuation symbols (emoji, math) stay inside words.
  EXPECT_THAT(Words(*t, "a\xf0\x9f\x98\x80" "b"), ElementsAre("a\xf0\x9f\x98\x80" "b"));
}

TEST(WordPiece, CleanTextDropsControlsAndMapsWhitespace) {
  auto t = Tiny();
  // Tab, no-break space, ideographic space split; U+0001, zero-width space
  // (Cf), U+FFFD and a private-use character vanish.
  EXPECT_THAT(Words(*t, "the\tthe\xc2\xa0the\xe3\x80\x80" "a\x01" "b\xe2\x80\x8b" "c\xef\xbf\xbd" "d\xee\x80\x80" "e"),
              ElementsAre("the", "the", "the", "abcde"));
  EXPECT_THAT(Words(*t, "  \n\r\t "), ElementsAre());
}

TEST(WordPiece, LowercasesAndStripsAccents) {
  auto t = Tiny();
  EXPECT_THAT(Words(*t, "Caf\xc3\xa9 CAFE\xcc\x81"), ElementsAre("cafe", "cafe"));  // precomposed and combining é
  EXPECT_THAT(Ids(*t, "CAF\xc3\x89"), ElementsAre(16));
  // Greek capital with tonos -> lowercase alpha; Cyrillic Й keeps its
  // breve stripped like BERT does; İ -> i.
  EXPECT_THAT(Words(*t, "\xce\x86 \xd0\x99 \xc4\xb0"), ElementsAre("\xce\xb1", "\xd0\xb8", "i"));
  // Hangul syllables decompose into conjoining jamo (NFD).
  EXPECT_THAT(Words(*t, "\xed\x95\x9c"), ElementsAre("\xe1\x84\x92\xe1\x85\xa1\xe1\x86\xab"));
  auto cased = WordPieceTokenizer::FromVocab(kVocab, {.lowercase = false});
  ASSERT_TRUE(cased.ok());
  EXPECT_THAT(Words(**cased, "Caf\xc3\xa9"), ElementsAre("Caf\xc3\xa9"));
}

TEST(WordPiece, CjkIdeographsAreWordsOfTheirOwn) {
  auto t = Tiny();
  EXPECT_THAT(Words(*t, "ab\xe7\x9a\x84\xe7\x9a\x84" "cd"), ElementsAre("ab", "\xe7\x9a\x84", "\xe7\x9a\x84", "cd"));
  EXPECT_THAT(Ids(*t, "\xe7\x9a\x84" "a"), ElementsAre(21, 17));
  // Hiragana is not in the CJK ideograph ranges: it stays one word.
  EXPECT_THAT(Words(*t, "\xe3\x81\x82\xe3\x81\x84"), ElementsAre("\xe3\x81\x82\xe3\x81\x84"));
}

TEST(WordPiece, EncodeAddsSpecialTokensAndTruncates) {
  auto t = Tiny();
  auto ids = t->Encode("the the the", 512);
  ASSERT_TRUE(ids.ok());
  EXPECT_THAT(*ids, ElementsAre(2, 15, 15, 15, 3));
  ids = t->Encode("the the the", 4);
  ASSERT_TRUE(ids.ok());
  EXPECT_THAT(*ids, ElementsAre(2, 15, 15, 3));
  ids = t->Encode("", 4);
  ASSERT_TRUE(ids.ok());
  EXPECT_THAT(*ids, ElementsAre(2, 3));
  // Text spelling a special token is text, not a control token.
  ids = t->Encode("[SEP]", 16);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(ids->size(), 5u);  // [CLS] [ [UNK] ] [SEP]: "sep" is not in the tiny vocabulary
  EXPECT_EQ(t->Encode("the", 1).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(WordPiece, InvalidUtf8IsRejectedWithItsOffset) {
  auto t = Tiny();
  for (const std::string& bad : {std::string("ab\xff"), std::string("ab\xc3"), std::string("\xed\xa0\x80"),
                                std::string("\xc0\xaf")}) {
    auto ids = t->Tokenize(bad);
    EXPECT_EQ(ids.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(ids.status().message(), HasSubstr("UTF-8"));
  }
  EXPECT_THAT(t->Tokenize("ab\xff").status().message(), HasSubstr("byte offset 2"));
}

TEST(WordPiece, VocabularyRules) {
  auto no_unk = WordPieceTokenizer::FromVocab({"[PAD]", "[CLS]", "[SEP]", "a"});
  EXPECT_EQ(no_unk.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(no_unk.status().message(), HasSubstr("[UNK]"));
  auto bad = WordPieceTokenizer::FromVocab({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "\xff"});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("line 5"));

  // A file with CRLF line ends reads like one with LF.
  const std::string path = testing::ScratchDir() + "/vocab.txt";
  testing::WriteFile(path, "[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\nhello\r\n##s\r\n");
  auto f = WordPieceTokenizer::FromVocabFile(path);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->vocab_size(), 6);
  EXPECT_THAT(Ids(**f, "Hellos"), ElementsAre(4, 5));
  EXPECT_EQ(WordPieceTokenizer::FromVocabFile(path + ".missing").status().code(), absl::StatusCode::kNotFound);
}

[[maybe_unused]] ::testing::Environment* const kCleanup =
    ::testing::AddGlobalTestEnvironment(new testing::ScratchCleanup);

}  // namespace
}  // namespace tandem::embedding
