// A running orchestrator: GenerationService + gRPC server (health,
// reflection) + /metrics, and the process entry point behind
// `tandem serve --role orchestrator|all-in-one`.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/common/deploy_config.h"
#include "services/common/service_host.h"
#include "services/common/shutdown_signal.h"
#include "services/orchestrator/server/front_end.h"
#include "services/orchestrator/server/generation_service.h"
#include "services/orchestrator/decoding_names.h"

namespace tandem::orchestrator::server {

struct OrchestratorServerOptions {
  std::string grpc_address = "127.0.0.1:0";  // port 0 = any free port
  std::string metrics_address;               // empty = no /metrics endpoint
  std::shared_ptr<grpc::ServerCredentials> credentials;  // null = plaintext (services/common/credentials.h)
  std::string default_strategy;              // empty: see GenerationServiceOptions
  AdmissionOptions admission;                // see GenerationServiceOptions
  int64_t retry_after_ms = 1000;
};

class OrchestratorServer {
 public:
  // Serves `ports` (not owned; must outlive the server).
  static absl::StatusOr<std::unique_ptr<OrchestratorServer>> Start(GenerationPorts& ports,
                                                                  OrchestratorServerOptions options);
  ~OrchestratorServer();
  const std::string& address() const { return host_->address(); }
  services::ServiceMetrics& metrics() { return host_->metrics(); }
  GenerationService& service() { return *service_; }
  services::GrpcServer& grpc() { return host_->grpc(); }
  services::ServiceHost& host() { return *host_; }

 private:
  OrchestratorServer() = default;
  std::unique_ptr<services::ServiceHost> host_;  // metrics outlive the service; gRPC drains first
  std::unique_ptr<GenerationService> service_;
};

// Builds the ports of `service` (remote, or in process with all_in_one),
// serves until `signal` fires, then shuts down gracefully. Prints one line to
// stderr once SERVING (after `front_end`, when given, is listening too).
absl::Status RunOrchestratorService(const services::ServiceConfig& service,
                                    const services::DeploymentConfig& deployment, bool all_in_one,
                                    services::ShutdownSignal& signal, const FrontEndFactory& front_end = nullptr);

}  // namespace tandem::orchestrator::server
