#include "services/common/service_host.h"

#include <cstdio>

namespace tandem::services {

absl::StatusOr<std::unique_ptr<ServiceHost>> ServiceHost::Create(const std::string& metrics_address) {
  std::unique_ptr<ServiceHost> host(new ServiceHost());
  MetricsOptions options;
  options.listen_address = metrics_address;
  auto metrics = ServiceMetrics::Create(options);
  if (!metrics.ok()) return metrics.status();
  host->metrics_ = std::move(*metrics);
  return host;
}

ServiceHost::~ServiceHost() { Shutdown(); }

absl::Status ServiceHost::Serve(const std::string& grpc_address, grpc::Service& service,
                                std::string_view health_name,
                                std::shared_ptr<grpc::ServerCredentials> credentials) {
  if (grpc_ != nullptr) return absl::FailedPreconditionError("service host: already serving");
  GrpcServerOptions options;
  options.address = grpc_address;
  options.health_service_names = {std::string(health_name)};
  options.credentials = std::move(credentials);
  grpc::Service* services[] = {&service};
  auto grpc = GrpcServer::Start(options, services);
  if (!grpc.ok()) return grpc.status();
  grpc_ = std::move(*grpc);
  return absl::OkStatus();
}

const std::string& ServiceHost::address() const {
  static const std::string kNone;
  return grpc_ == nullptr ? kNone : grpc_->address();
}

void ServiceHost::Shutdown(absl::Duration grace) {
  if (grpc_ != nullptr) grpc_->Shutdown(grace);
}

void AnnounceAndServe(ServiceHost& host, std::string_view role, std::string_view name, std::string_view detail,
                      ShutdownSignal& signal, absl::Duration drain_grace) {
  const std::string& metrics = host.metrics().url();
  std::fprintf(stderr, "tandem-%.*s %.*s: %.*s on %s%s%s\n", static_cast<int>(role.size()), role.data(),
               static_cast<int>(name.size()), name.data(), static_cast<int>(detail.size()), detail.data(),
               host.address().c_str(), metrics.empty() ? "" : ", metrics ", metrics.c_str());
  std::fflush(stderr);
  ServeUntilSignal(host.grpc(), signal, drain_grace);
}

}  // namespace tandem::services
