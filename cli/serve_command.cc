#include "cli/serve_command.h"

#include "absl/strings/str_cat.h"
#include "cli/run_context.h"
#include "services/common/allocator_policy.h"
#include "services/common/deploy_config.h"
#include "services/common/shutdown_signal.h"
#include "services/draft/draft_server.h"
#include "services/gateway/gateway_front_end.h"
#include "services/orchestrator/server/orchestrator_server.h"
#include "services/reward/reward_server.h"
#include "services/retrieval/retrieval_server.h"
#include "services/target/target_server.h"
#include "services/target/tp_target.h"

namespace tandem::cli {
namespace {

using services::ServiceRole;

absl::StatusOr<const services::ServiceConfig*> PickService(const services::DeploymentConfig& d,
                                                           ServiceRole role, const std::string& name) {
  const std::string role_name(services::ServiceRoleName(role));
  if (!name.empty()) {
    const services::ServiceConfig* s = d.Find(name);
    if (s == nullptr) return absl::NotFoundError(absl::StrCat("--service: no service '", name, "' in the config"));
    if (s->role != role) {
      return absl::InvalidArgumentError(absl::StrCat("--service: '", name, "' has role ",
                                                     std::string(services::ServiceRoleName(s->role)),
                                                     ", not ", role_name));
    }
    return s;
  }
  for (const services::ServiceConfig& s : d.services) {
    if (s.role == role) return &s;
  }
  return absl::NotFoundError(absl::StrCat("--config: no service with role ", role_name));
}

// --tls-* / --token-file replace the config's blocks for this process (the
// served service is its own client under mutual TLS, so the top-level block
// is the one to replace).
absl::Status ApplySecurityFlags(const ServeOptions& o, services::DeploymentConfig& config) {
  const bool any_tls = !o.tls_cert.empty() || !o.tls_key.empty() || !o.tls_ca.empty();
  if (any_tls) {
    if (o.tls_cert.empty() || o.tls_key.empty() || o.tls_ca.empty()) {
      return absl::InvalidArgumentError("--tls-cert, --tls-key, --tls-ca: give all three");
    }
    services::TlsConfig tls{o.tls_cert, o.tls_key, o.tls_ca, o.require_client_cert};
    config.tls = tls;
    for (services::ServiceConfig& s : config.services) s.tls.reset();
  } else if (o.require_client_cert) {
    if (!config.tls.has_value()) return absl::InvalidArgumentError("--require-client-cert: needs TLS (--tls-cert ...)");
    config.tls->require_client_cert = true;
    for (services::ServiceConfig& s : config.services) {
      if (s.tls.has_value()) s.tls->require_client_cert = true;
    }
  }
  if (!o.token_file.empty()) config.auth = services::AuthConfig{o.token_file, ""};
  return absl::OkStatus();
}

// The orchestrator with its OpenAI-compatible HTTP gateway when an
// http_port is configured (--http-port wins over the config's).
absl::Status RunOrchestrator(const ServeOptions& o, const services::ServiceConfig& service,
                             const services::DeploymentConfig& config, bool all_in_one,
                             services::ShutdownSignal& signal) {
  services::ServiceConfig served = service;
  if (o.http_port >= 0) served.http_port = o.http_port;
  return orchestrator::server::RunOrchestratorService(served, config, all_in_one, signal,
                                                      gateway::GatewayFrontEnd(served, config));
}

}  // namespace

CLI::App* AddServeCommand(CLI::App& app, ServeOptions& o) {
  CLI::App* cmd = app.add_subcommand("serve", "Run one service of a deployment config until SIGTERM/SIGINT");
  cmd->add_option("--role", o.role,
                  "draft | target | orchestrator (Draft/Target over gRPC) | all-in-one (the Generation "
                  "API with the models loaded in this process) | reward | retrieval")
      ->check(CLI::IsMember({"draft", "target", "orchestrator", "all-in-one", "retrieval", "reward"}));
  cmd->add_flag("--all-in-one", o.all_in_one, "Same as --role all-in-one");
  cmd->add_option("--config", o.config, "Deployment config (YAML), e.g. deploy/local.yaml")->required();
  cmd->add_option("--service", o.service,
                  "Entry of the config to serve (default: the first of the role; all-in-one uses an "
                  "orchestrator entry)");
  cmd->add_option("--http-port", o.http_port,
                  "Orchestrator: serve the OpenAI-compatible HTTP API on the service's host and this port "
                  "(0 = off; default: the config's http_port)")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--tls-cert", o.tls_cert, "PEM certificate of the service (replaces the config's tls block, with "
                                            "--tls-key and --tls-ca)");
  cmd->add_option("--tls-key", o.tls_key, "PEM private key of --tls-cert");
  cmd->add_option("--tls-ca", o.tls_ca, "PEM CA bundle that verifies peers");
  cmd->add_flag("--require-client-cert", o.require_client_cert,
                "Mutual TLS: refuse clients without a certificate signed by --tls-ca");
  cmd->add_option("--token-file", o.token_file,
                  "Bearer token file of the public API (orchestrator; replaces the config's auth block; needs TLS)");
  return cmd;
}

int RunServe(const ServeOptions& options) {
  services::ApplyServiceAllocatorPolicy();  // before any thread starts
  ServeOptions o = options;
  if (o.all_in_one) {
    if (!o.role.empty() && o.role != "all-in-one") {
      return ReportError(absl::InvalidArgumentError("--all-in-one: conflicts with --role " + o.role));
    }
    o.role = "all-in-one";
  }
  if (o.role.empty()) return ReportError(absl::InvalidArgumentError("--role: required (or --all-in-one)"));
  auto config = services::LoadDeploymentConfig(o.config);
  if (!config.ok()) return ReportError(config.status());
  if (absl::Status s = ApplySecurityFlags(o, *config); !s.ok()) return ReportError(s);
  const bool all_in_one = o.role == "all-in-one";
  ServiceRole role = ServiceRole::kOrchestrator;
  if (o.role == "draft") role = ServiceRole::kDraft;
  if (o.role == "target") role = ServiceRole::kTarget;
  if (o.role == "reward") role = ServiceRole::kReward;
  if (o.role == "retrieval") role = ServiceRole::kRetrieval;
  auto service = PickService(*config, role, o.service);
  if (!service.ok()) return ReportError(service.status());
  auto signal = services::ShutdownSignal::Install();
  if (!signal.ok()) return ReportError(signal.status());
  absl::Status status;
  switch (role) {
    case ServiceRole::kDraft:
      status = services::RunDraftService(**service, *config, **signal);
      break;
    case ServiceRole::kTarget:
      // A rank of a sharded target: rank 0 serves, the others follow it
      // (services/target/tp_target.h); without NCCL this is a clear
      // FAILED_PRECONDITION, never the whole model served unsharded.
      if ((*service)->tensor_parallel && (*service)->tensor_parallel->world_size > 1) {
        status = services::RunTensorParallelTargetService(**service, *config, **signal);
        break;
      }
      status = services::RunTargetService(**service, *config, **signal);
      break;
    case ServiceRole::kReward:
      status = services::RunRewardService(**service, *config, **signal);
      break;
    case ServiceRole::kRetrieval:
      status = retrieval::RunRetrievalService(**service, *config, **signal);
      break;
    default:
      status = RunOrchestrator(o, **service, *config, all_in_one, **signal);
      break;
  }
  if (!status.ok()) return ReportError(status);
  return kExitOk;
}

}  // namespace tandem::cli
