// Lossless speculative sampling (algorithms.md section 0) against the
// Drafter and Verifier ports; the same code runs in process and over gRPC.
#pragma once

#include "absl/status/status.h"
#include "services/orchestrator/ports/drafter.h"
#include "services/orchestrator/ports/verifier.h"
#include "services/orchestrator/ports/vocabulary.h"
#include "services/orchestrator/strategies/generation.h"

namespace tandem::orchestrator {

absl::Status RunSpeculative(const GenerationRequest& request, Drafter& drafter, Verifier& verifier,
                            const Vocabulary& vocab, const StreamCallback& on_chunk,
                            GenerationResult* result);

}  // namespace tandem::orchestrator
