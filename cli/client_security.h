// TLS and bearer-token flags of the CLI's gRPC clients (`generate --server`,
// `score --server`): the same files a deployment config names, as flags.
// The flags are registered in every build; the credentials exist only with
// services (client_credentials.h).
#pragma once

#include <string>

#include "CLI/CLI.hpp"

namespace tandem::cli {

struct ClientSecurityOptions {
  bool tls = false;       // TLS with the system's roots (implied by any --tls-* file)
  std::string tls_ca;     // PEM CA bundle that verifies the server
  std::string tls_cert;   // PEM client certificate (mutual TLS), with tls_key
  std::string tls_key;
  std::string token_file; // bearer token file; empty: $TANDEM_API_TOKEN when set
  bool enabled() const { return tls || !tls_ca.empty() || !tls_cert.empty() || !tls_key.empty(); }
};

// Adds --tls, --tls-ca, --tls-cert, --tls-key and --token-file to `cmd`.
void AddClientSecurityFlags(CLI::App* cmd, ClientSecurityOptions& options);

}  // namespace tandem::cli
