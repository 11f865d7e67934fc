#include "cli/health_command.h"

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "cli/client_credentials.h"
#include "cli/run_context.h"
#include "services/common/health_client.h"

namespace tandem::cli {
namespace {

// The container image sets TANDEM_GRPC_PORT per role, so one HEALTHCHECK
// line serves every role.
std::string DefaultAddress() {
  const char* port = std::getenv("TANDEM_GRPC_PORT");
  return absl::StrCat("127.0.0.1:", port != nullptr && *port != '\0' ? port : "50051");
}

}  // namespace

CLI::App* AddHealthCommand(CLI::App& app, HealthOptions& o) {
  CLI::App* cmd = app.add_subcommand(
      "health", "Ask a tandem service (grpc.health.v1) whether it is SERVING: exit 0 if so, 1 if not");
  cmd->add_option("address", o.address,
                  "host:port of the service (default 127.0.0.1:$TANDEM_GRPC_PORT, else 127.0.0.1:50051)");
  cmd->add_option("--service", o.service, "Service name to check (default: the whole server)");
  cmd->add_option("--timeout", o.timeout_s, "Seconds to wait for the answer")
      ->check(CLI::Range(0.1, 600.0))
      ->capture_default_str();
  cmd->add_flag("-q,--quiet", o.quiet, "Print nothing on success");
  AddClientSecurityFlags(cmd, o.security);
  return cmd;
}

int RunHealth(const HealthOptions& o) {
  const std::string address = o.address.empty() ? DefaultAddress() : o.address;
  auto credentials = ClientChannelCredentials(o.security);
  if (!credentials.ok()) return ReportError(credentials.status());
  const absl::Status serving =
      services::CheckServing(address, o.service, absl::Seconds(o.timeout_s), *credentials);
  if (!serving.ok()) {
    std::fprintf(stderr, "tandem health: %s\n", std::string(serving.message()).c_str());
    return kExitFailure;
  }
  if (!o.quiet) std::printf("%s%s%s: SERVING\n", address.c_str(), o.service.empty() ? "" : " ", o.service.c_str());
  return kExitOk;
}

}  // namespace tandem::cli
