// TLS, mutual TLS and bearer-token auth through real gRPC on loopback, with
// certificates from scripts/make-dev-certs.sh: a TLS server refuses
// plaintext clients and clients that do not trust its CA; under mutual TLS it
// refuses clients without a certificate of its CA; with a token, every call
// but health checks needs `authorization: Bearer <token>` (UNAUTHENTICATED
// otherwise). Plus the token checker, the token loader and the config's
// tls/auth blocks.
#include <stdlib.h>

#include <gtest/gtest.h>
#include <grpcpp/create_channel.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "grpc/health/v1/health.grpc.pb.h"
#include "services/common/bearer_token.h"
#include "services/common/credentials.h"
#include "services/common/deploy_config.h"
#include "services/common/grpc_server.h"
#include "services/common/health_client.h"
#include "tandem/v1/draft.grpc.pb.h"
#include "tests/common/scratch.h"
#include "tests/services/common/dev_certs.h"

namespace tandem::services {
namespace {

const auto* const kCleanup = ::testing::AddGlobalTestEnvironment(new test_scratch::ScratchCleanup);

// A Draft service whose methods are all UNIMPLEMENTED: a call that gets past
// the transport and the auth check ends UNIMPLEMENTED.
class EmptyDraft final : public tandem::v1::Draft::Service {};

void WriteFile(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

class SecurityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string root = test_scratch::ScratchDir();
    error_ = new std::string(test_certs::MakeDevCerts(root + "/certs", &certs_));
    if (error_->empty()) *error_ = test_certs::MakeDevCerts(root + "/other-ca", &other_);
  }
  static void TearDownTestSuite() { delete error_; }

  void SetUp() override { ASSERT_TRUE(error_->empty()) << *error_; }

  TlsConfig ServerTls(bool mutual) const {
    return TlsConfig{certs_.server_cert(), certs_.server_key(), certs_.ca(), mutual};
  }

  // Starts a server with `credentials`; returns its address.
  std::string Serve(std::shared_ptr<grpc::ServerCredentials> credentials) {
    GrpcServerOptions options;
    options.health_service_names = {tandem::v1::Draft::service_full_name()};
    options.credentials = std::move(credentials);
    grpc::Service* services[] = {&draft_};
    auto server = GrpcServer::Start(options, services);
    EXPECT_TRUE(server.ok()) << server.status();
    if (!server.ok()) return "";
    server_ = std::move(*server);
    return server_->address();
  }

  static std::shared_ptr<grpc::ChannelCredentials> Client(const TlsConfig* tls) {
    auto c = MakeChannelCredentials(tls);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *c : nullptr;
  }

  // One Draft.Propose call (UNIMPLEMENTED once it reaches the service).
  static grpc::StatusCode Propose(const std::string& address, std::shared_ptr<grpc::ChannelCredentials> creds,
                                  const std::string& authorization = "") {
    auto stub = tandem::v1::Draft::NewStub(grpc::CreateChannel(address, creds));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    if (!authorization.empty()) ctx.AddMetadata("authorization", authorization);
    tandem::v1::ProposeResponse resp;
    return stub->Propose(&ctx, tandem::v1::ProposeRequest(), &resp).error_code();
  }

  static test_certs::DevCerts certs_, other_;
  static std::string* error_;
  EmptyDraft draft_;
  std::unique_ptr<GrpcServer> server_;
};

test_certs::DevCerts SecurityTest::certs_;
test_certs::DevCerts SecurityTest::other_;
std::string* SecurityTest::error_ = nullptr;

TEST_F(SecurityTest, TlsServerRefusesPlaintextAndUntrustedClients) {
  const TlsConfig tls = ServerTls(/*mutual=*/false);
  auto creds = MakeServerCredentials(&tls);
  ASSERT_TRUE(creds.ok()) << creds.status();
  const std::string address = Serve(*creds);
  ASSERT_FALSE(address.empty());

  const TlsConfig trusting{"", "", certs_.ca(), false};
  EXPECT_TRUE(CheckServing(address, "", absl::Seconds(20), Client(&trusting)).ok());
  EXPECT_EQ(Propose(address, Client(&trusting)), grpc::StatusCode::UNIMPLEMENTED);

  // Plaintext: the handshake never completes.
  EXPECT_EQ(CheckServing(address, "", absl::Seconds(5)).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Propose(address, grpc::InsecureChannelCredentials()), grpc::StatusCode::UNAVAILABLE);
  // TLS, but verifying against another CA.
  const TlsConfig other_ca{"", "", other_.ca(), false};
  EXPECT_EQ(Propose(address, Client(&other_ca)), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(SecurityTest, MutualTlsRefusesClientsWithoutACertificateOfTheCa) {
  const TlsConfig tls = ServerTls(/*mutual=*/true);
  auto creds = MakeServerCredentials(&tls);
  ASSERT_TRUE(creds.ok()) << creds.status();
  const std::string address = Serve(*creds);
  ASSERT_FALSE(address.empty());

  // A service's own certificate is its client certificate, as between services.
  EXPECT_EQ(Propose(address, Client(&tls)), grpc::StatusCode::UNIMPLEMENTED);
  const TlsConfig client{certs_.client_cert(), certs_.client_key(), certs_.ca(), false};
  EXPECT_EQ(Propose(address, Client(&client)), grpc::StatusCode::UNIMPLEMENTED);

  const TlsConfig no_cert{"", "", certs_.ca(), false};
  EXPECT_EQ(Propose(address, Client(&no_cert)), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(CheckServing(address, "", absl::Seconds(5), Client(&no_cert)).code(), absl::StatusCode::kUnavailable);
  const TlsConfig foreign_cert{other_.client_cert(), other_.client_key(), certs_.ca(), false};
  EXPECT_EQ(Propose(address, Client(&foreign_cert)), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Propose(address, grpc::InsecureChannelCredentials()), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(SecurityTest, BearerTokenGuardsEveryCallButHealth) {
  const std::string token = "s3cret-Token_1";
  const TlsConfig tls = ServerTls(/*mutual=*/false);
  auto creds = MakeServerCredentials(&tls, token);
  ASSERT_TRUE(creds.ok()) << creds.status();
  const std::string address = Serve(*creds);
  ASSERT_FALSE(address.empty());
  const TlsConfig trusting{"", "", certs_.ca(), false};

  EXPECT_EQ(Propose(address, Client(&trusting)), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Propose(address, Client(&trusting), "Bearer wrong"), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Propose(address, Client(&trusting), "Bearer " + token + "x"), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Propose(address, Client(&trusting), "Basic " + token), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Propose(address, Client(&trusting), "Bearer " + token), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(Propose(address, Client(&trusting), "bearer " + token), grpc::StatusCode::UNIMPLEMENTED);
  // The way the CLI sends it: call credentials on the TLS channel.
  EXPECT_EQ(Propose(address, grpc::CompositeChannelCredentials(Client(&trusting), grpc::AccessTokenCredentials(token))),
            grpc::StatusCode::UNIMPLEMENTED);
  // Probes and `tandem up` check health without the token.
  EXPECT_TRUE(CheckServing(address, "tandem.v1.Draft", absl::Seconds(20), Client(&trusting)).ok());
}

TEST_F(SecurityTest, CredentialErrorsNameTheFile) {
  TlsConfig missing = ServerTls(false);
  missing.cert = test_scratch::ScratchDir() + "/nope.crt";
  auto s = MakeServerCredentials(&missing);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(s.status().message().find("nope.crt"), std::string::npos) << s.status();

  const std::string not_pem = test_scratch::ScratchDir() + "/not.pem";
  WriteFile(not_pem, "hello");
  TlsConfig bad = ServerTls(false);
  bad.key = not_pem;
  EXPECT_EQ(MakeServerCredentials(&bad).status().code(), absl::StatusCode::kInvalidArgument);
  TlsConfig bad_ca{"", "", not_pem, false};
  EXPECT_EQ(MakeChannelCredentials(&bad_ca).status().code(), absl::StatusCode::kInvalidArgument);
  TlsConfig half{certs_.client_cert(), "", certs_.ca(), false};
  EXPECT_EQ(MakeChannelCredentials(&half).status().code(), absl::StatusCode::kInvalidArgument);
  // A bearer token never goes on a plaintext server.
  EXPECT_EQ(MakeServerCredentials(nullptr, "tok").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(BearerTokenTest, CheckAcceptsOnlyTheExactBearerToken) {
  EXPECT_TRUE(CheckBearerToken("Bearer abc.DEF-123", "abc.DEF-123").ok());
  EXPECT_TRUE(CheckBearerToken("BEARER abc", "abc").ok());
  for (const char* bad : {"", "abc", "Bearer", "Bearer ", "Bearer ab", "Bearer abcd", "Bearer ABC", "Basic abc",
                          "Bearerabc"}) {
    const absl::Status s = CheckBearerToken(bad, "abc");
    EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated) << "'" << bad << "'";
    // The message never echoes the configured token.
    EXPECT_EQ(s.message().find("abc"), std::string::npos) << s;
  }
  // An unconfigured (empty) token accepts nothing.
  EXPECT_EQ(CheckBearerToken("Bearer ", "").code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("same", "same"));
  EXPECT_FALSE(ConstantTimeEquals("same", "samE"));
  EXPECT_FALSE(ConstantTimeEquals("same", "sam"));
}

TEST(BearerTokenTest, LoadsFromAFileOrTheEnvironment) {
  const std::string file = test_scratch::ScratchDir() + "/token";
  WriteFile(file, "tok_123=\n");
  auto t = LoadBearerToken(AuthConfig{file, ""});
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, "tok_123=");  // the trailing newline is not part of it

  ASSERT_EQ(setenv("TANDEM_SECURITY_TEST_TOKEN", "from-env", 1), 0);
  t = LoadBearerToken(AuthConfig{"", "TANDEM_SECURITY_TEST_TOKEN"});
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, "from-env");
  unsetenv("TANDEM_SECURITY_TEST_TOKEN");
  EXPECT_EQ(LoadBearerToken(AuthConfig{"", "TANDEM_SECURITY_TEST_TOKEN"}).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(LoadBearerToken(AuthConfig{file + ".missing", ""}).status().code(), absl::StatusCode::kNotFound);

  WriteFile(file, "\n");
  EXPECT_EQ(LoadBearerToken(AuthConfig{file, ""}).status().code(), absl::StatusCode::kInvalidArgument);
  WriteFile(file, "has space");
  const auto bad = LoadBearerToken(AuthConfig{file, ""});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message().find("has space"), std::string::npos) << "the token must not be echoed";
}

constexpr char kTlsConfig[] = R"(name: sec
tls:
  cert: certs/server.crt
  key: ~/server.key
  ca: /abs/ca.crt
  require_client_cert: true
auth:
  token_env: MY_TOKEN
services:
  - name: t
    role: target
    model: m
    grpc_port: 7001
  - name: o
    role: orchestrator
    target: t
    grpc_port: 7000
    tls: {cert: o.crt, key: o.key, ca: ca.crt}
)";

TEST(DeployConfigSecurityTest, ParsesTlsAndAuthBlocks) {
  auto c = ParseDeploymentConfig(kTlsConfig, "sec.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(c->tls.has_value());
  EXPECT_EQ(c->tls->cert, "certs/server.crt");
  EXPECT_EQ(c->tls->key, std::string(getenv("HOME")) + "/server.key");
  EXPECT_TRUE(c->tls->require_client_cert);
  EXPECT_EQ(c->auth.token_env, "MY_TOKEN");
  EXPECT_TRUE(c->auth.enabled());
  const TlsConfig* target = c->TlsFor(*c->Find("t"));
  const TlsConfig* orch = c->TlsFor(*c->Find("o"));
  ASSERT_NE(target, nullptr);
  ASSERT_NE(orch, nullptr);
  EXPECT_EQ(target->cert, "certs/server.crt");  // the top-level block
  EXPECT_EQ(orch->cert, "o.crt");                // its own block
  EXPECT_FALSE(orch->require_client_cert);

  // Loaded from a file, relative paths are relative to the file's folder.
  const std::string dir = test_scratch::ScratchDir() + "/conf";
  std::filesystem::create_directories(dir);
  WriteFile(dir + "/sec.yaml", kTlsConfig);
  auto loaded = LoadDeploymentConfig(dir + "/sec.yaml");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->tls->cert, dir + "/certs/server.crt");
  EXPECT_EQ(loaded->tls->ca, "/abs/ca.crt");
  EXPECT_EQ(loaded->Find("o")->tls->ca, dir + "/ca.crt");

  // Without any tls block: plaintext.
  auto plain = ParseDeploymentConfig("name: p\nservices:\n  - {name: t, role: target, model: m, grpc_port: 1}\n");
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->TlsFor(plain->services[0]), nullptr);
}

TEST(DeployConfigSecurityTest, LocalTlsDeploymentParses) {
  auto c = LoadDeploymentConfig(std::string(TANDEM_SOURCE_DIR) + "/deploy/local-tls.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  const TlsConfig* internal = c->TlsFor(*c->Find("target"));
  const TlsConfig* api = c->TlsFor(*c->Find("orchestrator"));
  ASSERT_NE(internal, nullptr);
  ASSERT_NE(api, nullptr);
  EXPECT_TRUE(internal->require_client_cert);
  EXPECT_FALSE(api->require_client_cert);
  EXPECT_EQ(c->auth.token_file, "/tmp/tandem-local-tls/certs/token");
}

TEST(DeployConfigSecurityTest, RejectsIncompleteBlocksAndTokensWithoutTls) {
  const std::string svc = "services:\n  - {name: o, role: orchestrator, target: 'h:1', grpc_port: 1}\n";
  struct Case {
    std::string yaml, expect;
  } cases[] = {
      {"name: x\ntls: {cert: a, key: b}\n" + svc, "tls.ca: is required"},
      {"name: x\ntls: {cert: a, key: b, ca: c, verify: true}\n" + svc, "tls.verify: unknown key"},
      {"name: x\ntls: {cert: a, key: b, ca: c, require_client_cert: maybe}\n" + svc, "must be true or false"},
      {"name: x\nauth: {token_env: T}\n" + svc, "bearer tokens need TLS"},
      {"name: x\ntls: {cert: a, key: b, ca: c}\nauth: {token_env: T, token_file: f}\n" + svc, "exactly one"},
      {"name: x\ntls: {cert: a, key: b, ca: c}\nauth: {}\n" + svc, "exactly one"},
      {"name: x\nservices:\n  - {name: o, role: orchestrator, target: 'h:1', grpc_port: 1, tls: {cert: a}}\n",
       "services[0].tls.key: is required"},
  };
  for (const Case& c : cases) {
    auto parsed = ParseDeploymentConfig(c.yaml, "x.yaml");
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << c.yaml;
    EXPECT_NE(parsed.status().message().find(c.expect), std::string::npos) << parsed.status() << "\n" << c.yaml;
  }
}

}  // namespace
}  // namespace tandem::services
