// The strategies tandem serves, by name. The list lives in
// strategy_registry.cc, one line per strategy; everything else (request
// translation, the Generation service's catalog, the CLI's flags and help)
// goes through these functions, so adding a strategy is one new folder under
// strategies/ and one line there.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "decoding/registry/strategy_definition.h"

namespace tandem::decoding {

// Every strategy, in the order the catalog lists them.
const std::vector<const StrategyDefinition*>& Strategies();

// nullptr for an unknown name.
const StrategyDefinition* FindStrategy(std::string_view name);

// "target_only, speculative, ..." for error messages and help text.
std::string StrategyNames();

// The strategies whose definition reports the target's logprobs
// (StrategyDefinition::logprobs), in catalog order as prose: "a and b",
// "a, b and c". For the errors that refuse logprobs-based requests.
std::string LogprobStrategyNames();

// The named strategy with `params` applied: INVALID_ARGUMENT
// "strategy: unknown strategy ..." for an unknown name, "params...: ..." for
// a bad parameter.
absl::StatusOr<PreparedStrategy> PrepareStrategy(std::string_view name,
                                                 const std::map<std::string, std::string>& params);

}  // namespace tandem::decoding
