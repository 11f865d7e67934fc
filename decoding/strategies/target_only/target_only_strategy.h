// target_only's registry entry: every token from the target alone.
#pragma once

#include "decoding/registry/strategy_definition.h"

namespace tandem::decoding {

const StrategyDefinition& TargetOnlyStrategy();

}  // namespace tandem::decoding
