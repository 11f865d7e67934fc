// Inputs and outputs of the Reward service calls (Client::Score, ScoreSteps).
#pragma once

#include <map>
#include <string>
#include <vector>

namespace tandem {

// Which reward backend scores, and its options (services/reward/README.md).
struct RewardSpec {
  std::string backend = {};  // empty = the server's default backend
  std::map<std::string, std::string> options = {};
};

struct RewardItem {
  std::string prompt = {};     // raw text, no chat template
  std::string response = {};   // full or partial response
  std::string reference = {};  // optional reference answer (math, similarity)
};

struct ScoreResult {
  std::vector<float> scores = {};  // one per item (or step), in order
  std::string backend = {};        // the backend that scored (resolves "")
};

}  // namespace tandem
