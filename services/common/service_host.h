// The bootstrap every tandem role shares (draft, target, reward, retrieval,
// orchestrator): the Prometheus /metrics endpoint, one gRPC server with the
// standard health service reporting the role's service SERVING, reflection
// and message limits (GrpcServer), and a graceful drain on shutdown. A role's
// server object creates the host, builds its service over host.metrics(),
// then calls Serve; the process entry point announces and serves until
// SIGTERM/SIGINT.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/common/grpc_server.h"
#include "services/common/metrics.h"
#include "services/common/shutdown_signal.h"

namespace tandem::services {

class ServiceHost {
 public:
  // Starts the /metrics endpoint on `metrics_address` (empty = none).
  static absl::StatusOr<std::unique_ptr<ServiceHost>> Create(const std::string& metrics_address);
  // Drains (Shutdown) if still serving.
  ~ServiceHost();
  ServiceHost(const ServiceHost&) = delete;
  ServiceHost& operator=(const ServiceHost&) = delete;

  ServiceMetrics& metrics() { return *metrics_; }

  // Serves `service` (not owned; it must outlive Shutdown) on `grpc_address`
  // (port 0 = any free port), health reporting `health_name` SERVING
  // (e.g. tandem::v1::Draft::service_full_name()), with `credentials`
  // (services/common/credentials.h; null = plaintext). UNAVAILABLE when the
  // address cannot be bound; FAILED_PRECONDITION when already serving.
  absl::Status Serve(const std::string& grpc_address, grpc::Service& service, std::string_view health_name,
                     std::shared_ptr<grpc::ServerCredentials> credentials = nullptr);

  // host:port with the bound port; empty before Serve.
  const std::string& address() const;
  GrpcServer& grpc() { return *grpc_; }

  // NOT_SERVING, stop accepting calls, wait up to `grace` for running calls,
  // cancel the rest. Idempotent. Call it before destroying the service.
  void Shutdown(absl::Duration grace = absl::Seconds(5));

 private:
  ServiceHost() = default;
  std::unique_ptr<ServiceMetrics> metrics_;
  std::unique_ptr<GrpcServer> grpc_;
};

// The process side of a role: prints "tandem-ROLE NAME: DETAIL on ADDRESS,
// metrics URL" to stderr once SERVING, serves until SIGTERM/SIGINT (or
// signal.Trigger()), then drains: NOT_SERVING, no new calls, running calls
// get `drain_grace` to finish (ServiceConfig::drain_grace_s), then are cancelled.
void AnnounceAndServe(ServiceHost& host, std::string_view role, std::string_view name, std::string_view detail,
                      ShutdownSignal& signal, absl::Duration drain_grace = absl::Seconds(20));

}  // namespace tandem::services
