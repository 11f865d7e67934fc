#include "services/retrieval/retrieval_server.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "runtime/embedding/bert_embedder.h"
#include "runtime/gguf/gguf_file.h"
#include "services/model_host/model_host.h"

namespace tandem::retrieval {

absl::StatusOr<std::unique_ptr<RetrievalServer>> RetrievalServer::Start(RetrievalEngine& engine,
                                                                       const RetrievalServerOptions& options) {
  std::unique_ptr<RetrievalServer> server(new RetrievalServer());
  services::MetricsOptions metrics_options;
  metrics_options.listen_address = options.metrics_address;
  auto metrics = services::ServiceMetrics::Create(metrics_options);
  if (!metrics.ok()) return metrics.status();
  server->metrics_ = std::move(*metrics);
  server->retrieval_metrics_ = std::make_unique<RetrievalMetrics>(server->metrics_->registry());
  server->service_ = std::make_unique<RetrievalService>(engine, server->retrieval_metrics_.get());
  services::GrpcServerOptions grpc_options;
  grpc_options.address = options.grpc_address;
  grpc_options.health_service_names = {std::string(tandem::v1::Retrieval::service_full_name())};
  grpc::Service* services[] = {server->service_.get()};
  auto grpc = services::GrpcServer::Start(grpc_options, services);
  if (!grpc.ok()) return grpc.status();
  server->grpc_ = std::move(*grpc);
  return server;
}

RetrievalServer::~RetrievalServer() {
  if (grpc_) grpc_->Shutdown(absl::Seconds(5));
  grpc_.reset();
}

absl::Status RunRetrievalService(const services::ServiceConfig& service,
                                 const services::DeploymentConfig& deployment, services::ShutdownSignal& signal) {
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
  auto server = RetrievalServer::Start(**engine, server_options);
  if (!server.ok()) return server.status();
  std::fprintf(stderr, "tandem-retrieval %s: %zu collections in %s, tokenizer of %s, embedder %s, serving on %s%s%s\n",
               service.name.c_str(), (*engine)->ListCollections().size(),
               service.data_dir.empty() ? "memory (no data_dir)" : service.data_dir.c_str(), model_path->c_str(),
               std::string((*engine)->embedder().name()).c_str(), (*server)->address().c_str(),
               (*server)->metrics().url().empty() ? "" : ", metrics ", (*server)->metrics().url().c_str());
  services::ServeUntilSignal((*server)->grpc(), signal);
  return absl::OkStatus();
}

}  // namespace tandem::retrieval
