// Reward port: scalar rewards for (prompt, response) pairs and per-step
// process rewards. RSD, CARDS, best-of-N and ARGS are written against it.
// In process it is services/reward's backend registry; in a deployment a
// gRPC client of the reward service. Text in, scores out: the reward model
// may use a different tokenizer from the policy.
#pragma once

#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace tandem::decoding {

struct RewardItem {
  std::string prompt;     // question / conversation, raw text (no chat template)
  std::string response;   // full or partial response
  std::string reference;  // optional: reference answer (math check, similarity)
};

// Which backend scores and how. backend "" = the scorer's default; the
// backends and their options are documented in services/reward/README.md.
struct RewardSpec {
  std::string backend;
  std::map<std::string, std::string> options;
};

class RewardScorer {
 public:
  virtual ~RewardScorer() = default;
  // One reward per item, in order. Candidates of one request should be sent
  // in one call so the backend can batch them.
  virtual absl::StatusOr<std::vector<float>> Score(const RewardSpec& spec,
                                                   std::span<const RewardItem> items) = 0;
  // Process reward: result[i] scores step i given prompt + steps[0..i], each
  // step closed by the step delimiter (backend option "delimiter", default
  // "\n\n"). Successive calls that extend the same steps reuse the backend's
  // prefix KV cache.
  virtual absl::StatusOr<std::vector<float>> ScoreSteps(const RewardSpec& spec,
                                                        std::string_view prompt,
                                                        std::span<const std::string> steps) = 0;
  // Backend names this scorer serves (for errors, the catalog and metrics).
  virtual std::vector<std::string> Backends() const = 0;
};

}  // namespace tandem::decoding
