// Channel construction (credentials, retry service config, message limits)
// and per-call set-up (deadline, bearer token).
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "tandem/sdk/connection.h"

namespace tandem::sdk_internal {

// The gRPC service config (JSON) that retries the safe methods listed in
// connection.h's RetryPolicy comment on UNAVAILABLE.
std::string RetryServiceConfig(const RetryPolicy& retry);

// A channel to `address` with the options' credentials and retry policy.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const std::string& address,
                                                           const ConnectionOptions& options);

// Deadline (the call's timeout, else the connection's) and bearer token.
void PrepareCall(grpc::ClientContext* context, const ConnectionOptions& options,
                 const std::optional<std::chrono::milliseconds>& timeout);

}  // namespace tandem::sdk_internal
