// `tandem strategies`: the strategies and their parameters, from the
// registry (the same tables that validate requests and fill GetInfo).
// --markdown prints the README's parameter table.
#pragma once

#include <string>

#include "CLI/CLI.hpp"

namespace tandem::cli {

struct StrategiesOptions {
  bool markdown = false;
};

CLI::App* AddStrategiesCommand(CLI::App& app, StrategiesOptions& options);
int RunStrategies(const StrategiesOptions& options);

// The markdown table (one row per parameter) the README embeds.
std::string StrategiesMarkdown();

}  // namespace tandem::cli
