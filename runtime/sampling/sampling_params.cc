#include "runtime/sampling/sampling_params.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace tandem::runtime {

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
  return absl::OkStatus();
}

}  // namespace tandem::runtime
