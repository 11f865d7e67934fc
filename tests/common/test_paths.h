// Where tests find what lives outside the build: the model cache, the test
// data shipped in tests/data, the project's Python and its oracles in
// tests/tools. One place for the environment overrides scripts/test.sh sets
// (TANDEM_MODEL_DIR, TANDEM_PYTHON), so every test resolves them the same way.
// Header-only; needs the TANDEM_SOURCE_DIR definition tandem_add_test gives.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "gtest/gtest.h"

namespace tandem::test_paths {

// $name when set and non-empty, else `fallback`.
inline std::string EnvOr(const char* name, std::string fallback) {
  if (const char* v = std::getenv(name); v != nullptr && *v != '\0') return v;
  return fallback;
}

// The model cache: $TANDEM_MODEL_DIR, else $HOME/.cache/tandem/models.
inline std::string ModelDir() {
  return EnvOr("TANDEM_MODEL_DIR", EnvOr("HOME", "/root") + "/.cache/tandem/models");
}

// The test data in the repository (gsm8k/, hh-rlhf/, long_text/; sources,
// licenses and how each subset was made in tests/data/README.md). No
// override: the tests' expectations are written against exactly these files.
inline std::string DataDir() { return std::string(TANDEM_SOURCE_DIR) + "/tests/data"; }

// The long-text files (long_text/*.txt) in name order: tens of thousands of
// tokens of English prose for perplexity, tokenizer, embedding and needle
// tests. Empty when the folder is missing.
inline std::vector<std::string> LongTextFiles() {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(DataDir() + "/long_text", ec)) {
    if (e.path().extension() == ".txt") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// The project's virtualenv Python (has gguf, numpy, tokenizers).
inline std::string PythonPath() { return EnvOr("TANDEM_PYTHON", std::string(TANDEM_SOURCE_DIR) + "/.venv/bin/python"); }

// A Python oracle or generator in tests/tools.
inline std::string ToolPath(const std::string& name) { return std::string(TANDEM_SOURCE_DIR) + "/tests/tools/" + name; }

// Path of a cached real model <ModelDir>/<name>.gguf; fails the test (not
// skip) when it is missing, and still returns the path so the caller's load
// error names it too.
inline std::string RealModelPath(const std::string& name) {
  const std::string path = ModelDir() + "/" + name + ".gguf";
  if (!std::filesystem::exists(path)) {
    ADD_FAILURE() << "model " << path << " is missing: run scripts/fetch_models.py " << name
                  << " (or set TANDEM_MODEL_DIR)";
  }
  return path;
}

}  // namespace tandem::test_paths
