// tandem.v1.Reward over a RewardRegistry, with Prometheus metrics (named
// reward_service_* so they do not mix with the orchestrator's client-side
// tandem:reward_calls_total of the reward-guided strategies):
//   tandem:reward_service_calls_total{method,backend,code}
//   tandem:reward_service_items_total{method,backend}          (items or steps scored)
//   tandem:reward_service_latency_seconds{method,backend}       (histogram)
//   tandem:prefix_tokens_forwarded_total{backend}       (tokens the model ran)
//   tandem:prefix_tokens_reused_total{backend}          (tokens served from the
//                                                        prefix KV cache)
#pragma once

#include <map>
#include <string>

#include "absl/synchronization/mutex.h"
#include "services/common/metrics.h"
#include "services/reward/reward_registry.h"
#include "tandem/v1/reward.grpc.pb.h"

namespace tandem::services {

class RewardService final : public tandem::v1::Reward::Service {
 public:
  // `registry` and `metrics` (may be null) must outlive the service.
  RewardService(reward::RewardRegistry& registry, ServiceMetrics* metrics);

  grpc::Status Score(grpc::ServerContext* ctx, const tandem::v1::ScoreRequest* req,
                     tandem::v1::ScoreResponse* resp) override;
  grpc::Status ScoreSteps(grpc::ServerContext* ctx, const tandem::v1::ScoreStepsRequest* req,
                          tandem::v1::ScoreStepsResponse* resp) override;
  grpc::Status ListBackends(grpc::ServerContext* ctx, const tandem::v1::ListBackendsRequest* req,
                            tandem::v1::ListBackendsResponse* resp) override;

 private:
  void Observe(const std::string& method, const std::string& backend, const absl::Status& status, int64_t items,
               double seconds);

  reward::RewardRegistry& registry_;
  ServiceMetrics* metrics_;
  prometheus::Family<prometheus::Counter>* calls_ = nullptr;
  prometheus::Family<prometheus::Counter>* items_ = nullptr;
  prometheus::Family<prometheus::Histogram>* latency_ = nullptr;
  prometheus::Family<prometheus::Counter>* forwarded_ = nullptr;
  prometheus::Family<prometheus::Counter>* reused_ = nullptr;
  absl::Mutex mu_;
  // Registry counters already exported, per backend (the registry keeps
  // cumulative totals; the counters get the differences).
  std::map<std::string, reward::EvalStats> exported_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tandem::services
