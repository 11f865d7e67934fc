#include "services/gateway/gateway_front_end.h"

#include <memory>
#include <string>

#include "services/common/bearer_token.h"
#include "services/gateway/gateway_server.h"

namespace tandem::gateway {

orchestrator::server::FrontEndFactory GatewayFrontEnd(const services::ServiceConfig& service,
                                                      const services::DeploymentConfig& deployment) {
  GatewayOptions options;
  options.host = service.host;
  options.port = service.http_port;
  if (const services::TlsConfig* tls = deployment.TlsFor(service)) {
    options.tls_cert = tls->cert;
    options.tls_key = tls->key;
    if (tls->require_client_cert) options.tls_client_ca = tls->ca;
  }
  const services::AuthConfig auth = deployment.auth;
  return [options, auth](orchestrator::server::RequestRunner& runner)
             -> absl::StatusOr<std::unique_ptr<orchestrator::server::FrontEnd>> {
    if (options.port == 0) return nullptr;
    GatewayOptions o = options;
    if (auth.enabled()) {
      auto token = services::LoadBearerToken(auth);
      if (!token.ok()) return token.status();
      o.bearer_token = *std::move(token);
    }
    auto gateway = HttpGateway::Start(runner, std::move(o));
    if (!gateway.ok()) return gateway.status();
    return std::unique_ptr<orchestrator::server::FrontEnd>(std::move(*gateway));
  };
}

}  // namespace tandem::gateway
