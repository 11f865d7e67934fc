// `tandem generate`: stream a completion from a model in this process.
#pragma once

#include <cstdint>
#include <string>

#include "CLI/CLI.hpp"
#include "runtime/sampling/sampling_params.h"

namespace tandem::cli {

struct GenerateOptions {
  std::string model = "smollm2-135m";
  std::string prompt;
  bool chat = false;
  int max_tokens = 128;
  runtime::SamplingParams sampling;
  int threads = 0;
  bool json = false;
};

// Registers the subcommand's flags on `app`, bound to `options`.
CLI::App* AddGenerateCommand(CLI::App& app, GenerateOptions& options);

// Runs it; returns the process exit code.
int RunGenerate(const GenerateOptions& options);

}  // namespace tandem::cli
