// Per-request statistics, the in-process twin of tandem.v1.Stats (same field
// meanings; vLLM's spec-decode counter semantics): a common core every
// strategy fills, and sections a strategy fills when its registry entry
// declares them (StrategySpecOf::stats). A section is a feature, not a
// strategy, because strategies share features: speculative and RAPID both
// report speculation rounds, RSD reports speculation, reward and its steps.
// Adding a counter: the field here, the strategy that counts it, the proto
// field, its lines in services/common/stats_convert.cc (both directions) and
// in request_stats_json.cc; stats_convert_test fails when one is missing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tandem::decoding::spec {

// The optional sections of RequestStats, as bits of RequestStats::sections.
enum StatsSection : uint32_t {
  kStatsSpeculation = 1u << 0,
  kStatsRetrieval = 1u << 1,
  kStatsReward = 1u << 2,
  kStatsCards = 1u << 3,
  kStatsRsd = 1u << 4,
};
using StatsSections = uint32_t;

// Draft-then-verify rounds (speculative, rapid; rsd counts its steps here).
struct SpeculationStats {
  int64_t num_drafts = 0;       // rounds with >= 1 drafted token
  int64_t drafted_tokens = 0;
  int64_t accepted_tokens = 0;
  std::vector<int64_t> accepted_per_position;  // [i]: rounds whose token i was accepted
  std::vector<int64_t> drafted_per_position;   // [i]: rounds that drafted >= i+1 tokens
  int final_gamma = 0;          // draft length where the (adaptive) controller ended
  // Rounds per (gamma the controller chose for the round, reason:
  // GammaReasonName), in first-seen order; tandem:spec_decode_gamma.
  struct GammaChoice {
    int gamma = 0;
    std::string reason;
    int64_t rounds = 0;
    bool operator==(const GammaChoice&) const = default;
  };
  std::vector<GammaChoice> gamma_choices;

  void RecordGamma(int gamma, std::string_view reason) {
    for (GammaChoice& c : gamma_choices) {
      if (c.gamma == gamma && c.reason == reason) {
        ++c.rounds;
        return;
      }
    }
    gamma_choices.push_back({gamma, std::string(reason), 1});
  }

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
  // accepted_per_position[i] / drafted_per_position[i].
  std::vector<double> acceptance_per_position() const {
    std::vector<double> rate;
    for (size_t i = 0; i < accepted_per_position.size() && i < drafted_per_position.size(); ++i) {
      rate.push_back(drafted_per_position[i] > 0
                         ? static_cast<double>(accepted_per_position[i]) / drafted_per_position[i]
                         : 0.0);
    }
    return rate;
  }
};

// RAPID's retrieval for the drafter's context.
struct RetrievalStats {
  int64_t context_tokens = 0;       // L: tokens of the request's long context
  int64_t retrieved_chunks = 0;     // chunks in the drafter's context (after theta)
  int64_t retrieved_tokens = 0;     // tokens of those chunks
  int64_t draft_prompt_tokens = 0;  // the drafter's prompt: template + retrieved chunks
  double retrieval_ms = 0;          // chunking + embedding + search, as the retriever reports
};

// Calls into the reward scorer (cards, best_of_n, args, rsd).
struct RewardStats {
  int64_t calls = 0;                  // calls into the reward scorer
  int64_t items = 0;                  // (prompt, response) pairs scored over those calls
  double time_ms = 0;                 // time spent waiting for the scorer
  std::optional<double> final_reward; // reward of the returned response (cards, best_of_n, args)
};

// CARDS' segment-level rejection sampling.
struct CardsStats {
  int64_t segments_proposed = 0;   // candidate segments sampled
  int64_t segments_accepted = 0;   // segments committed (forced ones included)
  int64_t segments_rejected = 0;   // candidates rolled back
  int64_t segments_forced = 0;     // accepted as best-of after max_rejections
  std::vector<int64_t> rejections_per_segment;  // [i] = rejections before segment i
  std::optional<double> r_star;    // the target reward used (after calibration)
};

// RSD (strategies/rsd/rsd.h). A step is the text up to the step delimiter.
struct RsdStats {
  int64_t steps = 0;                   // steps in the response
  int64_t steps_drafted = 0;           // draft steps scored by the PRM
  int64_t steps_accepted = 0;          // draft steps kept
  int64_t steps_target = 0;            // steps generated by the target (after a rejection)
  int64_t draft_tokens_accepted = 0;   // tokens of kept draft steps
  int64_t draft_tokens_discarded = 0;  // draft tokens thrown away
  int64_t target_tokens = 0;           // tokens the target generated
  std::vector<double> step_rewards;    // PRM reward of every scored draft step, in order
  double target_step_fraction = 0;     // steps_target / steps
};

// Compute estimate, 2 x parameters x tokens forwarded per model (the
// accounting is documented in strategies/rsd/rsd.h); 0 when a parameter
// count is unknown or the strategy does not estimate it.
struct FlopsStats {
  double draft = 0;
  double target = 0;
  double prm = 0;
  double total() const { return draft + target + prm; }
};

struct RequestStats {
  // Common core: every strategy.
  std::string strategy;
  std::string drafter;        // drafter used ("model", "ngram"), "" without one
  int64_t prompt_tokens = 0;
  int64_t generated_tokens = 0;
  int64_t target_calls = 0;   // calls into the target (Verify / Step / Append)
  int64_t draft_calls = 0;    // calls into the drafter
  double time_to_first_token_ms = 0;
  double e2e_latency_ms = 0;
  double draft_time_ms = 0;   // waiting for the drafter, summed over calls
  double target_time_ms = 0;  // waiting for the target, summed over calls
  // Tokens after the first chunk over the time from the first to the last
  // chunk; unset when fewer than two chunks carried tokens (a one-chunk
  // answer has no decode interval to measure).
  std::optional<double> decode_tokens_per_s;
  // Why the request finished without a part of the deployment (e.g. "draft
  // unavailable: ..."), "" when it ran as asked.
  std::string fallback;
  FlopsStats flops;

  // Which of the sections below the strategy fills (StatsSection bits); set
  // by RunStrategy from the registry entry.
  StatsSections sections = 0;
  SpeculationStats speculation;
  RetrievalStats retrieval;
  RewardStats reward;
  CardsStats cards;
  RsdStats rsd;

  bool has(StatsSection section) const { return (sections & section) != 0; }
};

}  // namespace tandem::decoding::spec
