// tandem.v1.Generation: the public API. Validates and tokenizes each request,
// runs the chosen strategy against the deployment's ports (in-process or
// remote: the service cannot tell), streams chunks, and records per-request
// metrics. Client cancellation and Abort(request_id) stop the strategy
// between rounds; the strategy then closes its draft/target sessions.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "services/common/metrics.h"
#include "decoding/ports/generation_ports.h"
#include "decoding/spec/request_stats.h"
#include "decoding/generation/generation.h"
#include "tandem/v1/generation.grpc.pb.h"
#include "services/common/stats_convert.h"
#include "services/orchestrator/decoding_names.h"

namespace tandem::orchestrator::server {

struct GenerationServiceOptions {
  // Used when GenerateRequest.strategy is empty; empty = "speculative" when
  // the deployment has a drafter, else "target_only".
  std::string default_strategy;
  // Optional; not owned, must outlive the service.
  services::ServiceMetrics* metrics = nullptr;
  std::string version = "0.1.0";
};

class GenerationService final : public tandem::v1::Generation::Service {
 public:
  // `ports` must outlive the service.
  GenerationService(GenerationPorts& ports, GenerationServiceOptions options);

  grpc::Status Generate(grpc::ServerContext* context, const tandem::v1::GenerateRequest* request,
                        grpc::ServerWriter<tandem::v1::GenerateResponse>* writer) override;
  grpc::Status Abort(grpc::ServerContext* context, const tandem::v1::AbortRequest* request,
                     tandem::v1::AbortResponse* response) override;
  grpc::Status ListModels(grpc::ServerContext* context, const tandem::v1::ListModelsRequest* request,
                          tandem::v1::ListModelsResponse* response) override;
  grpc::Status GetInfo(grpc::ServerContext* context, const tandem::v1::GetInfoRequest* request,
                       tandem::v1::GetInfoResponse* response) override;

  // Requests currently generating.
  size_t active_requests() const;
  const std::string& default_strategy() const { return default_strategy_; }

 private:
  struct Running {
    std::atomic<bool> cancelled{false};
    // Set once the request's ports exist; Cancel() aborts in-flight calls.
    std::mutex mu;
    RequestPorts* request_ports = nullptr;  // guarded by mu
    void Cancel();
  };
  // ALREADY_EXISTS when the id is running.
  absl::StatusOr<std::shared_ptr<Running>> Register(std::string* request_id);
  void Unregister(const std::string& request_id);

  // The ports one request runs on: per-request objects when the deployment
  // makes them, wrapped with latency metrics when metrics are on.
  absl::Status MakeRequestView(Running& running, std::unique_ptr<RequestPorts>* request_ports,
                               GenerationPorts* view);

  GenerationPorts& ports_;
  GenerationServiceOptions options_;
  std::string default_strategy_;

  mutable std::mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<Running>> running_;  // guarded by mu_
  uint64_t next_id_ = 0;                                                // guarded by mu_
};

// Conversions shared with the CLI client.
tandem::v1::FinishReason FinishReasonToProto(FinishReason reason);

}  // namespace tandem::orchestrator::server
