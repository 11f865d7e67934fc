// Baseline: every token from the target alone (one Verify with no drafts per
// token). The speculative strategy must reproduce its output distribution.
#pragma once

#include "absl/status/status.h"
#include "decoding/ports/verifier.h"
#include "decoding/ports/vocabulary.h"
#include "decoding/generation/generation.h"

namespace tandem::decoding {

absl::Status RunTargetOnly(const GenerationRequest& request, Verifier& verifier,
                           const Vocabulary& vocab, const StreamCallback& on_chunk,
                           GenerationResult* result);

}  // namespace tandem::decoding
