#include "decoding/spec/gamma_controller.h"

#include <algorithm>
#include <cmath>

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
  }
  return "unknown";
}

GammaController::GammaController(const GammaOptions& options) : options_(options) {
  options_.min_gamma = std::max(options_.min_gamma, 0);
  options_.max_gamma = std::max(options_.max_gamma, options_.min_gamma);
  options_.ema_decay = std::clamp(options_.ema_decay, 0.0, 1.0);
  options_.cost_decay = std::clamp(options_.cost_decay, 0.0, 1.0);
  options_.prior_alpha = std::clamp(options_.prior_alpha, 0.0, 1.0);
  options_.draft_cost = std::max(options_.draft_cost, 0.0);
  options_.verify_cost = std::clamp(options_.verify_cost, 0.0, 1.0);
  options_.probe_every = std::max(options_.probe_every, 1);
  successes_ = 2.0 * options_.prior_alpha;
  trials_ = 2.0;
  if (options_.adaptive) {
    gamma_ = std::clamp(options_.gamma, options_.min_gamma, options_.max_gamma);
    reason_ = GammaReason::kAcceptance;
  } else {
    gamma_ = std::max(options_.gamma, 0);
    reason_ = GammaReason::kFixed;
  }
}

void GammaController::Observe(const GammaRound& round) {
  if (!options_.adaptive) return;
  if (gamma_ == 0 && reason_ == GammaReason::kAcceptance) ++zero_rounds_;  // this round ran at 0
  if (round.drafted > 0) {
    const int accepted = std::clamp(round.accepted, 0, round.drafted);
    successes_ = options_.ema_decay * successes_ + accepted;
    trials_ = options_.ema_decay * trials_ + accepted + (accepted < round.drafted ? 1 : 0);
  }
  if (round.batch > 0) {
    load_ = load_measured_ ? options_.ema_decay * load_ + (1 - options_.ema_decay) * round.batch : round.batch;
    load_measured_ = true;
  }
  if (options_.measure_costs) {
    const int proposed = std::max(round.proposed, round.drafted);
    if (proposed > 0 && round.draft_ms >= 0) {
      const double per_token = round.draft_ms / proposed;
      draft_ms_ = draft_measured_ ? options_.cost_decay * draft_ms_ + (1 - options_.cost_decay) * per_token
                                  : per_token;
      draft_measured_ = true;
    }
    if (round.verify_ms >= 0) {
      const double x = std::max(round.batch, 1) * (std::max(round.drafted, 0) + 1.0);
      const double y = round.verify_ms;
      const double d = options_.cost_decay;
      w_ = d * w_ + 1;
      wx_ = d * wx_ + x;
      wy_ = d * wy_ + y;
      wxx_ = d * wxx_ + x * x;
      wxy_ = d * wxy_ + x * y;
    }
  }
  Choose();
}

double GammaController::row_ms() const {
  if (w_ <= 0) return options_.verify_cost;  // units of a one-token step
  const double mx = wx_ / w_, my = wy_ / w_;
  const double var = std::max(wxx_ / w_ - mx * mx, 0.0);
  const double cov = wxy_ / w_ - mx * my;
  // The prior: a pass over R rows costs t1 * (1 + verify_cost * (R - 1)),
  // t1 a one-row step, scaled to the measured mean.
  const double t1 = my / (1 + options_.verify_cost * (mx - 1));
  const double prior = options_.verify_cost * t1;
  const double c = (cov + kSlopePriorWeight * prior) / (var + kSlopePriorWeight);
  return std::clamp(c, 0.0, mx > 0 ? my / mx : 0.0);  // W >= 0
}

double GammaController::pass_fixed_ms() const {
  if (w_ <= 0) return 1 - options_.verify_cost;
  return std::max(wy_ / w_ - row_ms() * (wx_ / w_), 0.0);
}

double GammaController::draft_ms_per_token() const {
  if (draft_measured_) return draft_ms_;
  // Unmeasured: the prior relative to a one-row step, in the verify fit's units.
  return options_.draft_cost * (pass_fixed_ms() + row_ms());
}

double GammaController::ExpectedRate(int g, double b) const {
  const double a = std::min(alpha(), 1.0 - 1e-9);
  const double tokens = (1.0 - std::pow(a, g + 1)) / (1.0 - a);
  const double cost = g * draft_ms_per_token() + pass_fixed_ms() + row_ms() * b * (g + 1);
  return tokens / std::max(cost, 1e-9);
}

int GammaController::Best(double b) const {
  int best = options_.min_gamma;
  double best_value = -1;
  for (int g = options_.min_gamma; g <= options_.max_gamma; ++g) {
    const double value = ExpectedRate(g, b);
    if (value > best_value * (1 + 1e-12)) {
      best_value = value;
      best = g;
    }
  }
  return best;
}

void GammaController::Choose() {
  const int loaded = Best(std::max(load_, 1.0));
  const int alone = Best(1.0);
  gamma_ = loaded;
  reason_ = loaded < alone ? GammaReason::kLoad : GammaReason::kAcceptance;
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
