// One prepared request through its strategy, whichever front end it came
// from: the gRPC Generation service and the OpenAI-compatible HTTP gateway
// each translate their wire format into a decoding::PreparedRequest and hand
// it here. The runner owns what every front end needs the same way: request
// ids (Abort finds any running request), the per-request ports, cancellation
// when the client goes away (in-flight draft/target calls included), the
// latency statistics and the per-request metrics. Its interface carries no
// protobuf types; the front end writes its own wire format from the chunks
// and the outcome.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "decoding/generation/generation.h"
#include "decoding/ports/generation_ports.h"
#include "decoding/request/request_translation.h"
#include "services/common/metrics.h"
#include "services/common/resilience_metrics.h"
#include "services/orchestrator/server/admission.h"
#include "services/orchestrator/decoding_names.h"

namespace tandem::orchestrator::server {

struct RunCallbacks {
  // True once the client is gone. Polled every 50 ms while the strategy runs
  // and before every chunk; the request is then cancelled.
  std::function<bool()> client_gone;
  // Delivers one chunk; false when it could not be delivered (the client is
  // gone: the request is cancelled and no further chunk is written).
  std::function<bool(const StreamChunk&)> write;
  // The client's deadline (gRPC's grpc-timeout): caps every service call of
  // the request and a wait in the admission queue. max() = none.
  std::chrono::system_clock::time_point deadline = std::chrono::system_clock::time_point::max();
};

struct RunOutcome {
  // The result's stats carry time_to_first_token_ms, e2e_latency_ms and the
  // strategy name.
  GenerationResult result;
  // The strategy's error; OK when the request was aborted (a cancelled
  // in-flight call surfaces as an error, but it is an abort).
  absl::Status status;
  // Cancelled by the client going away or by Abort.
  bool aborted = false;
  // The client went away (a failed write or client_gone()).
  bool client_gone = false;
  // With FinishReason::kStopString: the stop string that ended the text.
  std::string matched_stop;
};

class RequestRunner {
  struct Running;

 public:
  using Clock = std::chrono::steady_clock;

  // A request registered under its id and holding a running slot, its
  // strategy not started: what a streaming front end takes before it writes
  // its status line, so that a full deployment answers 429 and a duplicate
  // id 409 rather than an error event after a 200. Destroyed unused, it
  // unregisters the id and frees the slot.
  class Admission {
   public:
    Admission(Admission&& other) noexcept;
    Admission& operator=(Admission&& other) noexcept;
    ~Admission();
    const std::string& request_id() const { return request_id_; }

   private:
    friend class RequestRunner;
    Admission(RequestRunner* runner, std::string request_id, std::shared_ptr<Running> running,
              AdmissionControl::Slot slot);
    void Unregister();  // once: the id is free for another request

    RequestRunner* runner_ = nullptr;  // null once unregistered (or moved from)
    std::string request_id_;
    std::shared_ptr<Running> running_;
    AdmissionControl::Slot slot_;  // released when the Admission is destroyed
  };

  // `ports` and `metrics` (optional) must outlive the runner. An empty
  // `default_strategy` means "speculative" when the deployment has a
  // drafter, else "target_only".
  // `admission` bounds the requests running at once and the queue in front
  // of them (admission.h; the default admits everyone).
  RequestRunner(GenerationPorts& ports, services::ServiceMetrics* metrics, std::string default_strategy,
                AdmissionOptions admission = {});

  // Registers `*request_id` (assigns "req-N" when empty; ALREADY_EXISTS when
  // that id is running), runs the strategy and streams its chunks through
  // `callbacks`. `*request_id` is set before the first callback. `arrival`
  // is when the front end received the request (time to first token counts
  // from it). Errors before the strategy starts are returned (and counted as
  // failed requests): RESOURCE_EXHAUSTED when admission control refuses it.
  // Errors of the run itself are in RunOutcome::status.
  absl::StatusOr<RunOutcome> Run(decoding::PreparedRequest prepared, std::string* request_id,
                                 Clock::time_point arrival, const RunCallbacks& callbacks);

  // Run's first half: registers `*request_id` (as Run does) and waits for a
  // running slot (callbacks.client_gone and callbacks.deadline end the
  // wait). Refusals are counted as failed requests of `strategy`, as Run
  // counts them.
  absl::StatusOr<Admission> Admit(std::string_view strategy, std::string* request_id, const RunCallbacks& callbacks);
  // Run's second half, for an admitted request (its id is the admission's).
  absl::StatusOr<RunOutcome> Run(decoding::PreparedRequest prepared, Admission admission, Clock::time_point arrival,
                                 const RunCallbacks& callbacks);

  // The most requests that can be running or queued at once (choices of one
  // request count one each); 0 = no limit.
  int max_admitted() const;

  // Counts a request that a front end rejected before running it (bad
  // input); `requested_strategy` may be empty or unknown.
  void RecordRejected(std::string_view requested_strategy, const absl::Status& status);

  // Cancels the running request `request_id`; false when none runs.
  bool Abort(const std::string& request_id);

  // Requests currently generating, from every front end.
  size_t active_requests() const;
  const std::string& default_strategy() const { return default_strategy_; }
  const GenerationPorts& ports() const { return ports_; }

 private:
  struct Running {
    std::atomic<bool> cancelled{false};
    // Set once the request's ports exist; Cancel() aborts in-flight calls.
    std::mutex mu;
    RequestPorts* request_ports = nullptr;  // guarded by mu
    void Cancel();
  };
  absl::StatusOr<std::shared_ptr<Running>> Register(std::string* request_id);
  void Unregister(const std::string& request_id);

  // The ports one request runs on: per-request objects when the deployment
  // makes them, wrapped with latency metrics when metrics are on.
  absl::Status MakeRequestView(Running& running, std::chrono::system_clock::time_point deadline,
                               std::unique_ptr<RequestPorts>* request_ports, GenerationPorts* view);

  GenerationPorts& ports_;
  services::ServiceMetrics* metrics_;
  std::string default_strategy_;
  std::unique_ptr<services::ResilienceMetrics> resilience_;  // with metrics_
  AdmissionControl admission_;

  mutable std::mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<Running>> running_;  // guarded by mu_
  uint64_t next_id_ = 0;                                                // guarded by mu_
};

}  // namespace tandem::orchestrator::server
