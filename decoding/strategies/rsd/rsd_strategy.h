// rsd's registry entry: its parameter table (bound to RsdOptions), the ports
// it needs (the "model" drafter and the reward scorer as the PRM) and the run
// onto them.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "decoding/registry/strategy_definition.h"

namespace tandem::decoding {

const StrategyDefinition& RsdStrategy();

// "\n" -> newline, "\t" -> tab, "\\" -> backslash (a delimiter typed on a
// command line); any other escape is INVALID_ARGUMENT naming params.<key>.
absl::Status UnescapeParam(const std::string& key, const std::string& value, std::string* out);

}  // namespace tandem::decoding
