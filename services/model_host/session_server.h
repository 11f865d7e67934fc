// A model role's server (draft, target): its session service (DraftService,
// TargetService) behind one ServiceHost, and the steps every model role
// takes from its deployment-config entry to SERVING. DraftServer and
// TargetServer are this template with their role's traits, so the two roles
// share one bootstrap and differ only in what they serve.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include <grpcpp/security/server_credentials.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "decoding/batching/batched_model.h"
#include "services/common/credentials.h"
#include "services/common/deploy_config.h"
#include "services/common/service_host.h"
#include "services/common/shutdown_signal.h"
#include "services/model_host/model_host.h"

namespace tandem::services {

template <typename ServiceOptions>
struct SessionServerOptions {
  std::string grpc_address = "127.0.0.1:0";  // port 0 = any free port
  std::string metrics_address;               // empty = no /metrics endpoint
  std::shared_ptr<grpc::ServerCredentials> credentials;  // null = plaintext (services/common/credentials.h)
  ServiceOptions service;
};

// Role: the traits of a model role —
//   using Port = ...;            what the service serves (not owned)
//   using Service = ...;         constructible from (Port&, ServiceOptions, ServiceMetrics*, kv_bytes)
//   using ServiceOptions = ...;  with .info (tandem.v1.ModelInfo) and .sessions
//   static constexpr std::string_view kName;
//   static const char* GrpcServiceName();
//   static absl::Status CheckPort(const Port&, const tandem::v1::ModelInfo&);
//   static Bound Bind(batching::BatchedModel&, ServiceOptions&);  the port over a loaded model
//   static Port& PortOf(Bound&);
template <typename Role>
class SessionServer {
 public:
  using Options = SessionServerOptions<typename Role::ServiceOptions>;

  // Serves `port` (not owned; must outlive the server). `kv_bytes` reports the
  // KV memory in use for the service's gauge (null = none).
  static absl::StatusOr<std::unique_ptr<SessionServer>> Start(typename Role::Port& port, Options options,
                                                              std::function<int64_t()> kv_bytes = nullptr) {
    const tandem::v1::ModelInfo& info = options.service.info;
    if (info.vocab_size() <= 0 || info.context_length() <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(std::string(Role::kName), " server: model info needs vocab_size and context_length"));
    }
    if (absl::Status s = Role::CheckPort(port, info); !s.ok()) return s;
    std::unique_ptr<SessionServer> server(new SessionServer());
    auto host = ServiceHost::Create(options.metrics_address);
    if (!host.ok()) return host.status();
    server->host_ = std::move(*host);
    server->service_ = std::make_unique<typename Role::Service>(port, std::move(options.service),
                                                                &server->host_->metrics(), std::move(kv_bytes));
    if (absl::Status s = server->host_->Serve(options.grpc_address, *server->service_, Role::GrpcServiceName(),
                                              options.credentials);
        !s.ok()) {
      return s;
    }
    return server;
  }
  ~SessionServer() {
    if (host_) host_->Shutdown();
  }

  const std::string& address() const { return host_->address(); }
  ServiceMetrics& metrics() { return host_->metrics(); }
  typename Role::Service& service() { return *service_; }
  GrpcServer& grpc() { return host_->grpc(); }
  ServiceHost& host() { return *host_; }

 private:
  SessionServer() = default;
  std::unique_ptr<ServiceHost> host_;  // metrics outlive the service; gRPC drains first
  std::unique_ptr<typename Role::Service> service_;
};

// A model role's process from its deployment-config entry: credentials
// (first, so a bad certificate path fails before a model loads for minutes),
// the model behind a BatchingLanguageModel, the role's port over it
// (Role::Bind, which may also set role-specific service options), then
// serving until `signal` fires and a graceful shutdown. Prints one line to
// stderr once SERVING.
template <typename Role>
absl::Status RunSessionService(const ServiceConfig& service, const DeploymentConfig& deployment,
                               ShutdownSignal& signal) {
  auto credentials = ServerCredentialsFor(deployment, service);
  if (!credentials.ok()) return credentials.status();
  auto model = LoadServiceModel(service, deployment);
  if (!model.ok()) return model.status();
  batching::BatchedModel& bm = **model;
  const std::string name = service.model.empty() ? service.name : service.model;
  typename SessionServer<Role>::Options options;
  options.grpc_address = service.grpc_address();
  options.metrics_address = service.metrics_address();
  options.credentials = *credentials;
  options.service.info = ModelInfoOf(bm.model(), name, std::string(Role::kName));
  options.service.sessions.idle_timeout = absl::Seconds(service.session_idle_timeout_s);
  options.service.sessions.max_sessions = static_cast<size_t>(service.max_sessions);
  auto bound = Role::Bind(bm, options.service);  // owns the port; outlives the server below
  batching::BatchingLanguageModel* lm = &bm.lm();
  auto server = SessionServer<Role>::Start(Role::PortOf(bound), std::move(options),
                                           [lm] { return lm->kv_bytes_in_use(); });
  if (!server.ok()) return server.status();
  (*server)->metrics().SetKvCacheBudgetBytes(service.kv_budget_mb << 20);
  AnnounceAndServe((*server)->host(), Role::kName, service.name, absl::StrCat("serving ", name), signal,
                   absl::Seconds(service.drain_grace_s));
  return absl::OkStatus();
}

}  // namespace tandem::services
