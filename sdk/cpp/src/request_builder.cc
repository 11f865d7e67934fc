#include "request_builder.h"

#include <type_traits>

namespace tandem::sdk_internal {
namespace {

void SetInput(const Prompt& prompt, v1::GenerateRequest* request) {
  std::visit(
      [request](const auto& input) {
        using T = std::decay_t<decltype(input)>;
        if constexpr (std::is_same_v<T, std::string>) {
          request->set_prompt(input);
        } else if constexpr (std::is_same_v<T, std::vector<int32_t>>) {
          request->mutable_prompt_tokens()->mutable_ids()->Add(input.begin(), input.end());
        } else {
          v1::ChatMessages* messages = request->mutable_messages();
          for (const ChatMessage& m : input) {
            v1::ChatMessage* out = messages->add_messages();
            out->set_role(m.role);
            out->set_content(m.content);
          }
        }
      },
      prompt.input());
}

void SetSampling(const Sampling& s, v1::SamplingParams* out) {
  if (s.temperature) out->set_temperature(*s.temperature);
  if (s.top_k) out->set_top_k(*s.top_k);
  if (s.top_p) out->set_top_p(*s.top_p);
  if (s.min_p) out->set_min_p(*s.min_p);
  if (s.repetition_penalty) out->set_repetition_penalty(*s.repetition_penalty);
  if (s.repetition_window) out->set_repetition_window(*s.repetition_window);
  if (s.presence_penalty) out->set_presence_penalty(*s.presence_penalty);
  if (s.frequency_penalty) out->set_frequency_penalty(*s.frequency_penalty);
  out->mutable_logit_bias()->insert(s.logit_bias.begin(), s.logit_bias.end());
  if (s.seed) out->set_seed(*s.seed);
}

}  // namespace

v1::GenerateRequest BuildGenerateRequest(const Prompt& prompt, const GenerateOptions& o) {
  v1::GenerateRequest request;
  SetInput(prompt, &request);
  request.set_request_id(o.request_id);
  request.set_model(o.model);
  request.set_strategy(o.strategy);
  for (const auto& [key, value] : o.params) (*request.mutable_params())[key] = value;
  if (o.max_tokens) request.set_max_tokens(*o.max_tokens);
  for (const std::string& s : o.stop) request.add_stop(s);
  SetSampling(o.sampling, request.mutable_sampling());
  request.set_context(o.context);
  request.set_collection(o.collection);
  request.set_ignore_eos(o.ignore_eos);
  request.set_tokens_only(o.tokens_only);
  request.set_logprobs(o.logprobs);
  request.set_top_logprobs(o.top_logprobs);
  request.set_prompt_logprobs(o.prompt_logprobs);
  if (o.suffix) request.set_suffix(*o.suffix);
  return request;
}

}  // namespace tandem::sdk_internal
