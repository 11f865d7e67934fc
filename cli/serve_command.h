// `tandem serve --role draft|target|orchestrator|all-in-one --config FILE
// [--service NAME]` (`--all-in-one` = `--role all-in-one`): runs one service of a deployment config in this process
// until SIGTERM/SIGINT. all-in-one serves the Generation API with the
// draft/target models loaded in process (the same strategy code as the
// remote wiring).
#pragma once

#include <string>

#include "CLI/CLI.hpp"

namespace tandem::cli {

struct ServeOptions {
  std::string role;
  bool all_in_one = false;  // --all-in-one, same as --role all-in-one
  std::string config;
  std::string service;  // empty = the config's first entry of the role
  int http_port = -1;   // orchestrator: OpenAI-compatible HTTP port; -1 = the config's http_port
  // Override the config's tls block for the served service (all three files
  // together) and its auth block; empty = as in the config.
  std::string tls_cert, tls_key, tls_ca;
  bool require_client_cert = false;
  std::string token_file;
};

CLI::App* AddServeCommand(CLI::App& app, ServeOptions& options);
int RunServe(const ServeOptions& options);

}  // namespace tandem::cli
