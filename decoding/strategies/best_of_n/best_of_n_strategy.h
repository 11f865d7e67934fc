// best_of_n's registry entry: its parameter table (bound to its options), the
// ports it needs and the run onto them.
#pragma once

#include "decoding/registry/strategy_definition.h"

namespace tandem::decoding {

const StrategyDefinition& BestOfNStrategy();

}  // namespace tandem::decoding
