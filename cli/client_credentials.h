// The channel credentials of the CLI's gRPC clients from their flags
// (client_security.h), built by services/common/credentials.h like every
// other channel of tandem.
#pragma once

#include <memory>

#include <grpcpp/security/credentials.h>

#include "absl/status/statusor.h"
#include "cli/client_security.h"

namespace tandem::cli {

// Plaintext without TLS flags; else TLS (mutual with --tls-cert/--tls-key).
// The bearer token (--token-file, else $TANDEM_API_TOKEN) rides along as
// call credentials, which gRPC sends only over TLS: a token without TLS is
// an INVALID_ARGUMENT error rather than a token sent in the clear.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ClientChannelCredentials(const ClientSecurityOptions& o);

}  // namespace tandem::cli
