// Helpers of the reward tests: data and model locations.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

#include "gtest/gtest.h"

namespace tandem::reward_test {

inline std::string SharedDir() {
  if (const char* d = std::getenv("TANDEM_SHARED"); d != nullptr && *d != '\0') return d;
  return "/work/shared";
}

inline std::string ModelDir() {
  if (const char* d = std::getenv("TANDEM_MODEL_DIR"); d != nullptr && *d != '\0') return d;
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr ? home : "/root") + "/.cache/tandem/models";
}

// Path of a cached real model; fails the test (not skip) when missing.
inline std::string RealModelPath(const std::string& name) {
  const std::string path = ModelDir() + "/" + name + ".gguf";
  if (!std::filesystem::exists(path)) {
    ADD_FAILURE() << "model " << path << " is missing: run scripts/fetch_models.py " << name;
  }
  return path;
}

}  // namespace tandem::reward_test
