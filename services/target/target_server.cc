#include "services/target/target_server.h"

namespace tandem::services {

TargetRole::Bound TargetRole::Bind(batching::BatchedModel& model, ServiceOptions& options) {
  const runtime::Tokenizer& tokenizer = model.model().tokenizer();
  options.is_end_of_generation = [&tokenizer](int32_t t) { return tokenizer.IsEndOfGeneration(t); };
  return &model.lm();
}

absl::Status RunTargetService(const ServiceConfig& service, const DeploymentConfig& deployment,
                              ShutdownSignal& signal) {
  return RunSessionService<TargetRole>(service, deployment, signal);
}

}  // namespace tandem::services
