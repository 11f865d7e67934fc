// The remote wiring end to end on loopback: real Target and Draft services
// (over synthetic models) <- orchestrator::RemoteVerifier/orchestrator::RemoteDrafter <- the Generation
// service <- a gRPC client. Same strategy code as in process, so greedy
// output must equal the in-process target-only run; a client that cancels
// mid-stream must leave no session open on any service.
#include "gtest/gtest.h"
#include "services/draft/draft_server.h"
#include "services/orchestrator/remote/remote_options.h"
#include "services/orchestrator/server/orchestrator_server.h"
#include "services/orchestrator/server/ports_factory.h"
#include "decoding/strategies/target_only/target_only.h"
#include "services/target/target_server.h"
#include "tests/services/orchestrator/service_fixture.h"

namespace tandem::decoding::testing {
namespace {

tandem::v1::ModelInfo Info(const std::string& name) {
  tandem::v1::ModelInfo info;
  info.set_name(name);
  info.set_arch("fake");
  info.set_vocab_size(kVocab);
  info.set_context_length(4096);
  info.set_eos_token_id(0);
  return info;
}

class RemoteDeploymentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    services::TargetServerOptions to;
    to.service.info = Info("fake-target");
    to.service.is_end_of_generation = [](int32_t t) { return t == 0; };
    auto target = services::TargetServer::Start(target_lm_, to);
    ASSERT_TRUE(target.ok()) << target.status();
    target_ = std::move(*target);
    services::DraftServerOptions dopt;
    dopt.service.info = Info("fake-draft");
    auto draft = services::DraftServer::Start(model_drafter_, dopt);
    ASSERT_TRUE(draft.ok()) << draft.status();
    draft_ = std::move(*draft);

    orchestrator::server::RemotePortsOptions ro;
    ro.target_address = target_->address();
    ro.draft_address = draft_->address();
    ro.default_drafter = "model";
    auto ports = orchestrator::server::BuildRemotePorts(ro);
    ASSERT_TRUE(ports.ok()) << ports.status();
    ports_ = std::move(*ports);
    auto orch = orchestrator::server::OrchestratorServer::Start(*ports_, {});
    ASSERT_TRUE(orch.ok()) << orch.status();
    orch_ = std::move(*orch);
    stub_ = tandem::v1::Generation::NewStub(orchestrator::MakeServiceChannel(orch_->address()));
  }

  size_t OpenSessions() const {
    return target_->service().active_sessions() + draft_->service().active_sessions();
  }

  LockedLm target_lm_{TargetLogits};
  LockedLm draft_lm_{DraftLogits};
  ModelDrafter model_drafter_{draft_lm_, [](int32_t t) { return t == 0; }};
  std::unique_ptr<services::TargetServer> target_;
  std::unique_ptr<services::DraftServer> draft_;
  std::unique_ptr<decoding::GenerationPorts> ports_;
  std::unique_ptr<orchestrator::server::OrchestratorServer> orch_;
  std::unique_ptr<tandem::v1::Generation::Stub> stub_;
};

TEST_F(RemoteDeploymentTest, GreedySpeculativeThroughServicesEqualsInProcessTargetOnly) {
  // Reference: target_only in process on an identical synthetic target.
  LockedLm reference_lm{TargetLogits};
  ModelVerifier reference(reference_lm);
  FakeVocabulary vocab(kVocab);
  for (const std::vector<int32_t>& prompt :
       std::vector<std::vector<int32_t>>{{3, 5, 7}, {1, 2, 3, 1, 2, 3, 1}, {9, 4, 9, 4, 9, 4}}) {
    GenerationRequest req{.prompt = prompt, .max_tokens = 32};
    req.sampling.temperature = 0;
    GenerationResult base;
    ASSERT_TRUE(RunTargetOnly(req, reference, vocab, nullptr, &base).ok());
    ASSERT_FALSE(base.tokens.empty());
    for (const std::string drafter : {"model", "ngram"}) {
      for (int gamma : {1, 4, 7}) {
        tandem::v1::GenerateRequest r = TokenRequest(prompt, "speculative", 32);
        r.set_gamma(gamma);
        (*r.mutable_params())["drafter"] = drafter;
        StreamResult s = Stream(*stub_, r);
        ASSERT_TRUE(s.status.ok()) << s.status.error_message();
        EXPECT_EQ(s.tokens, base.tokens) << drafter << " gamma " << gamma;
        EXPECT_EQ(s.complete.stats().drafter(), drafter);
        if (drafter == "model") {
          EXPECT_GT(s.complete.stats().speculation().drafted_tokens(), 0u);
          EXPECT_GT(s.complete.stats().draft_calls(), 0u);
        }
      }
    }
    StreamResult t = Stream(*stub_, TokenRequest(prompt, "target_only", 32));
    ASSERT_TRUE(t.status.ok()) << t.status.error_message();
    EXPECT_EQ(t.tokens, base.tokens);
  }
  EXPECT_TRUE(Eventually([&] { return OpenSessions() == 0; }));
}

TEST_F(RemoteDeploymentTest, ClientCancellationClosesSessionsOnEveryService) {
  target_lm_.delay_ms = 5;
  draft_lm_.delay_ms = 2;
  tandem::v1::GenerateRequest req = TokenRequest({1, 2, 3}, "speculative", 2000);
  req.set_ignore_eos(true);
  grpc::ClientContext ctx;
  auto reader = stub_->Generate(&ctx, req);
  tandem::v1::GenerateResponse resp;
  ASSERT_TRUE(reader->Read(&resp));
  ASSERT_TRUE(resp.has_chunk());
  EXPECT_EQ(target_->service().active_sessions(), 1u);
  EXPECT_EQ(draft_->service().active_sessions(), 1u);
  ctx.TryCancel();
  while (reader->Read(&resp)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(Eventually([&] { return OpenSessions() == 0; }))
      << "target sessions " << target_->service().active_sessions() << ", draft sessions "
      << draft_->service().active_sessions();
  EXPECT_TRUE(Eventually([&] { return orch_->service().active_requests() == 0; }));
}

// A client whose deadline passes during the prefill never learns the
// session's id: the service closes the session itself instead of holding
// its KV until the idle timeout (the target's Fork answers through the same
// DropIfAbandoned; a fork has no forward to slow down here).
TEST_F(RemoteDeploymentTest, AnOpenTheClientGaveUpOnLeavesNoSession) {
  target_lm_.delay_ms = 300;
  draft_lm_.delay_ms = 300;
  auto target = tandem::v1::Target::NewStub(orchestrator::MakeServiceChannel(target_->address()));
  auto draft = tandem::v1::Draft::NewStub(orchestrator::MakeServiceChannel(draft_->address()));
  auto soon = [] { return std::chrono::system_clock::now() + std::chrono::milliseconds(50); };
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(soon());
    tandem::v1::TargetOpenSessionRequest req;
    req.add_prompt_tokens(1);
    req.add_prompt_tokens(2);
    tandem::v1::TargetOpenSessionResponse resp;
    EXPECT_EQ(target->OpenSession(&ctx, req, &resp).error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  }
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(soon());
    tandem::v1::DraftOpenSessionRequest req;
    req.add_prompt_tokens(1);
    req.add_prompt_tokens(2);
    tandem::v1::DraftOpenSessionResponse resp;
    EXPECT_EQ(draft->OpenSession(&ctx, req, &resp).error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  }
  // Long enough for both prefills to end (and the sessions to exist).
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  EXPECT_TRUE(Eventually([&] { return OpenSessions() == 0; }))
      << "target sessions " << target_->service().active_sessions() << ", draft sessions "
      << draft_->service().active_sessions();
}

TEST_F(RemoteDeploymentTest, ConcurrentRemoteStreamsMatchSequential) {
  std::vector<tandem::v1::GenerateRequest> reqs;
  for (int i = 0; i < 4; ++i) {
    tandem::v1::GenerateRequest r = TokenRequest({1 + i, 2, 3 + i}, "speculative", 24);
    r.mutable_sampling()->set_temperature(0.8f);
    r.mutable_sampling()->set_seed(7 + i);
    r.set_gamma(3);
    reqs.push_back(r);
  }
  std::vector<StreamResult> seq, par(reqs.size());
  for (const auto& r : reqs) seq.push_back(Stream(*stub_, r));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < reqs.size(); ++i) threads.emplace_back([&, i] { par[i] = Stream(*stub_, reqs[i]); });
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < reqs.size(); ++i) {
    ASSERT_TRUE(seq[i].status.ok() && par[i].status.ok()) << seq[i].status.error_message() << par[i].status.error_message();
    EXPECT_EQ(par[i].tokens, seq[i].tokens) << i;
  }
}

}  // namespace
}  // namespace tandem::decoding::testing
