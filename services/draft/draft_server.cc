#include "services/draft/draft_server.h"

namespace tandem::services {

DraftRole::Bound DraftRole::Bind(batching::BatchedModel& model, ServiceOptions&) {
  const runtime::Tokenizer& tokenizer = model.model().tokenizer();
  return std::make_unique<decoding::ModelDrafter>(
      model.lm(), [&tokenizer](int32_t t) { return tokenizer.IsEndOfGeneration(t); });
}

absl::Status RunDraftService(const ServiceConfig& service, const DeploymentConfig& deployment,
                             ShutdownSignal& signal) {
  return RunSessionService<DraftRole>(service, deployment, signal);
}

}  // namespace tandem::services
