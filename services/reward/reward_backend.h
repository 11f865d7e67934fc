// One reward backend of the registry (services/reward/reward_registry.h):
// judge, gguf, math, regex, keyword, length, similarity. A backend turns
// (prompt, response, reference) items into scalars; backends with a process
// mode also score steps. Options are the per-request RewardSpec.options,
// already checked against OptionNames() by the registry.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "decoding/ports/reward_scorer.h"

namespace tandem::reward {

using decoding::RewardItem;
using Options = std::map<std::string, std::string>;

// Work counters of the model-backed backends (zero for programmatic ones).
struct EvalStats {
  int64_t tokens_forwarded = 0;  // tokens run through the model
  int64_t tokens_reused = 0;     // tokens whose KV came from the prefix cache
  int64_t forward_passes = 0;    // Model::Forward calls
  int64_t cache_hits = 0;        // queries answered without any forward
};

class RewardBackend {
 public:
  virtual ~RewardBackend() = default;
  virtual std::string_view name() const = 0;
  // Option keys this backend accepts (the registry rejects others).
  virtual std::vector<std::string> OptionNames() const = 0;
  // One score per item, in order; items is never empty.
  virtual absl::StatusOr<std::vector<float>> Score(const Options& options,
                                                   std::span<const RewardItem> items) = 0;
  // Process reward: one score per step. Default: UNIMPLEMENTED (the registry
  // turns that into INVALID_ARGUMENT naming the backend).
  virtual bool SupportsSteps() const { return false; }
  virtual absl::StatusOr<std::vector<float>> ScoreSteps(const Options& options, std::string_view prompt,
                                                        std::span<const std::string> steps);
  virtual EvalStats stats() const { return {}; }
};

}  // namespace tandem::reward
