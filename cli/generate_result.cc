#include "cli/generate_result.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "decoding/spec/request_stats_json.h"

namespace tandem::cli {

nlohmann::json OutcomeJson(const GenerateOutcome& o) {
  const auto& s = o.stats;
  // The prefill ends with the first token; the decode rate is the one the
  // statistics define (between streamed chunks; null for a one-chunk answer).
  const double ttft_s = s.time_to_first_token_ms / 1000.0;
  nlohmann::json j;
  j["text"] = o.text;
  j["token_ids"] = o.token_ids;
  j["prompt_tokens"] = s.prompt_tokens;
  j["completion_tokens"] = o.token_ids.size();
  j["finish_reason"] = o.finish_reason;
  j["prefill_tokens_per_s"] = ttft_s > 0 ? s.prompt_tokens / ttft_s : 0.0;
  j["decode_tokens_per_s"] =
      s.decode_tokens_per_s.has_value() ? nlohmann::json(*s.decode_tokens_per_s) : nlohmann::json(nullptr);
  j["model"] = o.model;
  j["threads"] = o.threads;
  j["strategy"] = s.strategy;
  j["stats"] = decoding::spec::StatsJson(s);
  if (o.logprobs_requested) {
    nlohmann::json entries = nlohmann::json::array();
    for (size_t i = 0; i < o.logprobs.size() && i < o.token_ids.size(); ++i) {
      nlohmann::json top = nlohmann::json::array();
      if (i < o.top_logprobs.size()) {
        for (const runtime::TokenLogprob& t : o.top_logprobs[i]) top.push_back({{"token_id", t.token}, {"logprob", t.logprob}});
      }
      entries.push_back({{"token_id", o.token_ids[i]}, {"logprob", o.logprobs[i]}, {"top_logprobs", top}});
    }
    j["logprobs"] = entries;
  }
  return j;
}

absl::Status CheckLogprobCounts(const GenerateOutcome& o, int top_logprobs) {
  if (!o.logprobs_requested) return absl::OkStatus();
  const size_t n = o.token_ids.size();
  if (o.logprobs.size() != n || (top_logprobs > 0 && o.top_logprobs.size() != n)) {
    return absl::InternalError(absl::StrCat("--logprobs: ", o.logprobs.size(), " logprobs and ", o.top_logprobs.size(),
                                            " top_logprobs lists for ", n, " tokens"));
  }
  return absl::OkStatus();
}

std::string LogprobsSummary(const GenerateOutcome& o) {
  std::string out = "logprobs (position: token id, log-probability; alternatives id:logprob)";
  for (size_t i = 0; i < o.logprobs.size() && i < o.token_ids.size(); ++i) {
    absl::StrAppend(&out, absl::StrFormat("\n%4d: %6d %9.4f", i, o.token_ids[i], o.logprobs[i]));
    if (i < o.top_logprobs.size() && !o.top_logprobs[i].empty()) {
      absl::StrAppend(&out, "  ");
      for (const runtime::TokenLogprob& t : o.top_logprobs[i]) absl::StrAppend(&out, absl::StrFormat(" %d:%.4f", t.token, t.logprob));
    }
  }
  return out;
}

std::string OutcomeSummary(const GenerateOutcome& o) {
  const auto& s = o.stats;
  std::string line = absl::StrFormat("%s: %d prompt tokens, %d generated (%s); TTFT %.0f ms, ", s.strategy,
                                     s.prompt_tokens, o.token_ids.size(), o.finish_reason, s.time_to_first_token_ms);
  if (s.decode_tokens_per_s.has_value()) {
    absl::StrAppend(&line, absl::StrFormat("%.1f tok/s decode", *s.decode_tokens_per_s));
  } else {
    absl::StrAppend(&line, "decode rate n/a (one chunk)");
  }
  absl::StrAppend(&line, absl::StrFormat(", %d target calls", s.target_calls));
  if (!s.fallback.empty()) absl::StrAppend(&line, "\nfallback: ", s.fallback);
  if (s.has(decoding::spec::kStatsRetrieval)) {
    const auto& r = s.retrieval;
    absl::StrAppend(&line, absl::StrFormat("\nretrieval: %d of %d context tokens in %d chunks (%.0f ms); "
                                           "drafter prompt %d tokens",
                                           r.retrieved_tokens, r.context_tokens, r.retrieved_chunks, r.retrieval_ms,
                                           r.draft_prompt_tokens));
  }
  if (s.has(decoding::spec::kStatsSpeculation) && s.speculation.num_drafts > 0) {
    const auto& sp = s.speculation;
    std::vector<std::string> per_pos;
    for (double r : sp.acceptance_per_position()) per_pos.push_back(absl::StrFormat("%.2f", r));
    absl::StrAppend(&line, absl::StrFormat(
        "\n%s drafter: %d drafted, %d accepted (acceptance %.1f%%, mean acceptance length %.2f, final gamma %d)"
        "\nacceptance per position: [%s]",
        s.drafter, sp.drafted_tokens, sp.accepted_tokens, 100.0 * sp.acceptance_rate(), sp.mean_acceptance_length(),
        sp.final_gamma, absl::StrJoin(per_pos, ", ")));
  }
  if (s.has(decoding::spec::kStatsRsd)) {
    const auto& r = s.rsd;
    absl::StrAppend(&line, absl::StrFormat(
        "\nrsd: %d steps, %d drafted, %d kept, %d by the target (fraction %.2f); draft tokens %d kept, %d "
        "discarded; FLOPs %.3g (draft %.3g, target %.3g, prm %.3g)",
        r.steps, r.steps_drafted, r.steps_accepted, r.steps_target, r.target_step_fraction, r.draft_tokens_accepted,
        r.draft_tokens_discarded, s.flops.total(), s.flops.draft, s.flops.target, s.flops.prm));
  }
  if (s.has(decoding::spec::kStatsReward)) {
    const auto& r = s.reward;
    absl::StrAppend(&line, absl::StrFormat("\nreward: %d calls, %d responses scored, %.0f ms", r.calls, r.items,
                                           r.time_ms));
    if (r.final_reward.has_value()) absl::StrAppend(&line, absl::StrFormat(", final reward %.4f", *r.final_reward));
  }
  if (s.has(decoding::spec::kStatsCards)) {
    const auto& c = s.cards;
    absl::StrAppend(&line, absl::StrFormat("\nsegments: %d proposed, %d accepted (%d forced), %d rejected",
                                           c.segments_proposed, c.segments_accepted, c.segments_forced,
                                           c.segments_rejected));
    if (c.r_star.has_value()) absl::StrAppend(&line, absl::StrFormat(", r* %.4f", *c.r_star));
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
