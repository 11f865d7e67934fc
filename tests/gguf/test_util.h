// Helpers shared by the GGUF tests: where the Python oracle and the models are.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace tandem::gguf::testing {

// The project's virtualenv Python (env TANDEM_PYTHON overrides), which has the
// `gguf` package the oracles use.
inline std::string PythonPath() {
  if (const char* p = std::getenv("TANDEM_PYTHON"); p != nullptr && *p != '\0') return p;
  return std::string(TANDEM_SOURCE_DIR) + "/.venv/bin/python";
}

inline std::string ToolPath(const std::string& name) {
  return std::string(TANDEM_SOURCE_DIR) + "/tests/tools/" + name;
}

inline std::filesystem::path ModelDir() {
  if (const char* p = std::getenv("TANDEM_MODEL_DIR"); p != nullptr && *p != '\0') return p;
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home != nullptr ? home : "/root") / ".cache/tandem/models";
}

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
