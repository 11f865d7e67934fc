// The target-likelihood process reward: how likely the target model finds a
// step (RSD) or segment (CARDS) that another model, or the target's own
// proposal, wrote. Selected per request with the reward backend name
// "target_likelihood" (rsd: prm=target_likelihood, cards:
// reward=target_likelihood); it needs no reward scorer, only the target
// (VerifySession::AppendScored), so it works in process and in a remote
// deployment without a reward service.
//
//   score(step) = exp( (1/n) sum_i log p_target(t_i | prompt + previous steps + t_<i) )
//
// the geometric mean of the target's token probabilities over the step's n
// tokens, in (0, 1] (temperature 1, full vocabulary, the request's sampling
// settings not applied). It is on the judge's [0, 1] scale, so RSD's δ and
// CARDS' r* keep their meaning as thresholds: δ = 0.5 keeps a step whose
// tokens the target gives probability 0.5 on (geometric) average, i.e. a
// mean log-probability of log 0.5 = -0.69 nats per token. An empty token
// sequence scores 1 (nothing the target finds unlikely).
//
// Cost: one parallel target forward over the step's tokens on the
// strategy's own target session, whose KV already holds the prefix; the
// strategies count it as a reward call (stats.reward) and in
// stats.flops.prm = 2 x target parameters x scored tokens.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "decoding/ports/reward_scorer.h"
#include "decoding/ports/verifier.h"
#include "decoding/spec/request_stats.h"

namespace tandem::decoding {

inline constexpr char kTargetLikelihoodBackend[] = "target_likelihood";

inline bool IsTargetLikelihood(const RewardSpec& spec) { return spec.backend == kTargetLikelihoodBackend; }

// INVALID_ARGUMENT for options the backend does not take: it has none
// besides "delimiter" (RSD sets it; ignored, the strategy finds the steps).
absl::Status ValidateTargetLikelihoodSpec(const RewardSpec& spec, const char* param);

// exp(mean(log_probs)), 1 for an empty span.
double TargetLikelihoodScore(std::span<const float> log_probs);

// S := S + tokens on `session` (one target forward) and returns the score of
// `tokens`. Counted in `stats` as one reward call of one item (time
// included); the caller adds the FLOPs. On error S is unchanged; an
// OutOfRange / ResourceExhausted means the context / KV budget is full.
absl::StatusOr<double> AppendTargetLikelihood(VerifySession& session, std::span<const int32_t> tokens,
                                              spec::RequestStats* stats);

}  // namespace tandem::decoding
