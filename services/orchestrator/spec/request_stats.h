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

  // RAPID (retrieval-augmented drafting); 0 for other strategies.
  int64_t context_tokens = 0;       // L: tokens of the request's long context
  int64_t retrieved_chunks = 0;     // chunks in the drafter's context (after theta)
  int64_t retrieved_tokens = 0;     // tokens of those chunks
  int64_t draft_prompt_tokens = 0;  // the drafter's prompt: template + retrieved chunks
  double retrieval_ms = 0;          // chunking + embedding + search, as the retriever reports

  // Reward-guided strategies (cards, best_of_n, args). target_calls counts
  // their LLM forward calls (Verify / Append), prefill excluded.
  int64_t reward_calls = 0;         // calls into the reward scorer
  int64_t reward_items = 0;         // (prompt, response) pairs scored over those calls
  double reward_time_ms = 0;        // time spent waiting for the reward scorer
  int64_t segments_proposed = 0;    // cards: candidate segments sampled
  int64_t segments_accepted = 0;    // cards: segments committed (forced ones included)
  int64_t segments_rejected = 0;    // cards: candidates rolled back
  int64_t segments_forced = 0;      // cards: accepted as best-of after max_rejections
  std::vector<int64_t> rejections_per_segment;  // cards: [i] = rejections before segment i
  bool has_final_reward = false;
  double final_reward = 0;          // reward of the returned response
  bool has_r_star = false;
  double r_star = 0;                // cards: the target reward used (after calibration)

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
