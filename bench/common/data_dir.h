// Where benchmarks find their data: the repository's test data (tests/data:
// gsm8k/, hh-rlhf/, long_text/; sources and licenses in tests/data/README.md),
// so a fresh clone can run them. bench/CMakeLists.txt defines
// TANDEM_SOURCE_DIR for every bench; each bench also takes a flag to point at
// other data.
#pragma once

#include <string>

namespace tandem::bench {

inline std::string DataDir() { return std::string(TANDEM_SOURCE_DIR) + "/tests/data"; }

}  // namespace tandem::bench
