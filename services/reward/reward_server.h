// A running reward service: RewardService + gRPC server (health, reflection)
// + /metrics, and the entry point of `tandem serve --role reward`.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "services/common/deploy_config.h"
#include "services/common/service_host.h"
#include "services/common/shutdown_signal.h"
#include "services/reward/reward_registry.h"
#include "services/reward/reward_service.h"

namespace tandem::services {

struct RewardServerOptions {
  std::string grpc_address = "127.0.0.1:0";  // port 0 = any free port
  std::string metrics_address;               // empty = no /metrics endpoint
  std::shared_ptr<grpc::ServerCredentials> credentials;  // null = plaintext (services/common/credentials.h)
  reward::RewardRegistryOptions registry;
};

class RewardServer {
 public:
  static absl::StatusOr<std::unique_ptr<RewardServer>> Start(RewardServerOptions options);
  ~RewardServer();

  const std::string& address() const { return host_->address(); }
  ServiceMetrics& metrics() { return host_->metrics(); }
  reward::RewardRegistry& registry() { return *registry_; }
  GrpcServer& grpc() { return host_->grpc(); }
  ServiceHost& host() { return *host_; }

 private:
  RewardServer() = default;
  std::unique_ptr<ServiceHost> host_;  // metrics outlive the service; gRPC drains first
  std::unique_ptr<reward::RewardRegistry> registry_;
  std::unique_ptr<RewardService> service_;
};

// The registry options of a `role: reward` entry: its model is the judge,
// reward_model (optional) the GGUF reward model, threads and kv_budget_mb
// per model; the default backend is `judge`.
absl::StatusOr<reward::RewardRegistryOptions> RewardOptionsFromConfig(const ServiceConfig& service,
                                                                      const DeploymentConfig& deployment);

// Serves `service` until `signal` fires. Models load on first use, so the
// service reports SERVING at once. Prints one line to stderr when serving.
absl::Status RunRewardService(const ServiceConfig& service, const DeploymentConfig& deployment,
                              ShutdownSignal& signal);

}  // namespace tandem::services
