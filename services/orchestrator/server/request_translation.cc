#include "services/orchestrator/server/request_translation.h"

#include "services/common/runtime_convert.h"
#include "services/common/validation.h"

namespace tandem::orchestrator::server {
namespace {

decoding::DecodeRequest ToDecodeRequest(const tandem::v1::GenerateRequest& r) {
  decoding::DecodeRequest d;
  d.model = r.model();
  switch (r.input_case()) {
    case tandem::v1::GenerateRequest::kPrompt:
      d.prompt = r.prompt();
      break;
    case tandem::v1::GenerateRequest::kPromptTokens:
      d.prompt_tokens.emplace(r.prompt_tokens().ids().begin(), r.prompt_tokens().ids().end());
      break;
    case tandem::v1::GenerateRequest::kMessages: {
      auto& messages = d.messages.emplace();
      for (const auto& m : r.messages().messages()) messages.push_back({m.role(), m.content()});
      break;
    }
    case tandem::v1::GenerateRequest::INPUT_NOT_SET:
      break;
  }
  if (r.has_suffix()) d.suffix = r.suffix();
  d.strategy = r.strategy();
  d.params.insert(r.params().begin(), r.params().end());
  if (r.has_gamma()) d.gamma = r.gamma();
  if (r.has_adaptive_gamma()) d.adaptive_gamma = r.adaptive_gamma();
  d.logprobs = r.logprobs();
  d.top_logprobs = r.top_logprobs();
  d.prompt_logprobs = r.prompt_logprobs();
  d.collection = r.collection();
  d.context = r.context();
  d.stop.assign(r.stop().begin(), r.stop().end());
  const auto& sp = r.sampling();
  d.sampling.temperature = sp.temperature();
  d.sampling.top_k = sp.top_k();
  d.sampling.top_p = sp.top_p() == 0.0f ? 1.0f : sp.top_p();  // proto3 default 0 = off
  d.sampling.min_p = sp.min_p();
  d.sampling.repetition_penalty = sp.repetition_penalty() == 0.0f ? 1.0f : sp.repetition_penalty();
  if (sp.has_repetition_window()) d.sampling.repetition_window = sp.repetition_window();
  d.sampling.presence_penalty = sp.presence_penalty();
  d.sampling.frequency_penalty = sp.frequency_penalty();
  d.sampling.logit_bias = services::LogitBiasFromProto(sp.logit_bias());
  if (sp.has_seed()) d.seed = sp.seed();
  if (r.has_max_tokens()) d.max_tokens = r.max_tokens();
  d.ignore_eos = r.ignore_eos();
  return d;
}

}  // namespace

absl::StatusOr<TranslatedRequest> TranslateRequest(const tandem::v1::GenerateRequest& r,
                                                   const GenerationPorts& ports,
                                                   std::string_view default_strategy,
                                                   uint64_t fallback_seed) {
  if (auto s = services::ValidateId(r.request_id(), "request_id", /*allow_empty=*/true); !s.ok()) return s;
  if (auto s = services::ValidateSamplingParams(r.sampling(), ports.target.vocab_size, "sampling"); !s.ok()) return s;
  decoding::TranslationDefaults defaults;
  defaults.default_strategy = std::string(default_strategy);
  defaults.fallback_seed = fallback_seed;
  auto prepared = decoding::PrepareRequest(ToDecodeRequest(r), ports, defaults);
  if (!prepared.ok()) return prepared.status();
  TranslatedRequest out;
  out.prepared = *std::move(prepared);
  out.tokens_only = r.tokens_only();
  return out;
}

}  // namespace tandem::orchestrator::server
