#include "cli/generate_result.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "decoding/spec/request_stats_json.h"

namespace tandem::cli {

namespace {

// [{token_id, logprob, top_logprobs: [{token_id, logprob}]}] for `ids`; the
// first `unscored` entries have null logprob and top_logprobs, and
// logprobs[i] belongs to ids[unscored + i].
nlohmann::json LogprobEntries(const std::vector<int32_t>& ids, const std::vector<float>& logprobs,
                              const std::vector<std::vector<runtime::TokenLogprob>>& top, size_t unscored) {
  nlohmann::json entries = nlohmann::json::array();
  // Bounded by the values too: safe on an outcome CheckLogprobCounts did not see.
  for (size_t i = 0; i < ids.size() && i < unscored + logprobs.size(); ++i) {
    if (i < unscored) {
      entries.push_back({{"token_id", ids[i]}, {"logprob", nullptr}, {"top_logprobs", nullptr}});
      continue;
    }
    const size_t k = i - unscored;
    nlohmann::json alternatives = nlohmann::json::array();
    if (k < top.size()) {
      for (const runtime::TokenLogprob& t : top[k]) alternatives.push_back({{"token_id", t.token}, {"logprob", t.logprob}});
    }
    entries.push_back({{"token_id", ids[i]}, {"logprob", logprobs[k]}, {"top_logprobs", alternatives}});
  }
  return entries;
}

// Lines "position: id logprob  alternatives" for `ids`, as LogprobEntries
// aligns them.
void AppendLogprobLines(const std::vector<int32_t>& ids, const std::vector<float>& logprobs,
                        const std::vector<std::vector<runtime::TokenLogprob>>& top, size_t unscored,
                        std::string* out) {
  for (size_t i = 0; i < ids.size() && i < unscored + logprobs.size(); ++i) {
    if (i < unscored) {
      absl::StrAppend(out, absl::StrFormat("\n%4d: %6d %9s", i, ids[i], "-"));
      continue;
    }
    const size_t k = i - unscored;
    absl::StrAppend(out, absl::StrFormat("\n%4d: %6d %9.4f", i, ids[i], logprobs[k]));
    if (k < top.size() && !top[k].empty()) {
      absl::StrAppend(out, "  ");
      for (const runtime::TokenLogprob& t : top[k]) absl::StrAppend(out, absl::StrFormat(" %d:%.4f", t.token, t.logprob));
    }
  }
}

}  // namespace

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
  if (o.logprobs_requested) j["logprobs"] = LogprobEntries(o.token_ids, o.logprobs, o.top_logprobs, 0);
  if (o.prompt_logprobs_requested) {
    j["prompt_logprobs"] = LogprobEntries(o.prompt_token_ids, o.prompt_logprobs, o.prompt_top_logprobs, 1);
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
  if (!o.prompt_logprobs_requested) return absl::OkStatus();
  const size_t scored = o.prompt_token_ids.empty() ? 0 : o.prompt_token_ids.size() - 1;
  if (o.prompt_token_ids.empty() || o.prompt_logprobs.size() != scored ||
      (top_logprobs > 0 && o.prompt_top_logprobs.size() != scored)) {
    return absl::InternalError(absl::StrCat("--prompt-logprobs: ", o.prompt_logprobs.size(), " logprobs and ",
                                            o.prompt_top_logprobs.size(), " top_logprobs lists for a prompt of ",
                                            o.prompt_token_ids.size(), " tokens"));
  }
  return absl::OkStatus();
}

std::string LogprobsSummary(const GenerateOutcome& o) {
  std::string out;
  if (o.prompt_logprobs_requested) {
    out = "prompt logprobs (position: token id, log-probability; alternatives id:logprob)";
    AppendLogprobLines(o.prompt_token_ids, o.prompt_logprobs, o.prompt_top_logprobs, 1, &out);
    out += "\n";
  }
  out += "logprobs (position: token id, log-probability; alternatives id:logprob)";
  AppendLogprobLines(o.token_ids, o.logprobs, o.top_logprobs, 0, &out);
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
