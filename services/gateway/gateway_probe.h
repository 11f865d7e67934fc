// Whether a gateway answers: GET /health on host:port. `tandem up` waits for
// it (the gRPC health check turns SERVING a moment before the HTTP port
// listens), and tests use it.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace tandem::gateway {

// OK when GET http://host:port/health answers 200 within `timeout`;
// UNAVAILABLE otherwise.
absl::Status CheckGatewayHealth(const std::string& host, int port, absl::Duration timeout);

}  // namespace tandem::gateway
