// `tandem generate`: stream a completion. Without --server the strategy runs
// in this process (all-in-one ports over models loaded here); with
// --server HOST:PORT this is a client of the orchestrator's Generation
// service. Both paths run the same strategy code and print the same result.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "cli/client_security.h"
#include "runtime/sampling/sampling_params.h"

namespace tandem::cli {

struct GenerateOptions {
  std::string model;  // empty: smollm2-135m in process, the server's default remotely
  std::string prompt;
  bool chat = false;
  std::optional<std::string> suffix;    // fill in the middle: the code after the gap (prompt: before it)
  int max_tokens = 128;
  runtime::SamplingParams sampling;     // its seed is unused: `seed` below
  std::optional<uint64_t> seed;         // unset: in process 0, remotely the server's choice
  int threads = 0;
  std::string device = "cpu";            // in process: cpu | cuda | auto
  bool json = false;
  // Strategy selection.
  std::string server;                   // HOST:PORT; empty = in process
  std::string strategy;                 // empty: target_only in process, the server's default remotely
  std::vector<std::string> params;      // KEY=VALUE
  int gamma = 0;                        // 0 = the strategy's default
  std::optional<bool> adaptive_gamma;   // unset: the request translation's rule (adaptive unless pinned)
  std::string draft_model;              // in process, drafter=model; empty = --model
  int64_t draft_head_vocab = 0;         // in process: the draft's head covers ids below this; 0 = all
  std::string draft_requantize;         // in process: "q4_0" / "q8_0" re-quantizes the draft; empty = as stored
  std::string context_file;
  std::vector<std::string> stop;
  bool ignore_eos = false;
  bool logprobs = false;                // each token's log-probability under the target
  int top_logprobs = 0;                 // with logprobs: the most likely tokens per position, 0..20
  bool prompt_logprobs = false;         // with logprobs: the prompt's tokens scored too
  std::string request_id;
  double timeout_s = 0;                 // remote only; 0 = none
  ClientSecurityOptions security;       // remote only: TLS and bearer token
};

// Registers the subcommand's flags on `app`, bound to `options`.
CLI::App* AddGenerateCommand(CLI::App& app, GenerateOptions& options);

// Runs it; returns the process exit code.
int RunGenerate(const GenerateOptions& options);

}  // namespace tandem::cli
