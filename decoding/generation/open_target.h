// The target session a logprobs-reporting strategy generates from, opened on
// the request's prompt. With GenerationRequest::prompt_logprobs the prompt
// also gets scored, in the same pass that prefills it: the session opens on
// the first prompt token alone and the rest goes in through
// AppendScoredWithAlternatives, whose forward over those tokens both fills
// the KV cache and yields each token's log-probability, leaving the session
// where Open(prompt) would (the row after the prompt kept for the first
// step). So an echo request costs the prompt's output-head rows, not a
// second prefill.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "decoding/generation/generation.h"
#include "decoding/generation/output.h"
#include "decoding/ports/verifier.h"

namespace tandem::decoding {

// Opens the target for `request` with its logprobs options; with
// prompt_logprobs, hands the prompt's scores to `out`. On error nothing is
// left open.
absl::StatusOr<std::unique_ptr<VerifySession>> OpenTarget(Verifier& verifier, const GenerationRequest& request,
                                                          Output& out);

}  // namespace tandem::decoding
