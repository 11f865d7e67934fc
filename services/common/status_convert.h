// Conversions between absl::Status (used everywhere inside tandem) and
// grpc::Status (at the service boundary). The codes are numerically the same
// canonical codes in both libraries; only the containers differ.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace tandem::services {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

// The status of a call to another tandem service, as its caller should see
// it: FromGrpcStatus, except that gRPC's reports of a broken connection
// become UNAVAILABLE. gRPC 1.51 reports an in-flight call whose peer process
// died as UNKNOWN ("Socket closed", "Stream removed", "Connection reset by
// peer", ...; grpc/grpc#24206). tandem's handlers never answer UNKNOWN, so
// that UNKNOWN is a lost peer, and UNAVAILABLE is what callers (the drafter
// fallback, clients that retry) act on. Any other UNKNOWN stays UNKNOWN.
absl::Status FromPeerStatus(const grpc::Status& status);

// Name of a code as Prometheus label values and logs use it ("INVALID_ARGUMENT").
const char* StatusCodeName(absl::StatusCode code);

}  // namespace tandem::services
