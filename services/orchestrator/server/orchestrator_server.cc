#include "services/orchestrator/server/orchestrator_server.h"

#include <cstdio>

#include "services/orchestrator/server/ports_factory.h"
#include "services/orchestrator/decoding_names.h"

namespace tandem::orchestrator::server {

absl::StatusOr<std::unique_ptr<OrchestratorServer>> OrchestratorServer::Start(GenerationPorts& ports,
                                                                             OrchestratorServerOptions options) {
  std::unique_ptr<OrchestratorServer> s(new OrchestratorServer());
  services::MetricsOptions mo;
  mo.listen_address = options.metrics_address;
  auto metrics = services::ServiceMetrics::Create(mo);
  if (!metrics.ok()) return metrics.status();
  s->metrics_ = std::move(*metrics);
  GenerationServiceOptions so;
  so.default_strategy = options.default_strategy;
  so.metrics = s->metrics_.get();
  s->service_ = std::make_unique<GenerationService>(ports, so);
  services::GrpcServerOptions go;
  go.address = options.grpc_address;
  go.health_service_names = {std::string(tandem::v1::Generation::service_full_name())};
  grpc::Service* services[] = {s->service_.get()};
  auto grpc = services::GrpcServer::Start(go, services);
  if (!grpc.ok()) return grpc.status();
  s->grpc_ = std::move(*grpc);
  return s;
}

OrchestratorServer::~OrchestratorServer() {
  if (grpc_ != nullptr) grpc_->Shutdown(absl::Seconds(5));
}

absl::Status RunOrchestratorService(const services::ServiceConfig& service,
                                    const services::DeploymentConfig& deployment, bool all_in_one,
                                    services::ShutdownSignal& signal) {
  auto ports = BuildPortsFromConfig(deployment, service, all_in_one);
  if (!ports.ok()) return ports.status();
  OrchestratorServerOptions o;
  o.grpc_address = service.grpc_address();
  o.metrics_address = service.metrics_address();
  o.default_strategy = service.default_strategy;
  auto server = OrchestratorServer::Start(**ports, o);
  if (!server.ok()) return server.status();
  std::fprintf(stderr, "[tandem] %s (%s, %s) SERVING on %s, metrics %s\n", service.name.c_str(),
               all_in_one ? "all-in-one" : "orchestrator", (*ports)->mode.c_str(), (*server)->address().c_str(),
               (*server)->metrics().url().empty() ? "off" : (*server)->metrics().url().c_str());
  std::fflush(stderr);
  services::ServeUntilSignal((*server)->grpc(), signal);
  server->reset();
  return absl::OkStatus();
}

}  // namespace tandem::orchestrator::server
