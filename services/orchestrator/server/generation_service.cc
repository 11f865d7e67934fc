#include "services/orchestrator/server/generation_service.h"

#include <random>
#include <vector>

#include "services/common/runtime_convert.h"
#include "services/common/stats_convert.h"
#include "services/common/status_convert.h"
#include "services/common/validation.h"
#include "services/orchestrator/server/finish_reason.h"
#include "services/orchestrator/server/request_translation.h"
#include "decoding/registry/strategy_registry.h"
#include "services/orchestrator/decoding_names.h"

namespace tandem::orchestrator::server {
namespace {

void DescribeModel(const ModelDescription& d, tandem::v1::ModelInfo* out) {
  out->set_name(d.name);
  out->set_arch(d.arch);
  out->set_vocab_size(d.vocab_size);
  out->set_context_length(d.context_length);
  out->set_role(d.role);
  out->set_eos_token_id(d.eos_token_id);
}

// RESOURCE_EXHAUSTED (overload) carries when to retry, as trailing metadata.
grpc::Status WithRetryHint(grpc::ServerContext* context, const absl::Status& status, int64_t retry_after_ms) {
  if (status.code() == absl::StatusCode::kResourceExhausted) {
    context->AddTrailingMetadata("retry-after-ms", std::to_string(retry_after_ms));
  }
  return services::ToGrpcStatus(status);
}

}  // namespace

GenerationService::GenerationService(GenerationPorts& ports, GenerationServiceOptions options)
    : ports_(ports),
      options_(std::move(options)),
      runner_(ports, options_.metrics, options_.default_strategy, options_.admission) {}

grpc::Status GenerationService::Generate(grpc::ServerContext* context,
                                         const tandem::v1::GenerateRequest* request,
                                         grpc::ServerWriter<tandem::v1::GenerateResponse>* writer) {
  const RequestRunner::Clock::time_point arrival = RequestRunner::Clock::now();
  auto translated = TranslateRequest(*request, ports_, runner_.default_strategy(), std::random_device{}());
  if (!translated.ok()) {
    runner_.RecordRejected(request->strategy(), translated.status());
    return services::ToGrpcStatus(translated.status());
  }
  std::string request_id = request->request_id();
  const bool tokens_only = translated->tokens_only;
  // The first chunk names the prompt's tokens beside their scores.
  std::vector<int32_t> scored_prompt;
  if (request->prompt_logprobs()) scored_prompt = translated->prepared.generation.prompt;
  bool prompt_pending = request->prompt_logprobs();
  tandem::v1::GenerateResponse response;
  RunCallbacks callbacks;
  callbacks.client_gone = [context] { return context->IsCancelled(); };
  callbacks.deadline = context->deadline();
  callbacks.write = [&](const StreamChunk& chunk) {
    response.Clear();
    response.set_request_id(request_id);
    auto* c = response.mutable_chunk();
    c->mutable_token_ids()->Add(chunk.tokens.begin(), chunk.tokens.end());
    if (!tokens_only) c->set_text(std::string(chunk.text));
    c->mutable_logprobs()->Add(chunk.logprobs.begin(), chunk.logprobs.end());
    for (const auto& top : chunk.top_logprobs) services::TopLogprobsToProto(top, c->add_top_logprobs());
    if (prompt_pending) {
      prompt_pending = false;
      c->mutable_prompt_token_ids()->Add(scored_prompt.begin(), scored_prompt.end());
      c->mutable_prompt_logprobs()->Add(chunk.prompt_logprobs.begin(), chunk.prompt_logprobs.end());
      for (const auto& top : chunk.prompt_top_logprobs) {
        services::TopLogprobsToProto(top, c->add_prompt_top_logprobs());
      }
    }
    return writer->Write(response);
  };
  auto outcome = runner_.Run(std::move(translated->prepared), &request_id, arrival, callbacks);
  if (!outcome.ok()) return WithRetryHint(context, outcome.status(), options_.retry_after_ms);

  const tandem::v1::FinishReason reason = OutcomeReason(*outcome);
  if (reason == tandem::v1::FINISH_REASON_ABORTED && context->IsCancelled()) {
    return grpc::Status(grpc::StatusCode::CANCELLED, "request cancelled by the client");
  }
  response.Clear();
  response.set_request_id(request_id);
  auto* complete = response.mutable_complete();
  complete->set_finish_reason(reason);
  services::StatsToProto(outcome->result.stats, complete->mutable_stats());
  if (!outcome->matched_stop.empty()) complete->set_matched_stop(outcome->matched_stop);
  if (!outcome->client_gone) writer->Write(response);
  if (!outcome->status.ok()) return WithRetryHint(context, outcome->status, options_.retry_after_ms);
  return grpc::Status::OK;
}

grpc::Status GenerationService::Abort(grpc::ServerContext*, const tandem::v1::AbortRequest* request,
                                      tandem::v1::AbortResponse* response) {
  if (auto s = services::ValidateId(request->request_id(), "request_id", false); !s.ok()) {
    return services::ToGrpcStatus(s);
  }
  response->set_found(runner_.Abort(request->request_id()));
  return grpc::Status::OK;
}

grpc::Status GenerationService::ListModels(grpc::ServerContext*, const tandem::v1::ListModelsRequest*,
                                           tandem::v1::ListModelsResponse* response) {
  DescribeModel(ports_.target, response->add_models());
  for (const ModelDescription& d : ports_.drafts) DescribeModel(d, response->add_draft_models());
  return grpc::Status::OK;
}

grpc::Status GenerationService::GetInfo(grpc::ServerContext*, const tandem::v1::GetInfoRequest*,
                                        tandem::v1::GetInfoResponse* response) {
  response->set_version(options_.version);
  for (const decoding::StrategyDefinition* s : decoding::Strategies()) {
    auto* info = response->add_strategies();
    info->set_name(std::string(s->name()));
    info->set_description(std::string(s->description()));
    for (const decoding::ParamInfo& p : s->params()) {
      auto* param = info->add_params();
      param->set_name(p.name);
      param->set_description(p.doc);
      param->set_default_value(p.default_value);
      param->set_type(p.type);
      param->set_range(p.range);
    }
    for (const std::string& section : services::StatsSectionNames(s->stats_sections())) {
      info->add_stats_sections(section);
    }
  }
  response->set_default_strategy(runner_.default_strategy());
  response->set_default_model(ports_.target.name);
  response->set_drafter(ports_.default_drafter);
  response->set_mode(ports_.mode);
  return grpc::Status::OK;
}

}  // namespace tandem::orchestrator::server
