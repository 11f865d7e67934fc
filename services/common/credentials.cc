#include "services/common/credentials.h"

#include <fstream>
#include <sstream>
#include <string_view>

#include <grpcpp/security/auth_metadata_processor.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "runtime/util/absl_compat.h"
#include "services/common/bearer_token.h"

namespace tandem::services {
namespace {

absl::StatusOr<std::string> ReadPem(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("tls.", AbslView(what), ": cannot read ", path));
  std::ostringstream text;
  text << in.rdbuf();
  std::string pem = text.str();
  // gRPC reports a bad PEM only as a failed handshake or a server that does
  // not start; say which file is wrong instead.
  if (!absl::StrContains(pem, "-----BEGIN ")) {
    return absl::InvalidArgumentError(absl::StrCat("tls.", AbslView(what), ": ", path, " is not a PEM file"));
  }
  return pem;
}

// Checks `authorization` on every call but the health service's, which
// `tandem up`, load balancers and probes call without a token. The checked
// header is consumed: the service handlers never see the token, so nothing
// downstream can log it.
class BearerTokenProcessor : public grpc::AuthMetadataProcessor {
 public:
  explicit BearerTokenProcessor(std::string token) : token_(std::move(token)) {}

  // A comparison in memory: no need for gRPC's blocking thread pool.
  bool IsBlocking() const override { return false; }

  grpc::Status Process(const InputMetadata& metadata, grpc::AuthContext* /*context*/, OutputMetadata* consumed,
                       OutputMetadata* /*response*/) override {
    if (auto path = metadata.find(":path"); path != metadata.end()) {
      const std::string_view p(path->second.data(), path->second.size());
      if (p.starts_with("/grpc.health.v1.Health/")) return grpc::Status::OK;
    }
    std::string_view value;
    if (auto it = metadata.find("authorization"); it != metadata.end()) {
      value = std::string_view(it->second.data(), it->second.size());
    }
    if (absl::Status s = CheckBearerToken(value, token_); !s.ok()) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, std::string(s.message()));
    }
    consumed->insert({"authorization", std::string(value)});
    return grpc::Status::OK;
  }

 private:
  const std::string token_;
};

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const TlsConfig* tls,
                                                                              const std::string& bearer_token) {
  if (tls == nullptr) {
    if (!bearer_token.empty()) {
      return absl::InvalidArgumentError("auth: bearer tokens need TLS (a plaintext token can be read off the wire)");
    }
    return grpc::InsecureServerCredentials();
  }
  auto cert = ReadPem(tls->cert, "cert");
  if (!cert.ok()) return cert.status();
  auto key = ReadPem(tls->key, "key");
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions options(tls->require_client_cert
                                                ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                                : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  if (tls->require_client_cert || !tls->ca.empty()) {
    auto ca = ReadPem(tls->ca, "ca");
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *std::move(ca);
  }
  options.pem_key_cert_pairs.push_back({*std::move(key), *std::move(cert)});
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::SslServerCredentials(options);
  if (!bearer_token.empty()) {
    credentials->SetAuthMetadataProcessor(std::make_shared<BearerTokenProcessor>(bearer_token));
  }
  return credentials;
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(const TlsConfig* tls) {
  if (tls == nullptr) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions options;
  if (!tls->ca.empty()) {
    auto ca = ReadPem(tls->ca, "ca");
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *std::move(ca);
  }
  if (tls->cert.empty() != tls->key.empty()) {
    return absl::InvalidArgumentError("tls: a client certificate needs both cert and key");
  }
  if (!tls->cert.empty()) {
    auto cert = ReadPem(tls->cert, "cert");
    if (!cert.ok()) return cert.status();
    auto key = ReadPem(tls->key, "key");
    if (!key.ok()) return key.status();
    options.pem_cert_chain = *std::move(cert);
    options.pem_private_key = *std::move(key);
  }
  return grpc::SslCredentials(options);
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(const DeploymentConfig& deployment,
                                                                             const ServiceConfig& service) {
  std::string token;
  if (service.role == ServiceRole::kOrchestrator && deployment.auth.enabled()) {
    auto loaded = LoadBearerToken(deployment.auth);
    if (!loaded.ok()) return loaded.status();
    token = *std::move(loaded);
  }
  return MakeServerCredentials(deployment.TlsFor(service), token);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentialsFor(const DeploymentConfig& deployment,
                                                                               const ServiceConfig& service) {
  return MakeChannelCredentials(deployment.TlsFor(service));
}

}  // namespace tandem::services
