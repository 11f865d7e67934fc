// ARGS: reward-guided search (algorithms.md section 4; ICLR 2024), a
// baseline for CARDS. Per token: the target's top_k raw logits z_v; each
// candidate response y + v is scored by the reward model (all k in one
// reward call); s_v = z_v + w * R(x, y + v); the token is argmax s (greedy)
// or drawn from softmax(s / tau) among the k candidates. Raw logits, not
// probabilities (softmax is shift-invariant, so log-softmax gives the same).
#pragma once

#include "absl/status/status.h"
#include "decoding/ports/reward_scorer.h"
#include "decoding/ports/verifier.h"
#include "decoding/ports/vocabulary.h"
#include "decoding/generation/generation.h"

namespace tandem::decoding {

struct ArgsOptions {
  RewardSpec reward;
  int top_k = 10;      // candidates per token, 1..256
  double w = 1.0;      // reward weight
  double tau = 0.7;    // sampling temperature (sample mode)
  bool greedy = true;  // mode: greedy argmax or sample

  absl::Status Validate() const;
};

// The request's seed drives sample mode; its temperature and truncation
// are not used (tau and top_k are).
absl::Status RunArgs(const GenerationRequest& request, const ArgsOptions& options, Verifier& verifier,
                     RewardScorer& reward, const Vocabulary& vocab, const StreamCallback& on_chunk,
                     GenerationResult* result);

}  // namespace tandem::decoding
