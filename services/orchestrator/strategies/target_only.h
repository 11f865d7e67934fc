// Baseline: every token from the target alone (one Verify with no drafts per
// token). The speculative strategy must reproduce its output distribution.
#pragma once

#include "absl/status/status.h"
#include "services/orchestrator/ports/verifier.h"
#include "services/orchestrator/ports/vocabulary.h"
#include "services/orchestrator/strategies/generation.h"

namespace tandem::orchestrator {

absl::Status RunTargetOnly(const GenerationRequest& request, Verifier& verifier,
                           const Vocabulary& vocab, const StreamCallback& on_chunk,
                           GenerationResult* result);

}  // namespace tandem::orchestrator
