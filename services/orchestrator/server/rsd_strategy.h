// RSD and draft_only on the serving side: catalog entries, parameter parsing
// and the dispatch onto the ports (the "model" drafter, the target verifier,
// the reward scorer as the PRM), kept out of strategy_catalog.cc /
// strategy_runner.cc so those stay lists. Shared by the Generation service
// and the CLI's in-process `tandem generate`.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "services/orchestrator/server/generation_ports.h"
#include "services/orchestrator/server/strategy_catalog.h"
#include "services/orchestrator/strategies/generation.h"

namespace tandem::orchestrator::server {

// draft_only and rsd, parameters documented with their defaults.
std::vector<StrategySpec> RsdStrategies();

// Whether `strategy` is draft_only or rsd.
bool IsRsdFamily(const std::string& strategy);

// Applies one documented parameter onto choice->rsd / choice->draft_only
// (INVALID_ARGUMENT "params.<key>: ..." for a bad value).
absl::Status ApplyRsdParam(const std::string& key, const std::string& value, StrategyChoice* choice);

// "\n" -> newline, "\t" -> tab, "\\" -> backslash (a delimiter typed on a
// command line); any other escape is INVALID_ARGUMENT.
absl::Status UnescapeParam(const std::string& key, const std::string& value, std::string* out);

// Runs draft_only (needs the "model" drafter) or rsd (also the reward scorer).
// The FLOPs estimate takes the parameter counts from the ports' model
// descriptions (0 when unknown) and the PRM's from params.prm_parameters.
absl::Status RunRsdFamily(const StrategyChoice& choice, const GenerationRequest& request,
                          const GenerationPorts& ports, const Vocabulary& vocab, const StreamCallback& on_chunk,
                          GenerationResult* result);

}  // namespace tandem::orchestrator::server
