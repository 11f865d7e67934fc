// TLS through ConnectionOptions::tls: custom roots, the server-name override,
// and mutual TLS with a client certificate. Certificates are made at run time
// with the openssl command (skipped without it).
#include <gtest/gtest.h>
#include <grpcpp/security/server_credentials.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "fake_server.h"
#include "tandem/sdk/client.h"
#include "tests/common/scratch.h"
#include "tests/common/shell.h"

namespace tandem {
namespace {

using sdk_test::FakeServer;

const auto* const kCleanup = ::testing::AddGlobalTestEnvironment(new test_scratch::ScratchCleanup);

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A self-signed EC certificate for `name` (DNS subjectAltName) in DIR/STEM.{pem,key}.
bool MakeCertificate(const std::string& dir, const std::string& stem, const std::string& name) {
  const std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -keyout " +
                          dir + "/" + stem + ".key -out " + dir + "/" + stem + ".pem -subj /CN=" + name +
                          " -addext subjectAltName=DNS:" + name + " 2>&1";
  return test_shell::RunShell(cmd).code == 0;
}

class ClientTls : public ::testing::Test {
 protected:
  void SetUp() override {
    if (test_shell::RunShell("command -v openssl").code != 0) GTEST_SKIP() << "no openssl command";
    dir_ = test_scratch::ScratchDir() + "/tls";
    std::filesystem::create_directories(dir_);
    ASSERT_TRUE(MakeCertificate(dir_, "server", "tandem.test"));
    ASSERT_TRUE(MakeCertificate(dir_, "client", "sdk-client"));
    server_.generation.list_models = [](grpc::ServerContext*, const v1::ListModelsRequest&,
                                        v1::ListModelsResponse* out) {
      out->add_models()->set_name("smollm2-135m");
      return grpc::Status::OK;
    };
  }

  // The server's TLS credentials; with `require_client` it accepts only
  // clients presenting the client certificate.
  std::shared_ptr<grpc::ServerCredentials> ServerCredentials(bool require_client) const {
    grpc::SslServerCredentialsOptions options(require_client
                                                  ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                                  : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
    options.pem_key_cert_pairs.push_back({Read(dir_ + "/server.key"), Read(dir_ + "/server.pem")});
    if (require_client) options.pem_root_certs = Read(dir_ + "/client.pem");
    return grpc::SslServerCredentials(options);
  }

  absl::Status ListModelsWith(std::optional<TlsOptions> tls) const {
    ConnectionOptions options;
    options.address = server_.address();
    options.tls = std::move(tls);
    options.retry.max_attempts = 1;
    options.timeout = std::chrono::seconds(30);
    absl::StatusOr<Client> client = Client::Connect(options);
    if (!client.ok()) return client.status();
    return client->ListModels().status();
  }

  std::string dir_;
  FakeServer server_;
};

TEST_F(ClientTls, CustomRootsAndServerName) {
  server_.Start(ServerCredentials(false));
  // The certificate names tandem.test, not the address's 127.0.0.1.
  EXPECT_TRUE(ListModelsWith(TlsOptions{.ca_file = dir_ + "/server.pem", .server_name = "tandem.test"}).ok());
  EXPECT_EQ(ListModelsWith(TlsOptions{.ca_file = dir_ + "/server.pem"}).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ListModelsWith(TlsOptions{.ca_file = dir_ + "/client.pem", .server_name = "tandem.test"}).code(),
            absl::StatusCode::kUnavailable);  // roots that did not sign the server's certificate
  EXPECT_EQ(ListModelsWith(std::nullopt).code(), absl::StatusCode::kUnavailable);  // plaintext to a TLS port
}

TEST_F(ClientTls, MutualTlsNeedsTheClientCertificate) {
  server_.Start(ServerCredentials(true));
  const TlsOptions with_cert{.ca_file = dir_ + "/server.pem",
                             .cert_file = dir_ + "/client.pem",
                             .key_file = dir_ + "/client.key",
                             .server_name = "tandem.test"};
  EXPECT_TRUE(ListModelsWith(with_cert).ok());
  EXPECT_FALSE(ListModelsWith(TlsOptions{.ca_file = dir_ + "/server.pem", .server_name = "tandem.test"}).ok());
  EXPECT_EQ(ListModelsWith(TlsOptions{.ca_file = dir_ + "/server.pem", .cert_file = dir_ + "/client.pem"}).code(),
            absl::StatusCode::kInvalidArgument);  // a certificate without its key
}

}  // namespace
}  // namespace tandem
