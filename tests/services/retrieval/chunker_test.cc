// Chunker: sizes, separator preference, positions / token offsets, exact
// round trip of the text, UTF-8-safe hard cuts.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "services/retrieval/chunker.h"
#include "tests/services/retrieval/test_util.h"

namespace tandem::retrieval {
namespace {

// One token per byte.
std::vector<int64_t> ByteStarts(std::string_view text) {
  std::vector<int64_t> s;
  for (size_t i = 0; i <= text.size(); ++i) s.push_back(static_cast<int64_t>(i));
  return s;
}

std::vector<std::string> Texts(std::string_view text, const std::vector<TextChunk>& chunks) {
  std::vector<std::string> out;
  for (const TextChunk& c : chunks) out.emplace_back(text.substr(c.byte_offset, c.byte_length));
  return out;
}

void ExpectTiling(std::string_view text, const std::vector<int64_t>& starts, const std::vector<TextChunk>& chunks,
                  int max_tokens) {
  std::string joined;
  int64_t next_token = 0;
  for (const TextChunk& c : chunks) {
    EXPECT_EQ(c.token_offset, next_token);
    EXPECT_GE(c.token_count, 1);
    EXPECT_LE(c.token_count, max_tokens);
    EXPECT_EQ(c.byte_offset, starts[c.token_offset]);
    EXPECT_EQ(c.byte_offset + c.byte_length, starts[c.token_offset + c.token_count]);
    joined += text.substr(c.byte_offset, c.byte_length);
    next_token += c.token_count;
  }
  EXPECT_EQ(next_token, static_cast<int64_t>(starts.size()) - 1);
  EXPECT_EQ(joined, text);
}

TEST(ChunkerTest, ShortTextIsOneChunk) {
  const std::string text = "Hello world.";
  auto starts = ByteStarts(text);
  auto chunks = ChunkTokenRange(text, starts, 0, text.size(), 64);
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(Texts(text, chunks)[0], text);
}

TEST(ChunkerTest, PrefersParagraphOverSentenceAndTheLatestOfARank) {
  // Window of 40 bytes holds a ". " at 10, "\n\n" at 17 and ". " at 30:
  // the paragraph break wins although a sentence end comes later.
  const std::string text = "aaaaaaaaa. bbbbb\n\ncccccccccc. ddddddddd eeeeeeeeeeeeeeeeeee";
  auto starts = ByteStarts(text);
  auto chunks = ChunkTokenRange(text, starts, 0, text.size(), 40);
  ExpectTiling(text, starts, chunks, 40);
  ASSERT_GE(chunks.size(), 2u);
  // The boundary touching "\n\n" that is latest: after it.
  EXPECT_EQ(Texts(text, chunks)[0], "aaaaaaaaa. bbbbb\n\n");
}

TEST(ChunkerTest, SeparatorOrderFollowsTheSpec) {
  const auto seps = ChunkSeparators();
  const std::vector<std::string_view> want = {"\n\n", "\n", ". ", "! ", "? ", "; ", ", ", " "};
  ASSERT_EQ(seps.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(seps[i], want[i]);
  // Within one window: newline beats ". " beats ", " beats space.
  const std::string t1 = "one, two. three\nfour five six seven";
  auto s1 = ByteStarts(t1);
  EXPECT_EQ(Texts(t1, ChunkTokenRange(t1, s1, 0, t1.size(), 30))[0], "one, two. three\n");
  const std::string t2 = "one, two. three four five six seven";
  auto s2 = ByteStarts(t2);
  EXPECT_EQ(Texts(t2, ChunkTokenRange(t2, s2, 0, t2.size(), 30))[0], "one, two. ");
  const std::string t3 = "one, two three four five six seven";
  auto s3 = ByteStarts(t3);
  EXPECT_EQ(Texts(t3, ChunkTokenRange(t3, s3, 0, t3.size(), 30))[0], "one, ");
  const std::string t4 = "one two three four five six seven eight";
  auto s4 = ByteStarts(t4);
  // The latest space within 30 bytes: the one before "seven" (byte 27).
  EXPECT_EQ(Texts(t4, ChunkTokenRange(t4, s4, 0, t4.size(), 30))[0], "one two three four five six ");
}

TEST(ChunkerTest, HardCutWithoutSeparatorsKeepsCharactersWhole) {
  // "é" is two bytes = two byte tokens; a cut after 5 tokens would split one.
  std::string text;
  for (int i = 0; i < 20; ++i) text += "\xC3\xA9";
  auto starts = ByteStarts(text);
  auto chunks = ChunkTokenRange(text, starts, 0, text.size(), 5);
  ExpectTiling(text, starts, chunks, 5);
  for (const std::string& c : Texts(text, chunks)) {
    EXPECT_EQ(c.size() % 2, 0u) << "split inside a character";
    EXPECT_EQ(c.size(), 4u);
  }
}

TEST(ChunkerTest, NoChunkOfSeparatorsOnly) {
  // After the first cut lands before "\n\n", the next window must not end
  // right after it (a blank chunk).
  // Tokens: "aa" "aaaaa" "\n\n" "bbbb" " cc" "dd"; windows of 2 tokens. The
  // first cut lands before "\n\n"; the second window must not end right after
  // it (a blank chunk) but at the next separator.
  const std::string text = "aaaaaaa\n\nbbbb ccdd";
  const std::vector<int64_t> starts = {0, 2, 7, 9, 13, 16, 18};
  auto chunks = ChunkTokenRange(text, starts, 0, 6, 2);
  const auto texts = Texts(text, chunks);
  ASSERT_GE(texts.size(), 2u);
  EXPECT_EQ(texts[0], "aaaaaaa");
  EXPECT_EQ(texts[1], "\n\nbbbb");
  ExpectTiling(text, starts, chunks, 2);
}

TEST(ChunkerTest, SizesAndRoundTripOnARealisticText) {
  std::string text;
  for (int p = 0; p < 30; ++p) {
    for (int s = 0; s < 5 + p % 4; ++s) {
      text += "Sentence " + std::to_string(s) + " of paragraph " + std::to_string(p) +
              (s % 3 == 0 ? ", with a clause; and more" : "") + ". ";
    }
    text += p % 5 == 4 ? "\n" : "\n\n";
  }
  auto starts = ByteStarts(text);
  for (int max_tokens : {16, 50, 100, 512, 100000}) {
    auto chunks = ChunkTokenRange(text, starts, 0, text.size(), max_tokens);
    ExpectTiling(text, starts, chunks, max_tokens);
    if (max_tokens >= 512) {
      // Long enough for whole paragraphs: every chunk but the last ends at a
      // paragraph break.
      for (size_t i = 0; i + 1 < chunks.size(); ++i) {
        const std::string c = Texts(text, chunks)[i];
        EXPECT_EQ(c.substr(c.size() - 1), "\n") << i;
      }
    }
  }
  // A subrange keeps absolute token offsets.
  auto sub = ChunkTokenRange(text, starts, 100, 400, 64);
  ASSERT_FALSE(sub.empty());
  EXPECT_EQ(sub.front().token_offset, 100);
  EXPECT_EQ(sub.back().token_offset + sub.back().token_count, 400);
}

TEST(ChunkerTest, TokenizerBoundariesSpellTheText) {
  auto tok = testing::ByteTokenizer();
  ASSERT_NE(tok, nullptr);
  const std::string text = "Grüße, world!\n\nNext <|im_end|> paragraph.";
  auto starts = TokenizeBoundaries(*tok, text);
  ASSERT_TRUE(starts.ok()) << starts.status();
  EXPECT_EQ(starts->size(), text.size() + 1);  // one token per byte
  EXPECT_EQ(starts->back(), static_cast<int64_t>(text.size()));
}

}  // namespace
}  // namespace tandem::retrieval
