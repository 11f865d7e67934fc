#include "services/orchestrator/server/finish_reason.h"

namespace tandem::orchestrator::server {

tandem::v1::FinishReason FinishReasonToProto(FinishReason reason) {
  switch (reason) {
    case FinishReason::kEndOfGeneration: return tandem::v1::FINISH_REASON_STOP;
    case FinishReason::kLength: return tandem::v1::FINISH_REASON_LENGTH;
    case FinishReason::kStopString: return tandem::v1::FINISH_REASON_STOP_STRING;
    case FinishReason::kAborted: return tandem::v1::FINISH_REASON_ABORTED;
    case FinishReason::kContextLength: return tandem::v1::FINISH_REASON_CONTEXT_LENGTH;
    case FinishReason::kNone: break;
  }
  return tandem::v1::FINISH_REASON_UNSPECIFIED;
}

tandem::v1::FinishReason OutcomeReason(const RunOutcome& outcome) {
  if (outcome.aborted) return tandem::v1::FINISH_REASON_ABORTED;
  if (!outcome.status.ok()) return tandem::v1::FINISH_REASON_ERROR;
  return FinishReasonToProto(outcome.result.finish_reason);
}

}  // namespace tandem::orchestrator::server
