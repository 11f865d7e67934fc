// Prometheus metrics of one tandem process, served at /metrics.
//
// Names follow vLLM's speculative-decoding counter schema under the `tandem:`
// prefix, so dashboards and alerts written for vLLM (or llama.cpp/TRT-LLM,
// which copy it) carry over:
//   acceptance rate        = rate(accepted_tokens) / rate(draft_tokens)
//   mean acceptance length = 1 + rate(accepted_tokens) / rate(num_drafts)
// Counters, not gauges, so that rate() over any window works.
//
// Families (labels in braces):
//   tandem:spec_decode_num_drafts_total{strategy,drafter}
//   tandem:spec_decode_num_draft_tokens_total{strategy,drafter}
//   tandem:spec_decode_num_accepted_tokens_total{strategy,drafter}
//   tandem:spec_decode_num_accepted_tokens_per_pos_total{strategy,drafter,position}
//   tandem:spec_decode_gamma{strategy,drafter,reason}  (histogram: gamma chosen per round; reason
//     fixed|acceptance|load|probe|prefill, spec/gamma_controller.h)
//   tandem:draft_calls_total{strategy,drafter}, tandem:target_calls_total{strategy,drafter}
//   tandem:draft_time_seconds_total{strategy,drafter}, tandem:target_time_seconds_total{strategy,drafter}
//   tandem:request_success_total{strategy,finished_reason}   (every request that completed a stream)
//   tandem:request_failure_total{strategy,code}              (requests ended by an error status)
//   tandem:prompt_tokens_total{strategy}, tandem:generation_tokens_total{strategy}
//   histograms (seconds): tandem:time_to_first_token_seconds{strategy},
//     tandem:inter_token_latency_seconds{strategy}, tandem:e2e_request_latency_seconds{strategy},
//     tandem:draft_rpc_latency_seconds{drafter}, tandem:target_verify_latency_seconds
//   gauges: tandem:active_sessions, tandem:kv_cache_bytes, tandem:kv_cache_budget_bytes
//
// prometheus-cpp's Exposer destructor blocks for ~2 s (its HTTP server polls):
// create one ServiceMetrics per process (or per test suite), not per request.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tandem/v1/common.pb.h"

namespace prometheus {
class Exposer;
}

namespace tandem::services {

struct MetricsOptions {
  // host:port of the /metrics HTTP endpoint. Port 0 picks a free port; an
  // empty address serves nothing (the registry still works, e.g. for
  // in-process tests that call Serialize()).
  std::string listen_address = "127.0.0.1:0";
  // HTTP worker threads of the exposer.
  size_t http_threads = 1;
};

class ServiceMetrics {
 public:
  // UNAVAILABLE if the endpoint cannot be bound.
  static absl::StatusOr<std::unique_ptr<ServiceMetrics>> Create(const MetricsOptions& options);
  ~ServiceMetrics();
  ServiceMetrics(const ServiceMetrics&) = delete;
  ServiceMetrics& operator=(const ServiceMetrics&) = delete;

  // Bound HTTP port, 0 without an endpoint.
  int port() const { return port_; }
  // http://host:port/metrics, empty without an endpoint.
  const std::string& url() const { return url_; }
  // The text exposition (what /metrics returns).
  std::string Serialize() const;
  // For services that add their own families.
  prometheus::Registry& registry() { return *registry_; }

  // Records one request that finished its stream with `reason` (any reason,
  // aborts included): success counter, token counters, spec-decode counters
  // (from stats.strategy / stats.drafter), TTFT and end-to-end histograms.
  void RecordFinishedRequest(const tandem::v1::Stats& stats, tandem::v1::FinishReason reason);
  // Records a request that ended with an error status instead.
  void RecordFailedRequest(std::string_view strategy, absl::StatusCode code);

  void ObserveInterTokenLatency(std::string_view strategy, double seconds);
  void ObserveDraftRpcLatency(std::string_view drafter, double seconds);
  void ObserveTargetVerifyLatency(double seconds);
  void SetActiveSessions(int64_t sessions);
  void SetKvCacheBytes(int64_t bytes);
  // The KV budget the process was given, so dashboards show use / budget.
  void SetKvCacheBudgetBytes(int64_t bytes);

  // Label value used for an empty drafter name (target_only and friends).
  static constexpr std::string_view kNoDrafter = "none";

 private:
  ServiceMetrics();

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* num_drafts_;
  prometheus::Family<prometheus::Counter>* num_draft_tokens_;
  prometheus::Family<prometheus::Counter>* num_accepted_tokens_;
  prometheus::Family<prometheus::Counter>* accepted_per_pos_;
  prometheus::Family<prometheus::Histogram>* gamma_;
  prometheus::Family<prometheus::Counter>* draft_calls_;
  prometheus::Family<prometheus::Counter>* target_calls_;
  prometheus::Family<prometheus::Counter>* draft_time_;
  prometheus::Family<prometheus::Counter>* target_time_;
  prometheus::Family<prometheus::Counter>* request_success_;
  prometheus::Family<prometheus::Counter>* request_failure_;
  prometheus::Family<prometheus::Counter>* prompt_tokens_;
  prometheus::Family<prometheus::Counter>* generation_tokens_;
  prometheus::Family<prometheus::Histogram>* ttft_;
  prometheus::Family<prometheus::Histogram>* itl_;
  prometheus::Family<prometheus::Histogram>* e2e_;
  prometheus::Family<prometheus::Histogram>* draft_rpc_;
  prometheus::Family<prometheus::Histogram>* target_verify_;
  // RAPID: tandem:retrieval_latency_seconds{strategy}, tandem:retrieved_tokens{strategy}.
  prometheus::Family<prometheus::Histogram>* retrieval_latency_;
  prometheus::Family<prometheus::Histogram>* retrieved_tokens_;
  // Reward-guided strategies (cards, best_of_n, args).
  prometheus::Family<prometheus::Counter>* reward_calls_;
  prometheus::Family<prometheus::Counter>* reward_items_;
  prometheus::Family<prometheus::Counter>* reward_time_;
  prometheus::Family<prometheus::Counter>* segments_;
  prometheus::Family<prometheus::Histogram>* final_reward_;
  // RSD.
  prometheus::Family<prometheus::Counter>* rsd_steps_;
  prometheus::Family<prometheus::Counter>* rsd_draft_tokens_;
  prometheus::Family<prometheus::Histogram>* rsd_step_reward_;
  prometheus::Family<prometheus::Counter>* flops_;
  prometheus::Gauge* active_sessions_;
  prometheus::Gauge* kv_cache_bytes_;
  prometheus::Gauge* kv_cache_budget_bytes_;

  int port_ = 0;
  std::string url_;
  // Declared last: destroyed first, while the registry is still alive.
  std::unique_ptr<prometheus::Exposer> exposer_;
};

// The finish-reason label value ("stop", "length", "stop_string",
// "context_length", "abort", "error", "unspecified").
std::string_view FinishReasonLabel(tandem::v1::FinishReason reason);

}  // namespace tandem::services
