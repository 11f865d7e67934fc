// Helpers of the reward tests: data and model locations (tests/common/test_paths.h).
#pragma once

#include "tests/common/test_paths.h"

namespace tandem::reward_test {

using test_paths::RealModelPath;
using test_paths::DataDir;

}  // namespace tandem::reward_test
