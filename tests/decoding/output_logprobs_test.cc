// Output records exactly the logprobs the strategy hands it: one per token
// pushed with its verdict, none invented for a token pushed without one (a
// front end's count check then reports the strategy's bug instead of serving
// a fake 0).
#include <gtest/gtest.h>

#include <vector>

#include "decoding/generation/output.h"
#include "tests/decoding/fake_lm.h"

namespace tandem::decoding {
namespace {

using testing::FakeVocabulary;

GenerationRequest LogprobRequest(int top) {
  GenerationRequest request;
  request.prompt = {1, 2};
  request.max_tokens = 8;
  request.logprobs = true;
  request.top_logprobs = top;
  return request;
}

VerifyResult Verdict(std::vector<float> logprobs, int top) {
  VerifyResult verdict;
  verdict.logprobs = logprobs;
  for (float lp : logprobs) {
    std::vector<runtime::TokenLogprob> list;
    for (int i = 0; i < top; ++i) list.push_back({.token = 3 + i, .logprob = lp - static_cast<float>(i)});
    verdict.top_logprobs.push_back(list);
  }
  return verdict;
}

// The sizes of every streamed chunk's spans.
struct Chunks {
  std::vector<size_t> tokens, logprobs, top;
  StreamCallback Recorder() {
    return [this](const StreamChunk& c) {
      tokens.push_back(c.tokens.size());
      logprobs.push_back(c.logprobs.size());
      top.push_back(c.top_logprobs.size());
      return absl::OkStatus();
    };
  }
};

TEST(OutputLogprobsTest, EachTokenPushedWithItsVerdictGetsItsEntries) {
  FakeVocabulary vocab(8);
  const GenerationRequest request = LogprobRequest(2);
  GenerationResult result;
  Chunks chunks;
  const StreamCallback on_chunk = chunks.Recorder();
  Output out(request, vocab, on_chunk, &result);
  const VerifyResult verdict = Verdict({-0.5f, -1.25f, -2.0f}, 2);
  for (size_t i = 0; i < 3; ++i) ASSERT_TRUE(out.Push(4 + static_cast<int32_t>(i), verdict, i));
  ASSERT_TRUE(out.FlushChunk().ok());
  ASSERT_TRUE(out.Push(7, verdict, 1));
  ASSERT_TRUE(out.FlushChunk().ok());
  EXPECT_EQ(result.logprobs, (std::vector<float>{-0.5f, -1.25f, -2.0f, -1.25f}));
  ASSERT_EQ(result.top_logprobs.size(), 4u);
  EXPECT_EQ(result.top_logprobs[3][1].logprob, -2.25f);
  EXPECT_EQ(chunks.tokens, (std::vector<size_t>{3, 1}));
  EXPECT_EQ(chunks.logprobs, (std::vector<size_t>{3, 1}));
  EXPECT_EQ(chunks.top, (std::vector<size_t>{3, 1}));
}

TEST(OutputLogprobsTest, ATokenWithoutAVerdictEntryRecordsNothing) {
  FakeVocabulary vocab(8);
  const GenerationRequest request = LogprobRequest(1);
  GenerationResult result;
  Chunks chunks;
  const StreamCallback on_chunk = chunks.Recorder();
  Output out(request, vocab, on_chunk, &result);
  const VerifyResult verdict = Verdict({-0.5f}, 1);
  ASSERT_TRUE(out.Push(4, verdict, 0));
  ASSERT_TRUE(out.Push(5));              // a strategy bug: no verdict at all
  ASSERT_TRUE(out.Push(6, verdict, 3));  // an entry past the verdict's
  ASSERT_TRUE(out.FlushChunk().ok());
  ASSERT_TRUE(out.Push(7, verdict, 0));
  ASSERT_TRUE(out.FlushChunk().ok());
  EXPECT_EQ(result.tokens.size(), 4u);
  EXPECT_EQ(result.logprobs, (std::vector<float>{-0.5f, -0.5f}));
  EXPECT_EQ(result.top_logprobs.size(), 2u);
  // The chunks carry the recorded entries only, never past their end.
  EXPECT_EQ(chunks.tokens, (std::vector<size_t>{3, 1}));
  EXPECT_EQ(chunks.logprobs, (std::vector<size_t>{1, 1}));
  EXPECT_EQ(chunks.top, (std::vector<size_t>{1, 1}));
}

TEST(OutputLogprobsTest, NotAskedForRecordsNone) {
  FakeVocabulary vocab(8);
  GenerationRequest request = LogprobRequest(0);
  request.logprobs = false;
  GenerationResult result;
  StreamCallback on_chunk;
  Output out(request, vocab, on_chunk, &result);
  ASSERT_TRUE(out.Push(4, Verdict({-0.5f}, 0), 0));
  EXPECT_TRUE(result.logprobs.empty());
  EXPECT_TRUE(result.top_logprobs.empty());
}

}  // namespace
}  // namespace tandem::decoding
