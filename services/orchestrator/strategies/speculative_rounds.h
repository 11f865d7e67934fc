// The draft/verify round loop of speculative decoding (algorithms.md section
// 0, steps 1-5), shared by `speculative` (both sessions over the same prompt)
// and `rapid` (the drafter over the retrieved context, the target over the
// long one, knowledge transfer configured in the target session). The
// acceptance rule itself lives in the verify session, so this loop is the
// same for both.
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "services/orchestrator/ports/drafter.h"
#include "services/orchestrator/ports/verifier.h"
#include "services/orchestrator/ports/vocabulary.h"
#include "services/orchestrator/spec/gamma_controller.h"
#include "services/orchestrator/strategies/output.h"

namespace tandem::orchestrator {

// Runs rounds until `out` is done (or cancelled / failed), then closes both
// sessions and `out`. `strategy` names the caller in internal errors. The
// first error wins: a failed round, else a failed Close.
absl::Status RunSpeculativeRounds(std::string_view strategy, DraftSession& draft, VerifySession& target,
                                  spec::GammaController& gamma, bool greedy, const Vocabulary& vocab,
                                  Output& out, spec::RequestStats& stats);

}  // namespace tandem::orchestrator
