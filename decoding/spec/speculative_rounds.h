// The draft/verify round loop of speculative decoding (algorithms.md section
// 0, steps 1-5), shared by `speculative` (both sessions over the same prompt)
// and `rapid` (the drafter over the retrieved context, the target over the
// long one, knowledge transfer configured in the target session). The
// acceptance rule itself lives in the verify session, so this loop is the
// same for both.
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "decoding/ports/drafter.h"
#include "decoding/ports/verifier.h"
#include "decoding/ports/vocabulary.h"
#include "decoding/spec/gamma_controller.h"
#include "decoding/generation/output.h"

namespace tandem::decoding {

struct RoundOptions {
  // Overlap drafting with verification: every drafting Propose asks for one
  // token more than it verifies (a guess at the target's bonus token), and
  // while the target verifies a block, the drafter drafts the next one
  // assuming the whole block and the guess are accepted. When they are
  // (k = n and next_token = the guess), that proposal is the next round's
  // and its Propose cost is hidden behind the verification; otherwise the
  // drafter is rolled back (truncate_to) with the next delta. The target
  // verifies every token either way, so output is unchanged (greedy:
  // identical to target-only; sampling: lossless). Pays when draft and target
  // do not share compute (separate services, nodes, added round trips).
  bool overlap = false;
  // DraftOptions::staged_ngram of the drafter's session (staged speculation:
  // the draft model sped up by prompt lookup; output unchanged).
  int staged_ngram = 0;
  // DraftOptions::q_tail_mass of the drafter's session (sparse q rows;
  // output distribution unchanged).
  float q_tail_mass = 0.0f;
};

// Runs rounds until `out` is done (or cancelled / failed), then closes both
// sessions and `out`. `strategy` names the caller in internal errors. The
// first error wins: a failed round, else a failed Close.
//
// Losing the drafter does not fail the request (spec/peer_loss.h): when
// Propose answers UNAVAILABLE, the rest of the request runs as target-only
// rounds (Verify with no drafts) on the same target session from the
// committed position, and stats.fallback says why; greedy output is the same
// as an undisturbed run. `draft` may be null: the drafter was lost before
// the rounds (the caller set stats.fallback), every round is target-only.
absl::Status RunSpeculativeRounds(std::string_view strategy, DraftSession* draft, VerifySession& target,
                                  spec::GammaController& gamma, bool greedy, const Vocabulary& vocab,
                                  Output& out, spec::RequestStats& stats, const RoundOptions& options = {});

}  // namespace tandem::decoding
