#include "services/orchestrator/strategies/best_of_n.h"

#include "absl/strings/str_cat.h"
#include "runtime/sampling/rng.h"
#include "services/orchestrator/strategies/output.h"
#include "services/orchestrator/strategies/reward_guided.h"

namespace tandem::orchestrator {
namespace {

struct Sample {
  std::vector<int32_t> emitted;  // every token the target produced, the finishing one included
  GenerationResult result;       // after the stop conditions (what a client would get)
};

// One response in `session` (a fork), with the request's stop conditions.
absl::Status SampleOne(VerifySession& session, const GenerationRequest& request, const Vocabulary& vocab,
                       spec::RequestStats* stats, Sample* sample) {
  const StreamCallback no_stream;
  Output out(request, vocab, no_stream, &sample->result);
  VerifyResult step;
  while (!out.done()) {
    if (out.cancelled()) {
      out.Abort();
      break;
    }
    double t0 = out.ElapsedMs();
    absl::Status s = session.Verify({}, {}, &step);
    stats->target_time_ms += out.ElapsedMs() - t0;
    ++stats->target_calls;
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
    std::vector<Sample> samples(options.n);
    for (Sample& sample : samples) {
      if (out.cancelled()) {
        out.Abort();
        return absl::OkStatus();
      }
      auto fork = (*opened)->Fork(fork_seeds.NextU64());
      if (!fork.ok()) return fork.status();
      absl::Status s = SampleOne(**fork, request, vocab, &stats, &sample);
      absl::Status closed = (*fork)->Close();
      if (!s.ok()) return s;
      if (!closed.ok()) return closed;
      if (sample.result.finish_reason == FinishReason::kAborted) {
        out.Abort();
        return absl::OkStatus();
      }
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
    stats.has_final_reward = true;
    stats.final_reward = (*scores)[best];
    return absl::OkStatus();
  }();
  if (status.ok()) status = out.FlushChunk();
  absl::Status closed = (*opened)->Close();
  out.Close();
  return status.ok() ? closed : status;
}

}  // namespace tandem::orchestrator
