#include "cli/client_credentials.h"

#include <cstdlib>

#include "services/common/bearer_token.h"
#include "services/common/credentials.h"

namespace tandem::cli {

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ClientChannelCredentials(const ClientSecurityOptions& o) {
  services::AuthConfig auth;
  if (!o.token_file.empty()) {
    auth.token_file = o.token_file;
  } else if (std::getenv("TANDEM_API_TOKEN") != nullptr) {
    auth.token_env = "TANDEM_API_TOKEN";
  }
  if (!o.enabled()) {
    if (auth.enabled()) {
      return absl::InvalidArgumentError(
          "--token-file / $TANDEM_API_TOKEN: a bearer token needs TLS (--tls or --tls-ca), it would travel in "
          "plaintext");
    }
    return services::MakeChannelCredentials(nullptr);
  }
  services::TlsConfig tls;
  tls.ca = o.tls_ca;
  tls.cert = o.tls_cert;
  tls.key = o.tls_key;
  auto channel = services::MakeChannelCredentials(&tls);
  if (!channel.ok() || !auth.enabled()) return channel;
  auto token = services::LoadBearerToken(auth);
  if (!token.ok()) return token.status();
  // AccessTokenCredentials sends "authorization: Bearer <token>" on every call.
  return grpc::CompositeChannelCredentials(*channel, grpc::AccessTokenCredentials(*token));
}

}  // namespace tandem::cli
