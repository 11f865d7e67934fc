// A per-process scratch folder for files a test generates (tiny models,
// oracle outputs). Register ScratchCleanup once per test binary to remove it
// when the program ends:
//   const auto* const kCleanup = ::testing::AddGlobalTestEnvironment(new test_scratch::ScratchCleanup);
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>
#include <system_error>

#include "gtest/gtest.h"

namespace tandem::test_scratch {

inline std::string ScratchDir() {
  const std::string dir =
      (std::filesystem::temp_directory_path() / ("tandem_test_" + std::to_string(getpid()))).string();
  std::filesystem::create_directories(dir);
  return dir;
}

class ScratchCleanup : public ::testing::Environment {
 public:
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(ScratchDir(), ec);
  }
};

}  // namespace tandem::test_scratch
