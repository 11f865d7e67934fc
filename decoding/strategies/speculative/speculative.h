// Lossless speculative sampling (algorithms.md section 0) against the
// Drafter and Verifier ports; the same code runs in process and over gRPC.
#pragma once

#include "absl/status/status.h"
#include "decoding/ports/drafter.h"
#include "decoding/ports/verifier.h"
#include "decoding/ports/vocabulary.h"
#include "decoding/generation/generation.h"
#include "decoding/spec/gamma_controller.h"
#include "decoding/spec/speculative_rounds.h"

namespace tandem::decoding {

// `costs` (may be null): the deployment's measured draft/verify costs and
// load, shared by its requests (spec/gamma_controller.h); null: this request
// measures its own. `rounds`: RoundOptions (overlap of drafting with
// verification).
absl::Status RunSpeculative(const GenerationRequest& request, Drafter& drafter, Verifier& verifier,
                            const Vocabulary& vocab, const StreamCallback& on_chunk,
                            GenerationResult* result, spec::SpeculationCosts* costs = nullptr,
                            const RoundOptions& rounds = {});

}  // namespace tandem::decoding
