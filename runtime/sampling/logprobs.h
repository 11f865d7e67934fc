// Log-probabilities as a client asks for them (OpenAI's and vLLM's
// `logprobs`): under the model's own distribution, the softmax of the raw
// logits at temperature 1, before any penalty or truncation. Not the
// processed p a token was sampled from: greedy p is one-hot, so every
// greedy token would report 0, which says nothing about the model's
// confidence.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace tandem::runtime {

struct TokenLogprob {
  int32_t token = -1;
  float logprob = 0;  // natural log
  bool operator==(const TokenLogprob&) const = default;
};

// Most tokens a request may ask alternatives for (OpenAI's top_logprobs cap).
inline constexpr int kMaxTopLogprobs = 20;

// Scores rows of raw logits; keeps its scratch between calls (one per
// session: not thread-safe).
class LogprobScorer {
 public:
  // log softmax(logits)[token], and the top_n most likely ids of the row
  // with theirs in *top (best first; equal logits by lower id), top_n in
  // [0, kMaxTopLogprobs]. `logits` must be finite (the sampler has checked).
  float Score(std::span<const float> logits, int32_t token, int top_n, std::vector<TokenLogprob>* top);

 private:
  std::vector<float> scratch_;
  std::vector<int32_t> top_ids_;
};

}  // namespace tandem::runtime
