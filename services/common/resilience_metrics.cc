#include "services/common/resilience_metrics.h"

#include <string>

namespace tandem::services {

ResilienceMetrics::ResilienceMetrics(prometheus::Registry& registry) {
  // Registered (at 0) before the first request, so dashboards and the
  // autoscaler see the series from the start.
  waiting_ = &prometheus::BuildGauge()
                  .Name("tandem:num_requests_waiting")
                  .Help("Requests accepted but waiting for a slot (admission control queue).")
                  .Register(registry)
                  .Add({});
  rejections_ = &prometheus::BuildCounter()
                     .Name("tandem:request_rejections_total")
                     .Help("Requests refused by admission control with RESOURCE_EXHAUSTED, by reason "
                           "(queue_full, queue_timeout, kv_budget).")
                     .Register(registry);
  fallbacks_ = &prometheus::BuildCounter()
                    .Name("tandem:request_fallbacks_total")
                    .Help("Requests that finished without a lost drafter or retriever (target-only "
                          "fallback), by strategy and peer.")
                    .Register(registry);
}

void ResilienceMetrics::SetRequestsWaiting(int waiting) { waiting_->Set(static_cast<double>(waiting)); }

void ResilienceMetrics::RecordRejection(std::string_view reason) {
  rejections_->Add({{"reason", std::string(reason)}}).Increment();
}

void ResilienceMetrics::RecordFallback(std::string_view strategy, std::string_view fallback) {
  if (fallback.empty()) return;
  const std::string_view peer = fallback.substr(0, fallback.find(' '));
  fallbacks_->Add({{"strategy", std::string(strategy)}, {"peer", std::string(peer)}}).Increment();
}

}  // namespace tandem::services
