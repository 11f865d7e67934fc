#include "cli/generate_result.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace tandem::cli {

nlohmann::json OutcomeJson(const GenerateOutcome& o) {
  const auto& s = o.stats;
  // Speeds from the request timeline: the prefill ends with the first token,
  // every later token is decode.
  const double ttft_s = s.time_to_first_token_ms / 1000.0;
  const double decode_s = (s.e2e_latency_ms - s.time_to_first_token_ms) / 1000.0;
  const int64_t decoded = static_cast<int64_t>(o.token_ids.size()) - 1;
  nlohmann::json j;
  j["text"] = o.text;
  j["token_ids"] = o.token_ids;
  j["prompt_tokens"] = s.prompt_tokens;
  j["completion_tokens"] = o.token_ids.size();
  j["finish_reason"] = o.finish_reason;
  j["prefill_tokens_per_s"] = ttft_s > 0 ? s.prompt_tokens / ttft_s : 0.0;
  j["decode_tokens_per_s"] = decode_s > 0 && decoded > 0 ? decoded / decode_s : 0.0;
  j["model"] = o.model;
  j["threads"] = o.threads;
  j["strategy"] = s.strategy;
  nlohmann::json st;
  st["strategy"] = s.strategy;
  st["drafter"] = s.drafter;
  st["prompt_tokens"] = s.prompt_tokens;
  st["generated_tokens"] = s.generated_tokens;
  st["num_drafts"] = s.num_drafts;
  st["drafted_tokens"] = s.drafted_tokens;
  st["accepted_tokens"] = s.accepted_tokens;
  st["acceptance_rate"] = s.acceptance_rate();
  st["mean_acceptance_length"] = s.mean_acceptance_length();
  st["accepted_per_position"] = s.accepted_per_position;
  st["drafted_per_position"] = s.drafted_per_position;
  std::vector<double> rate;
  for (size_t i = 0; i < s.accepted_per_position.size() && i < s.drafted_per_position.size(); ++i) {
    rate.push_back(s.drafted_per_position[i] > 0
                       ? static_cast<double>(s.accepted_per_position[i]) / s.drafted_per_position[i] : 0.0);
  }
  st["acceptance_per_position"] = rate;
  st["target_calls"] = s.target_calls;
  st["draft_calls"] = s.draft_calls;
  st["time_to_first_token_ms"] = s.time_to_first_token_ms;
  st["e2e_latency_ms"] = s.e2e_latency_ms;
  st["draft_time_ms"] = s.draft_time_ms;
  st["target_time_ms"] = s.target_time_ms;
  st["final_gamma"] = s.final_gamma;
  if (s.context_tokens > 0) {  // rapid
    st["context_tokens"] = s.context_tokens;
    st["retrieved_chunks"] = s.retrieved_chunks;
    st["retrieved_tokens"] = s.retrieved_tokens;
    st["draft_prompt_tokens"] = s.draft_prompt_tokens;
    st["retrieval_ms"] = s.retrieval_ms;
  }
  // Reward-guided strategies (cards, best_of_n, args).
  st["reward_calls"] = s.reward_calls;
  st["reward_items"] = s.reward_items;
  st["reward_time_ms"] = s.reward_time_ms;
  st["segments_proposed"] = s.segments_proposed;
  st["segments_accepted"] = s.segments_accepted;
  st["segments_rejected"] = s.segments_rejected;
  st["segments_forced"] = s.segments_forced;
  st["rejections_per_segment"] = s.rejections_per_segment;
  st["final_reward"] = s.has_final_reward ? nlohmann::json(s.final_reward) : nlohmann::json(nullptr);
  st["r_star"] = s.has_r_star ? nlohmann::json(s.r_star) : nlohmann::json(nullptr);
  // RSD (and the compute estimate of every strategy that fills it).
  st["rsd_steps"] = s.rsd_steps;
  st["rsd_steps_drafted"] = s.rsd_steps_drafted;
  st["rsd_steps_accepted"] = s.rsd_steps_accepted;
  st["rsd_steps_target"] = s.rsd_steps_target;
  st["rsd_draft_tokens_accepted"] = s.rsd_draft_tokens_accepted;
  st["rsd_draft_tokens_discarded"] = s.rsd_draft_tokens_discarded;
  st["rsd_target_tokens"] = s.rsd_target_tokens;
  st["rsd_step_rewards"] = s.rsd_step_rewards;
  if (!s.rsd_step_rewards.empty()) {
    double lo = s.rsd_step_rewards[0], hi = lo, sum = 0;
    for (double r : s.rsd_step_rewards) {
      lo = std::min(lo, r);
      hi = std::max(hi, r);
      sum += r;
    }
    st["rsd_reward"] = {{"min", lo}, {"mean", sum / s.rsd_step_rewards.size()}, {"max", hi}};
  } else {
    st["rsd_reward"] = nullptr;
  }
  st["target_step_fraction"] = s.target_step_fraction;
  st["flops"] = s.flops();
  st["flops_draft"] = s.flops_draft;
  st["flops_target"] = s.flops_target;
  st["flops_prm"] = s.flops_prm;
  j["stats"] = st;
  return j;
}

std::string OutcomeSummary(const GenerateOutcome& o) {
  const auto& s = o.stats;
  const nlohmann::json j = OutcomeJson(o);
  std::string line = absl::StrFormat(
      "%s: %d prompt tokens, %d generated (%s); TTFT %.0f ms, %.1f tok/s decode, %d target calls",
      s.strategy, s.prompt_tokens, o.token_ids.size(), o.finish_reason, s.time_to_first_token_ms,
      j["decode_tokens_per_s"].get<double>(), s.target_calls);
  if (s.context_tokens > 0) {
    absl::StrAppend(&line, absl::StrFormat("\nretrieval: %d of %d context tokens in %d chunks (%.0f ms); "
                                           "drafter prompt %d tokens",
                                           s.retrieved_tokens, s.context_tokens, s.retrieved_chunks,
                                           s.retrieval_ms, s.draft_prompt_tokens));
  }
  if (s.num_drafts > 0) {
    std::vector<std::string> per_pos;
    for (double r : j["stats"]["acceptance_per_position"]) per_pos.push_back(absl::StrFormat("%.2f", r));
    absl::StrAppend(&line, absl::StrFormat(
        "\n%s drafter: %d drafted, %d accepted (acceptance %.1f%%, mean acceptance length %.2f, final gamma %d)"
        "\nacceptance per position: [%s]",
        s.drafter, s.drafted_tokens, s.accepted_tokens, 100.0 * s.acceptance_rate(),
        s.mean_acceptance_length(), s.final_gamma, absl::StrJoin(per_pos, ", ")));
  }
  if (s.rsd_steps > 0) {
    absl::StrAppend(&line, absl::StrFormat(
        "\nrsd: %d steps, %d drafted, %d kept, %d by the target (fraction %.2f); draft tokens %d kept, %d "
        "discarded; FLOPs %.3g (draft %.3g, target %.3g, prm %.3g)",
        s.rsd_steps, s.rsd_steps_drafted, s.rsd_steps_accepted, s.rsd_steps_target, s.target_step_fraction,
        s.rsd_draft_tokens_accepted, s.rsd_draft_tokens_discarded, s.flops(), s.flops_draft, s.flops_target,
        s.flops_prm));
  }
  if (s.reward_calls > 0) {
    absl::StrAppend(&line, absl::StrFormat("\nreward: %d calls, %d responses scored, %.0f ms", s.reward_calls,
                                           s.reward_items, s.reward_time_ms));
    if (s.has_final_reward) absl::StrAppend(&line, absl::StrFormat(", final reward %.4f", s.final_reward));
    if (s.segments_proposed > 0) {
      absl::StrAppend(&line, absl::StrFormat("\nsegments: %d proposed, %d accepted (%d forced), %d rejected",
                                             s.segments_proposed, s.segments_accepted, s.segments_forced,
                                             s.segments_rejected));
      if (s.has_r_star) absl::StrAppend(&line, absl::StrFormat(", r* %.4f", s.r_star));
    }
  }
  return line;
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseParams(
    const std::vector<std::string>& params) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const std::string& p : params) {
    const size_t eq = p.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(absl::StrCat("--param: expected KEY=VALUE, got '", p, "'"));
    }
    out.emplace_back(p.substr(0, eq), p.substr(eq + 1));
  }
  return out;
}

}  // namespace tandem::cli
