// CARDS: cascade reward sampling (algorithms.md section 3; arXiv 2406.16306).
//
// Segment-level rejection sampling against the Verifier and RewardScorer
// ports. A segment is sampled token by token from the top-k of
// softmax(z / beta) and ends before the first position (after min_segment
// tokens) whose next-token entropy at temperature 1 reaches tau_u, or at
// max_segment tokens. The whole response so far plus the segment is scored;
// the segment is accepted against a threshold that ramps linearly from
// r0 = (1 - alpha) R(x) + alpha r* to r* over L_max = max_tokens, softly
// (probability min(1, exp((r - tau) / beta))) or hard (r >= tau). A rejected
// segment is rolled back with VerifySession::Truncate, so the accepted
// prefix is never recomputed; after max_rejections rejections the best of
// the candidates is accepted.
//
// Difference from the reference implementation: it has no end-of-generation
// stop and always runs to L_max. Here a segment ends at an end-of-generation
// token and an accepted segment that ends with one finishes the response
// (stop_at_eos = true, the default); stop_at_eos = false reproduces the
// reference (end-of-generation tokens are then emitted like any other). A
// segment that completes the response must reach r* itself
// (eos_threshold_r_star, see below).
#pragma once

#include <limits>
#include <optional>

#include "absl/status/status.h"
#include "decoding/ports/reward_scorer.h"
#include "decoding/ports/verifier.h"
#include "decoding/ports/vocabulary.h"
#include "decoding/generation/generation.h"

namespace tandem::decoding {

struct CardsOptions {
  RewardSpec reward;
  // Target reward r*, on the reward backend's scale; -inf disables
  // rejection in hard mode (every segment is accepted).
  double r_star = 0.8;  // the judge backend scores P(yes) in [0, 1]
  // When set: r* is calibrated per request as this quantile (0..1) of the
  // rewards of `calibration_samples` responses the policy samples itself
  // (same proposal distribution, up to max_tokens each, sharing the prompt's
  // KV via Fork). Costs calibration_samples * max_tokens target calls at most
  // and one reward call of calibration_samples items.
  std::optional<double> r_star_quantile;
  int calibration_samples = 4;
  double alpha = 0.5;         // weight of r* in r0
  double beta = 0.7;          // proposal temperature and soft-acceptance temperature
  // Soft-acceptance temperature when it must differ from beta: beta is
  // calibrated for a reward model whose scores spread over several units
  // (the paper's); on a [0, 1] reward exp((r - tau) / 0.7) accepts almost
  // everything. Unset = beta (the spec).
  std::optional<double> accept_beta;
  double acceptance_beta() const { return accept_beta.value_or(beta); }
  double tau_u = 3.0;         // segment boundary entropy, nats
  int top_k = 40;             // proposal candidates per token
  int min_segment = 4;
  int max_segment = 64;
  int max_rejections = 20;
  bool hard = false;          // hard acceptance r >= tau instead of soft
  bool stop_at_eos = true;
  // With stop_at_eos: a segment that ends the response with an
  // end-of-generation token is held to r* (the threshold at L_max) instead of
  // the ramp's value at its length. The ramp's low early thresholds are meant
  // for partial responses, whose rewards are still growing; without this a
  // short, finished, low-reward response passes them. false = the ramp for
  // every segment (the spec read literally).
  bool eos_threshold_r_star = true;
  // Parameter count of the target, for stats.flops.prm of the
  // target-likelihood reward (set by the strategy from the deployment; 0 =
  // unknown, that estimate is then 0).
  double target_parameters = 0;

  // InvalidArgument naming the parameter (params.<name>).
  absl::Status Validate() const;
};

// tau = min(r*, r0 + length * (r* - r0) / l_max), -inf when r* is -inf.
double CardsThreshold(double r0, double r_star, int64_t length, int64_t l_max);
// r0 = (1 - alpha) R(x) + alpha r* (alpha = 0 or 1 pick one term exactly,
// so an infinite r* never meets a zero weight).
double CardsInitialReward(double prompt_reward, double r_star, double alpha);
// Linear-interpolation quantile q in [0, 1] of `values` (non-empty).
double Quantile(std::vector<float> values, double q);

// Runs CARDS. The request's sampling seed drives all randomness (proposal
// and acceptance use independent streams); its temperature and truncation
// are not used: proposals sample from top_k of softmax(z / beta).
//
// reward=target_likelihood (reward_guided/target_likelihood.h): a candidate
// segment's reward is exp(mean target log-probability of its tokens) given
// x + y, in (0, 1]: the session is rolled back to x + y and the segment
// forwarded again in one parallel pass (stats.flops.prm = 2 x
// target_parameters x those tokens). R(x) of the empty response is 1, so
// with r* <= 1 the threshold is r* throughout; r_star=auto:<q> scores the
// calibration responses the same way on their forks; final_reward is the last
// accepted segment's score (a stop-string cut is not re-scored). `reward`
// may then be null (FAILED_PRECONDITION otherwise).
absl::Status RunCards(const GenerationRequest& request, const CardsOptions& options, Verifier& verifier,
                      RewardScorer* reward, const Vocabulary& vocab, const StreamCallback& on_chunk,
                      GenerationResult* result);
inline absl::Status RunCards(const GenerationRequest& request, const CardsOptions& options, Verifier& verifier,
                             RewardScorer& reward, const Vocabulary& vocab, const StreamCallback& on_chunk,
                             GenerationResult* result) {
  return RunCards(request, options, verifier, &reward, vocab, on_chunk, result);
}

}  // namespace tandem::decoding
