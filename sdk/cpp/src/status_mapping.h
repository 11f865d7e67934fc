// gRPC status -> absl::Status: the same code (the two enums agree value for
// value) and the server's message unchanged, so callers can show it as is.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace tandem::sdk_internal {

absl::Status FromGrpc(const grpc::Status& status);

}  // namespace tandem::sdk_internal
