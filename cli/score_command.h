// `tandem score`: score a prompt/response (or a list of steps) with a reward
// backend, in this process (services/reward's registry) or through a running
// Reward service (--server). --backend target_likelihood (in process only)
// loads --judge-model as the target and scores with RSD/CARDS' target-likelihood
// reward (decoding/strategies/reward_guided/target_likelihood.h): a response
// scores exp(mean log p) of its tokens given the prompt; steps are appended one
// after another to one target session, each closed by the delimiter (option
// delimiter, default "\n\n"), and step i scores exp(mean log p) of its
// tokens given the prompt and steps before it.
#pragma once

#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "cli/client_security.h"

namespace tandem::cli {

struct ScoreOptions {
  std::string backend;                 // "" = the scorer's default
  std::vector<std::string> options;    // KEY=VALUE backend options
  std::string prompt, reference;
  std::vector<std::string> responses;  // one score each
  std::vector<std::string> steps;      // process mode: one score per step
  std::string server;                  // host:port of a Reward service; empty = in process
  ClientSecurityOptions security;      // with server: TLS
  std::string judge_model = "smollm2-135m";
  std::string reward_model;
  int threads = 0;
  bool chat = false;                   // target_likelihood: the prompt as a user message in the chat template
  bool json = false;
};

CLI::App* AddScoreCommand(CLI::App& app, ScoreOptions& options);
int RunScore(const ScoreOptions& options);

}  // namespace tandem::cli
