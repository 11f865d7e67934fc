// Draft length (gamma) per round: fixed, or adaptive, chosen to maximise the
// expected tokens per second from the recent acceptance rate, the measured
// costs of drafting and verifying, and the target's load.
//
// Acceptance. Each round is a run of Bernoulli trials: k accepted tokens out
// of n drafted means k successes and, if k < n, one failure. The controller
// keeps exponentially decayed counts of successes S and trials T (decay
// `ema_decay` per round, prior: `prior_alpha` over 2 pseudo-trials), so
// alpha = S / T estimates the per-token acceptance probability, and a round
// drafting g tokens yields E[tokens](g) = (1 - alpha^(g+1)) / (1 - alpha)
// (algorithms.md section 0).
//
// Cost of a round (ms). Drafting g tokens costs g * t_d, t_d the measured
// wall time of a Propose per drafted token. The target's forward pass is
// modelled as T(R) = W + c * R for R rows (positions) in the pass: W is what
// every pass pays whatever its size (streaming the weights, the RPC), c the
// cost of one more row. W and c are fitted by exponentially weighted least
// squares to the measured Verify wall times against R = B * (n + 1), where B
// is the number of sessions the target reports in the pass that served the
// call (VerifyResponse.batch_size) and n the drafted tokens sent: the other
// sessions are assumed to do what this one does (they run the same
// controller). While R barely varies, the fit cannot tell W from c, and the
// slope is shrunk toward the prior c = verify_cost * (W + c).
//
// Load. With B sessions sharing the pass, a round at gamma g costs
//     cost(g) = g * t_d + W + c * B * (g + 1)
// because each verified position of this session lengthens the shared pass
// for all B sessions in it: its cost to the deployment's aggregate throughput
// is B times its cost to this session. (Counting only this session's own
// rows would keep every session drafting under a full batch, where the extra
// rows are paid by everybody: a CPU pass over 16 sessions x 5 positions costs
// about five times one over 16 x 1.) At B = 1 and small c drafting is nearly
// free; as B grows the c * B * g term dominates and gamma shrinks to 0, a
// plain target step: no drafting at all, the pass shared by the B sessions.
//
// The controller picks the g in [min_gamma, max_gamma] maximising
// E[tokens](g) / cost(g); ties go to the smaller g. Before anything is
// measured (or with measure_costs = false) t_d = draft_cost, W = 1 -
// verify_cost, c = verify_cost (units of a one-token step), which at B = 1 is
// the fixed-cost rule 1 / (1 + g * (draft_cost + verify_cost)).
//
// Gamma 0 learns nothing about acceptance, so after `probe_every`
// consecutive rounds at 0 chosen for low acceptance the controller drafts one
// token (reason "probe"); gamma 0 chosen for load needs no probe, the load is
// reported by every Verify.
#pragma once

#include <string_view>

namespace tandem::decoding::spec {

// Largest draft length a request may ask for (GenerationRequest.gamma, params.gamma).
inline constexpr int kMaxGamma = 32;

struct GammaOptions {
  int gamma = 4;            // fixed gamma, and the adaptive starting point
  bool adaptive = false;
  int min_gamma = 0;        // 0: the controller may stop drafting (plain target steps)
  int max_gamma = 12;
  double ema_decay = 0.8;   // weight kept by the past per round (acceptance, load)
  double prior_alpha = 0.6;
  double draft_cost = 0.05;   // prior t_d / one target step; ~0 for the n-gram drafter
  double verify_cost = 0.02;  // prior c / one target step
  // Use measured Propose / Verify wall times; false keeps the prior costs
  // (reproducible choices, for tests), the reported load still counts.
  bool measure_costs = true;
  double cost_decay = 0.95;  // weight kept by the past per round (cost fit)
  int probe_every = 16;      // rounds at gamma 0 (low acceptance) between probes
};

// Why the controller is where it is (the `reason` label of tandem:spec_decode_gamma).
enum class GammaReason {
  kFixed,       // not adaptive: the request's gamma
  kAcceptance,  // the best gamma for the acceptance rate and measured costs, load not limiting
  kLoad,        // smaller than it would be with the target alone (B = 1)
  kProbe,       // one drafted token after a run of gamma 0, to re-measure acceptance
};
std::string_view GammaReasonName(GammaReason reason);

// One round as the round loop saw it.
struct GammaRound {
  int drafted = 0;         // tokens sent to Verify (n)
  int proposed = 0;        // tokens the Propose returned (>= drafted: EOS cuts the rest)
  int accepted = 0;        // of those, accepted (k)
  double draft_ms = -1;    // wall time of the Propose that drafted them; < 0: not measured
  double verify_ms = -1;   // wall time of the Verify; < 0: not measured
  int batch = 0;           // sessions in the target's pass (VerifyResult.batch_size); 0: unknown (1)
};

class GammaController {
 public:
  explicit GammaController(const GammaOptions& options);

  // The draft length for the next round.
  int gamma() const { return gamma_; }
  GammaReason reason() const { return reason_; }
  double alpha() const { return trials_ > 0 ? successes_ / trials_ : 0.0; }
  // Records a round (acceptance only; no timings, load unchanged).
  void Observe(int drafted, int accepted) { Observe(GammaRound{.drafted = drafted, .accepted = accepted}); }
  void Observe(const GammaRound& round);

  // The cost model as it stands (ms when measured, else units of a step).
  double draft_ms_per_token() const;
  double pass_fixed_ms() const;  // W
  double row_ms() const;         // c
  double load() const { return load_; }  // B, smoothed
  // E[tokens](g) / cost(g) at load b under the current estimates.
  double ExpectedRate(int g, double b) const;

 private:
  int Best(double b) const;
  void Choose();

  GammaOptions options_;
  double successes_, trials_;
  double load_ = 1;
  // Cost fit (exponentially weighted sums).
  bool load_measured_ = false;
  bool draft_measured_ = false;
  double draft_ms_ = 0;
  double w_ = 0, wx_ = 0, wy_ = 0, wxx_ = 0, wxy_ = 0;  // weights, sums of x, y, x^2, x*y
  int zero_rounds_ = 0;  // consecutive rounds at gamma 0 for acceptance
  int gamma_;
  GammaReason reason_;
};

}  // namespace tandem::decoding::spec
