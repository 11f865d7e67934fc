// Best-of-N baseline: N complete responses sampled from the target with the
// request's sampling parameters, each in a fork of the prompt's session
// (the prompt is prefilled once, its KV shared copy-on-write) on its own
// thread (`parallel` at once, so a batching target decodes them in shared
// forward passes), all N scored in one reward call, the highest-scoring one
// returned. Nothing streams until the choice is made: the chosen response
// arrives as one chunk.
#pragma once

#include "absl/status/status.h"
#include "decoding/ports/reward_scorer.h"
#include "decoding/ports/verifier.h"
#include "decoding/ports/vocabulary.h"
#include "decoding/generation/generation.h"

namespace tandem::decoding {

struct BestOfNOptions {
  RewardSpec reward;
  int n = 4;  // responses sampled, 1..64
  // Forks sampled at once, 1..kMaxParallel: each on its own thread, so a
  // batching target decodes them in shared forward passes. 1 = one after
  // another. The result does not depend on it (batching is bit-exact).
  int parallel = 16;
  static constexpr int kMaxParallel = 16;

  absl::Status Validate() const;
};

// Sample i uses the fork seed i of the request seed's fork stream, so the N
// responses differ and a request is reproducible. Ties go to the lowest i.
absl::Status RunBestOfN(const GenerationRequest& request, const BestOfNOptions& options, Verifier& verifier,
                        RewardScorer& reward, const Vocabulary& vocab, const StreamCallback& on_chunk,
                        GenerationResult* result);

}  // namespace tandem::decoding
