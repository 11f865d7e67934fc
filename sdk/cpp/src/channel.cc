#include "channel.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace tandem::sdk_internal {
namespace {

// Methods without side effects (see RetryPolicy in connection.h for why
// Generate is one of them).
struct SafeMethod {
  const char* service;
  const char* method;
};
constexpr SafeMethod kSafeMethods[] = {
    {"tandem.v1.Generation", "Generate"},       {"tandem.v1.Generation", "GetInfo"},
    {"tandem.v1.Generation", "ListModels"},     {"tandem.v1.Reward", "Score"},
    {"tandem.v1.Reward", "ScoreSteps"},         {"tandem.v1.Reward", "ListBackends"},
    {"tandem.v1.Retrieval", "Search"},          {"tandem.v1.Retrieval", "GetCollectionStats"},
    {"tandem.v1.Retrieval", "ListCollections"},
};

// A protobuf Duration in JSON ("0.200000s").
std::string Seconds(std::chrono::milliseconds ms) {
  return absl::StrCat(absl::StrFormat("%.6f", static_cast<double>(ms.count()) / 1000.0), "s");
}

absl::StatusOr<std::string> ReadFile(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("tls.", what, ": cannot read '", path, "'"));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> Credentials(const ConnectionOptions& options) {
  if (!options.tls) return grpc::InsecureChannelCredentials();
  const TlsOptions& tls = *options.tls;
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return absl::InvalidArgumentError("tls: cert_file and key_file go together (mutual TLS needs both)");
  }
  grpc::SslCredentialsOptions ssl;
  if (!tls.ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadFile(tls.ca_file, "ca_file");
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *std::move(ca);
  }
  if (!tls.cert_file.empty()) {
    absl::StatusOr<std::string> cert = ReadFile(tls.cert_file, "cert_file");
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadFile(tls.key_file, "key_file");
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = *std::move(cert);
    ssl.pem_private_key = *std::move(key);
  }
  return grpc::SslCredentials(ssl);
}

}  // namespace

std::string RetryServiceConfig(const RetryPolicy& retry) {
  std::vector<std::string> names;
  for (const SafeMethod& m : kSafeMethods) {
    names.push_back(absl::StrCat(R"({"service":")", m.service, R"(","method":")", m.method, R"("})"));
  }
  return absl::StrCat(R"({"methodConfig":[{"name":[)", absl::StrJoin(names, ","), R"(],"retryPolicy":{"maxAttempts":)",
                      retry.max_attempts, R"(,"initialBackoff":")", Seconds(retry.initial_backoff),
                      R"(","maxBackoff":")", Seconds(retry.max_backoff), R"(","backoffMultiplier":)",
                      absl::StrFormat("%g", retry.backoff_multiplier),
                      R"(,"retryableStatusCodes":["UNAVAILABLE"]}}]})");
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const std::string& address,
                                                           const ConnectionOptions& options) {
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials = Credentials(options);
  if (!credentials.ok()) return credentials.status();
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_receive_bytes);
  if (options.retry.max_attempts > 1) args.SetServiceConfigJSON(RetryServiceConfig(options.retry));
  if (options.tls && !options.tls->server_name.empty()) args.SetSslTargetNameOverride(options.tls->server_name);
  return grpc::CreateCustomChannel(address, *credentials, args);
}

void PrepareCall(grpc::ClientContext* context, const ConnectionOptions& options,
                 const std::optional<std::chrono::milliseconds>& timeout) {
  const std::optional<std::chrono::milliseconds>& t = timeout ? timeout : options.timeout;
  if (t) context->set_deadline(std::chrono::system_clock::now() + *t);
  if (!options.bearer_token.empty()) context->AddMetadata("authorization", "Bearer " + options.bearer_token);
}

}  // namespace tandem::sdk_internal
