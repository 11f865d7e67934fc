// tandem.v1.Generation: the public API. Validates and tokenizes each request,
// runs the chosen strategy against the deployment's ports (in-process or
// remote: the service cannot tell) through the RequestRunner every front end
// shares, streams chunks, and records per-request metrics. Client cancellation and Abort(request_id) stop the strategy
// between rounds; the strategy then closes its draft/target sessions.
#pragma once

#include <string>

#include "services/common/metrics.h"
#include "decoding/ports/generation_ports.h"
#include "decoding/spec/request_stats.h"
#include "decoding/generation/generation.h"
#include "tandem/v1/generation.grpc.pb.h"
#include "services/common/stats_convert.h"
#include "services/orchestrator/decoding_names.h"
#include "services/orchestrator/server/request_runner.h"

namespace tandem::orchestrator::server {

struct GenerationServiceOptions {
  // Used when GenerateRequest.strategy is empty; empty = "speculative" when
  // the deployment has a drafter, else "target_only".
  std::string default_strategy;
  // Optional; not owned, must outlive the service.
  services::ServiceMetrics* metrics = nullptr;
  std::string version = "0.1.0";
  // Admission control (admission.h); the default admits every request.
  AdmissionOptions admission;
  // Sent as trailing metadata `retry-after-ms` with RESOURCE_EXHAUSTED.
  int64_t retry_after_ms = 1000;
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

  // Requests currently generating (from every front end).
  size_t active_requests() const { return runner_.active_requests(); }
  const std::string& default_strategy() const { return runner_.default_strategy(); }
  // The runner other front ends of this orchestrator (the HTTP gateway)
  // share, so that Abort and the request ids cover them too.
  RequestRunner& runner() { return runner_; }

 private:
  GenerationPorts& ports_;
  GenerationServiceOptions options_;
  RequestRunner runner_;
};

}  // namespace tandem::orchestrator::server
