// The gateway as a front end of an orchestrator process: what `tandem serve
// --role orchestrator|all-in-one` passes to RunOrchestratorService, so that
// the orchestrator itself does not depend on the gateway.
#pragma once

#include "services/common/deploy_config.h"
#include "services/orchestrator/server/front_end.h"

namespace tandem::gateway {

// Serves the gateway on service.host:service.http_port; the factory makes
// nothing when http_port is 0. It follows the gRPC API's security: HTTPS
// with the service's tls block (client certificates under mutual TLS), and
// the same bearer token with the deployment's `auth` block.
orchestrator::server::FrontEndFactory GatewayFrontEnd(const services::ServiceConfig& service,
                                                      const services::DeploymentConfig& deployment);

}  // namespace tandem::gateway
