#include "services/orchestrator/server/orchestrator_server.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "services/orchestrator/server/ports_factory.h"
#include "services/orchestrator/decoding_names.h"
#include "services/common/credentials.h"

namespace tandem::orchestrator::server {

absl::StatusOr<std::unique_ptr<OrchestratorServer>> OrchestratorServer::Start(GenerationPorts& ports,
                                                                             OrchestratorServerOptions options) {
  std::unique_ptr<OrchestratorServer> s(new OrchestratorServer());
  auto host = services::ServiceHost::Create(options.metrics_address);
  if (!host.ok()) return host.status();
  s->host_ = std::move(*host);
  GenerationServiceOptions so;
  so.default_strategy = options.default_strategy;
  so.admission = options.admission;
  so.retry_after_ms = options.retry_after_ms;
  so.metrics = &s->host_->metrics();
  s->service_ = std::make_unique<GenerationService>(ports, so);
  if (absl::Status st = s->host_->Serve(options.grpc_address, *s->service_,
                                        tandem::v1::Generation::service_full_name(), options.credentials);
      !st.ok()) {
    return st;
  }
  return s;
}

OrchestratorServer::~OrchestratorServer() {
  if (host_ != nullptr) host_->Shutdown();
}

absl::Status RunOrchestratorService(const services::ServiceConfig& service,
                                    const services::DeploymentConfig& deployment, bool all_in_one,
                                    services::ShutdownSignal& signal, const FrontEndFactory& front_end) {
  // Credentials first: a bad certificate path fails before a model loads for minutes.
  auto credentials = services::ServerCredentialsFor(deployment, service);
  if (!credentials.ok()) return credentials.status();
  auto ports = BuildPortsFromConfig(deployment, service, all_in_one);
  if (!ports.ok()) return ports.status();
  OrchestratorServerOptions o;
  o.grpc_address = service.grpc_address();
  o.metrics_address = service.metrics_address();
  o.credentials = *credentials;
  o.default_strategy = service.default_strategy;
  o.admission.max_running = static_cast<int>(service.max_running_requests);
  o.admission.max_waiting = static_cast<int>(service.max_queued_requests);
  o.admission.max_wait = absl::Seconds(service.queue_timeout_s);
  o.retry_after_ms = service.retry_after_ms;
  auto server = OrchestratorServer::Start(**ports, o);
  if (!server.ok()) return server.status();
  std::string detail = absl::StrCat("serving the Generation API (", (*ports)->mode, " ports)");
  std::unique_ptr<FrontEnd> extra;
  if (front_end) {
    auto made = front_end((*server)->service().runner());
    if (!made.ok()) return made.status();
    extra = std::move(*made);
    if (extra != nullptr) absl::StrAppend(&detail, "; ", extra->description());
  }
  services::AnnounceAndServe((*server)->host(), all_in_one ? "all-in-one" : "orchestrator", service.name, detail,
                             signal, absl::Seconds(service.drain_grace_s));
  extra.reset();  // first: its requests run on the service's runner
  server->reset();
  return absl::OkStatus();
}

}  // namespace tandem::orchestrator::server
