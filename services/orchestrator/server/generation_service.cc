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
  services::StatsToProto(result.stats, complete->mutable_stats());
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
