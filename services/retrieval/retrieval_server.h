// A running tandem-retrieval: RetrievalService + gRPC server (health,
// reflection) + /metrics, and the process entry point that
// `tandem serve --role retrieval` calls.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/common/deploy_config.h"
#include "services/common/service_host.h"
#include "services/common/shutdown_signal.h"
#include "services/retrieval/retrieval_engine.h"
#include "services/retrieval/retrieval_metrics.h"
#include "services/retrieval/retrieval_service.h"

namespace tandem::retrieval {

struct RetrievalServerOptions {
  std::string grpc_address = "127.0.0.1:0";  // port 0 = any free port
  std::string metrics_address;               // empty = no /metrics endpoint
  std::shared_ptr<grpc::ServerCredentials> credentials;  // null = plaintext (services/common/credentials.h)
};

class RetrievalServer {
 public:
  // Serves `engine` (not owned; must outlive the server).
  static absl::StatusOr<std::unique_ptr<RetrievalServer>> Start(RetrievalEngine& engine,
                                                               const RetrievalServerOptions& options);
  ~RetrievalServer();

  const std::string& address() const { return host_->address(); }
  services::ServiceMetrics& metrics() { return host_->metrics(); }
  services::GrpcServer& grpc() { return host_->grpc(); }
  services::ServiceHost& host() { return *host_; }

 private:
  RetrievalServer() = default;
  std::unique_ptr<services::ServiceHost> host_;  // metrics outlive the service; gRPC drains first
  std::unique_ptr<RetrievalMetrics> retrieval_metrics_;
  std::unique_ptr<RetrievalService> service_;
};

// Loads the tokenizer of `service.model` (only the tokenizer: no weights are
// read) and the sentence embedder (`service.embedder`, default the bundled
// all-minilm-l6-v2; `service.threads` compute threads), opens the
// collections under `service.data_dir` (in memory when empty), serves on
// service.grpc_address() until `signal` fires.
absl::Status RunRetrievalService(const services::ServiceConfig& service,
                                 const services::DeploymentConfig& deployment, services::ShutdownSignal& signal);

}  // namespace tandem::retrieval
