#include "services/reward/reward_service.h"

#include <chrono>

#include "services/common/status_convert.h"

namespace tandem::services {
namespace {

decoding::RewardSpec SpecOf(const tandem::v1::RewardSpec& p) {
  decoding::RewardSpec spec;
  spec.backend = p.backend();
  for (const auto& [k, v] : p.options()) spec.options[k] = v;
  return spec;
}

}  // namespace

RewardService::RewardService(reward::RewardRegistry& registry, ServiceMetrics* metrics)
    : registry_(registry), metrics_(metrics) {
  if (metrics_ == nullptr) return;
  prometheus::Registry& r = metrics_->registry();
  calls_ = &prometheus::BuildCounter().Name("tandem:reward_service_calls_total").Help("Reward RPCs by method, backend and status code").Register(r);
  items_ = &prometheus::BuildCounter().Name("tandem:reward_service_items_total").Help("Items (Score) or steps (ScoreSteps) scored").Register(r);
  latency_ = &prometheus::BuildHistogram().Name("tandem:reward_service_latency_seconds").Help("Reward RPC latency").Register(r);
  forwarded_ = &prometheus::BuildCounter().Name("tandem:prefix_tokens_forwarded_total").Help("Tokens the reward model ran a forward over").Register(r);
  reused_ = &prometheus::BuildCounter().Name("tandem:prefix_tokens_reused_total").Help("Tokens whose KV came from the reward model's prefix cache").Register(r);
}

void RewardService::Observe(const std::string& method, const std::string& backend, const absl::Status& status,
                            int64_t items, double seconds) {
  if (metrics_ == nullptr) return;
  calls_->Add({{"method", method}, {"backend", backend}, {"code", absl::StatusCodeToString(status.code())}}).Increment();
  if (!status.ok()) return;
  items_->Add({{"method", method}, {"backend", backend}}).Increment(static_cast<double>(items));
  static const prometheus::Histogram::BucketBoundaries kBuckets = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                                   0.5,   1,     2.5,  5,     10,   30};
  latency_->Add({{"method", method}, {"backend", backend}}, kBuckets).Observe(seconds);
  const auto stats = registry_.Stats();
  auto it = stats.find(backend);
  if (it == stats.end()) return;
  absl::MutexLock lock(&mu_);
  reward::EvalStats& done = exported_[backend];
  const reward::EvalStats& now = it->second.eval;
  if (now.tokens_forwarded > done.tokens_forwarded) {
    forwarded_->Add({{"backend", backend}}).Increment(static_cast<double>(now.tokens_forwarded - done.tokens_forwarded));
    done.tokens_forwarded = now.tokens_forwarded;
  }
  if (now.tokens_reused > done.tokens_reused) {
    reused_->Add({{"backend", backend}}).Increment(static_cast<double>(now.tokens_reused - done.tokens_reused));
    done.tokens_reused = now.tokens_reused;
  }
}

grpc::Status RewardService::Score(grpc::ServerContext*, const tandem::v1::ScoreRequest* req,
                                  tandem::v1::ScoreResponse* resp) {
  const auto start = std::chrono::steady_clock::now();
  const decoding::RewardSpec spec = SpecOf(req->spec());
  std::vector<decoding::RewardItem> items;
  items.reserve(static_cast<size_t>(req->items_size()));
  for (const auto& it : req->items()) items.push_back({it.prompt(), it.response(), it.reference()});
  const std::string& backend = registry_.BackendName(spec);
  auto scores = registry_.Score(spec, items);
  Observe("Score", backend, scores.status(), static_cast<int64_t>(items.size()),
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  if (!scores.ok()) return ToGrpcStatus(scores.status());
  resp->mutable_scores()->Add(scores->begin(), scores->end());
  resp->set_backend(backend);
  return grpc::Status::OK;
}

grpc::Status RewardService::ScoreSteps(grpc::ServerContext*, const tandem::v1::ScoreStepsRequest* req,
                                       tandem::v1::ScoreStepsResponse* resp) {
  const auto start = std::chrono::steady_clock::now();
  const decoding::RewardSpec spec = SpecOf(req->spec());
  std::vector<std::string> steps(req->steps().begin(), req->steps().end());
  const std::string& backend = registry_.BackendName(spec);
  auto scores = registry_.ScoreSteps(spec, req->prompt(), steps);
  Observe("ScoreSteps", backend, scores.status(), static_cast<int64_t>(steps.size()),
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  if (!scores.ok()) return ToGrpcStatus(scores.status());
  resp->mutable_scores()->Add(scores->begin(), scores->end());
  resp->set_backend(backend);
  return grpc::Status::OK;
}

grpc::Status RewardService::ListBackends(grpc::ServerContext*, const tandem::v1::ListBackendsRequest*,
                                         tandem::v1::ListBackendsResponse* resp) {
  for (const std::string& name : registry_.Backends()) {
    auto* b = resp->add_backends();
    b->set_name(name);
    b->set_supports_steps(registry_.HasStepMode(name));
    b->set_is_default(name == registry_.default_backend());
  }
  resp->set_default_backend(registry_.default_backend());
  return grpc::Status::OK;
}

}  // namespace tandem::services
