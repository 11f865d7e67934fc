#include "services/target/target_server.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "services/model_host/model_host.h"
#include "services/common/credentials.h"

namespace tandem::services {

absl::StatusOr<std::unique_ptr<TargetServer>> TargetServer::Start(decoding::LanguageModel& lm,
                                                                 TargetServerOptions options,
                                                                 std::function<int64_t()> kv_bytes) {
  if (options.service.info.vocab_size() <= 0 || options.service.info.context_length() <= 0) {
    return absl::InvalidArgumentError("target server: model info needs vocab_size and context_length");
  }
  if (options.service.info.vocab_size() != lm.vocab_size()) {
    return absl::InvalidArgumentError("target server: model info vocab_size differs from the model's");
  }
  std::unique_ptr<TargetServer> server(new TargetServer());
  auto host = ServiceHost::Create(options.metrics_address);
  if (!host.ok()) return host.status();
  server->host_ = std::move(*host);
  server->service_ = std::make_unique<TargetService>(lm, std::move(options.service), &server->host_->metrics(),
                                                     std::move(kv_bytes));
  if (absl::Status s = server->host_->Serve(options.grpc_address, *server->service_,
                                            tandem::v1::Target::service_full_name(), options.credentials);
      !s.ok()) {
    return s;
  }
  return server;
}

TargetServer::~TargetServer() {
  if (host_) host_->Shutdown();
}

absl::Status RunTargetService(const ServiceConfig& service, const DeploymentConfig& deployment,
                              ShutdownSignal& signal) {
  // Credentials first: a bad certificate path fails before a model loads for minutes.
  auto credentials = ServerCredentialsFor(deployment, service);
  if (!credentials.ok()) return credentials.status();
  auto model = LoadServiceModel(service, deployment);
  if (!model.ok()) return model.status();
  batching::BatchedModel& bm = **model;
  const runtime::Tokenizer& tokenizer = bm.model().tokenizer();
  const std::string name = service.model.empty() ? service.name : service.model;
  TargetServerOptions options;
  options.grpc_address = service.grpc_address();
  options.metrics_address = service.metrics_address();
  options.credentials = *credentials;
  options.service.info = ModelInfoOf(bm.model(), name, "target");
  options.service.is_end_of_generation = [&tokenizer](int32_t t) { return tokenizer.IsEndOfGeneration(t); };
  options.service.sessions.idle_timeout = absl::Seconds(service.session_idle_timeout_s);
  options.service.sessions.max_sessions = static_cast<size_t>(service.max_sessions);
  batching::BatchingLanguageModel* lm = &bm.lm();
  auto server = TargetServer::Start(bm.lm(), std::move(options), [lm] { return lm->kv_bytes_in_use(); });
  if (!server.ok()) return server.status();
  (*server)->metrics().SetKvCacheBudgetBytes(service.kv_budget_mb << 20);
  AnnounceAndServe((*server)->host(), "target", service.name, absl::StrCat("serving ", name), signal);
  return absl::OkStatus();
}

}  // namespace tandem::services
