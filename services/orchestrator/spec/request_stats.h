// Per-request statistics, the in-process twin of tandem.v1.Stats (same field
// meanings; vLLM's spec-decode counter semantics).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tandem::orchestrator::spec {

struct RequestStats {
  std::string strategy;
  std::string drafter;
  int64_t prompt_tokens = 0;
  int64_t generated_tokens = 0;
  int64_t num_drafts = 0;       // rounds with >= 1 drafted token
  int64_t drafted_tokens = 0;
  int64_t accepted_tokens = 0;
  std::vector<int64_t> accepted_per_position;  // [i]: rounds whose token i was accepted
  std::vector<int64_t> drafted_per_position;   // [i]: rounds that drafted >= i+1 tokens
  int64_t target_calls = 0;
  int64_t draft_calls = 0;
  double time_to_first_token_ms = 0;
  double e2e_latency_ms = 0;
  double draft_time_ms = 0;
  double target_time_ms = 0;
  int final_gamma = 0;

  // Records one verification round.
  void RecordRound(int drafted, int accepted) {
    if (drafted <= 0) return;
    ++num_drafts;
    drafted_tokens += drafted;
    accepted_tokens += accepted;
    if (drafted_per_position.size() < static_cast<size_t>(drafted)) {
      drafted_per_position.resize(drafted, 0);
      accepted_per_position.resize(drafted, 0);
    }
    for (int i = 0; i < drafted; ++i) ++drafted_per_position[i];
    for (int i = 0; i < accepted; ++i) ++accepted_per_position[i];
  }
  double acceptance_rate() const {
    return drafted_tokens > 0 ? static_cast<double>(accepted_tokens) / drafted_tokens : 0.0;
  }
  double mean_acceptance_length() const {
    return num_drafts > 0 ? 1.0 + static_cast<double>(accepted_tokens) / num_drafts : 0.0;
  }
};

}  // namespace tandem::orchestrator::spec
