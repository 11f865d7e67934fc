// Client side of grpc.health.v1.Health, for `tandem up` (wait until every
// service of a deployment reports SERVING) and for tests.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/security/credentials.h>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace tandem::services {

// One Check call. OK if `service` ("" = the whole server) is SERVING;
// UNAVAILABLE if the server is unreachable or NOT_SERVING; NOT_FOUND if the
// server does not know `service`. `credentials`: TLS / mutual TLS
// (services/common/credentials.h); null = plaintext.
absl::Status CheckServing(const std::string& address, const std::string& service,
                          absl::Duration timeout = absl::Seconds(2),
                          std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr);

// Polls CheckServing until it succeeds or `timeout` passes; the error names
// the address and the last failure (DEADLINE_EXCEEDED).
absl::Status WaitUntilServing(const std::string& address, const std::string& service,
                              absl::Duration timeout,
                              absl::Duration poll_interval = absl::Milliseconds(100),
                              std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr);

}  // namespace tandem::services
