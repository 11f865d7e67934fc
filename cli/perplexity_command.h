// `tandem perplexity`: perplexity of a model on a text file.
#pragma once

#include <cstdint>
#include <string>

#include "CLI/CLI.hpp"

namespace tandem::cli {

struct PerplexityOptions {
  std::string model = "smollm2-135m";
  std::string file;
  int64_t window = 512;
  int64_t max_tokens = 0;  // 0 = the whole file
  int threads = 0;
  std::string scoring = "all";  // all | llama-cpp (runtime::PerplexityScoring)
  bool json = false;
};

CLI::App* AddPerplexityCommand(CLI::App& app, PerplexityOptions& options);
int RunPerplexity(const PerplexityOptions& options);

}  // namespace tandem::cli
