// The reward-guided strategies (cards, best_of_n, args) on the serving
// side: catalog entries, parameter parsing and the dispatch from
// RunStrategy, kept out of strategy_catalog.cc / strategy_runner.cc so
// those stay lists.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "services/orchestrator/server/generation_ports.h"
#include "services/orchestrator/server/strategy_catalog.h"
#include "services/orchestrator/strategies/generation.h"

namespace tandem::orchestrator::server {

// The three StrategySpecs, parameters documented with their defaults.
std::vector<StrategySpec> RewardGuidedStrategies();

// Applies one parameter of choice->strategy (cards, best_of_n or args).
// Unparsable or out-of-range values are INVALID_ARGUMENT naming
// params.<key>. The caller has already checked that `key` is documented.
absl::Status ApplyRewardGuidedParam(const std::string& key, const std::string& value, StrategyChoice* choice);

// "k1=v1;k2=v2" -> options (params.reward_options); keys must be non-empty
// and unique.
absl::Status ParseRewardOptions(const std::string& value, std::map<std::string, std::string>* out);

// Whether `strategy` is one of the three.
bool IsRewardGuided(const std::string& strategy);

// Runs cards / best_of_n / args with the deployment's reward scorer
// (FAILED_PRECONDITION when it has none).
absl::Status RunRewardGuided(const StrategyChoice& choice, const GenerationRequest& request,
                             const GenerationPorts& ports, const Vocabulary& vocab,
                             const StreamCallback& on_chunk, GenerationResult* result);

}  // namespace tandem::orchestrator::server
