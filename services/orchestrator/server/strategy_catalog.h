// The strategies the Generation service knows, their documented parameters
// (GetInfo lists them; GenerateRequest.params and `tandem generate --param`
// set them by name), and the per-request choice resolved from those
// parameters. Network-free: the CLI's in-process generate uses it too.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "services/orchestrator/spec/gamma_controller.h"
#include "services/orchestrator/strategies/rapid.h"
#include "services/orchestrator/strategies/args.h"
#include "services/orchestrator/strategies/best_of_n.h"
#include "services/orchestrator/strategies/cards.h"
#include "services/orchestrator/strategies/draft_only.h"
#include "services/orchestrator/strategies/rsd.h"

namespace tandem::orchestrator::server {

struct ParamSpec {
  std::string name;
  std::string description;  // what it does, range, units
  std::string default_value;
};

struct StrategySpec {
  std::string name;
  std::string description;
  std::vector<ParamSpec> params;
  bool implemented = false;  // false: known name, requests get UNIMPLEMENTED
};

// Every strategy name tandem reserves, implemented ones first.
const std::vector<StrategySpec>& StrategyCatalog();
// nullptr for an unknown name.
const StrategySpec* FindStrategy(std::string_view name);
// "target_only, speculative, ..." for error messages.
std::string StrategyNames();

// What one request runs, after defaults and params are applied.
struct StrategyChoice {
  std::string strategy = "target_only";
  // Speculative only: "ngram" or "model"; empty = the deployment's default.
  std::string drafter;
  spec::GammaOptions gamma;
  // rapid (server/rapid_strategy.h).
  RapidOptions rapid;
  // Reward-guided strategies (server/reward_strategies.h).
  CardsOptions cards;
  BestOfNOptions best_of_n;
  ArgsOptions args;
  // rsd / draft_only (server/rsd_strategy.h).
  RsdOptions rsd;
  DraftOnlyOptions draft_only;
};

// Applies `params` (documented names of choice->strategy's parameters) onto
// *choice. Unknown keys, unparsable or out-of-range values are
// INVALID_ARGUMENT naming the key ("params.gamma: ..."); all unknown keys are
// listed at once.
absl::Status ApplyStrategyParams(const std::map<std::string, std::string>& params,
                                 StrategyChoice* choice);

// Valid gamma range of a request (matches the proto's documented range).
inline constexpr int kMaxGamma = 32;

}  // namespace tandem::orchestrator::server
