// A running tandem-target: TargetService + gRPC server (health, reflection) +
// /metrics, and the process entry point `tandem serve --role target` calls.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/common/deploy_config.h"
#include "services/common/service_host.h"
#include "services/common/shutdown_signal.h"
#include "services/target/target_service.h"

namespace tandem::services {

struct TargetServerOptions {
  std::string grpc_address = "127.0.0.1:0";  // port 0 = any free port
  std::string metrics_address;               // empty = no /metrics endpoint
  std::shared_ptr<grpc::ServerCredentials> credentials;  // null = plaintext (services/common/credentials.h)
  TargetServiceOptions service;
};

class TargetServer {
 public:
  // Serves `lm` (not owned; must outlive the server). Pass a
  // batching::BatchingLanguageModel to batch concurrent sessions.
  static absl::StatusOr<std::unique_ptr<TargetServer>> Start(decoding::LanguageModel& lm,
                                                            TargetServerOptions options,
                                                            std::function<int64_t()> kv_bytes = nullptr);
  ~TargetServer();

  const std::string& address() const { return host_->address(); }
  ServiceMetrics& metrics() { return host_->metrics(); }
  TargetService& service() { return *service_; }
  GrpcServer& grpc() { return host_->grpc(); }
  ServiceHost& host() { return *host_; }

 private:
  TargetServer() = default;
  std::unique_ptr<ServiceHost> host_;  // metrics outlive the service; gRPC drains first
  std::unique_ptr<TargetService> service_;
};

// Loads `service`'s model behind a BatchingLanguageModel and serves it on
// service.grpc_address() (metrics on service.metrics_address() when set)
// until `signal` fires, then shuts down gracefully. Prints one line to
// stderr once SERVING.
absl::Status RunTargetService(const ServiceConfig& service, const DeploymentConfig& deployment,
                              ShutdownSignal& signal);

}  // namespace tandem::services
