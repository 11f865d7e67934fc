// RSD: reward-guided speculative decoding (arXiv 2501.19324; spec in
// docs/algorithms.md section 2). Step level and lossy by design:
// the draft writes a step (text up to the delimiter, default "\n\n"), a
// process reward model scores it, and the step is kept if ω(r) accepts;
// otherwise the target writes that step instead (not re-scored).
//
// Sessions live across steps, nothing is prefilled twice:
// - draft: one DraftSession. A step is drafted in chunks of `draft_chunk`
//   tokens; each Propose keeps what the previous chunk contributed
//   (accepted = tokens used), tokens drafted past the step's end are dropped.
//   After a rejection the next Propose carries truncate_to = |prompt + y|
//   (undoing the rejected step, whose chunks were already committed) and
//   append = the target's step, which the draft forwards lazily with its
//   next drafting forward.
// - target: one VerifySession, opened lazily at the first rejected step on
//   prompt + y (a target never needed costs nothing). Accepted draft steps
//   are queued and teacher-forced (Append) only when the target next has to
//   write a step; the target writes with Verify({}) one token at a time.
//
// Step splitting is done on text: each step's tokens go through a fresh
// TokenDecoder of the target's vocabulary and the step ends with the token
// whose text completes the first occurrence of the delimiter. A token is
// never split: when its text goes on past the delimiter (".\n\n", "\n\n\n",
// "\n\nThe"), the whole token belongs to the step that it ends, the PRM sees
// the text before the first delimiter as that step, and the text after that
// delimiter (and after further delimiters right behind it) starts the next
// step's text: "\n\n\n" carries "\n" over, "\n\nThe" carries "The", and a
// run of delimiters in one token makes no empty steps. An end-of-generation token ends its step and the generation; it has
// no text. A draft step that reaches step_max_tokens without a delimiter is
// unfinished: it is not scored (the PRM closes every step with the
// delimiter) and the target writes that step instead; a target step cut
// there continues as the next step's text. "Discarded" draft tokens are the
// tokens of rejected (or cut) draft steps; tokens drafted past a step's end
// are dropped without counting as a rejection.
//
// Stop rules (spec step 5): end-of-generation inside the chosen step,
// max_tokens (a step is capped by the tokens left), the context window or KV
// budget (kContextLength), max_steps (kLength), a stop string.
//
// FLOPs estimate (stats.flops_*): 2 x parameters x tokens forwarded per model,
// the usual dense-transformer approximation (attention's context-dependent
// term ignored):
//   draft  = prompt + every drafted token (kept, rejected, and drafted past a
//            step's end) + target-written tokens teacher-forced into it
//   target = prompt + y when first opened + queued draft steps appended later
//            + the tokens it generated
//   prm    = for every scored step, the full prefix prompt + y + step (the
//            spec's accounting: one full-prefix forward per step; the reward
//            service's prefix cache does much less work), counted in the
//            policy's tokens since the PRM's own tokenization and judging
//            template are not visible through the RewardScorer port.
//            With prm=target_likelihood: the step's tokens only, at the
//            target's parameter count (prm_parameters ignored): the target
//            scores on its own session, whose KV holds the prefix.
//
// prm=target_likelihood (reward_guided/target_likelihood.h): the reward of a
// draft step is exp(mean target log-probability of its tokens) given prompt +
// y, from one parallel forward of the step on the target's VerifySession,
// which is then opened with the draft (prompt prefilled) rather than at the
// first rejection. A kept step is already in the target's KV (nothing is
// queued); a rejected one is truncated away before the target writes the
// step. No reward scorer is called (`prm` may be null).
#pragma once

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "decoding/ports/drafter.h"
#include "decoding/ports/reward_scorer.h"
#include "decoding/ports/verifier.h"
#include "decoding/ports/vocabulary.h"
#include "decoding/generation/generation.h"

namespace tandem::decoding {

// The acceptance weight ω(r) of the paper.
enum class RsdOmega {
  kBinary,     // 1(r >= δ) (the default; optimal under a budget on target calls)
  kConstant,   // p = omega_constant, whatever r
  kClipping,   // min(1, max(0, r))
  kSigmoidal,  // r / (1 + r) for r >= 0, else 0
  kLogistic,   // 1 / (1 + exp(-α (r - δ)))
};

struct RsdOptions {
  double delta = 0.7;  // δ
  RsdOmega omega = RsdOmega::kBinary;
  double omega_constant = 0.5;   // p of kConstant, [0, 1]
  double logistic_alpha = 10.0;  // α of kLogistic, > 0
  // true: keep the step with probability ω(r), drawn from the request's
  // seeded generator. false: keep it iff ω(r) = 1, i.e. r >= δ; only valid
  // with kBinary (ValidateRsdOptions: INVALID_ARGUMENT otherwise, since a
  // thresholded non-binary ω silently becomes draft- or target-only).
  // Unset: false for kBinary, true for every other ω.
  std::optional<bool> stochastic;
  RewardSpec prm;                // PRM backend and options ("delimiter" is set from `delimiter`)
  std::string delimiter = "\n\n";
  int max_steps = 100;           // 1..
  int step_max_tokens = 256;     // 1..
  int draft_chunk = 8;           // tokens per Propose while drafting a step, 1..64
  // Parameter counts for the FLOPs estimate; 0 = unknown (that share is 0).
  double draft_parameters = 0;
  double target_parameters = 0;
  double prm_parameters = 0;
};

// INVALID_ARGUMENT naming the offending option.
absl::Status ValidateRsdOptions(const RsdOptions& options);
// ω(r).
double RsdOmegaWeight(const RsdOptions& options, double reward);
// The enum from its catalog name ("binary", "constant", "clipping",
// "sigmoidal", "logistic"), INVALID_ARGUMENT otherwise.
absl::Status ParseRsdOmega(const std::string& name, RsdOmega* out);

// `vocab` must have a decoder (steps are found in text). The question given
// to the PRM is request.prompt_text, or the decoded prompt when empty. `prm`
// may be null only with prm=target_likelihood (FAILED_PRECONDITION otherwise).
absl::Status RunRsd(const GenerationRequest& request, const RsdOptions& options, Drafter& drafter,
                    Verifier& verifier, RewardScorer* prm, const Vocabulary& vocab,
                    const StreamCallback& on_chunk, GenerationResult* result);
inline absl::Status RunRsd(const GenerationRequest& request, const RsdOptions& options, Drafter& drafter,
                           Verifier& verifier, RewardScorer& prm, const Vocabulary& vocab,
                           const StreamCallback& on_chunk, GenerationResult* result) {
  return RunRsd(request, options, drafter, verifier, &prm, vocab, on_chunk, result);
}

}  // namespace tandem::decoding
