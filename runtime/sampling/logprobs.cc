#include "runtime/sampling/logprobs.h"

#include <algorithm>
#include <cmath>

#include "kernels/cpu/ops.h"
#include "runtime/sampling/top_k.h"

namespace tandem::runtime {

float LogprobScorer::Score(std::span<const float> logits, int32_t token, int top_n, std::vector<TokenLogprob>* top) {
  const auto n = static_cast<int64_t>(logits.size());
  // log Z = max + log sum exp(l - max): every exponent <= 0, through the
  // vector exponential (kernels/cpu/ops.h). Paid only by requests that ask
  // for logprobs: over Qwen's 151936 logits 124 us a token, 130-138 us with
  // 1-20 alternatives (TopKValues' filtered scan: 10-14 us, where a
  // comparison per id cost 277-287 us), best of 50 calls of a throwaway
  // driver on normal(0, 3) logits, Sapphire Rapids VM, 2026-12-06; ~1 % of
  // the 1.5B's decode step.
  const float max_logit = logits[static_cast<size_t>(kernels::Argmax(logits.data(), n))];
  scratch_.resize(logits.size());
  const double z = kernels::ExpSum(logits.data(), max_logit, 1.0f, scratch_.data(), n);
  const double log_z = static_cast<double>(max_logit) + std::log(z);
  const auto logprob = [&](int32_t id) { return static_cast<float>(static_cast<double>(logits[id]) - log_z); };
  if (top != nullptr) {
    top->clear();
    TopKValues(logits, static_cast<size_t>(std::clamp(top_n, 0, kMaxTopLogprobs)), top_ids_);
    for (int32_t id : top_ids_) top->push_back({id, logprob(id)});
  }
  return logprob(token);
}

}  // namespace tandem::runtime
