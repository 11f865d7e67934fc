#include "services/draft/draft_server.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "services/model_host/model_host.h"
#include "decoding/local/model_drafter.h"
#include "services/common/credentials.h"

namespace tandem::services {

absl::StatusOr<std::unique_ptr<DraftServer>> DraftServer::Start(decoding::Drafter& drafter,
                                                               DraftServerOptions options,
                                                               std::function<int64_t()> kv_bytes) {
  if (options.service.info.vocab_size() <= 0 || options.service.info.context_length() <= 0) {
    return absl::InvalidArgumentError("draft server: model info needs vocab_size and context_length");
  }
  std::unique_ptr<DraftServer> server(new DraftServer());
  auto host = ServiceHost::Create(options.metrics_address);
  if (!host.ok()) return host.status();
  server->host_ = std::move(*host);
  server->service_ = std::make_unique<DraftService>(drafter, std::move(options.service), &server->host_->metrics(),
                                                    std::move(kv_bytes));
  if (absl::Status s = server->host_->Serve(options.grpc_address, *server->service_,
                                            tandem::v1::Draft::service_full_name(), options.credentials);
      !s.ok()) {
    return s;
  }
  return server;
}

DraftServer::~DraftServer() {
  if (host_) host_->Shutdown();
}

absl::Status RunDraftService(const ServiceConfig& service, const DeploymentConfig& deployment,
                             ShutdownSignal& signal) {
  // Credentials first: a bad certificate path fails before a model loads for minutes.
  auto credentials = ServerCredentialsFor(deployment, service);
  if (!credentials.ok()) return credentials.status();
  auto model = LoadServiceModel(service, deployment);
  if (!model.ok()) return model.status();
  batching::BatchedModel& bm = **model;
  const runtime::Tokenizer& tokenizer = bm.model().tokenizer();
  decoding::ModelDrafter drafter(bm.lm(), [&tokenizer](int32_t t) { return tokenizer.IsEndOfGeneration(t); });
  const std::string name = service.model.empty() ? service.name : service.model;
  DraftServerOptions options;
  options.grpc_address = service.grpc_address();
  options.metrics_address = service.metrics_address();
  options.credentials = *credentials;
  options.service.info = ModelInfoOf(bm.model(), name, "draft");
  options.service.sessions.idle_timeout = absl::Seconds(service.session_idle_timeout_s);
  options.service.sessions.max_sessions = static_cast<size_t>(service.max_sessions);
  batching::BatchingLanguageModel* lm = &bm.lm();
  auto server = DraftServer::Start(drafter, std::move(options), [lm] { return lm->kv_bytes_in_use(); });
  if (!server.ok()) return server.status();
  (*server)->metrics().SetKvCacheBudgetBytes(service.kv_budget_mb << 20);
  AnnounceAndServe((*server)->host(), "draft", service.name, absl::StrCat("serving ", name), signal);
  return absl::OkStatus();
}

}  // namespace tandem::services
