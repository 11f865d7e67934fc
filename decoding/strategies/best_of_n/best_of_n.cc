#include "decoding/strategies/best_of_n/best_of_n.h"

#include <algorithm>
#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "runtime/sampling/rng.h"
#include "decoding/generation/output.h"
#include "decoding/strategies/reward_guided/reward_guided.h"

namespace tandem::decoding {
namespace {

struct Sample {
  std::unique_ptr<VerifySession> fork;
  std::vector<int32_t> emitted;  // every token the target produced, the finishing one included
  GenerationResult result;       // after the stop conditions (what a client would get)
  int64_t target_calls = 0;
  absl::Status status;
};

// One response in `session` (a fork), with the request's stop conditions.
// Stops early (the sample is then discarded) once `failed` is set by another
// sample's error.
absl::Status SampleOne(VerifySession& session, const GenerationRequest& request, const Vocabulary& vocab,
                       const std::atomic<bool>& failed, Sample* sample) {
  const StreamCallback no_stream;
  Output out(request, vocab, no_stream, &sample->result);
  VerifyResult step;
  while (!out.done()) {
    if (out.cancelled() || failed.load(std::memory_order_relaxed)) {
      out.Abort();
      break;
    }
    absl::Status s = session.Verify({}, {}, &step);
    ++sample->target_calls;
    if (!s.ok()) {
      if (out.EndsAtContextLimit(s)) break;
      return s;
    }
    sample->emitted.push_back(step.next_token);
    out.Push(step.next_token);
  }
  return out.FlushChunk();
}

}  // namespace

absl::Status BestOfNOptions::Validate() const {
  if (n < 1 || n > 64) return absl::InvalidArgumentError(absl::StrCat("params.n: must be in [1, 64], got ", n));
  if (parallel < 1 || parallel > kMaxParallel) {
    return absl::InvalidArgumentError(
        absl::StrCat("params.parallel: must be in [1, ", kMaxParallel, "], got ", parallel));
  }
  return absl::OkStatus();
}

absl::Status RunBestOfN(const GenerationRequest& request, const BestOfNOptions& options, Verifier& verifier,
                        RewardScorer& reward_scorer, const Vocabulary& vocab, const StreamCallback& on_chunk,
                        GenerationResult* result) {
  if (absl::Status s = Output::ValidateRequest(request, vocab); !s.ok()) return s;
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  auto prompt_text = PromptText(request, vocab);
  if (!prompt_text.ok()) return prompt_text.status();
  *result = {};
  auto& stats = result->stats;
  stats.strategy = "best_of_n";
  Output out(request, vocab, on_chunk, result);
  RewardClient reward(reward_scorer, options.reward, *prompt_text, vocab, &stats);

  double t0 = out.ElapsedMs();
  auto opened = verifier.Open(request.prompt, request.sampling, {});
  if (!opened.ok()) return opened.status();
  stats.target_time_ms += out.ElapsedMs() - t0;

  absl::Status status = [&]() -> absl::Status {
    runtime::Rng fork_seeds = runtime::Rng(request.sampling.seed).Split(kForkSeedStream);
    // Forks are made one by one (the parent session is not thread-safe);
    // then up to `parallel` of them are sampled at once, each on its own
    // thread: a batching target (the in-process BatchedModel, the target
    // service) merges their steps into one forward pass of that many rows,
    // far cheaper than as many single-row passes. Batching is bit-exact, so
    // the result does not depend on the interleaving.
    std::vector<Sample> samples(options.n);
    for (Sample& sample : samples) {
      auto fork = (*opened)->Fork(fork_seeds.NextU64());
      if (!fork.ok()) return fork.status();
      sample.fork = std::move(*fork);
    }
    t0 = out.ElapsedMs();
    std::atomic<int> next{0};
    std::atomic<bool> failed{false};
    auto worker = [&] {
      for (int i; (i = next.fetch_add(1)) < options.n;) {
        Sample& sample = samples[i];
        sample.status = SampleOne(*sample.fork, request, vocab, failed, &sample);
        absl::Status closed = sample.fork->Close();
        if (sample.status.ok()) sample.status = closed;
        if (!sample.status.ok()) failed.store(true);
      }
    };
    std::vector<std::thread> threads;
    for (int t = 1; t < std::min(options.n, options.parallel); ++t) threads.emplace_back(worker);
    worker();
    for (std::thread& t : threads) t.join();
    stats.target_time_ms += out.ElapsedMs() - t0;  // wall time of the concurrent sampling
    for (const Sample& sample : samples) stats.target_calls += sample.target_calls;
    for (const Sample& sample : samples) {
      if (!sample.status.ok()) return sample.status;
    }
    if (out.cancelled()) {
      out.Abort();
      return absl::OkStatus();
    }
    std::vector<std::string> texts;
    for (const Sample& sample : samples) texts.push_back(sample.result.text);
    auto scores = reward.ScoreTexts(texts);
    if (!scores.ok()) return scores.status();
    size_t best = 0;
    for (size_t i = 1; i < scores->size(); ++i) {
      if ((*scores)[i] > (*scores)[best]) best = i;
    }
    // Replaying the chosen sample through the request's Output reproduces
    // its stop conditions and streams it.
    const Sample& chosen = samples[best];
    for (int32_t t : chosen.emitted) {
      if (!out.Push(t)) break;
    }
    if (!out.done() && chosen.result.finish_reason == FinishReason::kContextLength) {
      out.EndsAtContextLimit(absl::OutOfRangeError("context full"));
    }
    stats.reward.final_reward = (*scores)[best];
    return absl::OkStatus();
  }();
  if (status.ok()) status = out.FlushChunk();
  absl::Status closed = (*opened)->Close();
  out.Close();
  return status.ok() ? closed : status;
}

}  // namespace tandem::decoding
