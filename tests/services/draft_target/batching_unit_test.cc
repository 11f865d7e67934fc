// BatchingLanguageModel on the tiny synthetic GGUF: batched == alone (same
// tokens, bitwise equal logits, with chunked prefill), error
// isolation inside a batch, KV accounting.
#include <chrono>
#include <thread>

#include "gtest/gtest.h"
#include "tests/services/draft_target/batching_check.h"

namespace tandem::dt_test {
namespace {

// The tiny model lives in this process's scratch folder; remove it at exit.
[[maybe_unused]] ::testing::Environment* const kScratchCleanup =
    ::testing::AddGlobalTestEnvironment(new test_scratch::ScratchCleanup);

std::unique_ptr<runtime::Model> LoadTiny(int64_t max_context = 0) {
  static const std::string path = MakeTinyModel();
  runtime::ModelOptions options;
  options.n_threads = 2;
  options.max_context = max_context;
  auto m = runtime::Model::Load(path, options);
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? std::move(*m) : nullptr;
}

std::vector<int32_t> Tokens(int n, int seed, int vocab) {
  std::vector<int32_t> t(n);
  for (int i = 0; i < n; ++i) t[i] = (seed * 131 + i * 17 + i * i) % vocab;
  return t;
}

TEST(BatchingUnitTest, ConcurrentSequencesMatchAlone) {
  auto model = LoadTiny();
  ASSERT_NE(model, nullptr);
  const int vocab = model->config().vocab_size;
  std::vector<std::vector<int32_t>> prompts = {Tokens(5, 1, vocab), Tokens(57, 2, vocab), Tokens(1, 3, vocab),
                                               Tokens(23, 4, vocab), Tokens(90, 5, vocab)};
  batching::BatchingOptions options;
  options.prefill_chunk_tokens = 8;  // forces multi-round chunked prefills
  options.max_round_tokens = 64;
  CheckBatchedEqualsAlone(*model, prompts, 12, options);
}

TEST(BatchingUnitTest, BadItemFailsAloneOthersSucceed) {
  auto model = LoadTiny(/*max_context=*/32);
  ASSERT_NE(model, nullptr);
  const int vocab = model->config().vocab_size;
  batching::BatchingLanguageModel lm(*model);
  auto good = lm.NewSequence();
  auto bad = lm.NewSequence();
  ASSERT_TRUE(good.ok() && bad.ok());
  const std::vector<int32_t> ok_tokens = Tokens(10, 7, vocab);
  const std::vector<int32_t> too_long = Tokens(40, 8, vocab);  // exceeds the context of 32
  std::vector<float> good_logits, bad_logits;
  absl::Status good_status, bad_status;
  lm.SetPaused(true);
  std::thread a([&] { good_status = (*good)->Append(ok_tokens, true, &good_logits); });
  std::thread b([&] { bad_status = (*bad)->Append(too_long, true, &bad_logits); });
  ASSERT_TRUE(WaitFor([&] { return lm.queued() == 2; }));
  lm.SetPaused(false);
  a.join();
  b.join();
  EXPECT_TRUE(good_status.ok()) << good_status;
  EXPECT_EQ(bad_status.code(), absl::StatusCode::kOutOfRange) << bad_status;
  EXPECT_EQ((*good)->tokens().size(), ok_tokens.size());
  EXPECT_EQ((*bad)->tokens().size(), 0u);
  EXPECT_EQ(good_logits.size(), ok_tokens.size() * vocab);

  // The good rows equal an unbatched run.
  decoding::RuntimeLanguageModel plain(*model);
  auto ref = plain.NewSequence();
  ASSERT_TRUE(ref.ok());
  std::vector<float> ref_logits;
  ASSERT_TRUE((*ref)->Append(ok_tokens, true, &ref_logits).ok());
  EXPECT_TRUE(ref_logits == good_logits);
}

TEST(BatchingUnitTest, KvBytesFollowSequences) {
  auto model = LoadTiny();
  ASSERT_NE(model, nullptr);
  batching::BatchingLanguageModel lm(*model);
  EXPECT_EQ(lm.kv_bytes_in_use(), 0);
  {
    auto seq = lm.NewSequence();
    ASSERT_TRUE(seq.ok());
    ASSERT_TRUE((*seq)->Append(Tokens(300, 9, model->config().vocab_size), false, nullptr).ok());
    const int64_t full = lm.kv_bytes_in_use();
    EXPECT_GT(full, 0);
    ASSERT_TRUE((*seq)->Truncate(10).ok());
    EXPECT_LT(lm.kv_bytes_in_use(), full);
    EXPECT_EQ((*seq)->Append({}, false, nullptr).code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(lm.kv_bytes_in_use(), 0);
}


// Closing a session while another session's prefill runs must not corrupt the
// running append, and its pages must come back once the model is free: the
// close is handed to the scheduler instead of waiting for the round (the
// test cannot see which path ran; both must end with the KV freed).
TEST(BatchingUnitTest, SessionClosedDuringRoundIsFreedAfterIt) {
  auto model = LoadTiny();
  ASSERT_NE(model, nullptr);
  const int vocab = model->config().vocab_size;
  batching::BatchingOptions options;
  options.prefill_chunk_tokens = 4;  // many rounds: the close lands inside one
  batching::BatchingLanguageModel lm(*model, options);
  auto idle = lm.NewSequence();
  auto busy = lm.NewSequence();
  ASSERT_TRUE(idle.ok() && busy.ok());
  ASSERT_TRUE((*idle)->Append(Tokens(40, 3, vocab), false, nullptr).ok());
  const int64_t idle_bytes = lm.kv_bytes_in_use();
  ASSERT_GT(idle_bytes, 0);

  const std::vector<int32_t> prompt = Tokens(240, 4, vocab);
  std::vector<float> logits;
  absl::Status busy_status;
  const int64_t passes_before = lm.stats().forward_passes;
  std::thread prefill([&] { busy_status = (*busy)->Append(prompt, false, nullptr); });
  ASSERT_TRUE(WaitFor([&] { return lm.stats().forward_passes > passes_before; }));
  idle->reset();  // closes while the scheduler is mid-prefill
  prefill.join();
  ASSERT_TRUE(busy_status.ok()) << busy_status;
  ASSERT_TRUE((*busy)->Append(Tokens(1, 5, vocab), true, &logits).ok());

  busy->reset();
  EXPECT_TRUE(WaitFor([&] { return lm.kv_bytes_in_use() == 0; })) << lm.kv_bytes_in_use();

  // The busy session's result equals an undisturbed run.
  decoding::RuntimeLanguageModel plain(*model);
  auto ref = plain.NewSequence();
  ASSERT_TRUE(ref.ok());
  std::vector<float> ref_logits;
  ASSERT_TRUE((*ref)->Append(prompt, false, nullptr).ok());
  ASSERT_TRUE((*ref)->Append(Tokens(1, 5, vocab), true, &ref_logits).ok());
  EXPECT_TRUE(ref_logits == logits);
}

// Gathering with a budget no test run reaches: a round that waited for a
// session that never comes would hang the test (ctest's timeout fails it).
batching::BatchingOptions UnboundedGather() {
  batching::BatchingOptions options;
  options.max_gather_us = 600'000'000;  // 10 minutes
  options.gather_round_fraction = 1e9;
  return options;
}

// Runs one append of `n` tokens on each of a and b in the same round.
void AppendTogether(batching::BatchingLanguageModel& lm, decoding::LmSequence& a, decoding::LmSequence& b,
                    int n, int vocab) {
  const std::vector<int32_t> ta = Tokens(n, 11, vocab), tb = Tokens(n, 12, vocab);
  absl::Status sa, sb;
  lm.SetPaused(true);
  std::thread x([&] { sa = a.Append(ta, false, nullptr); });
  std::thread y([&] { sb = b.Append(tb, false, nullptr); });
  ASSERT_TRUE(WaitFor([&] { return lm.queued() == 2; }));
  lm.SetPaused(false);
  x.join();
  y.join();
  ASSERT_TRUE(sa.ok()) << sa;
  ASSERT_TRUE(sb.ok()) << sb;
}

// Two sequences of one BatchingLanguageModel that have just shared a round
// (6 prompt tokens each). Members are destroyed sequences first.
struct Peers {
  std::unique_ptr<runtime::Model> model;
  std::unique_ptr<batching::BatchingLanguageModel> lm;
  std::unique_ptr<batching::BatchingSequence> a, b;
  int vocab = 0;
};

void MakePeers(const batching::BatchingOptions& options, Peers* p) {
  p->model = LoadTiny();
  ASSERT_NE(p->model, nullptr);
  p->vocab = p->model->config().vocab_size;
  p->lm = std::make_unique<batching::BatchingLanguageModel>(*p->model, options);
  auto a = p->lm->NewBatchingSequence();
  auto b = p->lm->NewBatchingSequence();
  ASSERT_TRUE(a.ok() && b.ok());
  p->a = std::move(*a);
  p->b = std::move(*b);
  AppendTogether(*p->lm, *p->a, *p->b, 6, p->vocab);
}

// The session that comes back first waits for its peer of the last round,
// so both steps share one pass (decode streams over RPC arrive staggered).
TEST(BatchingUnitTest, GatheringWaitsForTheLastRoundsSessions) {
  Peers p;
  ASSERT_NO_FATAL_FAILURE(MakePeers(UnboundedGather(), &p));
  const int64_t passes = p.lm->stats().forward_passes;
  std::vector<float> la, lb;
  absl::Status sa;
  std::thread first([&] { sa = p.a->Append(Tokens(1, 13, p.vocab), true, &la); });
  ASSERT_TRUE(WaitFor([&] { return p.lm->queued() == 1; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a is alone in the queue meanwhile
  ASSERT_TRUE(p.b->Append(Tokens(1, 14, p.vocab), true, &lb).ok());
  first.join();
  ASSERT_TRUE(sa.ok()) << sa;
  EXPECT_EQ(p.a->last_batch_items(), 2);
  EXPECT_EQ(p.b->last_batch_items(), 2);
  EXPECT_EQ(p.lm->stats().forward_passes, passes + 1);
}

// With gathering off the first step runs at once, alone (it finishes before
// the peer appends at all).
TEST(BatchingUnitTest, WithoutGatheringTheFirstStepRunsAlone) {
  batching::BatchingOptions options;
  options.max_gather_us = 0;
  Peers p;
  ASSERT_NO_FATAL_FAILURE(MakePeers(options, &p));
  std::vector<float> la;
  ASSERT_TRUE(p.a->Append(Tokens(1, 13, p.vocab), true, &la).ok());
  EXPECT_EQ(p.a->last_batch_items(), 1);
}

// A peer that closes instead of appending again is not waited for, and a
// session alone never waits for itself.
TEST(BatchingUnitTest, GatheringStopsWaitingForAClosedSession) {
  Peers p;
  ASSERT_NO_FATAL_FAILURE(MakePeers(UnboundedGather(), &p));
  std::vector<float> la;
  absl::Status sa;
  std::thread first([&] { sa = p.a->Append(Tokens(1, 13, p.vocab), true, &la); });
  ASSERT_TRUE(WaitFor([&] { return p.lm->queued() == 1; }));
  p.b.reset();  // the close releases a's round
  first.join();
  ASSERT_TRUE(sa.ok()) << sa;
  EXPECT_EQ(p.a->last_batch_items(), 1);
  // Alone now: further steps run without waiting.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(p.a->Append(Tokens(1, 20 + i, p.vocab), true, &la).ok());
  EXPECT_EQ(p.a->tokens().size(), 10u);
}

}  // namespace
}  // namespace tandem::dt_test
