#include "services/common/grpc_server.h"

#include <chrono>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include "absl/strings/str_cat.h"
#include "services/common/address.h"

namespace tandem::services {
absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(
    const GrpcServerOptions& options, std::span<grpc::Service* const> services) {
  if (options.address.empty()) return absl::InvalidArgumentError("address: must not be empty");
  // Both are process-wide switches inside gRPC that only affect servers built
  // afterwards; setting them again is harmless.
  grpc::EnableDefaultHealthCheckService(true);
  if (options.enable_reflection) grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options.address,
                           options.credentials != nullptr ? options.credentials : grpc::InsecureServerCredentials(),
                           &port);
  builder.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  builder.SetMaxSendMessageSize(options.max_send_message_bytes);
  for (grpc::Service* service : services) builder.RegisterService(service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.address));
  }
  auto result = std::unique_ptr<GrpcServer>(
      new GrpcServer(std::move(server), port, absl::StrCat(AddressHost(options.address), ":", port),
                     options.health_service_names));
  result->SetServing(true);
  return result;
}

GrpcServer::GrpcServer(std::unique_ptr<grpc::Server> server, int port, std::string address,
                       std::vector<std::string> names)
    : server_(std::move(server)), port_(port), address_(std::move(address)),
      health_names_(std::move(names)) {}

GrpcServer::~GrpcServer() {
  Shutdown(absl::Seconds(5));
  server_->Wait();
}

void GrpcServer::SetServing(bool serving) {
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  if (health == nullptr) return;
  health->SetServingStatus(serving);  // "" and every registered name
  for (const std::string& name : health_names_) health->SetServingStatus(name, serving);
}

void GrpcServer::Shutdown(absl::Duration grace) {
  if (shut_down_.exchange(true)) return;
  SetServing(false);
  if (grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService()) {
    // Ends Watch streams so that the server can finish draining.
    health->Shutdown();
  }
  server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
}

void GrpcServer::Wait() { server_->Wait(); }

int ServeUntilSignal(GrpcServer& server, ShutdownSignal& signal, absl::Duration grace) {
  const int signo = signal.Wait();
  server.Shutdown(grace);
  server.Wait();
  return signo;
}

}  // namespace tandem::services
