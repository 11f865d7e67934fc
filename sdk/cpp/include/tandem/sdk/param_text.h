// Strategy parameter values as the server parses them (GenerateRequest.params
// carries text). Used by the generated tandem/sdk/strategy_options.h.
#pragma once

#include <cstdint>
#include <string>

namespace tandem::strategy::internal {

std::string IntParam(int64_t value);
// The shortest text that reads back as exactly `value`, so a typed option
// reaches the server unrounded.
std::string RealParam(double value);
std::string BoolParam(bool value);

}  // namespace tandem::strategy::internal
