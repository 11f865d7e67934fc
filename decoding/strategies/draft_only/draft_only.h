// Baseline: every token from the draft model alone (RSD's δ = 0 end point).
//
// It runs on the Drafter port, not on a Verifier over the draft model: each
// Propose(accepted = all of the previous proposal, chunk) continues the draft
// session, which works the same in process and against a remote Draft
// service (no Target API on the draft side needed), and samples exactly as
// RSD's draft steps do (same session type, same random stream), so RSD with
// δ = 0 reproduces it token for token. The drafter must be a model drafter:
// the n-gram drafter proposes nothing without a repeat and is not a model.
#pragma once

#include "absl/status/status.h"
#include "decoding/ports/drafter.h"
#include "decoding/ports/vocabulary.h"
#include "decoding/generation/generation.h"

namespace tandem::decoding {

struct DraftOnlyOptions {
  int chunk = 16;                // tokens per Propose (one round trip), 1..64
  double draft_parameters = 0;   // for the FLOPs estimate; 0 = unknown
};

absl::Status RunDraftOnly(const GenerationRequest& request, const DraftOnlyOptions& options, Drafter& drafter,
                          const Vocabulary& vocab, const StreamCallback& on_chunk, GenerationResult* result);

}  // namespace tandem::decoding
