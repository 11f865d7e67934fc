#include "services/common/stats_convert.h"

namespace tandem::services {

void StatsToProto(const decoding::spec::RequestStats& s, tandem::v1::Stats* out) {
  out->set_strategy(s.strategy);
  out->set_drafter(s.drafter);
  out->set_prompt_tokens(s.prompt_tokens);
  out->set_generated_tokens(s.generated_tokens);
  out->set_num_drafts(s.num_drafts);
  out->set_drafted_tokens(s.drafted_tokens);
  out->set_accepted_tokens(s.accepted_tokens);
  out->clear_accepted_per_position();
  for (int64_t v : s.accepted_per_position) out->add_accepted_per_position(v);
  out->clear_drafted_per_position();
  for (int64_t v : s.drafted_per_position) out->add_drafted_per_position(v);
  out->set_target_calls(s.target_calls);
  out->set_draft_calls(s.draft_calls);
  out->set_time_to_first_token_ms(s.time_to_first_token_ms);
  out->set_e2e_latency_ms(s.e2e_latency_ms);
  out->set_draft_time_ms(s.draft_time_ms);
  out->set_target_time_ms(s.target_time_ms);
  out->set_acceptance_rate(s.acceptance_rate());
  out->set_mean_acceptance_length(s.mean_acceptance_length());
  out->set_final_gamma(s.final_gamma);
  out->set_context_tokens(s.context_tokens);
  out->set_retrieved_chunks(s.retrieved_chunks);
  out->set_retrieved_tokens(s.retrieved_tokens);
  out->set_draft_prompt_tokens(s.draft_prompt_tokens);
  out->set_retrieval_ms(s.retrieval_ms);
  out->set_reward_calls(s.reward_calls);
  out->set_reward_items(s.reward_items);
  out->set_reward_time_ms(s.reward_time_ms);
  out->set_segments_proposed(s.segments_proposed);
  out->set_segments_accepted(s.segments_accepted);
  out->set_segments_rejected(s.segments_rejected);
  out->set_segments_forced(s.segments_forced);
  out->clear_rejections_per_segment();
  for (int64_t v : s.rejections_per_segment) out->add_rejections_per_segment(v);
  if (s.has_final_reward) out->set_final_reward(s.final_reward);
  if (s.has_r_star) out->set_r_star(s.r_star);
  out->set_rsd_steps(s.rsd_steps);
  out->set_rsd_steps_drafted(s.rsd_steps_drafted);
  out->set_rsd_steps_accepted(s.rsd_steps_accepted);
  out->set_rsd_steps_target(s.rsd_steps_target);
  out->set_rsd_draft_tokens_accepted(s.rsd_draft_tokens_accepted);
  out->set_rsd_draft_tokens_discarded(s.rsd_draft_tokens_discarded);
  out->set_rsd_target_tokens(s.rsd_target_tokens);
  out->clear_rsd_step_rewards();
  for (double r : s.rsd_step_rewards) out->add_rsd_step_rewards(r);
  out->set_target_step_fraction(s.target_step_fraction);
  tandem::v1::FlopsEstimate* flops = out->mutable_flops();
  flops->set_draft(s.flops_draft);
  flops->set_target(s.flops_target);
  flops->set_prm(s.flops_prm);
  flops->set_total(s.flops());
}

decoding::spec::RequestStats StatsFromProto(const tandem::v1::Stats& p) {
  decoding::spec::RequestStats s;
  s.strategy = p.strategy();
  s.drafter = p.drafter();
  s.prompt_tokens = p.prompt_tokens();
  s.generated_tokens = p.generated_tokens();
  s.num_drafts = p.num_drafts();
  s.drafted_tokens = p.drafted_tokens();
  s.accepted_tokens = p.accepted_tokens();
  s.accepted_per_position.assign(p.accepted_per_position().begin(), p.accepted_per_position().end());
  s.drafted_per_position.assign(p.drafted_per_position().begin(), p.drafted_per_position().end());
  s.target_calls = p.target_calls();
  s.draft_calls = p.draft_calls();
  s.time_to_first_token_ms = p.time_to_first_token_ms();
  s.e2e_latency_ms = p.e2e_latency_ms();
  s.draft_time_ms = p.draft_time_ms();
  s.target_time_ms = p.target_time_ms();
  s.final_gamma = static_cast<int>(p.final_gamma());
  s.context_tokens = static_cast<int64_t>(p.context_tokens());
  s.retrieved_chunks = static_cast<int64_t>(p.retrieved_chunks());
  s.retrieved_tokens = static_cast<int64_t>(p.retrieved_tokens());
  s.draft_prompt_tokens = static_cast<int64_t>(p.draft_prompt_tokens());
  s.retrieval_ms = p.retrieval_ms();
  s.reward_calls = p.reward_calls();
  s.reward_items = p.reward_items();
  s.reward_time_ms = p.reward_time_ms();
  s.segments_proposed = p.segments_proposed();
  s.segments_accepted = p.segments_accepted();
  s.segments_rejected = p.segments_rejected();
  s.segments_forced = p.segments_forced();
  s.rejections_per_segment.assign(p.rejections_per_segment().begin(), p.rejections_per_segment().end());
  s.has_final_reward = p.has_final_reward();
  s.final_reward = p.final_reward();
  s.has_r_star = p.has_r_star();
  s.r_star = p.r_star();
  s.rsd_steps = static_cast<int64_t>(p.rsd_steps());
  s.rsd_steps_drafted = static_cast<int64_t>(p.rsd_steps_drafted());
  s.rsd_steps_accepted = static_cast<int64_t>(p.rsd_steps_accepted());
  s.rsd_steps_target = static_cast<int64_t>(p.rsd_steps_target());
  s.rsd_draft_tokens_accepted = static_cast<int64_t>(p.rsd_draft_tokens_accepted());
  s.rsd_draft_tokens_discarded = static_cast<int64_t>(p.rsd_draft_tokens_discarded());
  s.rsd_target_tokens = static_cast<int64_t>(p.rsd_target_tokens());
  s.rsd_step_rewards.assign(p.rsd_step_rewards().begin(), p.rsd_step_rewards().end());
  s.target_step_fraction = p.target_step_fraction();
  s.flops_draft = p.flops().draft();
  s.flops_target = p.flops().target();
  s.flops_prm = p.flops().prm();
  return s;
}

}  // namespace tandem::services
