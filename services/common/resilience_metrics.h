// Metrics of the orchestrator's resilience paths (docs/resilience.md), on a
// ServiceMetrics registry:
//   tandem:num_requests_waiting                       gauge: requests queued for a slot
//                                                     (vLLM's vllm:num_requests_waiting)
//   tandem:request_rejections_total{reason}           refused by admission control:
//                                                     queue_full, queue_timeout, kv_budget
//   tandem:request_fallbacks_total{strategy,peer}     requests finished without a lost
//                                                     drafter / retriever (peer = draft, retrieval)
#pragma once

#include <string_view>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

namespace tandem::services {

class ResilienceMetrics {
 public:
  explicit ResilienceMetrics(prometheus::Registry& registry);

  void SetRequestsWaiting(int waiting);
  void RecordRejection(std::string_view reason);
  // `fallback` is RequestStats::fallback ("<peer> unavailable: ..."); the
  // peer label is its first word. No-op when empty.
  void RecordFallback(std::string_view strategy, std::string_view fallback);

 private:
  prometheus::Gauge* waiting_;
  prometheus::Family<prometheus::Counter>* rejections_;
  prometheus::Family<prometheus::Counter>* fallbacks_;
};

}  // namespace tandem::services
