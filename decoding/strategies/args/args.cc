#include "decoding/strategies/args/args.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "runtime/sampling/rng.h"
#include "decoding/generation/output.h"
#include "decoding/strategies/reward_guided/reward_guided.h"

namespace tandem::decoding {

absl::Status ArgsOptions::Validate() const {
  if (top_k < 1 || top_k > 256) {
    return absl::InvalidArgumentError(absl::StrCat("params.top_k: must be in [1, 256], got ", top_k));
  }
  if (!std::isfinite(w)) return absl::InvalidArgumentError("params.w: must be a finite number");
  if (!(tau > 0 && tau <= 100)) {
    return absl::InvalidArgumentError(absl::StrCat("params.tau: must be in (0, 100], got ", tau));
  }
  return absl::OkStatus();
}

absl::Status RunArgs(const GenerationRequest& request, const ArgsOptions& options, Verifier& verifier,
                     RewardScorer& reward_scorer, const Vocabulary& vocab, const StreamCallback& on_chunk,
                     GenerationResult* result) {
  if (absl::Status s = Output::ValidateRequest(request, vocab); !s.ok()) return s;
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  auto prompt_text = PromptText(request, vocab);
  if (!prompt_text.ok()) return prompt_text.status();
  *result = {};
  auto& stats = result->stats;
  stats.strategy = "args";
  Output out(request, vocab, on_chunk, result);
  RewardClient reward(reward_scorer, options.reward, *prompt_text, vocab, &stats);
  runtime::Rng rng = runtime::Rng(request.sampling.seed).Split(kProposalRngStream);

  double t0 = out.ElapsedMs();
  auto opened = verifier.Open(request.prompt, request.sampling, {});
  if (!opened.ok()) return opened.status();
  stats.target_time_ms += out.ElapsedMs() - t0;
  VerifySession& session = **opened;

  absl::Status status = [&]() -> absl::Status {
    NextTokenInfo info;
    absl::Status s = AppendAndQuery(session, {}, options.top_k, vocab.vocab_size(), &info, &stats);
    if (!s.ok()) return out.EndsAtContextLimit(s) ? absl::OkStatus() : s;
    std::vector<int32_t> y;
    std::vector<std::vector<int32_t>> candidates;
    std::vector<float> scores;
    while (!out.done()) {
      if (out.cancelled()) {
        out.Abort();
        break;
      }
      const size_t k = std::min<size_t>(info.top_tokens.size(), static_cast<size_t>(options.top_k));
      std::span<const int32_t> tokens = std::span<const int32_t>(info.top_tokens).first(k);
      candidates.assign(k, y);
      for (size_t i = 0; i < k; ++i) candidates[i].push_back(tokens[i]);
      auto rewards = reward.ScoreTokens(candidates);
      if (!rewards.ok()) return rewards.status();
      scores.resize(k);
      for (size_t i = 0; i < k; ++i) {
        scores[i] = static_cast<float>(info.top_logits[i] + options.w * (*rewards)[i]);
      }
      size_t pick = 0;
      if (options.greedy) {
        pick = ArgmaxAmong(tokens, scores);
      } else {
        auto v = SampleAmong(tokens, scores, static_cast<float>(options.tau), rng);
        if (!v.ok()) return v.status();
        while (tokens[pick] != *v) ++pick;
      }
      const int32_t token = tokens[pick];
      stats.reward.final_reward = (*rewards)[pick];  // R(x, y + v): the response so far
      y.push_back(token);
      const bool more = out.Push(token);
      if (s = out.FlushChunk(); !s.ok()) return s;
      if (!more) break;
      s = AppendAndQuery(session, {&token, 1}, options.top_k, vocab.vocab_size(), &info, &stats);
      if (!s.ok()) return out.EndsAtContextLimit(s) ? absl::OkStatus() : s;
    }
    return absl::OkStatus();
  }();
  return FinishRewardGuided(std::move(status), &reward, out, session, result);
}

}  // namespace tandem::decoding
