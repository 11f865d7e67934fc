// Draft length (gamma) per round: fixed, or adaptive following the recent
// acceptance rate.
//
// Adaptive rule. Each round is a run of Bernoulli trials: k accepted tokens
// out of n drafted means k successes and, if k < n, one failure. The
// controller keeps exponentially decayed counts of successes S and trials T
// (decay `ema_decay` per round, prior: `prior_alpha` over 2 pseudo-trials),
// so alpha = S / T estimates the per-token acceptance probability. It then
// picks the gamma in [min_gamma, max_gamma] maximising the expected speed-up
// of algorithms.md section 0,
//     E[tokens per round] / cost(gamma) = (1 - alpha^(gamma+1)) / (1 - alpha)
//                                         / (1 + gamma * (c_draft + c_verify)),
// where c_draft is the cost of one draft step and c_verify the marginal cost
// of one more verified position, both relative to a one-token target step.
// With alpha -> 1 this tends to max_gamma, with alpha -> 0 to min_gamma; ties
// go to the smaller gamma.
#pragma once

namespace tandem::decoding::spec {

// Largest draft length a request may ask for (GenerateRequest.gamma, params.gamma).
inline constexpr int kMaxGamma = 32;

struct GammaOptions {
  int gamma = 4;            // fixed gamma, and the adaptive starting point
  bool adaptive = false;
  int min_gamma = 1;
  int max_gamma = 12;
  double ema_decay = 0.8;   // weight kept by the past per round
  double prior_alpha = 0.6;
  double draft_cost = 0.05;   // c_draft; ~0 for the n-gram drafter
  double verify_cost = 0.02;  // c_verify
};

class GammaController {
 public:
  explicit GammaController(const GammaOptions& options);

  int gamma() const { return gamma_; }
  double alpha() const { return trials_ > 0 ? successes_ / trials_ : 0.0; }
  // Records a round with `drafted` tokens of which `accepted` were kept.
  void Observe(int drafted, int accepted);

 private:
  int Best() const;

  GammaOptions options_;
  double successes_, trials_;
  int gamma_;
};

}  // namespace tandem::decoding::spec
