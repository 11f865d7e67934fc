// The remote wiring under mutual TLS and a bearer token, on loopback, with
// certificates from scripts/make-dev-certs.sh: Target and Draft services
// that require client certificates, the orchestrator's remote ports
// presenting the service certificate, and the public Generation API behind
// TLS and a token. Greedy speculative output through it equals the plaintext
// in-process reference; a remote port without TLS, or without a client
// certificate, cannot connect; a client without the token gets
// UNAUTHENTICATED.
#include <grpcpp/create_channel.h>

#include "gtest/gtest.h"
#include "services/common/credentials.h"
#include "services/draft/draft_server.h"
#include "services/orchestrator/remote/remote_options.h"
#include "services/orchestrator/remote/remote_verifier.h"
#include "services/orchestrator/server/orchestrator_server.h"
#include "services/orchestrator/server/ports_factory.h"
#include "decoding/strategies/target_only/target_only.h"
#include "services/target/target_server.h"
#include "tests/common/scratch.h"
#include "tests/services/common/dev_certs.h"
#include "tests/services/orchestrator/service_fixture.h"

namespace tandem::decoding::testing {
namespace {

const auto* const kCleanup = ::testing::AddGlobalTestEnvironment(new test_scratch::ScratchCleanup);

tandem::v1::ModelInfo Info(const std::string& name) {
  tandem::v1::ModelInfo info;
  info.set_name(name);
  info.set_arch("fake");
  info.set_vocab_size(kVocab);
  info.set_context_length(4096);
  info.set_eos_token_id(0);
  return info;
}

constexpr char kToken[] = "test-token-123";

class SecureDeploymentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string error = test_certs::MakeDevCerts(test_scratch::ScratchDir() + "/certs", &certs_);
    ASSERT_TRUE(error.empty()) << error;
    mtls_ = services::TlsConfig{certs_.server_cert(), certs_.server_key(), certs_.ca(), true};
    auto server_creds = services::MakeServerCredentials(&mtls_);
    ASSERT_TRUE(server_creds.ok()) << server_creds.status();

    services::TargetServerOptions to;
    to.service.info = Info("fake-target");
    to.service.is_end_of_generation = [](int32_t t) { return t == 0; };
    to.credentials = *server_creds;
    auto target = services::TargetServer::Start(target_lm_, to);
    ASSERT_TRUE(target.ok()) << target.status();
    target_ = std::move(*target);
    services::DraftServerOptions dopt;
    dopt.service.info = Info("fake-draft");
    dopt.credentials = *server_creds;
    auto draft = services::DraftServer::Start(model_drafter_, dopt);
    ASSERT_TRUE(draft.ok()) << draft.status();
    draft_ = std::move(*draft);

    orchestrator::server::RemotePortsOptions ro;
    ro.target_address = target_->address();
    ro.draft_address = draft_->address();
    ro.default_drafter = "model";
    auto channel_creds = services::MakeChannelCredentials(&mtls_);  // the service cert is the client cert
    ASSERT_TRUE(channel_creds.ok()) << channel_creds.status();
    ro.credentials = *channel_creds;
    auto ports = orchestrator::server::BuildRemotePorts(ro);
    ASSERT_TRUE(ports.ok()) << ports.status();
    ports_ = std::move(*ports);

    // The public API: TLS without client certificates, plus the token.
    const services::TlsConfig public_tls{certs_.server_cert(), certs_.server_key(), certs_.ca(), false};
    auto public_creds = services::MakeServerCredentials(&public_tls, kToken);
    ASSERT_TRUE(public_creds.ok()) << public_creds.status();
    orchestrator::server::OrchestratorServerOptions oo;
    oo.credentials = *public_creds;
    auto orch = orchestrator::server::OrchestratorServer::Start(*ports_, oo);
    ASSERT_TRUE(orch.ok()) << orch.status();
    orch_ = std::move(*orch);
  }

  std::unique_ptr<tandem::v1::Generation::Stub> Client(bool with_token) const {
    const services::TlsConfig client{"", "", certs_.ca(), false};
    auto creds = services::MakeChannelCredentials(&client);
    EXPECT_TRUE(creds.ok()) << creds.status();
    std::shared_ptr<grpc::ChannelCredentials> c = *creds;
    if (with_token) c = grpc::CompositeChannelCredentials(c, grpc::AccessTokenCredentials(kToken));
    return tandem::v1::Generation::NewStub(orchestrator::MakeServiceChannel(orch_->address(), c));
  }

  test_certs::DevCerts certs_;
  services::TlsConfig mtls_;
  LockedLm target_lm_{TargetLogits};
  LockedLm draft_lm_{DraftLogits};
  ModelDrafter model_drafter_{draft_lm_, [](int32_t t) { return t == 0; }};
  std::unique_ptr<services::TargetServer> target_;
  std::unique_ptr<services::DraftServer> draft_;
  std::unique_ptr<decoding::GenerationPorts> ports_;
  std::unique_ptr<orchestrator::server::OrchestratorServer> orch_;
};

TEST_F(SecureDeploymentTest, SpeculativeOverMutualTlsWithATokenEqualsInProcessTargetOnly) {
  LockedLm reference_lm{TargetLogits};
  ModelVerifier reference(reference_lm);
  FakeVocabulary vocab(kVocab);
  GenerationRequest req{.prompt = {1, 2, 3, 1, 2, 3, 1}, .max_tokens = 24};
  req.sampling.temperature = 0;
  GenerationResult base;
  ASSERT_TRUE(RunTargetOnly(req, reference, vocab, nullptr, &base).ok());

  auto stub = Client(/*with_token=*/true);
  tandem::v1::GenerateRequest r = TokenRequest({1, 2, 3, 1, 2, 3, 1}, "speculative", 24);
  (*r.mutable_params())["drafter"] = "model";
  StreamResult s = Stream(*stub, r);
  ASSERT_TRUE(s.status.ok()) << s.status.error_message();
  EXPECT_EQ(s.tokens, base.tokens);
  EXPECT_GT(s.complete.stats().draft_calls(), 0u);  // the draft service answered over mTLS

  StreamResult denied = Stream(*Client(/*with_token=*/false), r);
  EXPECT_EQ(denied.status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << denied.status.error_message();
  EXPECT_EQ(denied.chunks, 0);
}

TEST_F(SecureDeploymentTest, RemotePortsWithoutTlsOrClientCertificateCannotConnect) {
  orchestrator::RemoteOptions plaintext;
  plaintext.open_timeout = absl::Seconds(2);
  auto refused = orchestrator::RemoteVerifier::Connect(target_->address(), plaintext);
  EXPECT_FALSE(refused.ok());
  EXPECT_TRUE(refused.status().code() == absl::StatusCode::kUnavailable ||
              refused.status().code() == absl::StatusCode::kDeadlineExceeded)
      << refused.status();

  const services::TlsConfig no_cert{"", "", certs_.ca(), false};
  orchestrator::RemoteOptions tls_only = plaintext;
  tls_only.credentials = *services::MakeChannelCredentials(&no_cert);
  auto no_client_cert = orchestrator::RemoteVerifier::Connect(target_->address(), tls_only);
  EXPECT_FALSE(no_client_cert.ok());

  orchestrator::RemoteOptions mutual = plaintext;
  mutual.open_timeout = absl::Seconds(30);
  mutual.credentials = *services::MakeChannelCredentials(&mtls_);
  auto ok = orchestrator::RemoteVerifier::Connect(target_->address(), mutual);
  EXPECT_TRUE(ok.ok()) << ok.status();
}

}  // namespace
}  // namespace tandem::decoding::testing
