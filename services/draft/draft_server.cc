#include "services/draft/draft_server.h"

#include <cstdio>

#include "services/model_host/model_host.h"
#include "decoding/local/model_drafter.h"

namespace tandem::services {

absl::StatusOr<std::unique_ptr<DraftServer>> DraftServer::Start(decoding::Drafter& drafter,
                                                               DraftServerOptions options,
                                                               std::function<int64_t()> kv_bytes) {
  if (options.service.info.vocab_size() <= 0 || options.service.info.context_length() <= 0) {
    return absl::InvalidArgumentError("draft server: model info needs vocab_size and context_length");
  }
  std::unique_ptr<DraftServer> server(new DraftServer());
  MetricsOptions metrics_options;
  metrics_options.listen_address = options.metrics_address;
  auto metrics = ServiceMetrics::Create(metrics_options);
  if (!metrics.ok()) return metrics.status();
  server->metrics_ = std::move(*metrics);
  server->service_ = std::make_unique<DraftService>(drafter, std::move(options.service), server->metrics_.get(),
                                                    std::move(kv_bytes));
  GrpcServerOptions grpc_options;
  grpc_options.address = options.grpc_address;
  grpc_options.health_service_names = {std::string(tandem::v1::Draft::service_full_name())};
  grpc::Service* services[] = {server->service_.get()};
  auto grpc = GrpcServer::Start(grpc_options, services);
  if (!grpc.ok()) return grpc.status();
  server->grpc_ = std::move(*grpc);
  return server;
}

DraftServer::~DraftServer() {
  if (grpc_) grpc_->Shutdown(absl::Seconds(5));
  grpc_.reset();
}

absl::Status RunDraftService(const ServiceConfig& service, const DeploymentConfig& deployment,
                             ShutdownSignal& signal) {
  auto model = LoadServiceModel(service, deployment);
  if (!model.ok()) return model.status();
  batching::BatchedModel& bm = **model;
  const runtime::Tokenizer& tokenizer = bm.model().tokenizer();
  decoding::ModelDrafter drafter(bm.lm(), [&tokenizer](int32_t t) { return tokenizer.IsEndOfGeneration(t); });
  const std::string name = service.model.empty() ? service.name : service.model;
  DraftServerOptions options;
  options.grpc_address = service.grpc_address();
  options.metrics_address = service.metrics_address();
  options.service.info = ModelInfoOf(bm.model(), name, "draft");
  options.service.sessions.idle_timeout = absl::Seconds(service.session_idle_timeout_s);
  options.service.sessions.max_sessions = static_cast<size_t>(service.max_sessions);
  batching::BatchingLanguageModel* lm = &bm.lm();
  auto server = DraftServer::Start(drafter, std::move(options), [lm] { return lm->kv_bytes_in_use(); });
  if (!server.ok()) return server.status();
  std::fprintf(stderr, "tandem-draft %s: serving %s on %s%s%s\n", service.name.c_str(),
               name.c_str(),
               (*server)->address().c_str(), (*server)->metrics().url().empty() ? "" : ", metrics ",
               (*server)->metrics().url().c_str());
  ServeUntilSignal((*server)->grpc(), signal);
  return absl::OkStatus();
}

}  // namespace tandem::services
