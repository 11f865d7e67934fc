#include "services/orchestrator/server/generation_service.h"

#include <chrono>
#include <condition_variable>
#include <thread>
#include <random>

#include "absl/strings/str_cat.h"
#include "services/common/status_convert.h"
#include "services/common/validation.h"
#include "services/orchestrator/server/instrumented_ports.h"
#include "services/orchestrator/server/request_translation.h"
#include "decoding/registry/strategy_registry.h"
#include "decoding/registry/strategy_runner.h"
#include "services/orchestrator/decoding_names.h"

namespace tandem::orchestrator::server {
namespace {

using Clock = std::chrono::steady_clock;

double MsBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

void DescribeModel(const ModelDescription& d, tandem::v1::ModelInfo* out) {
  out->set_name(d.name);
  out->set_arch(d.arch);
  out->set_vocab_size(d.vocab_size);
  out->set_context_length(d.context_length);
  out->set_role(d.role);
  out->set_eos_token_id(d.eos_token_id);
}

// The stop string that ended a generation: the full decoded text continues
// past the emitted (cut) text with it.
std::string MatchedStop(const GenerationResult& result, const GenerationRequest& request,
                        const Vocabulary& vocab) {
  auto decoder = vocab.NewDecoder();
  if (decoder == nullptr) return "";
  std::string full;
  for (int32_t t : result.tokens) full += decoder->Push(t);
  full += decoder->Flush();
  if (full.size() < result.text.size()) return "";
  std::string_view rest = std::string_view(full).substr(result.text.size());
  for (const std::string& s : request.stop_strings) {
    if (rest.substr(0, s.size()) == s) return s;
  }
  return "";
}

}  // namespace

void StatsToProto(const spec::RequestStats& s, tandem::v1::Stats* out) {
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

spec::RequestStats StatsFromProto(const tandem::v1::Stats& p) {
  spec::RequestStats s;
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

tandem::v1::FinishReason FinishReasonToProto(FinishReason reason) {
  switch (reason) {
    case FinishReason::kEndOfGeneration: return tandem::v1::FINISH_REASON_STOP;
    case FinishReason::kLength: return tandem::v1::FINISH_REASON_LENGTH;
    case FinishReason::kStopString: return tandem::v1::FINISH_REASON_STOP_STRING;
    case FinishReason::kAborted: return tandem::v1::FINISH_REASON_ABORTED;
    case FinishReason::kContextLength: return tandem::v1::FINISH_REASON_CONTEXT_LENGTH;
    case FinishReason::kNone: break;
  }
  return tandem::v1::FINISH_REASON_UNSPECIFIED;
}

GenerationService::GenerationService(GenerationPorts& ports, GenerationServiceOptions options)
    : ports_(ports), options_(std::move(options)) {
  default_strategy_ = options_.default_strategy;
  if (default_strategy_.empty()) default_strategy_ = ports_.default_drafter.empty() ? "target_only" : "speculative";
}

void GenerationService::Running::Cancel() {
  cancelled.store(true);
  std::lock_guard<std::mutex> lock(mu);
  if (request_ports != nullptr) request_ports->Cancel();
}

absl::Status GenerationService::MakeRequestView(Running& running, std::unique_ptr<RequestPorts>* rp,
                                                GenerationPorts* view) {
  view->vocabulary = ports_.vocabulary;
  view->tokenizer = ports_.tokenizer;
  view->target = ports_.target;
  view->mode = ports_.mode;
  view->default_drafter = ports_.default_drafter;
  view->verifier = ports_.verifier;
  view->drafters = ports_.drafters;
  view->reward = ports_.reward;
  view->retriever = ports_.retriever;
  if (ports_.per_request) {
    auto made = ports_.per_request();
    if (!made.ok()) return made.status();
    *rp = std::move(*made);
    view->verifier = (*rp)->verifier;
    view->drafters = (*rp)->drafters;
    if ((*rp)->reward != nullptr) view->reward = (*rp)->reward;
    if ((*rp)->retriever != nullptr) view->retriever = (*rp)->retriever;
    std::lock_guard<std::mutex> lock(running.mu);
    running.request_ports = rp->get();
    if (running.cancelled.load()) (*rp)->Cancel();
  }
  if (options_.metrics != nullptr) {
    if (view->verifier != nullptr) {
      auto v = std::make_shared<InstrumentedVerifier>(*view->verifier, *options_.metrics);
      view->owned.push_back(v);
      view->verifier = v.get();
    }
    for (auto& [name, drafter] : view->drafters) {
      auto d = std::make_shared<InstrumentedDrafter>(*drafter, *options_.metrics);
      view->owned.push_back(d);
      drafter = d.get();
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<GenerationService::Running>> GenerationService::Register(std::string* id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (id->empty()) {
    do {
      *id = absl::StrCat("req-", ++next_id_);
    } while (running_.contains(*id));
  } else if (running_.contains(*id)) {
    return absl::AlreadyExistsError(absl::StrCat("request_id: '", *id, "' is already running"));
  }
  auto r = std::make_shared<Running>();
  running_[*id] = r;
  if (options_.metrics != nullptr) options_.metrics->SetActiveSessions(static_cast<int64_t>(running_.size()));
  return r;
}

void GenerationService::Unregister(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  running_.erase(id);
  if (options_.metrics != nullptr) options_.metrics->SetActiveSessions(static_cast<int64_t>(running_.size()));
}

size_t GenerationService::active_requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return running_.size();
}

grpc::Status GenerationService::Generate(grpc::ServerContext* context,
                                         const tandem::v1::GenerateRequest* request,
                                         grpc::ServerWriter<tandem::v1::GenerateResponse>* writer) {
  const Clock::time_point arrival = Clock::now();
  const std::string strategy_label = request->strategy().empty() ? default_strategy_ : request->strategy();
  auto fail = [&](const absl::Status& s) {
    if (options_.metrics != nullptr) {
      options_.metrics->RecordFailedRequest(decoding::FindStrategy(strategy_label) ? strategy_label : "unknown", s.code());
    }
    return services::ToGrpcStatus(s);
  };

  auto translated = TranslateRequest(*request, ports_, default_strategy_, std::random_device{}());
  if (!translated.ok()) return fail(translated.status());
  std::string request_id = request->request_id();
  auto running = Register(&request_id);
  if (!running.ok()) return fail(running.status());
  Running& run = **running;
  GenerationRequest& gen = translated->prepared.generation;
  gen.cancelled = &run.cancelled;
  std::unique_ptr<RequestPorts> request_ports;
  GenerationPorts view;
  if (absl::Status s = MakeRequestView(run, &request_ports, &view); !s.ok()) {
    Unregister(request_id);
    return fail(s);
  }

  // A client that disconnects while a draft/target call is in flight must
  // not wait for it: a watcher polls the context and cancels the request.
  std::mutex watch_mu;
  std::condition_variable watch_cv;
  bool finished = false;
  std::thread watcher([&] {
    std::unique_lock<std::mutex> lock(watch_mu);
    while (!finished) {
      if (context->IsCancelled()) {
        run.Cancel();
        return;
      }
      watch_cv.wait_for(lock, std::chrono::milliseconds(50));
    }
  });

  // Streaming. A failed Write or a cancelled context means the client is
  // gone: flag the request so the strategy stops at the next round boundary
  // (and closes its sessions), and stop writing.
  std::atomic<bool>& cancelled = run.cancelled;
  bool client_gone = false;
  Clock::time_point last_emit = arrival;
  double ttft_ms = 0;
  tandem::v1::GenerateResponse response;
  const bool tokens_only = translated->tokens_only;
  const std::string strategy(translated->prepared.strategy.name());
  StreamCallback on_chunk = [&](const StreamChunk& chunk) -> absl::Status {
    const Clock::time_point now = Clock::now();
    if (!chunk.tokens.empty()) {
      if (ttft_ms == 0) {
        ttft_ms = MsBetween(arrival, now);
      } else if (options_.metrics != nullptr) {
        // Tokens of one round arrive together; spread the gap over them.
        const double per_token = MsBetween(last_emit, now) / 1000.0 / chunk.tokens.size();
        for (size_t i = 0; i < chunk.tokens.size(); ++i) options_.metrics->ObserveInterTokenLatency(strategy, per_token);
      }
      last_emit = now;
    }
    if (client_gone || context->IsCancelled()) {
      client_gone = true;
      cancelled.store(true);
      return absl::OkStatus();
    }
    response.Clear();
    response.set_request_id(request_id);
    auto* c = response.mutable_chunk();
    c->mutable_token_ids()->Add(chunk.tokens.begin(), chunk.tokens.end());
    if (!tokens_only) c->set_text(std::string(chunk.text));
    if (!writer->Write(response)) {
      client_gone = true;
      cancelled.store(true);
    }
    return absl::OkStatus();
  };

  GenerationResult result;
  absl::Status status = decoding::RunStrategy(translated->prepared.strategy, gen, view, translated->prepared.ignore_eos, on_chunk, &result);
  {
    std::lock_guard<std::mutex> lock(watch_mu);
    finished = true;
  }
  watch_cv.notify_all();
  watcher.join();
  {
    std::lock_guard<std::mutex> lock(run.mu);
    run.request_ports = nullptr;
  }
  Unregister(request_id);
  request_ports.reset();

  result.stats.time_to_first_token_ms = ttft_ms;
  result.stats.e2e_latency_ms = MsBetween(arrival, Clock::now());
  if (result.stats.strategy.empty()) result.stats.strategy = strategy;
  tandem::v1::FinishReason reason = FinishReasonToProto(result.finish_reason);
  if (!status.ok()) reason = tandem::v1::FINISH_REASON_ERROR;
  if (run.cancelled.load() || client_gone || context->IsCancelled()) {
    // A cancelled in-flight call surfaces as an error; it is an abort.
    reason = tandem::v1::FINISH_REASON_ABORTED;
    status = absl::OkStatus();
  }

  response.Clear();
  response.set_request_id(request_id);
  auto* complete = response.mutable_complete();
  complete->set_finish_reason(reason);
  StatsToProto(result.stats, complete->mutable_stats());
  if (reason == tandem::v1::FINISH_REASON_STOP_STRING) {
    complete->set_matched_stop(MatchedStop(result, gen, *ports_.vocabulary));
  }
  if (options_.metrics != nullptr) {
    if (status.ok() || reason == tandem::v1::FINISH_REASON_ABORTED) {
      options_.metrics->RecordFinishedRequest(complete->stats(), reason);
    } else {
      options_.metrics->RecordFailedRequest(strategy, status.code());
    }
  }
  if (reason == tandem::v1::FINISH_REASON_ABORTED && context->IsCancelled()) {
    return grpc::Status(grpc::StatusCode::CANCELLED, "request cancelled by the client");
  }
  if (!client_gone) writer->Write(response);
  if (!status.ok()) return services::ToGrpcStatus(status);
  return grpc::Status::OK;
}

grpc::Status GenerationService::Abort(grpc::ServerContext*, const tandem::v1::AbortRequest* request,
                                      tandem::v1::AbortResponse* response) {
  if (auto s = services::ValidateId(request->request_id(), "request_id", false); !s.ok()) {
    return services::ToGrpcStatus(s);
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto it = running_.find(request->request_id());
  response->set_found(it != running_.end());
  if (it != running_.end()) it->second->Cancel();
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
  }
  response->set_default_strategy(default_strategy_);
  response->set_default_model(ports_.target.name);
  response->set_drafter(ports_.default_drafter);
  response->set_mode(ports_.mode);
  return grpc::Status::OK;
}

}  // namespace tandem::orchestrator::server
