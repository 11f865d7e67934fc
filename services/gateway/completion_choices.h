// The choices of one OpenAI request: n per prompt, each its own run of the
// orchestrator (its own seed, its own logprobs writer), and how their usage
// and statistics add up into one response.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "decoding/generation/generation.h"
#include "decoding/request/request_translation.h"
#include "decoding/spec/request_stats.h"
#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "services/gateway/openai_logprobs.h"
#include "services/orchestrator/server/request_runner.h"

namespace tandem::gateway {

// Completions' echo: the prompt's text, and its tokens for the logprobs.
struct Echo {
  std::string text;
  std::vector<int32_t> prompt;
};

// One choice of a request: its own copy of the prepared request (its own
// seed) and its own logprobs writer (completions' text_offset counts per
// choice).
struct ChoiceRun {
  int index = 0;
  // Empty: the runner assigns one (a single choice, whose response id it
  // becomes); several choices share one response id and get "<it>-<index>".
  std::string request_id;
  decoding::PreparedRequest prepared;
  std::optional<LogprobsWriter> logprobs;  // the request asked for them
  // The request asked for it; the n choices of one prompt share it (the
  // prompt's text and tokens are not copied per choice).
  std::shared_ptr<const Echo> echo;
  // Set when the choice took its running slot before the response's status
  // line (a streamed request's first choice); it then runs with it.
  std::optional<orchestrator::server::RequestRunner::Admission> admission;
};

// Which failure a response of several choices reports: the first in index
// order that is not CANCELLED, else the first; nullopt when none failed (OK).
// A choice still queued when a sibling failed ends CANCELLED: it was
// stopped, it did not fail, and the sibling's error (a 503 from a service
// that is down, say) is the answer.
std::optional<size_t> ReportedFailure(const std::vector<absl::Status>& failures);

// One prompt's n choices, appended to `choices` with indices first_index,
// first_index + 1, ...: choice j runs with seed + j (the translation's seed,
// given or drawn), so a seeded request is reproducible choice by choice and
// the choices are independent samples.
void AddChoices(decoding::PreparedRequest prepared, int n, int first_index,
                const std::optional<LogprobsWriter>& logprobs, const std::shared_ptr<const Echo>& echo,
                std::vector<ChoiceRun>* choices);

// Completions' best_of: the positions in `candidates` of the n with the
// highest mean log-probability per emitted token (OpenAI's "highest log
// probability per token"; the mean, not the sum, so a longer candidate is
// not ranked down for its length), best first, ties to the lower position.
// A candidate without tokens (it ended at once) ranks after every other: its
// one choice was the end-of-generation token, whose log-probability is not
// reported. The candidates must carry logprobs (GenerationRequest::logprobs).
std::vector<size_t> RankByTokenLogprob(const std::vector<const decoding::GenerationResult*>& candidates, int n);

// OpenAI's usage ({"prompt_tokens", "completion_tokens", "total_tokens"})
// of all choices, from the stats' common core: each prompt's tokens once (the
// first of its n choices), the completions summed (with best_of, n is
// best_of and `stats` every candidate: all of them were generated).
nlohmann::json ChoicesUsage(const std::vector<const decoding::spec::RequestStats*>& stats, int n);

// One choice's tandem statistics as they are, several as a list in index
// order.
nlohmann::json ChoicesTandemStats(std::vector<nlohmann::json> stats);

}  // namespace tandem::gateway
