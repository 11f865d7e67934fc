// The result `tandem generate` prints, the same for the in-process and the
// remote path: text, ids, speeds and the per-request statistics.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "decoding/spec/request_stats.h"
#include "runtime/sampling/logprobs.h"

namespace tandem::cli {

struct GenerateOutcome {
  std::string text;
  std::vector<int32_t> token_ids;
  std::string finish_reason;  // stop | length | stop_string | aborted | error
  std::string model;
  int threads = 0;            // 0 = unknown (remote)
  decoding::spec::RequestStats stats;
  // --logprobs: one per token id, in order (and with --top-logprobs N the N
  // most likely tokens at each position).
  bool logprobs_requested = false;
  std::vector<float> logprobs;
  std::vector<std::vector<runtime::TokenLogprob>> top_logprobs;
  // --prompt-logprobs: the prompt's ids, and for each after the first its
  // log-probability given the ones before it (one fewer), with alternatives.
  bool prompt_logprobs_requested = false;
  std::vector<int32_t> prompt_token_ids;
  std::vector<float> prompt_logprobs;
  std::vector<std::vector<runtime::TokenLogprob>> prompt_top_logprobs;
};

// INTERNAL unless --logprobs brought one entry (and with top_logprobs > 0 one
// list) per token, and --prompt-logprobs one per prompt token after the
// first: a missing value is a bug to report, never a made-up one.
absl::Status CheckLogprobCounts(const GenerateOutcome& outcome, int top_logprobs);

// One JSON object: text, token_ids, prompt_tokens, completion_tokens,
// finish_reason, prefill_tokens_per_s, decode_tokens_per_s (null when the
// answer came in one chunk), model, threads, strategy, and stats: the
// tandem.v1.Stats JSON (common core + the strategy's sections); with
// --logprobs also logprobs: [{token_id, logprob, top_logprobs: [{token_id,
// logprob}]}], one per token; with --prompt-logprobs prompt_logprobs, the
// same entries for the prompt's tokens (the first's logprob and
// top_logprobs null: nothing before it to score it by).
nlohmann::json OutcomeJson(const GenerateOutcome& outcome);
// The statistics line(s) printed to stderr after a streamed generation.
std::string OutcomeSummary(const GenerateOutcome& outcome);
// --logprobs without --json: one line per token (position, id, logprob and
// the alternatives), the prompt's first with --prompt-logprobs, for stderr.
std::string LogprobsSummary(const GenerateOutcome& outcome);

// "gamma=5" pairs -> map; INVALID_ARGUMENT naming the flag on a bad pair.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseParams(
    const std::vector<std::string>& params);

}  // namespace tandem::cli
