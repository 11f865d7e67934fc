// A running tandem-target: TargetService behind the shared model-role server
// (services/model_host/session_server.h: gRPC with health and reflection,
// /metrics, drain), and the process entry point `tandem serve --role target`
// calls.
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "services/model_host/session_server.h"
#include "services/target/target_service.h"

namespace tandem::services {

// The target role: serves a LanguageModel (pass a
// batching::BatchingLanguageModel to batch concurrent sessions).
struct TargetRole {
  using Port = decoding::LanguageModel;
  using Service = TargetService;
  using ServiceOptions = TargetServiceOptions;
  using Bound = decoding::LanguageModel*;
  static constexpr std::string_view kName = "target";
  static const char* GrpcServiceName() { return tandem::v1::Target::service_full_name(); }
  static absl::Status CheckPort(const Port& lm, const tandem::v1::ModelInfo& info) {
    if (info.vocab_size() != lm.vocab_size()) {
      return absl::InvalidArgumentError("target server: model info vocab_size differs from the model's");
    }
    return absl::OkStatus();
  }
  // The batching model itself; sets the end-of-generation test from its
  // tokenizer.
  static Bound Bind(batching::BatchedModel& model, ServiceOptions& options);
  static Port& PortOf(Bound& bound) { return *bound; }
};

using TargetServerOptions = SessionServerOptions<TargetServiceOptions>;
using TargetServer = SessionServer<TargetRole>;

// Loads `service`'s model behind a BatchingLanguageModel and serves it on
// service.grpc_address() (metrics on service.metrics_address() when set)
// until `signal` fires, then shuts down gracefully. Prints one line to
// stderr once SERVING.
absl::Status RunTargetService(const ServiceConfig& service, const DeploymentConfig& deployment,
                              ShutdownSignal& signal);

}  // namespace tandem::services
