#include "decoding/spec/gamma_controller.h"

#include <algorithm>
#include <cmath>

namespace tandem::decoding::spec {

GammaController::GammaController(const GammaOptions& options) : options_(options) {
  options_.min_gamma = std::max(options_.min_gamma, 0);
  options_.max_gamma = std::max(options_.max_gamma, options_.min_gamma);
  options_.ema_decay = std::clamp(options_.ema_decay, 0.0, 1.0);
  options_.prior_alpha = std::clamp(options_.prior_alpha, 0.0, 1.0);
  successes_ = 2.0 * options_.prior_alpha;
  trials_ = 2.0;
  gamma_ = options_.adaptive ? std::clamp(options_.gamma, options_.min_gamma, options_.max_gamma)
                             : std::max(options_.gamma, 0);
}

void GammaController::Observe(int drafted, int accepted) {
  if (!options_.adaptive || drafted <= 0) return;
  accepted = std::clamp(accepted, 0, drafted);
  successes_ = options_.ema_decay * successes_ + accepted;
  trials_ = options_.ema_decay * trials_ + accepted + (accepted < drafted ? 1 : 0);
  gamma_ = Best();
}

int GammaController::Best() const {
  const double a = std::min(alpha(), 1.0 - 1e-9);
  const double step_cost = options_.draft_cost + options_.verify_cost;
  int best = options_.min_gamma;
  double best_value = -1;
  for (int g = options_.min_gamma; g <= options_.max_gamma; ++g) {
    const double tokens = (1.0 - std::pow(a, g + 1)) / (1.0 - a);
    const double value = tokens / (1.0 + g * step_cost);
    if (value > best_value * (1 + 1e-12)) {
      best_value = value;
      best = g;
    }
  }
  return best;
}

}  // namespace tandem::decoding::spec
