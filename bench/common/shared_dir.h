// Where benchmarks find the evaluation data: $TANDEM_SHARED when set and
// non-empty, else the checkout's sibling shared/ (the layout CI and README
// use). bench/CMakeLists.txt defines TANDEM_SOURCE_DIR for every bench.
#pragma once

#include <cstdlib>
#include <string>

namespace tandem::bench {

inline std::string SharedDir() {
  if (const char* v = std::getenv("TANDEM_SHARED"); v != nullptr && *v != '\0') return v;
  return std::string(TANDEM_SOURCE_DIR) + "/../shared";
}

}  // namespace tandem::bench
