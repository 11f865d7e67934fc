#include "decoding/strategies/reward_guided/reward_guided.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "runtime/sampling/sampler.h"

namespace tandem::decoding {
namespace {

double MsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

absl::StatusOr<std::string> ResponseText(const Vocabulary& vocab, std::span<const int32_t> tokens) {
  std::unique_ptr<TokenDecoder> decoder = vocab.NewDecoder();
  if (decoder == nullptr) {
    return absl::FailedPreconditionError(
        "reward-guided strategies need detokenized text, which this deployment lacks");
  }
  std::string text;
  for (int32_t t : tokens) {
    if (!vocab.IsEndOfGeneration(t)) text += decoder->Push(t);
  }
  text += decoder->Flush();
  return text;
}

absl::StatusOr<std::string> PromptText(const GenerationRequest& request, const Vocabulary& vocab) {
  if (!request.prompt_text.empty()) return request.prompt_text;
  return ResponseText(vocab, request.prompt);
}

absl::StatusOr<std::vector<float>> RewardClient::ScoreTokens(
    std::span<const std::vector<int32_t>> responses) {
  std::vector<std::string> texts;
  texts.reserve(responses.size());
  for (const auto& r : responses) {
    auto text = ResponseText(vocab_, r);
    if (!text.ok()) return text.status();
    texts.push_back(std::move(*text));
  }
  return ScoreTexts(texts);
}

absl::StatusOr<std::vector<float>> RewardClient::ScoreTexts(std::span<const std::string> responses) {
  std::vector<RewardItem> items(responses.size());
  for (size_t i = 0; i < responses.size(); ++i) {
    items[i].prompt = prompt_;
    items[i].response = responses[i];
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto scores = scorer_.Score(spec_, items);
  stats_->reward.time_ms += MsSince(t0);
  ++stats_->reward.calls;
  stats_->reward.items += static_cast<int64_t>(items.size());
  const std::string backend = spec_.backend.empty() ? "default" : spec_.backend;
  if (!scores.ok()) return scores.status();
  if (scores->size() != items.size()) {
    return absl::InternalError(absl::StrCat("reward backend '", backend, "' returned ", scores->size(),
                                            " scores for ", items.size(), " responses"));
  }
  for (float s : *scores) {
    if (!std::isfinite(s)) {
      return absl::InternalError(absl::StrCat("reward backend '", backend, "' returned a non-finite score"));
    }
  }
  return scores;
}

absl::Status ValidateNextTokenInfo(const NextTokenInfo& info, int32_t vocab_size) {
  if (info.top_tokens.empty() || info.top_tokens.size() != info.top_logits.size()) {
    return absl::InternalError(absl::StrCat("verifier returned ", info.top_tokens.size(), " top tokens with ",
                                            info.top_logits.size(), " logits"));
  }
  for (int32_t t : info.top_tokens) {
    if (t < 0 || t >= vocab_size) {
      return absl::InternalError(absl::StrCat("verifier returned top token ", t, " outside vocabulary of ",
                                              vocab_size));
    }
  }
  if (!std::isfinite(info.entropy) || info.entropy < -1e-3f) {
    return absl::InternalError(absl::StrCat("verifier returned entropy ", info.entropy));
  }
  return absl::OkStatus();
}

absl::StatusOr<int32_t> SampleAmong(std::span<const int32_t> tokens, std::span<const float> logits,
                                    float temperature, runtime::Rng& rng) {
  if (tokens.empty() || tokens.size() != logits.size()) {
    return absl::InvalidArgumentError("sample: need one logit per candidate token");
  }
  if (!(temperature > 0)) return absl::InvalidArgumentError("sample: temperature must be > 0");
  // Ascending id order: the order runtime::Sampler sums and walks a
  // truncated support in, so the same uniform picks the same token.
  std::vector<size_t> order(tokens.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return tokens[a] < tokens[b]; });
  std::vector<float> sorted(tokens.size());
  for (size_t i = 0; i < order.size(); ++i) sorted[i] = logits[order[i]];
  runtime::SamplingParams params;
  params.temperature = temperature;
  runtime::Sampler sampler(params);
  runtime::Distribution dist;
  if (absl::Status s = sampler.Process(sorted, {}, &dist); !s.ok()) return s;
  const int32_t index = runtime::Sampler::Sample(dist, rng);
  if (index < 0 || static_cast<size_t>(index) >= order.size()) {
    return absl::InternalError("sample: empty distribution");
  }
  return tokens[order[index]];
}

size_t ArgmaxAmong(std::span<const int32_t> tokens, std::span<const float> values) {
  size_t best = 0;
  for (size_t i = 1; i < values.size() && i < tokens.size(); ++i) {
    if (values[i] > values[best] || (values[i] == values[best] && tokens[i] < tokens[best])) best = i;
  }
  return best;
}

absl::Status AppendAndQuery(VerifySession& session, std::span<const int32_t> tokens, int top_k,
                            int32_t vocab_size, NextTokenInfo* info, spec::RequestStats* stats) {
  // The target service rejects top_k above its vocabulary (in process it is
  // clipped): never ask for more candidates than exist.
  top_k = std::min(top_k, vocab_size);
  const auto t0 = std::chrono::steady_clock::now();
  absl::Status s = session.Append(tokens, top_k, info);
  stats->target_time_ms += MsSince(t0);
  ++stats->target_calls;
  if (!s.ok()) return s;
  return ValidateNextTokenInfo(*info, vocab_size);
}

absl::Status FinishRewardGuided(absl::Status status, RewardClient* reward, Output& out,
                                VerifySession& session, GenerationResult* result) {
  if (status.ok()) status = out.FlushChunk();
  if (status.ok() && reward != nullptr && result->finish_reason == FinishReason::kStopString &&
      result->stats.reward.final_reward.has_value()) {
    auto r = reward->ScoreTexts({&result->text, 1});
    status = r.status();
    if (r.ok()) result->stats.reward.final_reward = (*r)[0];
  }
  absl::Status closed = session.Close();
  out.Close();
  return status.ok() ? closed : status;
}

}  // namespace tandem::decoding
