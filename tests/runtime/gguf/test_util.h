// Helpers shared by the GGUF tests: where the Python oracle and the models are.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

#include "tests/common/test_paths.h"

namespace tandem::gguf::testing {

// The project's virtualenv Python (env TANDEM_PYTHON overrides), which has the
// `gguf` package the oracles use.
using test_paths::PythonPath;
using test_paths::ToolPath;

inline std::filesystem::path ModelDir() { return test_paths::ModelDir(); }

// Single-quotes a string for /bin/sh.
inline std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

}  // namespace tandem::gguf::testing
