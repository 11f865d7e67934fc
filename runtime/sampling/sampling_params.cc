#include "runtime/sampling/sampling_params.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"

namespace tandem::runtime {

absl::Status SortLogitBias(std::vector<LogitBias>& bias) {
  std::sort(bias.begin(), bias.end(), [](const LogitBias& a, const LogitBias& b) { return a.token < b.token; });
  for (size_t i = 1; i < bias.size(); ++i) {
    if (bias[i].token == bias[i - 1].token) {
      return absl::InvalidArgumentError(absl::StrCat("token ", bias[i].token, " is given twice"));
    }
  }
  return absl::OkStatus();
}

absl::Status SamplingParams::Validate() const {
  // Upper bounds keep values in a range where fp32 arithmetic stays meaningful.
  if (!std::isfinite(temperature) || temperature < 0.0f || temperature > 100.0f) {
    return absl::InvalidArgumentError(
        absl::StrCat("temperature must be in [0, 100], got ", temperature));
  }
  if (top_k < 0) {
    return absl::InvalidArgumentError(absl::StrCat("top_k must be >= 0, got ", top_k));
  }
  if (!std::isfinite(top_p) || top_p <= 0.0f || top_p > 1.0f) {
    return absl::InvalidArgumentError(absl::StrCat("top_p must be in (0, 1], got ", top_p));
  }
  if (!std::isfinite(min_p) || min_p < 0.0f || min_p > 1.0f) {
    return absl::InvalidArgumentError(absl::StrCat("min_p must be in [0, 1], got ", min_p));
  }
  if (!std::isfinite(repetition_penalty) || repetition_penalty <= 0.0f ||
      repetition_penalty > 100.0f) {
    return absl::InvalidArgumentError(absl::StrCat(
        "repetition_penalty must be in (0, 100], got ", repetition_penalty));
  }
  if (repetition_window < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("repetition_window must be >= 0, got ", repetition_window));
  }
  for (const auto& [name, value] : {std::pair{"presence_penalty", presence_penalty},
                                    std::pair{"frequency_penalty", frequency_penalty}}) {
    if (!std::isfinite(value) || std::abs(value) > kMaxPresenceFrequencyPenalty) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " must be in [-", kMaxPresenceFrequencyPenalty, ", ", kMaxPresenceFrequencyPenalty,
                       "], got ", value));
    }
  }
  for (size_t i = 0; i < logit_bias.size(); ++i) {
    const LogitBias& b = logit_bias[i];
    if (b.token < 0) {
      return absl::InvalidArgumentError(absl::StrCat("logit_bias: token ", b.token, " is negative"));
    }
    if (i > 0 && b.token <= logit_bias[i - 1].token) {
      return absl::InvalidArgumentError(
          absl::StrCat("logit_bias: tokens must be ascending and distinct, got ", logit_bias[i - 1].token,
                       " then ", b.token));
    }
    if (!std::isfinite(b.bias) || std::abs(b.bias) > kMaxLogitBias) {
      return absl::InvalidArgumentError(absl::StrCat("logit_bias: the bias of token ", b.token, " must be in [-",
                                                     kMaxLogitBias, ", ", kMaxLogitBias, "], got ", b.bias));
    }
  }
  return absl::OkStatus();
}

}  // namespace tandem::runtime
