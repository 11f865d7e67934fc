#include "decoding/ports/drafter.h"

#include "absl/strings/str_cat.h"

namespace tandem::decoding {

absl::Status ValidateDraftOptions(const DraftOptions& options) {
  if (!(options.stop_below_probability >= 0.0f && options.stop_below_probability <= 1.0f)) {
    return absl::InvalidArgumentError(absl::StrCat("stop_below_probability: must be in [0, 1], got ",
                                                   options.stop_below_probability));
  }
  if (options.staged_ngram < 0 || options.staged_ngram > kMaxStagedNgram) {
    return absl::InvalidArgumentError(
        absl::StrCat("staged_ngram: must be in [0, ", kMaxStagedNgram, "], got ", options.staged_ngram));
  }
  if (!(options.q_tail_mass >= 0.0f && options.q_tail_mass <= kMaxQTailMass)) {
    return absl::InvalidArgumentError(
        absl::StrCat("q_tail_mass: must be in [0, ", kMaxQTailMass, "], got ", options.q_tail_mass));
  }
  return absl::OkStatus();
}

}  // namespace tandem::decoding
