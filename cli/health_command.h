// `tandem health`: one grpc.health.v1 Check against a tandem service, for
// container HEALTHCHECKs and scripts: exit 0 when it reports SERVING, 1 when
// it is unreachable or not serving (the reason on stderr), 2 on bad flags.
// Takes the same TLS / mutual-TLS flags as the other gRPC clients.
#pragma once

#include <string>

#include "CLI/CLI.hpp"
#include "cli/client_security.h"

namespace tandem::cli {

struct HealthOptions {
  // host:port; empty = 127.0.0.1:$TANDEM_GRPC_PORT, else 127.0.0.1:50051.
  std::string address;
  std::string service;   // "" = the whole server
  double timeout_s = 5;
  bool quiet = false;    // no "SERVING" line on success
  ClientSecurityOptions security;
};

CLI::App* AddHealthCommand(CLI::App& app, HealthOptions& options);
int RunHealth(const HealthOptions& options);

}  // namespace tandem::cli
