#include "services/orchestrator/server/strategy_catalog.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/orchestrator/server/rapid_strategy.h"
#include "services/orchestrator/server/reward_strategies.h"
#include "services/orchestrator/server/rsd_strategy.h"
#include "services/orchestrator/server/strategy_params.h"

namespace tandem::orchestrator::server {
namespace {

std::vector<StrategySpec> BuildCatalog() {
  std::vector<StrategySpec> c;
  c.push_back({"target_only", "Every token from the target model alone (the baseline).", {}, true});
  c.push_back(
      {"speculative",
       "Lossless speculative decoding: a drafter proposes gamma tokens, the target verifies "
       "them in one pass (rejection sampling keeps the target's distribution exactly).",
       {{"gamma", "Draft length per round, 1..32 (the starting value with adaptive_gamma).", "4"},
        {"adaptive_gamma", "true/false: adapt gamma to the recent acceptance rate.", "false"},
        {"min_gamma", "Lower bound of adaptive gamma, 1..32.", "1"},
        {"max_gamma", "Upper bound of adaptive gamma, 1..32.", "12"},
        {"drafter", "Drafter: 'ngram' (prompt lookup, no model) or 'model' (the draft model).",
         "the deployment's drafter, else ngram"}},
       true});
  for (StrategySpec& s : RewardGuidedStrategies()) c.push_back(std::move(s));
  c.push_back(RapidStrategySpec());
  for (StrategySpec& s : RsdStrategies()) c.push_back(std::move(s));
  return c;
}

// speculative's documented parameters (target_only has none).
absl::Status ApplySpeculativeParam(const std::string& key, const std::string& value, StrategyChoice* choice) {
  if (key == "gamma") return ParseIntParam(key, value, 1, kMaxGamma, &choice->gamma.gamma);
  if (key == "adaptive_gamma") return ParseBoolParam(key, value, &choice->gamma.adaptive);
  if (key == "min_gamma") return ParseIntParam(key, value, 1, kMaxGamma, &choice->gamma.min_gamma);
  if (key == "max_gamma") return ParseIntParam(key, value, 1, kMaxGamma, &choice->gamma.max_gamma);
  if (key == "drafter") {
    if (value != "ngram" && value != "model") {
      return BadParam(key, absl::StrCat("'", value, "' is not a drafter (ngram, model)"));
    }
    choice->drafter = value;
    return absl::OkStatus();
  }
  return BadParam(key, "not a parameter of 'speculative'");
}

}  // namespace

const std::vector<StrategySpec>& StrategyCatalog() {
  // Immutable after first use (function-local static, thread-safe init).
  static const std::vector<StrategySpec> catalog = BuildCatalog();
  return catalog;
}

const StrategySpec* FindStrategy(std::string_view name) {
  for (const StrategySpec& s : StrategyCatalog()) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

std::string StrategyNames() {
  std::vector<std::string> names;
  for (const StrategySpec& s : StrategyCatalog()) names.push_back(s.name);
  return absl::StrJoin(names, ", ");
}

absl::Status ApplyStrategyParams(const std::map<std::string, std::string>& params,
                                 StrategyChoice* choice) {
  const StrategySpec* spec = FindStrategy(choice->strategy);
  if (spec == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("strategy: unknown strategy '", choice->strategy,
                                                   "' (known: ", StrategyNames(), ")"));
  }
  std::vector<std::string> unknown;
  for (const auto& [key, value] : params) {
    bool known = false;
    for (const ParamSpec& p : spec->params) known = known || p.name == key;
    if (!known) unknown.push_back(key);
  }
  if (!unknown.empty()) {
    std::vector<std::string> documented;
    for (const ParamSpec& p : spec->params) documented.push_back(p.name);
    return absl::InvalidArgumentError(absl::StrCat(
        "params: unknown parameter(s) ", absl::StrJoin(unknown, ", "), " for strategy '", spec->name,
        "' (documented: ", documented.empty() ? "none" : absl::StrJoin(documented, ", "), ")"));
  }
  // Each family parses its own parameters (rsd_strategy.h, rapid_strategy.h,
  // reward_strategies.h); speculative's are here.
  using ApplyParam = absl::Status (*)(const std::string&, const std::string&, StrategyChoice*);
  const ApplyParam apply = IsRsdFamily(choice->strategy)     ? ApplyRsdParam
                           : choice->strategy == "rapid"     ? ApplyRapidParam
                           : IsRewardGuided(choice->strategy) ? ApplyRewardGuidedParam
                                                              : ApplySpeculativeParam;
  for (const auto& [key, value] : params) {
    if (absl::Status s = apply(key, value, choice); !s.ok()) return s;
  }
  if (choice->gamma.min_gamma > choice->gamma.max_gamma) {
    return BadParam("min_gamma", absl::StrCat("must be <= max_gamma (", choice->gamma.max_gamma, ")"));
  }
  return absl::OkStatus();
}

}  // namespace tandem::orchestrator::server
