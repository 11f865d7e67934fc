#include "services/common/stats_convert.h"

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"

namespace tandem::services {
namespace {

namespace spec = decoding::spec;

// Per-request counters are 32-bit on the wire (see common.proto); clamp
// rather than wrap if one ever overflows.
uint32_t U32(int64_t v) {
  if (v < 0) return 0;
  return v > static_cast<int64_t>(UINT32_MAX) ? UINT32_MAX : static_cast<uint32_t>(v);
}

template <typename Repeated>
void CopyCounts(const std::vector<int64_t>& from, Repeated* to) {
  to->Clear();
  for (int64_t v : from) to->Add(U32(v));
}

template <typename Repeated>
std::vector<int64_t> Counts(const Repeated& from) {
  return std::vector<int64_t>(from.begin(), from.end());
}

void SpeculationToProto(const spec::SpeculationStats& s, tandem::v1::SpeculationStats* out) {
  out->set_num_drafts(U32(s.num_drafts));
  out->set_drafted_tokens(U32(s.drafted_tokens));
  out->set_accepted_tokens(U32(s.accepted_tokens));
  CopyCounts(s.accepted_per_position, out->mutable_accepted_per_position());
  CopyCounts(s.drafted_per_position, out->mutable_drafted_per_position());
  out->set_acceptance_rate(s.acceptance_rate());
  out->set_mean_acceptance_length(s.mean_acceptance_length());
  for (double r : s.acceptance_per_position()) out->add_acceptance_per_position(r);
  out->set_final_gamma(U32(s.final_gamma));
  for (const spec::SpeculationStats::GammaChoice& c : s.gamma_choices) {
    tandem::v1::GammaChoice* g = out->add_gamma_choices();
    g->set_gamma(U32(c.gamma));
    g->set_reason(c.reason);
    g->set_rounds(U32(c.rounds));
  }
}

void RetrievalToProto(const spec::RetrievalStats& s, tandem::v1::RetrievalStats* out) {
  out->set_context_tokens(U32(s.context_tokens));
  out->set_retrieved_chunks(U32(s.retrieved_chunks));
  out->set_retrieved_tokens(U32(s.retrieved_tokens));
  out->set_draft_prompt_tokens(U32(s.draft_prompt_tokens));
  out->set_retrieval_ms(s.retrieval_ms);
}

void RewardToProto(const spec::RewardStats& s, tandem::v1::RewardStats* out) {
  out->set_calls(U32(s.calls));
  out->set_items(U32(s.items));
  out->set_time_ms(s.time_ms);
  if (s.final_reward.has_value()) out->set_final_reward(*s.final_reward);
}

void CardsToProto(const spec::CardsStats& s, tandem::v1::CardsStats* out) {
  out->set_segments_proposed(U32(s.segments_proposed));
  out->set_segments_accepted(U32(s.segments_accepted));
  out->set_segments_rejected(U32(s.segments_rejected));
  out->set_segments_forced(U32(s.segments_forced));
  CopyCounts(s.rejections_per_segment, out->mutable_rejections_per_segment());
  if (s.r_star.has_value()) out->set_r_star(*s.r_star);
}

void RsdToProto(const spec::RsdStats& s, tandem::v1::RsdStats* out) {
  out->set_steps(U32(s.steps));
  out->set_steps_drafted(U32(s.steps_drafted));
  out->set_steps_accepted(U32(s.steps_accepted));
  out->set_steps_target(U32(s.steps_target));
  out->set_draft_tokens_accepted(U32(s.draft_tokens_accepted));
  out->set_draft_tokens_discarded(U32(s.draft_tokens_discarded));
  out->set_target_tokens(U32(s.target_tokens));
  out->mutable_step_rewards()->Assign(s.step_rewards.begin(), s.step_rewards.end());
  out->set_target_step_fraction(s.target_step_fraction);
}

}  // namespace

void StatsToProto(const spec::RequestStats& s, tandem::v1::Stats* out) {
  out->Clear();
  out->set_strategy(s.strategy);
  out->set_drafter(s.drafter);
  out->set_prompt_tokens(U32(s.prompt_tokens));
  out->set_generated_tokens(U32(s.generated_tokens));
  out->set_target_calls(U32(s.target_calls));
  out->set_draft_calls(U32(s.draft_calls));
  out->set_time_to_first_token_ms(s.time_to_first_token_ms);
  out->set_e2e_latency_ms(s.e2e_latency_ms);
  out->set_draft_time_ms(s.draft_time_ms);
  out->set_target_time_ms(s.target_time_ms);
  if (s.decode_tokens_per_s.has_value()) out->set_decode_tokens_per_s(*s.decode_tokens_per_s);
  out->set_fallback(s.fallback);
  tandem::v1::FlopsEstimate* flops = out->mutable_flops();
  flops->set_draft(s.flops.draft);
  flops->set_target(s.flops.target);
  flops->set_prm(s.flops.prm);
  flops->set_total(s.flops.total());
  if (s.has(spec::kStatsSpeculation)) SpeculationToProto(s.speculation, out->mutable_speculation());
  if (s.has(spec::kStatsRetrieval)) RetrievalToProto(s.retrieval, out->mutable_retrieval());
  if (s.has(spec::kStatsReward)) RewardToProto(s.reward, out->mutable_reward());
  if (s.has(spec::kStatsCards)) CardsToProto(s.cards, out->mutable_cards());
  if (s.has(spec::kStatsRsd)) RsdToProto(s.rsd, out->mutable_rsd());
}

spec::RequestStats StatsFromProto(const tandem::v1::Stats& p) {
  spec::RequestStats s;
  s.strategy = p.strategy();
  s.drafter = p.drafter();
  s.prompt_tokens = p.prompt_tokens();
  s.generated_tokens = p.generated_tokens();
  s.target_calls = p.target_calls();
  s.draft_calls = p.draft_calls();
  s.time_to_first_token_ms = p.time_to_first_token_ms();
  s.e2e_latency_ms = p.e2e_latency_ms();
  s.draft_time_ms = p.draft_time_ms();
  s.target_time_ms = p.target_time_ms();
  if (p.has_decode_tokens_per_s()) s.decode_tokens_per_s = p.decode_tokens_per_s();
  s.fallback = p.fallback();
  s.flops.draft = p.flops().draft();
  s.flops.target = p.flops().target();
  s.flops.prm = p.flops().prm();
  if (p.has_speculation()) {
    const tandem::v1::SpeculationStats& q = p.speculation();
    s.sections |= spec::kStatsSpeculation;
    s.speculation.num_drafts = q.num_drafts();
    s.speculation.drafted_tokens = q.drafted_tokens();
    s.speculation.accepted_tokens = q.accepted_tokens();
    s.speculation.accepted_per_position = Counts(q.accepted_per_position());
    s.speculation.drafted_per_position = Counts(q.drafted_per_position());
    s.speculation.final_gamma = static_cast<int>(q.final_gamma());
    for (const tandem::v1::GammaChoice& c : q.gamma_choices()) {
      s.speculation.gamma_choices.push_back({static_cast<int>(c.gamma()), c.reason(), c.rounds()});
    }
  }
  if (p.has_retrieval()) {
    const tandem::v1::RetrievalStats& q = p.retrieval();
    s.sections |= spec::kStatsRetrieval;
    s.retrieval.context_tokens = q.context_tokens();
    s.retrieval.retrieved_chunks = q.retrieved_chunks();
    s.retrieval.retrieved_tokens = q.retrieved_tokens();
    s.retrieval.draft_prompt_tokens = q.draft_prompt_tokens();
    s.retrieval.retrieval_ms = q.retrieval_ms();
  }
  if (p.has_reward()) {
    const tandem::v1::RewardStats& q = p.reward();
    s.sections |= spec::kStatsReward;
    s.reward.calls = q.calls();
    s.reward.items = q.items();
    s.reward.time_ms = q.time_ms();
    if (q.has_final_reward()) s.reward.final_reward = q.final_reward();
  }
  if (p.has_cards()) {
    const tandem::v1::CardsStats& q = p.cards();
    s.sections |= spec::kStatsCards;
    s.cards.segments_proposed = q.segments_proposed();
    s.cards.segments_accepted = q.segments_accepted();
    s.cards.segments_rejected = q.segments_rejected();
    s.cards.segments_forced = q.segments_forced();
    s.cards.rejections_per_segment = Counts(q.rejections_per_segment());
    if (q.has_r_star()) s.cards.r_star = q.r_star();
  }
  if (p.has_rsd()) {
    const tandem::v1::RsdStats& q = p.rsd();
    s.sections |= spec::kStatsRsd;
    s.rsd.steps = q.steps();
    s.rsd.steps_drafted = q.steps_drafted();
    s.rsd.steps_accepted = q.steps_accepted();
    s.rsd.steps_target = q.steps_target();
    s.rsd.draft_tokens_accepted = q.draft_tokens_accepted();
    s.rsd.draft_tokens_discarded = q.draft_tokens_discarded();
    s.rsd.target_tokens = q.target_tokens();
    s.rsd.step_rewards.assign(q.step_rewards().begin(), q.step_rewards().end());
    s.rsd.target_step_fraction = q.target_step_fraction();
  }
  return s;
}

std::vector<std::string> StatsSectionNames(spec::StatsSections sections) {
  static constexpr std::pair<spec::StatsSection, const char*> kNames[] = {
      {spec::kStatsSpeculation, "speculation"}, {spec::kStatsRetrieval, "retrieval"},
      {spec::kStatsReward, "reward"},           {spec::kStatsCards, "cards"},
      {spec::kStatsRsd, "rsd"},
  };
  std::vector<std::string> names;
  for (const auto& [bit, name] : kNames) {
    if ((sections & bit) != 0) names.emplace_back(name);
  }
  return names;
}

absl::StatusOr<std::string> StatsToJson(const tandem::v1::Stats& stats) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string json;
  const auto status = google::protobuf::util::MessageToJsonString(stats, &json, options);
  if (!status.ok()) {
    return absl::InternalError(absl::StrCat("statistics to JSON: ", std::string(status.message())));
  }
  return json;
}

}  // namespace tandem::services
