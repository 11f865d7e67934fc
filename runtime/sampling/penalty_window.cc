#include "runtime/sampling/penalty_window.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace tandem::runtime {

absl::Status ForEachPenalizedToken(const SamplingParams& params, std::span<const int32_t> history, int32_t vocab,
                                   std::vector<uint32_t>& counts,
                                   absl::FunctionRef<void(int32_t token, uint32_t count)> visit) {
  size_t window = history.size();
  if (params.repetition_window > 0) window = std::min(window, static_cast<size_t>(params.repetition_window));
  const std::span<const int32_t> recent = history.last(window);
  for (int32_t t : recent) {
    if (t < 0 || t >= vocab) {
      return absl::InvalidArgumentError(
          absl::StrCat("sampler: history token ", t, " outside vocabulary of ", vocab));
    }
  }
  if (counts.size() < static_cast<size_t>(vocab)) counts.resize(static_cast<size_t>(vocab), 0);
  for (int32_t t : recent) ++counts[static_cast<size_t>(t)];
  for (int32_t t : recent) {
    const uint32_t c = counts[static_cast<size_t>(t)];
    if (c == 0) continue;             // visited at its first occurrence
    counts[static_cast<size_t>(t)] = 0;  // leaves the scratch all-zero
    visit(t, c);
  }
  return absl::OkStatus();
}

float AdditivePenalty(const SamplingParams& params, uint32_t count) {
  return params.frequency_penalty * static_cast<float>(count) + params.presence_penalty;
}

}  // namespace tandem::runtime
