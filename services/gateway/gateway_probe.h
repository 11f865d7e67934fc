// Whether a gateway answers: GET /health on host:port. `tandem up` waits for
// it (the gRPC health check turns SERVING a moment before the HTTP port
// listens), and tests use it.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "services/common/deploy_config.h"

namespace tandem::gateway {

// OK when GET http://host:port/health answers 200 within `timeout`;
// UNAVAILABLE otherwise. With `tls`: HTTPS, the server verified against
// tls->ca, tls->cert/key shown as the client certificate (mutual TLS).
absl::Status CheckGatewayHealth(const std::string& host, int port, absl::Duration timeout,
                                const services::TlsConfig* tls = nullptr);

}  // namespace tandem::gateway
