// Helpers for the batching / draft / target / remote-port tests: locating the
// real models, generating the tiny synthetic GGUF, polling for conditions.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "tests/common/scratch.h"
#include "tests/common/test_paths.h"

namespace tandem::dt_test {

using test_paths::PythonPath;
using test_paths::RealModelPath;

// Writes the tiny random llama GGUF of tests/tools/make_tiny_model.py into
// the per-process scratch folder.
inline std::string MakeTinyModel() {
  const std::string path = test_scratch::ScratchDir() + "/tiny_llama.gguf";
  const std::string cmd = PythonPath() + " " + test_paths::ToolPath("make_tiny_model.py") + " --arch llama --out " + path;
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  return path;
}

// Polls `cond` until it holds or `limit` passes (a generous bound: tests
// assert the condition, never the time it took).
inline bool WaitFor(const std::function<bool()>& cond, std::chrono::milliseconds limit = std::chrono::seconds(30)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace tandem::dt_test
