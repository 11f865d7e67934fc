#include "services/retrieval/retrieval_server.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "runtime/util/absl_compat.h"
#include "runtime/embedding/bert_embedder.h"
#include "runtime/gguf/gguf_file.h"
#include "services/model_host/model_host.h"
#include "services/common/credentials.h"

namespace tandem::retrieval {

absl::StatusOr<std::unique_ptr<RetrievalServer>> RetrievalServer::Start(RetrievalEngine& engine,
                                                                       const RetrievalServerOptions& options) {
  std::unique_ptr<RetrievalServer> server(new RetrievalServer());
  auto host = services::ServiceHost::Create(options.metrics_address);
  if (!host.ok()) return host.status();
  server->host_ = std::move(*host);
  server->retrieval_metrics_ = std::make_unique<RetrievalMetrics>(server->host_->metrics().registry());
  server->service_ = std::make_unique<RetrievalService>(engine, server->retrieval_metrics_.get());
  if (absl::Status s = server->host_->Serve(options.grpc_address, *server->service_,
                                            tandem::v1::Retrieval::service_full_name(), options.credentials);
      !s.ok()) {
    return s;
  }
  return server;
}

RetrievalServer::~RetrievalServer() {
  if (host_) host_->Shutdown();
}

absl::Status RunRetrievalService(const services::ServiceConfig& service,
                                 const services::DeploymentConfig& deployment, services::ShutdownSignal& signal) {
  // Credentials first: a bad certificate path fails before a model loads for minutes.
  auto credentials = services::ServerCredentialsFor(deployment, service);
  if (!credentials.ok()) return credentials.status();
  auto model_path = services::ResolveServiceModelPath(service, deployment);
  if (!model_path.ok()) return model_path.status();
  std::shared_ptr<const tokenizer::Tokenizer> tok;
  {
    auto file = gguf::GgufFile::Open(*model_path);
    if (!file.ok()) return file.status();
    auto loaded = tokenizer::Tokenizer::FromGguf(**file);
    if (!loaded.ok()) return loaded.status();
    tok = std::move(*loaded);
  }
  embedding::BertEmbedderOptions embedder_options;
  embedder_options.threads = service.threads;
  auto embedder = embedding::LoadNamedBertEmbedder(service.embedder, embedder_options);
  if (!embedder.ok()) return embedder.status();
  RetrievalEngineOptions options;
  options.data_dir = service.data_dir;
  auto engine = RetrievalEngine::Open(tok, std::shared_ptr<embedding::Embedder>(std::move(*embedder)), options);
  if (!engine.ok()) return engine.status();
  RetrievalServerOptions server_options;
  server_options.grpc_address = service.grpc_address();
  server_options.metrics_address = service.metrics_address();
  server_options.credentials = *credentials;
  auto server = RetrievalServer::Start(**engine, server_options);
  if (!server.ok()) return server.status();
  const std::string detail = absl::StrCat((*engine)->ListCollections().size(), " collections in ",
                                          service.data_dir.empty() ? "memory (no data_dir)" : service.data_dir,
                                          ", tokenizer of ", *model_path, ", embedder ",
                                          AbslView((*engine)->embedder().name()), ", serving");
  services::AnnounceAndServe((*server)->host(), "retrieval", service.name, detail, signal,
                             absl::Seconds(service.drain_grace_s));
  return absl::OkStatus();
}

}  // namespace tandem::retrieval
