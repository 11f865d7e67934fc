#include "decoding/spec/request_stats_json.h"

namespace tandem::decoding::spec {
namespace {

nlohmann::json SpeculationJson(const SpeculationStats& s) {
  nlohmann::json choices = nlohmann::json::array();
  for (const SpeculationStats::GammaChoice& c : s.gamma_choices) {
    choices.push_back({{"gamma", c.gamma}, {"reason", c.reason}, {"rounds", c.rounds}});
  }
  return {
      {"num_drafts", s.num_drafts},
      {"drafted_tokens", s.drafted_tokens},
      {"accepted_tokens", s.accepted_tokens},
      {"accepted_per_position", s.accepted_per_position},
      {"drafted_per_position", s.drafted_per_position},
      {"acceptance_rate", s.acceptance_rate()},
      {"mean_acceptance_length", s.mean_acceptance_length()},
      {"acceptance_per_position", s.acceptance_per_position()},
      {"final_gamma", s.final_gamma},
      {"gamma_choices", choices},
  };
}

nlohmann::json RetrievalJson(const RetrievalStats& s) {
  return {
      {"context_tokens", s.context_tokens},
      {"retrieved_chunks", s.retrieved_chunks},
      {"retrieved_tokens", s.retrieved_tokens},
      {"draft_prompt_tokens", s.draft_prompt_tokens},
      {"retrieval_ms", s.retrieval_ms},
  };
}

nlohmann::json RewardJson(const RewardStats& s) {
  nlohmann::json j = {{"calls", s.calls}, {"items", s.items}, {"time_ms", s.time_ms}};
  if (s.final_reward.has_value()) j["final_reward"] = *s.final_reward;
  return j;
}

nlohmann::json CardsJson(const CardsStats& s) {
  nlohmann::json j = {
      {"segments_proposed", s.segments_proposed},
      {"segments_accepted", s.segments_accepted},
      {"segments_rejected", s.segments_rejected},
      {"segments_forced", s.segments_forced},
      {"rejections_per_segment", s.rejections_per_segment},
  };
  if (s.r_star.has_value()) j["r_star"] = *s.r_star;
  return j;
}

nlohmann::json RsdJson(const RsdStats& s) {
  return {
      {"steps", s.steps},
      {"steps_drafted", s.steps_drafted},
      {"steps_accepted", s.steps_accepted},
      {"steps_target", s.steps_target},
      {"draft_tokens_accepted", s.draft_tokens_accepted},
      {"draft_tokens_discarded", s.draft_tokens_discarded},
      {"target_tokens", s.target_tokens},
      {"step_rewards", s.step_rewards},
      {"target_step_fraction", s.target_step_fraction},
  };
}

}  // namespace

nlohmann::json StatsJson(const RequestStats& s) {
  nlohmann::json j = {
      {"strategy", s.strategy},
      {"drafter", s.drafter},
      {"prompt_tokens", s.prompt_tokens},
      {"generated_tokens", s.generated_tokens},
      {"target_calls", s.target_calls},
      {"draft_calls", s.draft_calls},
      {"time_to_first_token_ms", s.time_to_first_token_ms},
      {"e2e_latency_ms", s.e2e_latency_ms},
      {"draft_time_ms", s.draft_time_ms},
      {"target_time_ms", s.target_time_ms},
      {"fallback", s.fallback},
      {"flops", {{"draft", s.flops.draft}, {"target", s.flops.target}, {"prm", s.flops.prm},
                 {"total", s.flops.total()}}},
  };
  if (s.decode_tokens_per_s.has_value()) j["decode_tokens_per_s"] = *s.decode_tokens_per_s;
  if (s.has(kStatsSpeculation)) j["speculation"] = SpeculationJson(s.speculation);
  if (s.has(kStatsRetrieval)) j["retrieval"] = RetrievalJson(s.retrieval);
  if (s.has(kStatsReward)) j["reward"] = RewardJson(s.reward);
  if (s.has(kStatsCards)) j["cards"] = CardsJson(s.cards);
  if (s.has(kStatsRsd)) j["rsd"] = RsdJson(s.rsd);
  return j;
}

}  // namespace tandem::decoding::spec
