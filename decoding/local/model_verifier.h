// In-process Verifier over a LanguageModel (the target).
//
// KV invariant per session: the cache holds S minus its last token; that
// token is fed again at the start of the next Verify together with the
// drafted tokens, so one forward pass over [s_last, d_1..d_n] yields exactly
// the rows p_1..p_{n+1} (row i = distribution after s_last, d_1..d_i). After
// the verdict the cache is truncated to S + d_1..d_k, and the new S ends with
// the (not yet cached) next token. No position is ever computed twice.
// Append (teacher forcing) keeps that invariant unless it reports next-token
// info: then the whole S is cached and the last logits row is kept, so the
// following Verify/Append starts from it instead of recomputing it. Truncate
// crops the cache only; Fork shares it copy-on-write (LmSequence::Fork).
#pragma once

#include <cstddef>
#include <memory>

#include "decoding/local/language_model.h"
#include "decoding/ports/verifier.h"
#include "decoding/spec/acceptance.h"

namespace tandem::decoding {

class ModelVerifier : public Verifier {
 public:
  // `model` must outlive the verifier and its sessions. `accept` replaces the
  // lossless rule for temperature > 0 (tests inject broken rules to prove the
  // distribution test can fail); greedy sessions always use GreedyAccept.
  explicit ModelVerifier(LanguageModel& model, spec::AcceptFn accept = spec::SpeculativeAccept)
      : model_(model), accept_(std::move(accept)) {}

  absl::StatusOr<std::unique_ptr<VerifySession>> Open(std::span<const int32_t> prompt,
                                                      const runtime::SamplingParams& params,
                                                      const VerifyOptions& options) override;

 private:
  LanguageModel& model_;
  spec::AcceptFn accept_;
};

// VerifySession::AppendScored scores its tokens this many per forward: the
// vocabulary rows it holds at once (128 Qwen rows: 78 MB). Fewer forwards
// stream the weights fewer times: scoring a Qwen 1.5B prompt (echo's prompt
// logprobs) took 1.23-1.36x a plain prefill's time to first token at 128
// rows and 1.34-1.57x at 64 (best of 3, bench/orchestrator/
// prompt_logprobs_cost.py); 256 was not clearly faster than 128.
inline constexpr size_t kScoredRowsPerForward = 128;

// Next-token info from one raw logits row (exposed for the tests and the
// target service): entropy of softmax(logits) in nats, and the top_k ids by
// logit, best first (ties: lower id first).
NextTokenInfo NextTokenFromLogits(std::span<const float> logits, int top_k);

// Random stream ids: the target's and the drafter's generators are split
// from the request seed so that they are independent and reproducible.
inline constexpr uint64_t kTargetRngStream = 0x7461726765ULL;  // "targe"
inline constexpr uint64_t kDraftRngStream = 0x6472616674ULL;   // "draft"

}  // namespace tandem::decoding
