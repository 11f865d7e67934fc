// Bootstrap shared by every tandem gRPC service: one grpc::Server on one
// address with the standard grpc.health.v1.Health service (SERVING per
// registered service name), server reflection, message size limits, and a
// graceful shutdown that first reports NOT_SERVING, then drains in-flight
// calls for a grace period before cancelling them.
#pragma once

#include <atomic>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/common/shutdown_signal.h"

namespace tandem::services {

struct GrpcServerOptions {
  // host:port to listen on; port 0 picks a free port (see GrpcServer::port()).
  std::string address = "127.0.0.1:0";
  // Largest request/response message in bytes. Dense q distributions of a
  // 152k vocabulary are ~600 KB each, so a verification of 32 tokens needs
  // ~20 MB; 64 MiB leaves room.
  int max_receive_message_bytes = 64 << 20;
  int max_send_message_bytes = 64 << 20;
  // Fully qualified names reported SERVING by the health service (e.g.
  // tandem::v1::Target::service_full_name()). The overall status "" is
  // always reported too.
  std::vector<std::string> health_service_names;
  // Register gRPC server reflection (grpcurl / grpc_cli can list services).
  bool enable_reflection = true;
  // TLS / mutual TLS / bearer token (services/common/credentials.h);
  // null = plaintext.
  std::shared_ptr<grpc::ServerCredentials> credentials;
};

class GrpcServer {
 public:
  // Builds and starts the server with `services` (not owned; they must
  // outlive the server). UNAVAILABLE if the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<GrpcServer>> Start(const GrpcServerOptions& options,
                                                           std::span<grpc::Service* const> services);
  // Shuts down with a 5 s grace period if still running.
  ~GrpcServer();
  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  // The bound port (the chosen one when the address asked for port 0).
  int port() const { return port_; }
  // host:port with the bound port, for clients.
  const std::string& address() const { return address_; }

  // Flips the health status of every registered name (and "").
  void SetServing(bool serving);
  // NOT_SERVING, then stop accepting calls, wait up to `grace` for running
  // calls, cancel the rest. Idempotent.
  void Shutdown(absl::Duration grace);
  // Blocks until Shutdown() finished.
  void Wait();

  grpc::Server* server() { return server_.get(); }

 private:
  GrpcServer(std::unique_ptr<grpc::Server> server, int port, std::string address,
             std::vector<std::string> names);
  std::unique_ptr<grpc::Server> server_;
  int port_;
  std::string address_;
  std::vector<std::string> health_names_;
  std::atomic<bool> shut_down_{false};
};

// Serves until SIGTERM/SIGINT (or signal.Trigger()), then shuts `server`
// down gracefully. Returns the signal number (0 for Trigger()).
int ServeUntilSignal(GrpcServer& server, ShutdownSignal& signal,
                     absl::Duration grace = absl::Seconds(5));

}  // namespace tandem::services
