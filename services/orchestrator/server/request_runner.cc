#include "services/orchestrator/server/request_runner.h"

#include <algorithm>
#include <condition_variable>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "decoding/generation/token_timeline.h"
#include "decoding/registry/strategy_registry.h"
#include "decoding/registry/strategy_runner.h"
#include "services/common/stats_convert.h"
#include "services/orchestrator/server/finish_reason.h"
#include "services/orchestrator/server/instrumented_ports.h"

namespace tandem::orchestrator::server {
namespace {

using Clock = RequestRunner::Clock;

double MsBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// The stop string that ended a generation: the full decoded text continues
// past the emitted (cut) text with it.
std::string MatchedStop(const GenerationResult& result, const GenerationRequest& request,
                        const Vocabulary& vocab) {
  const std::optional<std::string> decoded = decoding::DecodeTokens(vocab, result.tokens);
  if (!decoded.has_value()) return "";
  const std::string& full = *decoded;
  if (full.size() < result.text.size()) return "";
  std::string_view rest = std::string_view(full).substr(result.text.size());
  for (const std::string& s : request.stop_strings) {
    if (rest.substr(0, s.size()) == s) return s;
  }
  return "";
}

// Polls the client while the strategy runs: a client that disconnects while
// a draft/target call is in flight must not wait for that call.
class DisconnectWatcher {
 public:
  DisconnectWatcher(const std::function<bool()>& client_gone, std::function<void()> cancel)
      : thread_([this, &client_gone, cancel = std::move(cancel)] {
          std::unique_lock<std::mutex> lock(mu_);
          while (!finished_) {
            if (client_gone && client_gone()) {
              cancel();
              return;
            }
            cv_.wait_for(lock, std::chrono::milliseconds(50));
          }
        }) {}
  ~DisconnectWatcher() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      finished_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool finished_ = false;  // guarded by mu_
  std::thread thread_;     // last: starts after the members it reads
};

}  // namespace

RequestRunner::RequestRunner(GenerationPorts& ports, services::ServiceMetrics* metrics,
                             std::string default_strategy, AdmissionOptions admission)
    : ports_(ports), metrics_(metrics), default_strategy_(std::move(default_strategy)), admission_(admission) {
  if (default_strategy_.empty()) default_strategy_ = ports_.default_drafter.empty() ? "target_only" : "speculative";
  if (metrics_ != nullptr) {
    resilience_ = std::make_unique<services::ResilienceMetrics>(metrics_->registry());
    admission_.on_change = [r = resilience_.get()](int, int waiting) { r->SetRequestsWaiting(waiting); };
  }
}

void RequestRunner::Running::Cancel() {
  cancelled.store(true);
  std::lock_guard<std::mutex> lock(mu);
  if (request_ports != nullptr) request_ports->Cancel();
}

absl::Status RequestRunner::MakeRequestView(Running& running, std::chrono::system_clock::time_point deadline,
                                            std::unique_ptr<RequestPorts>* rp, GenerationPorts* view) {
  view->vocabulary = ports_.vocabulary;
  view->tokenizer = ports_.tokenizer;
  view->target = ports_.target;
  view->mode = ports_.mode;
  view->default_drafter = ports_.default_drafter;
  view->verifier = ports_.verifier;
  view->drafters = ports_.drafters;
  view->speculation_costs = ports_.speculation_costs;
  view->draft_shares_compute = ports_.draft_shares_compute;
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
    (*rp)->SetDeadline(deadline);
    std::lock_guard<std::mutex> lock(running.mu);
    running.request_ports = rp->get();
    if (running.cancelled.load()) (*rp)->Cancel();
  }
  if (metrics_ != nullptr) {
    if (view->verifier != nullptr) {
      auto v = std::make_shared<InstrumentedVerifier>(*view->verifier, *metrics_);
      view->owned.push_back(v);
      view->verifier = v.get();
    }
    for (auto& [name, drafter] : view->drafters) {
      auto d = std::make_shared<InstrumentedDrafter>(*drafter, *metrics_);
      view->owned.push_back(d);
      drafter = d.get();
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<RequestRunner::Running>> RequestRunner::Register(std::string* id) {
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
  if (metrics_ != nullptr) metrics_->SetActiveSessions(static_cast<int64_t>(running_.size()));
  return r;
}

void RequestRunner::Unregister(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  running_.erase(id);
  if (metrics_ != nullptr) metrics_->SetActiveSessions(static_cast<int64_t>(running_.size()));
}

size_t RequestRunner::active_requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return running_.size();
}

bool RequestRunner::Abort(const std::string& request_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = running_.find(request_id);
  if (it == running_.end()) return false;
  it->second->Cancel();
  return true;
}

void RequestRunner::RecordRejected(std::string_view requested_strategy, const absl::Status& status) {
  if (metrics_ == nullptr) return;
  const std::string label(requested_strategy.empty() ? std::string_view(default_strategy_) : requested_strategy);
  metrics_->RecordFailedRequest(decoding::FindStrategy(label) ? label : "unknown", status.code());
}

RequestRunner::Admission::Admission(RequestRunner* runner, std::string request_id, std::shared_ptr<Running> running,
                                    AdmissionControl::Slot slot)
    : runner_(runner), request_id_(std::move(request_id)), running_(std::move(running)), slot_(std::move(slot)) {}

RequestRunner::Admission::Admission(Admission&& other) noexcept
    : runner_(std::exchange(other.runner_, nullptr)),
      request_id_(std::move(other.request_id_)),
      running_(std::move(other.running_)),
      slot_(std::move(other.slot_)) {}

RequestRunner::Admission& RequestRunner::Admission::operator=(Admission&& other) noexcept {
  if (this != &other) {
    Unregister();
    runner_ = std::exchange(other.runner_, nullptr);
    request_id_ = std::move(other.request_id_);
    running_ = std::move(other.running_);
    slot_ = std::move(other.slot_);
  }
  return *this;
}

RequestRunner::Admission::~Admission() { Unregister(); }

void RequestRunner::Admission::Unregister() {
  if (runner_ != nullptr) std::exchange(runner_, nullptr)->Unregister(request_id_);
}

int RequestRunner::max_admitted() const {
  const AdmissionOptions& o = admission_.options();
  return o.max_running <= 0 ? 0 : o.max_running + std::max(o.max_waiting, 0);
}

absl::StatusOr<RequestRunner::Admission> RequestRunner::Admit(std::string_view strategy, std::string* request_id,
                                                              const RunCallbacks& callbacks) {
  auto registered = Register(request_id);
  if (!registered.ok()) {
    RecordRejected(strategy, registered.status());
    return registered.status();
  }
  std::shared_ptr<Running> run = *std::move(registered);
  // Registered first, so that Abort reaches a request waiting for its slot.
  std::string rejection;
  auto slot = admission_.Admit(
      callbacks.deadline, [&] { return run->cancelled.load() || (callbacks.client_gone && callbacks.client_gone()); },
      &rejection);
  if (!slot.ok()) {
    Unregister(*request_id);
    if (resilience_ != nullptr && !rejection.empty()) resilience_->RecordRejection(rejection);
    RecordRejected(strategy, slot.status());
    return slot.status();
  }
  return Admission(this, *request_id, std::move(run), *std::move(slot));
}

absl::StatusOr<RunOutcome> RequestRunner::Run(decoding::PreparedRequest prepared, std::string* request_id,
                                              Clock::time_point arrival, const RunCallbacks& callbacks) {
  auto admission = Admit(prepared.strategy.name(), request_id, callbacks);
  if (!admission.ok()) return admission.status();
  return Run(std::move(prepared), *std::move(admission), arrival, callbacks);
}

absl::StatusOr<RunOutcome> RequestRunner::Run(decoding::PreparedRequest prepared, Admission admission,
                                              Clock::time_point arrival, const RunCallbacks& callbacks) {
  const std::string strategy(prepared.strategy.name());
  Running& run = *admission.running_;
  GenerationRequest& gen = prepared.generation;
  gen.cancelled = &run.cancelled;
  std::unique_ptr<RequestPorts> request_ports;
  GenerationPorts view;
  if (absl::Status s = MakeRequestView(run, callbacks.deadline, &request_ports, &view); !s.ok()) {
    admission.Unregister();
    RecordRejected(strategy, s);
    return s;
  }

  // A failed write or a gone client flags the request so the strategy stops
  // at the next round boundary (and closes its sessions); nothing more is
  // written.
  RunOutcome out;
  // Time to first token counts from the request's arrival at the front end,
  // so it includes translation and tokenization.
  Clock::time_point last_emit = arrival;
  decoding::TokenTimeline timeline;  // from arrival, as the client sees it
  StreamCallback on_chunk = [&](const StreamChunk& chunk) -> absl::Status {
    const Clock::time_point now = Clock::now();
    if (!chunk.tokens.empty()) {
      const bool first = timeline.first_token_ms() == 0;
      timeline.Record(chunk.tokens.size(), MsBetween(arrival, now));
      if (!first && metrics_ != nullptr) {
        // Tokens of one round arrive together; spread the gap over them.
        const double per_token = MsBetween(last_emit, now) / 1000.0 / chunk.tokens.size();
        for (size_t i = 0; i < chunk.tokens.size(); ++i) metrics_->ObserveInterTokenLatency(strategy, per_token);
      }
      last_emit = now;
    }
    if (out.client_gone || (callbacks.client_gone && callbacks.client_gone()) || !callbacks.write(chunk)) {
      out.client_gone = true;
      run.cancelled.store(true);
    }
    return absl::OkStatus();
  };

  {
    DisconnectWatcher watcher(callbacks.client_gone, [&run] { run.Cancel(); });
    out.status = decoding::RunStrategy(prepared.strategy, gen, view, prepared.ignore_eos, on_chunk, &out.result);
  }
  {
    std::lock_guard<std::mutex> lock(run.mu);
    run.request_ports = nullptr;
  }
  admission.Unregister();
  request_ports.reset();

  spec::RequestStats& stats = out.result.stats;
  stats.time_to_first_token_ms = timeline.first_token_ms();
  stats.decode_tokens_per_s = timeline.DecodeTokensPerS();
  stats.e2e_latency_ms = MsBetween(arrival, Clock::now());
  if (stats.strategy.empty()) stats.strategy = strategy;
  if (run.cancelled.load() || out.client_gone || (callbacks.client_gone && callbacks.client_gone())) {
    // A cancelled in-flight call surfaces as an error; it is an abort.
    out.aborted = true;
    out.status = absl::OkStatus();
  }
  if (!out.aborted && out.status.ok() && out.result.finish_reason == FinishReason::kStopString) {
    out.matched_stop = MatchedStop(out.result, gen, *ports_.vocabulary);
  }
  if (metrics_ != nullptr) {
    // A lost drafter/retriever the request finished without, success or not.
    resilience_->RecordFallback(strategy, stats.fallback);
    if (out.status.ok()) {
      tandem::v1::Stats proto;
      services::StatsToProto(stats, &proto);
      metrics_->RecordFinishedRequest(proto, OutcomeReason(out));
    } else {
      metrics_->RecordFailedRequest(strategy, out.status.code());
      // The target refused the request's KV (budget or session limit).
      if (out.status.code() == absl::StatusCode::kResourceExhausted) resilience_->RecordRejection("target_capacity");
    }
  }
  return out;
}

}  // namespace tandem::orchestrator::server
