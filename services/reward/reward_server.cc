#include "services/reward/reward_server.h"

#include <cstdio>

#include "services/model_host/model_host.h"
#include "services/common/credentials.h"

namespace tandem::services {

absl::StatusOr<std::unique_ptr<RewardServer>> RewardServer::Start(RewardServerOptions options) {
  std::unique_ptr<RewardServer> server(new RewardServer());
  auto host = ServiceHost::Create(options.metrics_address);
  if (!host.ok()) return host.status();
  server->host_ = std::move(*host);
  server->registry_ = std::make_unique<reward::RewardRegistry>(std::move(options.registry));
  server->service_ = std::make_unique<RewardService>(*server->registry_, &server->host_->metrics());
  if (absl::Status s = server->host_->Serve(options.grpc_address, *server->service_,
                                            tandem::v1::Reward::service_full_name(), options.credentials);
      !s.ok()) {
    return s;
  }
  return server;
}

RewardServer::~RewardServer() {
  if (host_) host_->Shutdown();
}

absl::StatusOr<reward::RewardRegistryOptions> RewardOptionsFromConfig(const ServiceConfig& service,
                                                                      const DeploymentConfig& deployment) {
  auto judge = ResolveServiceModelPath(service, deployment);
  if (!judge.ok()) return judge.status();
  reward::RewardRegistryOptions o;
  o.judge_model = *judge;
  o.reward_model = service.reward_model;
  o.threads = service.threads;
  o.kv_budget_bytes = static_cast<size_t>(service.kv_budget_mb) << 20;
  return o;
}

absl::Status RunRewardService(const ServiceConfig& service, const DeploymentConfig& deployment,
                              ShutdownSignal& signal) {
  // Credentials first: a bad certificate path fails before a model loads for minutes.
  auto credentials = ServerCredentialsFor(deployment, service);
  if (!credentials.ok()) return credentials.status();
  auto registry = RewardOptionsFromConfig(service, deployment);
  if (!registry.ok()) return registry.status();
  RewardServerOptions options;
  options.grpc_address = service.grpc_address();
  options.metrics_address = service.metrics_address();
  options.credentials = *credentials;
  options.registry = std::move(*registry);
  auto server = RewardServer::Start(std::move(options));
  if (!server.ok()) return server.status();
  (*server)->metrics().SetKvCacheBudgetBytes(service.kv_budget_mb << 20);
  AnnounceAndServe((*server)->host(), "reward", service.name, "serving backends", signal,
                   absl::Seconds(service.drain_grace_s));
  return absl::OkStatus();
}

}  // namespace tandem::services
