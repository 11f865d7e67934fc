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
// Cost of a round (ms). Drafting g tokens costs D0 + g * t_d, fitted like
// the pass below to the measured Propose wall times against the tokens
// proposed: D0 is what any drafting round pays (the RPC, waking the drafter,
// caches the other model evicted), which makes a round of 1 or 2 drafted
// tokens worse than either none or several. The target's forward pass is
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
//     cost(g) = [g > 0] * D0 + g * t_d + W + c * B * (g + 1)
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
// Costs and load belong to the deployment, not to a request: with a
// SpeculationCosts shared by all requests (GenerationPorts::speculation_costs)
// every session's rounds refine one fit per drafter, and a new request starts
// from what the deployment has measured instead of from the priors (a
// 48-token request has ~20 rounds, too few to learn them alone). Acceptance
// depends on the prompt and is learned per request, but starts from the
// drafter's recent acceptance in the deployment instead of prior_alpha (a
// request whose prior made gamma 0 look best waited probe_every rounds
// before it drafted at all). Until a request has drafted once, it drafts at
// most its own gamma: the deployment's acceptance can come from a few easy
// rounds (an 8-token warm-up accepted everything), and with alpha near 1 the
// model chose max_gamma = 12 for a first round that then accepted 2 of 14
// (bench/results/load_adaptive/20261204T034356Z).
//
// Which sessions count. B in cost(g) is the number of sessions open on the
// target (VerifyResponse.active_sessions), when the target reports it, not
// the number in the pass that served this call: a session that is drafting
// misses the pass, so counting the pass let drafting lower the very load it
// was judged by (4 streams on 2 cores kept drafting at gamma 2-8 because each
// pass held 1-2 of them, bench/results/load_adaptive/20261203T210528Z). The
// pass fit above still counts the sessions in the pass (R).
//
// Shared processors. When the drafter runs on the target's processors (an
// all-in-one deployment, or draft and target services on one CPU host:
// draft_shares_compute), a drafted token's time is not only this session's:
// the target's shared pass cannot run while the processors draft, so with B
// sessions it delays all of them, like a verified row:
//     cost(g) = B * ([g > 0] * D0 + g * t_d) + W + c * B * (g + 1)
// At B = 1 this is the rule above; under load drafting stops sooner (drafting
// for 16 sessions on 2 cores took the time of the very pass it was meant to
// shorten: bench/speculative/load_adaptive.py, docs/benchmarks.md).
//
// Drafting under load. The Propose times fitted as t_d and D0 are those
// measured while the target held this session alone; under load a Propose
// also waits for the processors the other sessions' passes and drafts use,
// and its drafting preempts the target's multi-threaded pass, which then
// waits for its slowest thread. Those rounds are fitted separately, and at
// a load B > 1.5 a round's drafting costs its loaded Propose time (times B on
// the target's processors, as above) instead of D0 + g * t_d. Charging the
// alone times under load kept 16 streams on 2 cores drafting one round in
// ten and five (docs/benchmarks.md, runs 235652Z..001516Z, 0.75-0.81x
// target-only); charging what drafting took under load stops it there
// without touching the alone estimate.
//
// Measured against plain steps. The model above is fitted from rounds whose
// costs it can see; what it cannot see (threads of two models oversubscribing
// the same cores, caches evicted by the other model, passes waiting for
// sessions that draft) made 4 streams on 2 cores keep drafting at a 12 %
// loss (bench/results/load_adaptive/20261204T002435Z: gamma 1-12 chosen,
// fixed gamma 4 itself at 0.95x target-only). So the fit also keeps, per
// load (the target's open sessions, 2..kMaxRateLoad), the realized rate of
// each kind of round: tokens committed per ms of its Propose + Verify wall
// time, for plain rounds and for drafting rounds (a drafting round's time
// includes the Propose's catch-up prefill of tokens committed while it did
// not draft: a real cost of resuming drafting that the drafting-cost fit
// leaves out). When both were measured at the current load and plain rounds
// were faster, the controller takes plain steps whatever the model says
// (reason "load"). The drafting rate is re-measured by letting the model's
// choice through once the deployment has taken probe_every * load plain
// rounds at that load since its last drafting round there: about one
// drafting round per probe_every rounds of each session, counted for the
// deployment so that sessions do not each pay a catch-up prefill to probe. Alone (load < 1.5) the model decides: nothing else shares
// the processors, so what it fits is what a round costs. While the model drafts at a load where no plain
// round was measured, every `probe_every`-th round is a plain one (reason
// "probe"), so that the comparison can start.
//
// Catching up. A drafter that did not draft for a while (rounds at gamma 0,
// or a session opened lazily by its first drafting round) must first
// prefill what it missed: the whole prompt, for a request kept at gamma 0
// from its start. At 4 streams on 2 cores requests drafted a few rounds late
// in their 48 tokens, each paying a prefill of ~80 tokens on the processors
// the target's pass needed. So before such a round the round loop asks
// CatchUpPays: the model's time saved per token by drafting (1 / rate(0) -
// 1 / rate(gamma) at the current load) times the tokens left must exceed the
// catch-up's cost, its tokens times the measured ms per caught-up token (a
// catch-up Propose's time beyond the drafting the fit predicts for it;
// before any, a quarter of a drafted token's time), times the load when the
// drafter shares the target's processors. Otherwise the round is plain
// (reason "prefill"). Probes are exempt: they draft to measure acceptance.
//
// Exploring. With nothing measured (a fresh deployment, or `tandem generate`
// in one process) a request's acceptance starts from prior_alpha at two
// trials' weight, and one early rejection at gamma 1 put it below what
// drafting needs: the request then stayed at gamma 0 with a one-token probe
// per 17 rounds, losing to fixed gamma 4 (0.97x vs 1.05x target-only on
// the Qwen pair, docs/benchmarks.md). So until the request's rounds judged
// min_acceptance_trials drafted tokens (accepted ones, plus one per
// rejection: the estimate's own trials), gamma 0 for acceptance becomes the
// request's gamma instead (reason "probe"). Not under load, and not when the
// deployment seeded the estimate: there the acceptance was measured.
//
// Gamma 0 learns nothing about acceptance, so after `probe_every`
// consecutive rounds at 0 chosen for low acceptance the controller drafts one
// token (reason "probe"); gamma 0 chosen for load needs no probe, the load is
// reported by every Verify. Under load (B > 1.5), gamma 0 counts as chosen
// for load when even an acceptance of 1 would not make drafting pay at B:
// no probe could change it.
//
// Exploring the deployment. A probe that must first catch up (the drafter
// missed the rounds at gamma 0, or never opened its session) is only taken
// where it could be repaid before the request ends (ProbeCouldPay). Judged
// at an acceptance of 1, every request of a deployment whose drafter does
// not pay probed once and paid a catch-up prefill of its prompt: alone on
// 2 cores that was ~0.25 s of a 2.1 s request, the whole loss of the
// adaptive deployment against target-only at one stream
// (bench/results/load_adaptive/20261205T110222Z, 0.90x). With the
// deployment's fit the probe is judged at the acceptance the deployment
// measured (or the request's own, if higher): a drafter the deployment
// found not worth it is not re-measured by every request. Once the
// deployment took `explore_every` plain rounds (any session, any load)
// since its last drafting round, a probe is judged at 1 again, as without a
// deployment: the measurement is stale, and one request re-measures it for
// all (about one catch-up per five 48-token requests at the default).
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <map>
#include <mutex>
#include <string>
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
  // Prior c / one target step, until the fit has rows that vary: a CPU's
  // (docs/benchmarks.md: verifying 5 positions of the 1.5B costs ~1.9x one
  // step, ~0.22 per extra row; a GPU's would be ~0.02).
  double verify_cost = 0.25;
  // Use measured Propose / Verify wall times; false keeps the prior costs
  // (reproducible choices, for tests), the reported load still counts.
  bool measure_costs = true;
  // The drafter computes on the target's processors (see "Shared processors"
  // above); set from the deployment (GenerationPorts::draft_shares_compute).
  bool draft_shares_compute = false;
  double cost_decay = 0.95;  // weight kept by the past per round (cost fit, when not shared)
  int probe_every = 16;      // rounds at gamma 0 (low acceptance) between probes
  // A request that starts with no acceptance measured by its deployment
  // drafts (at its gamma, reason "probe") until its rounds judged this many
  // drafted tokens before low acceptance may stop it (see "Exploring").
  int min_acceptance_trials = 8;
  // With a deployment's fit, a probe that must first catch up is judged at
  // the deployment's measured acceptance, and only once the deployment took
  // this many plain rounds since its last drafting round at an acceptance
  // of 1 (see "Exploring the deployment").
  int explore_every = 256;
  // Under load, compare the realized rates of plain and drafting rounds and
  // take plain steps where they were faster (see "Measured against plain
  // steps"); false: the cost model alone decides.
  bool compare_with_plain = true;
};

// Why the controller is where it is (the `reason` label of tandem:spec_decode_gamma).
enum class GammaReason {
  kFixed,       // not adaptive: the request's gamma
  kAcceptance,  // the best gamma for the acceptance rate and measured costs, load not limiting
  kLoad,        // smaller than it would be with the target alone (B = 1)
  kProbe,       // one drafted token after a run of gamma 0, to re-measure acceptance;
                // or one plain step under load, to measure plain steps there; or the
                // request's gamma while too few drafted tokens were judged ("Exploring")
  kPrefill,     // drafting would pay, but not the drafter's catch-up prefill of what it
                // missed before this request's remaining tokens run out
};
std::string_view GammaReasonName(GammaReason reason);

// One round as the round loop saw it.
struct GammaRound {
  int drafted = 0;         // tokens sent to Verify (n)
  int proposed = 0;        // tokens the Propose returned (>= drafted: EOS cuts the rest)
  int accepted = 0;        // of those, accepted (k)
  double draft_ms = -1;    // wall time of the Propose that drafted them; < 0: not measured
  // The same Propose's wall time even when it also prefilled tokens the
  // drafter had not seen (draft_ms is then < 0: not a drafting cost for the
  // fit, but what this round took); < 0: no Propose.
  double propose_ms = -1;
  // Tokens that Propose prefilled before drafting (the prompt of a drafter
  // opened by this round, tokens committed at gamma 0); 0: none.
  int catch_up_tokens = 0;
  double verify_ms = -1;   // wall time of the Verify; < 0: not measured
  int batch = 0;           // sessions in the target's pass (VerifyResult.batch_size); 0: unknown (1)
  int sessions = 0;        // sessions open on the target (VerifySession::active_sessions()); 0: unknown
  // The load B: the target's open sessions when reported, else the pass's.
  int load() const { return sessions > 0 ? sessions : batch; }
};

// The acceptance rate alpha of a drafter: the geometric-trials estimate
// (every accepted token a success, a rejection one failed trial), both sums
// exponentially weighted per round.
struct AcceptanceEstimate {
  double successes = 0, trials = 0;
  void Add(const GammaRound& round, double decay);
  double rate() const { return trials > 0 ? successes / trials : 0.0; }
};

// The measured costs and load (the fit described above). Not thread-safe.
class CostFit {
 public:
  // Adds a round's timings and reported load; `decay` is the weight kept by
  // the past (cost_decay for times, load_decay for the load).
  void Observe(const GammaRound& round, double cost_decay, double load_decay);

  // In ms once measured; before that the priors in units of a one-token step.
  double draft_ms_per_token(const GammaOptions& o) const;  // t_d
  double draft_fixed_ms(const GammaOptions& o) const;      // D0
  // Wall time of a Propose of g tokens as measured while the target was
  // loaded (see "Drafting under load" above); < 0 before any such round.
  double loaded_draft_ms(int g) const;
  double pass_fixed_ms(const GammaOptions& o) const;  // W
  double row_ms(const GammaOptions& o) const;         // c
  double load() const { return load_; }               // B, smoothed; 1 before any report
  bool measured() const { return pass_.w > 0 || load_measured_; }
  // Realized tokens per ms of plain (gamma 0) or drafting rounds at this
  // load (see "Measured against plain steps"); < 0 until kMinRateRounds
  // such rounds were seen, and for a load outside 2..kMaxRateLoad.
  double plain_rate(int load) const { return RateAt(load, false); }
  double drafting_rate(int load) const { return RateAt(load, true); }
  // The drafter's time per caught-up token (a catch-up Propose's time beyond
  // its drafting, over the tokens it prefilled); < 0 before any.
  double catch_up_ms_per_token() const { return catch_up_.w > 0 ? catch_up_.wy / catch_up_.w : -1; }
  // Plain rounds at this load since its last drafting round (0 outside 2..kMaxRateLoad).
  double plain_rounds_since_drafting(int load) const {
    return load >= 2 && load <= kMaxRateLoad ? rates_[static_cast<size_t>(load)].plain_since_drafting : 0;
  }
  static constexpr int kMaxRateLoad = 32;
  static constexpr double kMinRateRounds = 3;
  // The drafter's acceptance rate over the deployment's recent rounds (the
  // estimator GammaController uses, decay cost_decay); < 0 before any.
  double acceptance() const { return accept_.trials > 0 ? accept_.rate() : -1.0; }
  // Plain rounds of the deployment (any load) since its last drafting round.
  double rounds_since_drafting() const { return rounds_since_drafting_; }

 private:
  bool load_measured_ = false;
  double load_ = 1;
  double rounds_since_drafting_ = 0;
  AcceptanceEstimate accept_;
  // Exponentially weighted least squares y = a + b * x with the slope
  // shrunk toward `prior_slope` while x barely varies.
  struct LineFit {
    double w = 0, wx = 0, wy = 0, wxx = 0, wxy = 0;  // weights, sums of x, y, x^2, x*y
    void Add(double x, double y, double decay);
    double Slope(double prior_slope) const;
    double Intercept(double slope) const { return w > 0 ? std::max(wy / w - slope * (wx / w), 0.0) : 0.0; }
  };
  // An exponentially weighted mean of a rate.
  struct RateMean {
    double w = 0, wy = 0;
    void Add(double y, double decay) {
      w = decay * w + 1;
      wy = decay * wy + y;
    }
  };
  struct LoadRates {
    RateMean plain, drafting;
    double plain_since_drafting = 0;
  };
  double RateAt(int load, bool drafting) const;
  RateMean catch_up_;  // ms per caught-up token
  // Indexed by load; fixed size so that a snapshot of the fit (one per round)
  // copies without allocating.
  std::array<LoadRates, kMaxRateLoad + 1> rates_{};
  LineFit draft_;         // Propose ms against tokens proposed, the target alone
  LineFit loaded_draft_;  // the same under load (B > 1)
  LineFit pass_;   // Verify ms against rows R
};

// One CostFit per drafter name, shared by the requests of a deployment.
// Thread-safe.
class SpeculationCosts {
 public:
  // load_decay is per round of any session: 0.5 forgets a batch of 16 in
  // ~4 rounds of a request that is alone again.
  explicit SpeculationCosts(double cost_decay = 0.98, double load_decay = 0.5)
      : cost_decay_(cost_decay), load_decay_(load_decay) {}
  // Adds the round and returns the updated fit.
  CostFit Observe(std::string_view drafter, const GammaRound& round);
  CostFit Get(std::string_view drafter) const;

  // Speculative requests running in this deployment, counted from their
  // start: the load a new request starts into is known here at once,
  // while the target counts a session only after its prefill (16 requests
  // arriving together each saw a handful of sessions at their Open and
  // drafted their first rounds into the full batch).
  class Running {
   public:
    explicit Running(SpeculationCosts* costs) : costs_(costs) {
      if (costs_ != nullptr) costs_->running_.fetch_add(1);
    }
    ~Running() {
      if (costs_ != nullptr) costs_->running_.fetch_sub(1);
    }
    Running(const Running&) = delete;
    Running& operator=(const Running&) = delete;

   private:
    SpeculationCosts* costs_;
  };
  int running() const { return running_.load(); }

 private:
  const double cost_decay_, load_decay_;
  std::atomic<int> running_{0};
  mutable std::mutex mu_;
  std::map<std::string, CostFit, std::less<>> fits_;
};

class GammaController {
 public:
  // With `shared` (may be null) the costs and load come from the
  // deployment's fit for `drafter`, and this controller's rounds refine it.
  explicit GammaController(const GammaOptions& options, SpeculationCosts* shared = nullptr,
                           std::string drafter = "");

  // The draft length for the next round.
  int gamma() const { return gamma_; }
  GammaReason reason() const { return reason_; }
  int probe_every() const { return options_.probe_every; }
  double alpha() const { return alpha_.rate(); }
  // Records a round (acceptance only; no timings, load unchanged).
  void Observe(int drafted, int accepted) { Observe(GammaRound{.drafted = drafted, .accepted = accepted}); }
  void Observe(const GammaRound& round);
  // Records the target's open sessions outside a round (a new session's
  // Open reports them): the first round is chosen for the load the request
  // starts into, not for the one the deployment last measured.
  void ObserveLoad(int sessions);

  // The cost model as it stands (ms when measured, else units of a step).
  double draft_ms_per_token() const { return fit_.draft_ms_per_token(options_); }
  double draft_fixed_ms() const { return fit_.draft_fixed_ms(options_); }
  double pass_fixed_ms() const { return fit_.pass_fixed_ms(options_); }  // W
  double row_ms() const { return fit_.row_ms(options_); }                // c
  double load() const { return fit_.load(); }                            // B, smoothed
  // Realized rates at the current load (see "Measured against plain steps").
  double plain_rate_at_load() const { return fit_.plain_rate(static_cast<int>(std::lround(fit_.load()))); }
  double drafting_rate_at_load() const { return fit_.drafting_rate(static_cast<int>(std::lround(fit_.load()))); }
  // E[tokens](g) / cost(g) at load b under the current estimates.
  double ExpectedRate(int g, double b) const;
  // Whether drafting at gamma() for the `remaining` tokens still to generate
  // saves more time than the drafter's catch-up prefill of `catch_up`
  // tokens costs (see "Catching up"). True when gamma() is 0.
  bool CatchUpPays(int catch_up, int remaining) const;
  // Whether a probe that must first catch up `catch_up` tokens could be
  // repaid by the `remaining` tokens: CatchUpPays at the best gamma for the
  // acceptance a probe is judged at (ProbeAcceptance).
  bool ProbeCouldPay(int catch_up, int remaining) const;
  // 1 (every drafted token accepted: the most a probe could find) without a
  // deployment's fit or when the deployment is due to explore; else the
  // deployment's measured acceptance or the request's, the higher (see
  // "Exploring the deployment").
  double ProbeAcceptance() const;

 private:
  int Best(double b) const;
  // ExpectedRate and Best with `acceptance` in place of the estimate (1:
  // every drafted token accepted).
  double RateAt(int g, double b, double acceptance) const;
  int BestAt(double b, double acceptance) const;
  bool CatchUpPaysAt(int g, double acceptance, int catch_up, int remaining) const;
  // What the realized rates at the current load say (see "Measured against
  // plain steps").
  enum class PlainVsDrafting { kNotCompared, kPlainFaster, kDraftingStale, kPlainUnmeasured };
  PlainVsDrafting CompareMeasured() const;
  void Choose();
  // Adds a round's costs and load to the deployment's fit (or this one's).
  void Fit(const GammaRound& round);

  GammaOptions options_;
  SpeculationCosts* shared_;
  std::string drafter_;
  AcceptanceEstimate alpha_;
  int drafting_rounds_ = 0;  // rounds of this request that drafted
  AcceptanceEstimate judged_;  // this request's rounds, undecayed: its trials are the drafted tokens judged
  bool acceptance_seeded_ = false;  // the estimate started from the deployment's acceptance
  CostFit fit_;  // this request's, or a snapshot of the shared one
  int zero_rounds_ = 0;  // consecutive rounds at gamma 0 for acceptance
  int compare_rounds_ = 0;  // rounds drafting at a load without a measured plain round, since the last plain probe
  int gamma_;
  GammaReason reason_;
};

}  // namespace tandem::decoding::spec
