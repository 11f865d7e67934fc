// Conversions between absl::Status (used everywhere inside tandem) and
// grpc::Status (at the service boundary). The codes are numerically the same
// canonical codes in both libraries; only the containers differ.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace tandem::services {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

// Name of a code as Prometheus label values and logs use it ("INVALID_ARGUMENT").
const char* StatusCodeName(absl::StatusCode code);

}  // namespace tandem::services
