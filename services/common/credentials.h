// The one place where tandem builds gRPC credentials: every server
// (ServiceHost, through each role's Run*Service), every client channel (the
// orchestrator's remote ports, `tandem up`'s health checks, the CLI) gets them
// from here, so TLS, mutual TLS and the public API's bearer token are
// configured the same way everywhere (docs/security.md).
#pragma once

#include <memory>
#include <string>

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include "absl/status/statusor.h"
#include "services/common/deploy_config.h"

namespace tandem::services {

// Server credentials. tls == nullptr: plaintext. Otherwise TLS with tls->cert
// and tls->key; with require_client_cert, a client must present a
// certificate signed by tls->ca or the handshake fails. A non-empty
// `bearer_token` (needs TLS: gRPC checks call credentials only on
// authenticated transports) makes every call except grpc.health.v1 carry
// `authorization: Bearer <token>`, else it fails with UNAUTHENTICATED.
// NOT_FOUND / INVALID_ARGUMENT name the unreadable or malformed file.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const TlsConfig* tls,
                                                                              const std::string& bearer_token = "");

// Channel credentials. tls == nullptr: plaintext. Otherwise TLS that
// verifies the server against tls->ca (empty: the system's roots) and
// presents tls->cert / tls->key when both are set (mutual TLS).
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(const TlsConfig* tls);

// `service`'s server credentials in `deployment`: its TLS block, and for an
// orchestrator (the public API) the bearer token of the auth block.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(const DeploymentConfig& deployment,
                                                                             const ServiceConfig& service);
// The credentials `service` uses to call the other services of `deployment`
// (its own certificate is its client certificate under mutual TLS).
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentialsFor(const DeploymentConfig& deployment,
                                                                               const ServiceConfig& service);

}  // namespace tandem::services
