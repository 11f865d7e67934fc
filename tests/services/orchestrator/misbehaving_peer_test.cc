// The remote ports against peers that break the protocol: a draft service
// returning the wrong number of q rows or rows that are not distributions
// (NaN, negative), a target accepting more tokens than were drafted or
// answering a token outside the vocabulary, and a service that does not know
// the session. Each ends the call with a clean error naming the service,
// never a crash or a token that reaches the output; so do oversized messages
// in either direction. The fake services are
// real gRPC servers on loopback whose answers the test scripts.
#include <chrono>
#include <cmath>
#include <functional>
#include <thread>
#include <limits>
#include <memory>

#include "gtest/gtest.h"
#include "decoding/spec/peer_loss.h"
#include "services/common/grpc_server.h"
#include "services/orchestrator/remote/remote_drafter.h"
#include "services/orchestrator/remote/remote_verifier.h"
#include "tandem/v1/draft.grpc.pb.h"
#include "tandem/v1/target.grpc.pb.h"

namespace tandem::orchestrator {
namespace {

constexpr int32_t kVocab = 16;

tandem::v1::ModelInfo Info(const char* role) {
  tandem::v1::ModelInfo info;
  info.set_name("fake");
  info.set_vocab_size(kVocab);
  info.set_context_length(1024);
  info.set_role(role);
  return info;
}

// A Draft service whose Propose answer a test function writes.
class FakeDraft final : public tandem::v1::Draft::Service {
 public:
  std::function<grpc::Status(const tandem::v1::ProposeRequest&, tandem::v1::ProposeResponse*)> propose;
  grpc::Status GetModelInfo(grpc::ServerContext*, const tandem::v1::GetModelInfoRequest*,
                            tandem::v1::ModelInfo* out) override {
    *out = Info("draft");
    return grpc::Status::OK;
  }
  grpc::Status OpenSession(grpc::ServerContext*, const tandem::v1::DraftOpenSessionRequest*,
                           tandem::v1::DraftOpenSessionResponse* out) override {
    out->set_session_id("d1");
    return grpc::Status::OK;
  }
  grpc::Status Propose(grpc::ServerContext*, const tandem::v1::ProposeRequest* req,
                       tandem::v1::ProposeResponse* out) override {
    return propose(*req, out);
  }
  grpc::Status CloseSession(grpc::ServerContext*, const tandem::v1::CloseSessionRequest*,
                            tandem::v1::CloseSessionResponse*) override {
    return grpc::Status::OK;
  }
};

class FakeTarget final : public tandem::v1::Target::Service {
 public:
  std::function<grpc::Status(const tandem::v1::VerifyRequest&, tandem::v1::VerifyResponse*)> verify;
  grpc::Status GetModelInfo(grpc::ServerContext*, const tandem::v1::GetModelInfoRequest*,
                            tandem::v1::ModelInfo* out) override {
    *out = Info("target");
    return grpc::Status::OK;
  }
  grpc::Status OpenSession(grpc::ServerContext*, const tandem::v1::TargetOpenSessionRequest*,
                           tandem::v1::TargetOpenSessionResponse* out) override {
    out->set_session_id("t1");
    return grpc::Status::OK;
  }
  grpc::Status Verify(grpc::ServerContext*, const tandem::v1::VerifyRequest* req,
                      tandem::v1::VerifyResponse* out) override {
    return verify(*req, out);
  }
  grpc::Status CloseSession(grpc::ServerContext*, const tandem::v1::CloseSessionRequest*,
                            tandem::v1::CloseSessionResponse*) override {
    return grpc::Status::OK;
  }
};

class MisbehavingPeer : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::Service* services[] = {&draft_service_, &target_service_};
    auto server = services::GrpcServer::Start(services::GrpcServerOptions{}, services);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    auto draft = RemoteDrafter::Connect(server_->address());
    ASSERT_TRUE(draft.ok()) << draft.status();
    drafter_ = std::move(*draft);
    auto target = RemoteVerifier::Connect(server_->address());
    ASSERT_TRUE(target.ok()) << target.status();
    verifier_ = std::move(*target);
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(absl::ZeroDuration());
  }

  // One sampled Propose of 2 tokens; the fake answers with `q` rows.
  absl::Status Propose(std::function<void(tandem::v1::ProposeResponse*)> answer) {
    draft_service_.propose = [answer](const tandem::v1::ProposeRequest&, tandem::v1::ProposeResponse* out) {
      out->add_token_ids(3);
      out->add_token_ids(4);
      out->set_committed_length(3);
      answer(out);
      return grpc::Status::OK;
    };
    runtime::SamplingParams sampled;
    sampled.temperature = 0.8f;
    const std::vector<int32_t> prompt = {1, 2};
    auto session = drafter_->Open(prompt, sampled, DraftOptions{.return_distributions = true});
    if (!session.ok()) return session.status();
    DraftProposal proposal;
    absl::Status s = (*session)->Propose(DraftDelta{}, 2, &proposal);
    if (!s.ok()) {
      EXPECT_TRUE(proposal.q.empty() || proposal.q.size() == proposal.tokens.size());
    }
    return s;
  }

  // One greedy Verify of drafts {3, 4}; the fake writes the verdict.
  absl::Status Verify(std::function<grpc::Status(tandem::v1::VerifyResponse*)> answer, VerifyResult* verdict) {
    target_service_.verify = [answer](const tandem::v1::VerifyRequest&, tandem::v1::VerifyResponse* out) {
      return answer(out);
    };
    runtime::SamplingParams greedy;
    greedy.temperature = 0;
    const std::vector<int32_t> prompt = {1, 2};
    auto session = verifier_->Open(prompt, greedy, VerifyOptions{});
    if (!session.ok()) return session.status();
    const std::vector<int32_t> draft = {3, 4};
    return (*session)->Verify(draft, {}, verdict);
  }

  FakeDraft draft_service_;
  FakeTarget target_service_;
  std::unique_ptr<services::GrpcServer> server_;
  std::unique_ptr<RemoteDrafter> drafter_;
  std::unique_ptr<RemoteVerifier> verifier_;
};

void Dense(tandem::v1::ProposeResponse* out, float first) {
  auto* d = out->add_distributions()->mutable_dense();
  d->add_probs(first);
  for (int i = 1; i < kVocab; ++i) d->add_probs((1.0f - first) / (kVocab - 1));
}

TEST_F(MisbehavingPeer, WellFormedProposalIsAccepted) {
  EXPECT_TRUE(Propose([](tandem::v1::ProposeResponse* out) {
                Dense(out, 0.25f);
                Dense(out, 0.5f);
              }).ok());
}

TEST_F(MisbehavingPeer, WrongNumberOfQRowsIsInternal) {
  const absl::Status s = Propose([](tandem::v1::ProposeResponse* out) { Dense(out, 0.25f); });
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
  EXPECT_NE(s.message().find("draft service"), std::string::npos) << s;
}

TEST_F(MisbehavingPeer, NanOrNegativeProbabilitiesAreInternal) {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), -0.5f, 1.5f}) {
    const absl::Status s = Propose([bad](tandem::v1::ProposeResponse* out) {
      Dense(out, 0.25f);
      Dense(out, bad);
    });
    EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << bad << " " << s;
    EXPECT_NE(s.message().find("draft service"), std::string::npos) << s;
  }
}

TEST_F(MisbehavingPeer, DraftTokensOutsideTheVocabularyOrBeyondGammaAreInternal) {
  for (int32_t bad : {-3, kVocab}) {
    const absl::Status s = Propose([bad](tandem::v1::ProposeResponse* out) {
      out->set_token_ids(1, bad);
      Dense(out, 0.25f);
      Dense(out, 0.5f);
    });
    EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << bad << " " << s;
  }
  const absl::Status s = Propose([](tandem::v1::ProposeResponse* out) {
    out->add_token_ids(5);  // 3 tokens for gamma 2
    for (int i = 0; i < 3; ++i) Dense(out, 0.25f);
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
}

TEST_F(MisbehavingPeer, MoreAcceptedThanDraftedIsInternal) {
  VerifyResult verdict;
  const absl::Status s = Verify(
      [](tandem::v1::VerifyResponse* out) {
        out->set_accepted_count(3);  // of 2
        out->set_next_token(5);
        return grpc::Status::OK;
      },
      &verdict);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
  EXPECT_NE(s.message().find("target service"), std::string::npos) << s;
}

TEST_F(MisbehavingPeer, TokenOutsideTheVocabularyIsInternal) {
  for (int32_t bad : {-1, kVocab, 1 << 30}) {
    VerifyResult verdict;
    const absl::Status s = Verify(
        [bad](tandem::v1::VerifyResponse* out) {
          out->set_accepted_count(1);
          out->set_next_token(bad);
          return grpc::Status::OK;
        },
        &verdict);
    EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << bad << " " << s;
    EXPECT_NE(s.message().find("target service"), std::string::npos) << s;
  }
}

TEST_F(MisbehavingPeer, UnknownSessionKeepsTheServicesCode) {
  VerifyResult verdict;
  const absl::Status s = Verify(
      [](tandem::v1::VerifyResponse*) { return grpc::Status(grpc::StatusCode::NOT_FOUND, "session t1 not found"); },
      &verdict);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  EXPECT_EQ(s.message(), "target service Verify: session t1 not found");
}

// A draft service that no longer knows the session (restarted, or expired
// it) lost the peer: UNAVAILABLE, which a speculative request survives by
// finishing target-only; the target's NOT_FOUND above keeps its code.
TEST_F(MisbehavingPeer, ADraftServiceThatLostTheSessionIsUnavailable) {
  draft_service_.propose = [](const tandem::v1::ProposeRequest&, tandem::v1::ProposeResponse*) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "session_id: 'd1' is not open (closed or expired)");
  };
  runtime::SamplingParams greedy;
  greedy.temperature = 0;
  const std::vector<int32_t> prompt = {1, 2};
  auto session = drafter_->Open(prompt, greedy, DraftOptions{});
  ASSERT_TRUE(session.ok()) << session.status();
  DraftProposal proposal;
  const absl::Status s = (*session)->Propose(DraftDelta{}, 2, &proposal);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_NE(s.message().find("lost session 'd1'"), std::string::npos) << s;
  EXPECT_TRUE(spec::IsPeerLoss(s));
}

// A peer that hangs: the request's deadline (CallScope::SetDeadline, set
// from the client's grpc-timeout) ends the call with DEADLINE_EXCEEDED,
// instead of the per-call timeout (30 s).
TEST_F(MisbehavingPeer, AHangingPeerEndsAtTheRequestsDeadline) {
  target_service_.verify = [](const tandem::v1::VerifyRequest&, tandem::v1::VerifyResponse* out) {
    std::this_thread::sleep_for(std::chrono::seconds(3));
    out->set_next_token(1);
    return grpc::Status::OK;
  };
  auto scope = std::make_shared<CallScope>();
  auto scoped = verifier_->WithScope(scope);
  runtime::SamplingParams greedy;
  greedy.temperature = 0;
  const std::vector<int32_t> prompt = {1, 2};
  auto session = scoped->Open(prompt, greedy, VerifyOptions{});
  ASSERT_TRUE(session.ok()) << session.status();
  scope->SetDeadline(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
  VerifyResult verdict;
  const std::vector<int32_t> draft = {3};
  const absl::Status s = (*session)->Verify(draft, {}, &verdict);
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_NE(s.message().find("target service Verify"), std::string::npos) << s;
}

// A draft that does not answer within its call timeout (a hung or
// blackholed host: no connection reset) is lost, UNAVAILABLE, which the
// request survives target-only; when the client's own deadline is what ran
// out, the call keeps DEADLINE_EXCEEDED.
TEST_F(MisbehavingPeer, ASilentDraftIsLostButTheClientsDeadlineStaysItsOwn) {
  draft_service_.propose = [](const tandem::v1::ProposeRequest&, tandem::v1::ProposeResponse* out) {
    std::this_thread::sleep_for(std::chrono::seconds(2));
    out->add_token_ids(3);
    out->set_committed_length(3);
    return grpc::Status::OK;
  };
  runtime::SamplingParams greedy;
  greedy.temperature = 0;
  const std::vector<int32_t> prompt = {1, 2};
  RemoteOptions options;
  options.call_timeout = absl::Milliseconds(200);
  auto silent = RemoteDrafter::Connect(server_->address(), options);
  ASSERT_TRUE(silent.ok()) << silent.status();
  auto session = (*silent)->Open(prompt, greedy, DraftOptions{});
  ASSERT_TRUE(session.ok()) << session.status();
  DraftProposal proposal;
  absl::Status s = (*session)->Propose(DraftDelta{}, 1, &proposal);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_NE(s.message().find("draft service Propose: no answer within the call timeout"), std::string::npos) << s;
  EXPECT_TRUE(spec::IsPeerLoss(s));

  // The client's deadline first (the call timeout is 30 s): its own error.
  auto scope = std::make_shared<CallScope>();
  auto scoped = drafter_->WithScope(scope);
  auto in_time = scoped->Open(prompt, greedy, DraftOptions{});
  ASSERT_TRUE(in_time.ok()) << in_time.status();
  scope->SetDeadline(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
  s = (*in_time)->Propose(DraftDelta{}, 1, &proposal);
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
}

// Oversized messages, both ways. A peer answering more than the 64 MiB the
// orchestrator's channels accept (MakeServiceChannel) fails the call with
// RESOURCE_EXHAUSTED naming the service; a client sending more than a
// server's max_receive_message_bytes gets RESOURCE_EXHAUSTED and the server
// goes on serving. Neither allocates on the receiving side beyond the limit.
TEST(OversizedMessages, AnOversizedAnswerIsResourceExhaustedNamingTheService) {
  FakeTarget target;
  target.verify = [](const tandem::v1::VerifyRequest&, tandem::v1::VerifyResponse* out) {
    out->set_accepted_count(0);
    out->set_next_token(1);
    out->mutable_logprobs()->Resize(17 << 20, -1.0f);  // 68 MiB packed
    return grpc::Status::OK;
  };
  services::GrpcServerOptions options;
  options.max_send_message_bytes = 128 << 20;  // the peer sends it; the orchestrator must refuse it
  grpc::Service* services[] = {&target};
  auto server = services::GrpcServer::Start(options, services);
  ASSERT_TRUE(server.ok()) << server.status();
  auto verifier = RemoteVerifier::Connect((*server)->address());
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  runtime::SamplingParams greedy;
  greedy.temperature = 0;
  const std::vector<int32_t> prompt = {1, 2};
  auto session = (*verifier)->Open(prompt, greedy, VerifyOptions{});
  ASSERT_TRUE(session.ok()) << session.status();
  VerifyResult verdict;
  const std::vector<int32_t> draft = {3};
  const absl::Status s = (*session)->Verify(draft, {}, &verdict);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_NE(s.message().find("target service Verify"), std::string::npos) << s;
  session->reset();
  (*server)->Shutdown(absl::ZeroDuration());
}

TEST(OversizedMessages, AnOversizedRequestIsRefusedAndTheServerGoesOn) {
  FakeTarget target;
  target.verify = [](const tandem::v1::VerifyRequest&, tandem::v1::VerifyResponse* out) {
    out->set_next_token(1);
    return grpc::Status::OK;
  };
  services::GrpcServerOptions options;
  options.max_receive_message_bytes = 1 << 20;
  grpc::Service* services[] = {&target};
  auto server = services::GrpcServer::Start(options, services);
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = tandem::v1::Target::NewStub(MakeServiceChannel((*server)->address()));

  tandem::v1::VerifyRequest big;
  big.set_session_id("t1");
  big.mutable_draft_tokens()->Resize(1 << 20, 5);  // >= 1 MiB as varints
  tandem::v1::VerifyResponse resp;
  grpc::ClientContext big_ctx;
  grpc::Status st = stub->Verify(&big_ctx, big, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();

  tandem::v1::VerifyRequest small;
  small.set_session_id("t1");
  small.add_draft_tokens(5);
  grpc::ClientContext small_ctx;
  st = stub->Verify(&small_ctx, small, &resp);
  EXPECT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(resp.next_token(), 1);
  (*server)->Shutdown(absl::ZeroDuration());
}

TEST(CallScope, TheScopesDeadlineCapsEveryCall) {
  CallScope scope;
  const auto soon = std::chrono::system_clock::now() + std::chrono::seconds(2);
  {
    ScopedCall call(&scope, absl::Seconds(30));
    EXPECT_GT(call.context()->deadline(), soon);  // no request deadline: the call's own timeout
  }
  scope.SetDeadline(soon);
  ScopedCall capped(&scope, absl::Seconds(30));
  EXPECT_EQ(capped.context()->deadline(), soon);
  ScopedCall shorter(&scope, absl::Milliseconds(10));
  EXPECT_LT(shorter.context()->deadline(), soon);  // an earlier own timeout still wins
}

}  // namespace
}  // namespace tandem::orchestrator
