// How a request ended, as tandem.v1.FinishReason: the gRPC stream's Complete
// message and the per-request metrics label it the same way.
#pragma once

#include "services/orchestrator/decoding_names.h"
#include "services/orchestrator/server/request_runner.h"
#include "tandem/v1/generation.pb.h"

namespace tandem::orchestrator::server {

tandem::v1::FinishReason FinishReasonToProto(FinishReason reason);

// The strategy's finish reason, ERROR when the run failed, ABORTED when the
// client went away or Abort cancelled it.
tandem::v1::FinishReason OutcomeReason(const RunOutcome& outcome);

}  // namespace tandem::orchestrator::server
