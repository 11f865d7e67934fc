// A running tandem-draft: DraftService behind the shared model-role server
// (services/model_host/session_server.h: gRPC with health and reflection,
// /metrics, drain), and the process entry point `tandem serve --role draft`
// calls.
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/status.h"
#include "decoding/local/model_drafter.h"
#include "services/draft/draft_service.h"
#include "services/model_host/session_server.h"

namespace tandem::services {

// The draft role: serves a Drafter; in a process, a ModelDrafter over the
// loaded model.
struct DraftRole {
  using Port = decoding::Drafter;
  using Service = DraftService;
  using ServiceOptions = DraftServiceOptions;
  using Bound = std::unique_ptr<decoding::ModelDrafter>;
  static constexpr std::string_view kName = "draft";
  static const char* GrpcServiceName() { return tandem::v1::Draft::service_full_name(); }
  static absl::Status CheckPort(const Port&, const tandem::v1::ModelInfo&) { return absl::OkStatus(); }
  static Bound Bind(batching::BatchedModel& model, ServiceOptions& options);
  static Port& PortOf(Bound& bound) { return *bound; }
};

using DraftServerOptions = SessionServerOptions<DraftServiceOptions>;
using DraftServer = SessionServer<DraftRole>;

// Loads `service`'s model and serves a ModelDrafter over a
// BatchingLanguageModel on service.grpc_address() (metrics on
// service.metrics_address() when set) until `signal` fires, then shuts down
// gracefully. Prints one line to stderr once SERVING.
absl::Status RunDraftService(const ServiceConfig& service, const DeploymentConfig& deployment,
                             ShutdownSignal& signal);

}  // namespace tandem::services
