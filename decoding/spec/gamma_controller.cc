#include "decoding/spec/gamma_controller.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace tandem::decoding::spec {
namespace {

// Shrinkage of the fitted row cost toward its prior, in rows^2 of variance of
// R: a fit over R values that vary by less than about a row is mostly prior.
constexpr double kSlopePriorWeight = 1.0;

}  // namespace

std::string_view GammaReasonName(GammaReason reason) {
  switch (reason) {
    case GammaReason::kFixed:
      return "fixed";
    case GammaReason::kAcceptance:
      return "acceptance";
    case GammaReason::kLoad:
      return "load";
    case GammaReason::kProbe:
      return "probe";
    case GammaReason::kPrefill:
      return "prefill";
  }
  return "unknown";
}

GammaController::GammaController(const GammaOptions& options, SpeculationCosts* shared, std::string drafter)
    : options_(options), shared_(shared), drafter_(std::move(drafter)) {
  options_.min_gamma = std::max(options_.min_gamma, 0);
  options_.max_gamma = std::max(options_.max_gamma, options_.min_gamma);
  options_.ema_decay = std::clamp(options_.ema_decay, 0.0, 1.0);
  options_.cost_decay = std::clamp(options_.cost_decay, 0.0, 1.0);
  options_.prior_alpha = std::clamp(options_.prior_alpha, 0.0, 1.0);
  options_.draft_cost = std::max(options_.draft_cost, 0.0);
  options_.verify_cost = std::clamp(options_.verify_cost, 0.0, 1.0);
  options_.probe_every = std::max(options_.probe_every, 1);
  options_.explore_every = std::max(options_.explore_every, 0);
  alpha_ = {.successes = 2.0 * options_.prior_alpha, .trials = 2.0};
  if (options_.adaptive) {
    gamma_ = std::clamp(options_.gamma, options_.min_gamma, options_.max_gamma);
    reason_ = GammaReason::kAcceptance;
    if (shared_ != nullptr && options_.measure_costs) {
      // Start from what the deployment measured (if anything; else from
      // the request's gamma).
      fit_ = shared_->Get(drafter_);
      if (fit_.acceptance() >= 0) {
        alpha_.successes = 2.0 * fit_.acceptance();  // worth two trials, like the prior
        acceptance_seeded_ = true;
      }
      if (fit_.measured()) Choose();
    }
  } else {
    gamma_ = std::max(options_.gamma, 0);
    reason_ = GammaReason::kFixed;
  }
}

void GammaController::Observe(const GammaRound& round) {
  if (!options_.adaptive) return;
  if (gamma_ == 0 && reason_ == GammaReason::kAcceptance) ++zero_rounds_;  // this round ran at 0
  alpha_.Add(round, options_.ema_decay);
  judged_.Add(round, 1.0);
  if (round.drafted > 0) ++drafting_rounds_;
  GammaRound costs = round;
  if (!options_.measure_costs) costs.draft_ms = costs.verify_ms = -1;  // the load still counts
  Fit(costs);
  Choose();
}

void GammaController::ObserveLoad(int sessions) {
  if (!options_.adaptive || sessions <= 0) return;
  Fit(GammaRound{.sessions = sessions});  // nothing drafted, nothing timed: only the load counts
  Choose();
}

void GammaController::Fit(const GammaRound& round) {
  if (shared_ != nullptr && options_.measure_costs) {
    fit_ = shared_->Observe(drafter_, round);
  } else {
    fit_.Observe(round, options_.cost_decay, options_.ema_decay);
  }
}

void CostFit::LineFit::Add(double x, double y, double decay) {
  w = decay * w + 1;
  wx = decay * wx + x;
  wy = decay * wy + y;
  wxx = decay * wxx + x * x;
  wxy = decay * wxy + x * y;
}

double CostFit::LineFit::Slope(double prior_slope) const {
  if (w <= 0) return prior_slope;
  const double mx = wx / w, my = wy / w;
  const double var = std::max(wxx / w - mx * mx, 0.0);
  const double cov = wxy / w - mx * my;
  const double b = (cov + kSlopePriorWeight * prior_slope) / (var + kSlopePriorWeight);
  return std::clamp(b, 0.0, mx > 0 ? my / mx : 0.0);  // intercept >= 0
}

void AcceptanceEstimate::Add(const GammaRound& round, double decay) {
  if (round.drafted <= 0) return;  // nothing was proposed: nothing learned
  const int accepted = std::clamp(round.accepted, 0, round.drafted);
  successes = decay * successes + accepted;
  trials = decay * trials + accepted + (accepted < round.drafted ? 1 : 0);
}

void CostFit::Observe(const GammaRound& round, double cost_decay, double load_decay) {
  accept_.Add(round, cost_decay);
  if (const int load = round.load(); load > 0) {
    load_ = load_measured_ ? load_decay * load_ + (1 - load_decay) * load : load;
    load_measured_ = true;
  }
  // Propose times are the drafter's own cost only while the target's pass
  // held this session alone: under load they also hold the wait behind the
  // other sessions' drafts and passes (tens of ms per token on a shared CPU),
  // which the load terms of cost(g) already charge; fitted as the drafter's
  // cost they made drafting look too dear once the load was gone.
  // A round (it was verified; a load reported at Open is not one): the
  // exploration count of the deployment.
  if (round.drafted > 0) {
    rounds_since_drafting_ = 0;
  } else if (round.verify_ms >= 0) {
    ++rounds_since_drafting_;
  }
  const int proposed = std::max(round.proposed, round.drafted);
  if (proposed > 0 && round.draft_ms >= 0) {
    (round.load() <= 1 ? draft_ : loaded_draft_).Add(proposed, round.draft_ms, cost_decay);
  }
  // A catch-up Propose: its time beyond the drafting the fit predicts for
  // it, per token prefilled.
  if (round.catch_up_tokens > 0 && round.propose_ms >= 0 && proposed > 0 && draft_.w > 0) {
    const double loaded = round.load() > 1 ? loaded_draft_ms(proposed) : -1.0;
    const double drafting = loaded >= 0 ? loaded
                                        : draft_.Intercept(draft_.Slope(draft_.wy / draft_.wx)) +
                                              proposed * draft_.Slope(draft_.wy / draft_.wx);
    catch_up_.Add(std::max(round.propose_ms - drafting, 0.0) / round.catch_up_tokens, cost_decay);
  }
  // The round's realized rate at its load: accepted tokens plus the one
  // the target adds (every round commits its correction or bonus token).
  if (const int load = round.load(); load >= 2 && load <= kMaxRateLoad && round.verify_ms > 0) {
    const bool drafting = round.drafted > 0;
    const double propose_ms = std::max({round.propose_ms, round.draft_ms, 0.0});
    const double ms = round.verify_ms + (drafting ? propose_ms : 0.0);
    const double tokens = drafting ? std::clamp(round.accepted, 0, round.drafted) + 1.0 : 1.0;
    LoadRates& at = rates_[static_cast<size_t>(load)];
    (drafting ? at.drafting : at.plain).Add(tokens / ms, cost_decay);
    at.plain_since_drafting = drafting ? 0 : at.plain_since_drafting + 1;
  }
  if (round.verify_ms >= 0) {
    pass_.Add(std::max(round.batch, 1) * (std::max(round.drafted, 0) + 1.0), round.verify_ms, cost_decay);
  }
}

double CostFit::RateAt(int load, bool drafting) const {
  if (load < 2 || load > kMaxRateLoad) return -1;
  const LoadRates& at = rates_[static_cast<size_t>(load)];
  const RateMean& m = drafting ? at.drafting : at.plain;
  return m.w >= kMinRateRounds ? m.wy / m.w : -1;
}

double CostFit::row_ms(const GammaOptions& o) const {
  if (pass_.w <= 0) return o.verify_cost;  // units of a one-token step
  // The prior: a pass over R rows costs t1 * (1 + verify_cost * (R - 1)),
  // t1 a one-row step, scaled to the measured mean.
  const double mx = pass_.wx / pass_.w, my = pass_.wy / pass_.w;
  const double t1 = my / (1 + o.verify_cost * (mx - 1));
  return pass_.Slope(o.verify_cost * t1);
}

double CostFit::pass_fixed_ms(const GammaOptions& o) const {
  if (pass_.w <= 0) return 1 - o.verify_cost;
  return pass_.Intercept(row_ms(o));
}

double CostFit::draft_ms_per_token(const GammaOptions& o) const {
  // Unmeasured: the prior relative to a one-row step, in the verify fit's units.
  if (draft_.w <= 0) return o.draft_cost * (pass_fixed_ms(o) + row_ms(o));
  // Prior while the draft lengths barely vary: all of it per token.
  return draft_.Slope(draft_.wy / draft_.wx);
}

double CostFit::draft_fixed_ms(const GammaOptions& o) const {
  return draft_.w > 0 ? draft_.Intercept(draft_ms_per_token(o)) : 0.0;
}

double CostFit::loaded_draft_ms(int g) const {
  if (loaded_draft_.w <= 0) return -1;
  const double per_token = loaded_draft_.Slope(loaded_draft_.wy / loaded_draft_.wx);
  return loaded_draft_.Intercept(per_token) + g * per_token;
}

CostFit SpeculationCosts::Observe(std::string_view drafter, const GammaRound& round) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = fits_.find(drafter);
  if (it == fits_.end()) it = fits_.emplace(std::string(drafter), CostFit{}).first;
  it->second.Observe(round, cost_decay_, load_decay_);
  return it->second;
}

CostFit SpeculationCosts::Get(std::string_view drafter) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = fits_.find(drafter);
  return it == fits_.end() ? CostFit{} : it->second;
}

double GammaController::ExpectedRate(int g, double b) const { return RateAt(g, b, alpha()); }

double GammaController::RateAt(int g, double b, double acceptance) const {
  const double a = std::clamp(acceptance, 0.0, 1.0);
  // E[tokens] = 1 + a + ... + a^g; its limit g + 1 at a = 1.
  const double tokens = a >= 1.0 - 1e-9 ? g + 1.0 : (1.0 - std::pow(a, g + 1)) / (1.0 - a);
  // Drafting on the target's processors holds up the pass of all b sessions.
  const double draft_weight = options_.draft_shares_compute ? b : 1.0;
  double drafting = 0.0;
  if (g > 0) {
    const double loaded = b > 1.5 ? fit_.loaded_draft_ms(g) : -1.0;
    drafting = loaded >= 0 ? loaded : draft_fixed_ms() + g * draft_ms_per_token();
  }
  const double cost = draft_weight * drafting + pass_fixed_ms() + row_ms() * b * (g + 1);
  return tokens / std::max(cost, 1e-9);
}

bool GammaController::CatchUpPays(int catch_up, int remaining) const {
  if (!options_.adaptive || gamma_ <= 0 || catch_up <= 0) return true;
  return CatchUpPaysAt(gamma_, alpha(), catch_up, remaining);
}

bool GammaController::ProbeCouldPay(int catch_up, int remaining) const {
  if (!options_.adaptive || catch_up <= 0) return true;
  const double acceptance = ProbeAcceptance();
  const int best = BestAt(std::max(fit_.load(), 1.0), acceptance);
  return best > 0 && CatchUpPaysAt(best, acceptance, catch_up, remaining);
}

double GammaController::ProbeAcceptance() const {
  const bool deployment = shared_ != nullptr && options_.measure_costs;
  if (!deployment || fit_.acceptance() < 0 || fit_.rounds_since_drafting() >= options_.explore_every) return 1.0;
  return std::max(fit_.acceptance(), alpha());
}

bool GammaController::CatchUpPaysAt(int g, double acceptance, int catch_up, int remaining) const {
  const double b = std::max(fit_.load(), 1.0);
  const double plain = RateAt(0, b, acceptance), drafting = RateAt(g, b, acceptance);
  if (plain <= 0 || drafting <= 0) return true;
  const double saved = std::max(remaining, 0) * (1.0 / plain - 1.0 / drafting);
  const double measured = fit_.catch_up_ms_per_token();
  const double per_token = measured >= 0 ? measured : 0.25 * draft_ms_per_token();
  const double cost = catch_up * per_token * (options_.draft_shares_compute ? b : 1.0);
  return saved > cost;
}

int GammaController::Best(double b) const { return BestAt(b, alpha()); }

int GammaController::BestAt(double b, double acceptance) const {
  int best = options_.min_gamma;
  double best_value = -1;
  for (int g = options_.min_gamma; g <= options_.max_gamma; ++g) {
    const double value = RateAt(g, b, acceptance);
    if (value > best_value * (1 + 1e-12)) {
      best_value = value;
      best = g;
    }
  }
  return best;
}

GammaController::PlainVsDrafting GammaController::CompareMeasured() const {
  if (!options_.compare_with_plain || !options_.measure_costs || fit_.load() < 1.5) return PlainVsDrafting::kNotCompared;
  const int load = static_cast<int>(std::lround(fit_.load()));
  if (load > CostFit::kMaxRateLoad) return PlainVsDrafting::kNotCompared;
  const double plain = fit_.plain_rate(load), drafting = fit_.drafting_rate(load);
  if (plain < 0) return PlainVsDrafting::kPlainUnmeasured;
  if (drafting < 0 || drafting >= plain) return PlainVsDrafting::kNotCompared;
  return fit_.plain_rounds_since_drafting(load) >= static_cast<double>(options_.probe_every) * load
             ? PlainVsDrafting::kDraftingStale
             : PlainVsDrafting::kPlainFaster;
}

void GammaController::Choose() {
  int loaded = Best(std::max(fit_.load(), 1.0));
  const int alone = Best(1.0);
  bool probe = false;
  switch (loaded > 0 ? CompareMeasured() : PlainVsDrafting::kNotCompared) {
    case PlainVsDrafting::kPlainFaster:
      loaded = 0;
      break;
    case PlainVsDrafting::kDraftingStale:
      break;  // the model's choice: the drafting rate is only re-measured by drafting
    case PlainVsDrafting::kPlainUnmeasured:
      // Drafting at a load where no plain step was measured yet: one plain
      // step now and then, so that the two can be compared.
      if (++compare_rounds_ >= options_.probe_every) {
        compare_rounds_ = 0;
        loaded = 0;
        probe = true;
      }
      break;
    case PlainVsDrafting::kNotCompared:
      compare_rounds_ = 0;
      break;
  }
  // Until this request has drafted once, its acceptance is the deployment's
  // (or the prior): never more than the request's own gamma on that alone.
  if (drafting_rounds_ == 0) loaded = std::min(loaded, std::max(options_.gamma, options_.min_gamma));
  // Exploring (see the header): too few trials to let acceptance stop drafting.
  if (loaded == 0 && alone == 0 && !acceptance_seeded_ && judged_.trials < options_.min_acceptance_trials &&
      fit_.load() < 1.5 && options_.max_gamma >= 1) {
    loaded = std::clamp(options_.gamma, 1, options_.max_gamma);
    probe = true;
  }
  gamma_ = loaded;
  reason_ = probe ? GammaReason::kProbe : loaded < alone ? GammaReason::kLoad : GammaReason::kAcceptance;
  // Under load, gamma 0 is the load's choice, not the acceptance's, when
  // drafting would not pay even with every drafted token accepted: then a
  // probe could not change the choice and only costs the other sessions its
  // catch-up prefill (4 streams on 2 cores lost 7 % to each request probing
  // at its 17th token, bench/results/load_adaptive/20261205T040006Z).
  const double b = fit_.load();
  if (gamma_ == 0 && reason_ == GammaReason::kAcceptance && b > 1.5 && BestAt(b, 1.0) == 0) {
    reason_ = GammaReason::kLoad;
  }
  if (gamma_ == 0 && reason_ == GammaReason::kAcceptance && options_.max_gamma >= 1) {
    if (zero_rounds_ >= options_.probe_every) {
      zero_rounds_ = 0;
      gamma_ = 1;
      reason_ = GammaReason::kProbe;
    }
  } else {
    zero_rounds_ = 0;
  }
}

}  // namespace tandem::decoding::spec
