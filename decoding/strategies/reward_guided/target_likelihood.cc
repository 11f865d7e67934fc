#include "decoding/strategies/reward_guided/target_likelihood.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"

namespace tandem::decoding {

absl::Status ValidateTargetLikelihoodSpec(const RewardSpec& spec, const char* param) {
  for (const auto& [key, value] : spec.options) {
    if (key != "delimiter") {
      return absl::InvalidArgumentError(absl::StrCat("params.", param, ": backend '", kTargetLikelihoodBackend,
                                                     "' takes no option '", key, "'"));
    }
  }
  return absl::OkStatus();
}

double TargetLikelihoodScore(std::span<const float> log_probs) {
  if (log_probs.empty()) return 1.0;
  double sum = 0;
  for (float lp : log_probs) sum += lp;
  return std::exp(sum / static_cast<double>(log_probs.size()));
}

absl::StatusOr<double> AppendTargetLikelihood(VerifySession& session, std::span<const int32_t> tokens,
                                              spec::RequestStats* stats) {
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<float> log_probs;
  absl::Status s = tokens.empty() ? absl::OkStatus() : session.AppendScored(tokens, &log_probs);
  stats->reward.time_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  ++stats->reward.calls;
  ++stats->reward.items;
  if (!s.ok()) return s;
  if (log_probs.size() != tokens.size()) {
    return absl::InternalError(absl::StrCat("target_likelihood: the verifier returned ", log_probs.size(),
                                            " log-probabilities for ", tokens.size(), " tokens"));
  }
  for (float lp : log_probs) {
    if (!std::isfinite(lp) || lp > 1e-4f) {
      return absl::InternalError(absl::StrCat("target_likelihood: the verifier returned log-probability ", lp));
    }
  }
  return std::min(1.0, TargetLikelihoodScore(log_probs));
}

}  // namespace tandem::decoding
