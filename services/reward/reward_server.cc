#include "services/reward/reward_server.h"

#include <cstdio>

#include "services/model_host/model_host.h"

namespace tandem::services {

absl::StatusOr<std::unique_ptr<RewardServer>> RewardServer::Start(RewardServerOptions options) {
  std::unique_ptr<RewardServer> server(new RewardServer());
  MetricsOptions metrics_options;
  metrics_options.listen_address = options.metrics_address;
  auto metrics = ServiceMetrics::Create(metrics_options);
  if (!metrics.ok()) return metrics.status();
  server->metrics_ = std::move(*metrics);
  server->registry_ = std::make_unique<reward::RewardRegistry>(std::move(options.registry));
  server->service_ = std::make_unique<RewardService>(*server->registry_, server->metrics_.get());
  GrpcServerOptions grpc_options;
  grpc_options.address = options.grpc_address;
  grpc_options.health_service_names = {std::string(tandem::v1::Reward::service_full_name())};
  grpc::Service* services[] = {server->service_.get()};
  auto grpc = GrpcServer::Start(grpc_options, services);
  if (!grpc.ok()) return grpc.status();
  server->grpc_ = std::move(*grpc);
  return server;
}

RewardServer::~RewardServer() {
  if (grpc_) grpc_->Shutdown(absl::Seconds(5));
  grpc_.reset();
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
  auto registry = RewardOptionsFromConfig(service, deployment);
  if (!registry.ok()) return registry.status();
  RewardServerOptions options;
  options.grpc_address = service.grpc_address();
  options.metrics_address = service.metrics_address();
  options.registry = std::move(*registry);
  auto server = RewardServer::Start(std::move(options));
  if (!server.ok()) return server.status();
  std::fprintf(stderr, "tandem-reward %s: serving backends on %s%s%s\n", service.name.c_str(),
               (*server)->address().c_str(), (*server)->metrics().url().empty() ? "" : ", metrics ",
               (*server)->metrics().url().c_str());
  ServeUntilSignal((*server)->grpc(), signal);
  return absl::OkStatus();
}

}  // namespace tandem::services
