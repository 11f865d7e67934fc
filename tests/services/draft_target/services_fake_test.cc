// Draft and Target services over synthetic language models, through real
// gRPC on loopback with the remote ports: greedy speculative decoding equals
// target-only; sampled speculative decoding through the services equals the
// same request in process token for token (so q crosses the wire exactly and
// both sides draw the same random streams); validation, expiry, cancellation.
#include <limits>
#include <thread>

#include "gtest/gtest.h"
#include "services/draft/draft_server.h"
#include "decoding/drafters/ngram_drafter.h"
#include "decoding/local/model_drafter.h"
#include "decoding/local/model_verifier.h"
#include "services/target/target_server.h"
#include "tests/decoding/fake_lm.h"
#include "tests/services/draft_target/dt_test_util.h"
#include "tests/services/draft_target/services_fixture.h"

namespace tandem::dt_test {
namespace {

using decoding::testing::DraftLogits;
using decoding::testing::FakeLm;
using decoding::testing::FakeVocabulary;
using decoding::testing::TargetLogits;

constexpr int32_t kVocab = 12;

tandem::v1::ModelInfo FakeInfo() {
  tandem::v1::ModelInfo info;
  info.set_name("fake");
  info.set_arch("synthetic");
  info.set_vocab_size(kVocab);
  info.set_context_length(4096);
  info.set_eos_token_id(0);
  return info;
}

class FakeServicesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    services::TargetServerOptions target_options;
    target_options.service.info = FakeInfo();
    target_options.service.is_end_of_generation = [](int32_t t) { return t == 0; };
    auto target = services::TargetServer::Start(locked_target_, std::move(target_options));
    ASSERT_TRUE(target.ok()) << target.status();
    target_ = std::move(*target);

    services::DraftServerOptions draft_options;
    draft_options.service.info = FakeInfo();
    auto draft = services::DraftServer::Start(model_drafter_, draft_options);
    ASSERT_TRUE(draft.ok()) << draft.status();
    draft_ = std::move(*draft);
    auto ngram = services::DraftServer::Start(ngram_drafter_, draft_options);
    ASSERT_TRUE(ngram.ok()) << ngram.status();
    ngram_ = std::move(*ngram);

    auto rv = orchestrator::RemoteVerifier::Connect(target_->address());
    ASSERT_TRUE(rv.ok()) << rv.status();
    remote_verifier_ = std::move(*rv);
    auto rd = orchestrator::RemoteDrafter::Connect(draft_->address());
    ASSERT_TRUE(rd.ok()) << rd.status();
    remote_drafter_ = std::move(*rd);
    auto rn = orchestrator::RemoteDrafter::Connect(ngram_->address());
    ASSERT_TRUE(rn.ok()) << rn.status();
    remote_ngram_ = std::move(*rn);
  }

  decoding::GenerationRequest Request(std::vector<int32_t> prompt, float temperature, int gamma,
                                          int top_k = 0) {
    decoding::GenerationRequest req;
    req.prompt = std::move(prompt);
    req.sampling.temperature = temperature;
    req.sampling.top_k = top_k;
    req.sampling.seed = 1234;
    req.max_tokens = 40;
    req.gamma.gamma = gamma;
    return req;
  }

  FakeLm target_lm_{kVocab, TargetLogits};
  FakeLm draft_lm_{kVocab, DraftLogits};
  FakeLm target_lm_ref_{kVocab, TargetLogits};  // in-process reference, same function
  FakeLm draft_lm_ref_{kVocab, DraftLogits};
  LockedLm locked_target_{target_lm_};
  LockedLm locked_draft_{draft_lm_};
  decoding::ModelDrafter model_drafter_{locked_draft_, [](int32_t t) { return t == 0; }};
  decoding::NgramDrafter ngram_drafter_{decoding::NgramDrafterOptions{.vocab_size = kVocab}};
  FakeVocabulary vocab_{kVocab};
  std::unique_ptr<services::TargetServer> target_;
  std::unique_ptr<services::DraftServer> draft_, ngram_;
  std::unique_ptr<orchestrator::RemoteVerifier> remote_verifier_;
  std::unique_ptr<orchestrator::RemoteDrafter> remote_drafter_, remote_ngram_;
};

const std::vector<std::vector<int32_t>> kPrompts = {{3}, {5, 7, 2, 9}, {1, 2, 3, 1, 2, 3, 1, 2}, {11, 4, 4, 8, 6}};

TEST_F(FakeServicesTest, GreedyRemoteSpeculativeEqualsTargetOnly) {
  decoding::ModelVerifier local_verifier(target_lm_ref_);
  for (const auto& prompt : kPrompts) {
    const auto reference = Generate(Request(prompt, 0.0f, 1), local_verifier, nullptr, vocab_);
    ASSERT_FALSE(reference.tokens.empty());
    for (int gamma : {1, 2, 4, 7}) {
      for (decoding::Drafter* drafter : {static_cast<decoding::Drafter*>(remote_drafter_.get()),
                                             static_cast<decoding::Drafter*>(remote_ngram_.get())}) {
        // overlap: Propose and Verify in flight at once over gRPC, and the
        // drafter's truncate_to rollbacks on the service.
        for (bool overlap : {false, true}) {
          const auto remote = Generate(Request(prompt, 0.0f, gamma), *remote_verifier_, drafter, vocab_, overlap);
          EXPECT_EQ(remote.tokens, reference.tokens)
              << "gamma " << gamma << " overlap " << overlap << " prompt " << Str(prompt);
          EXPECT_GT(remote.stats.speculation.drafted_tokens, 0);
        }
      }
    }
  }
  EXPECT_EQ(target_->service().active_sessions(), 0u) << "sessions must be closed when generations end";
  EXPECT_EQ(draft_->service().active_sessions(), 0u);
  EXPECT_EQ(ngram_->service().active_sessions(), 0u);
  EXPECT_NE(draft_->metrics().Serialize().find("tandem:draft_rpc_latency_seconds_count{drafter=\"model\"}"),
            std::string::npos);
  EXPECT_NE(ngram_->metrics().Serialize().find("tandem:draft_rpc_latency_seconds_count{drafter=\"ngram\"}"),
            std::string::npos);
  const std::string target_metrics = target_->metrics().Serialize();
  EXPECT_NE(target_metrics.find("tandem:target_verify_latency_seconds_count"), std::string::npos);
  EXPECT_NE(target_metrics.find("tandem:target_batch_size_count"), std::string::npos);
}

TEST_F(FakeServicesTest, SampledRemoteEqualsInProcessTokenForToken) {
  decoding::ModelVerifier local_verifier(target_lm_ref_);
  decoding::ModelDrafter local_drafter(draft_lm_ref_, [](int32_t t) { return t == 0; });
  decoding::NgramDrafter local_ngram(decoding::NgramDrafterOptions{.vocab_size = kVocab});
  for (const auto& prompt : kPrompts) {
    for (int top_k : {0, 4}) {  // dense and sparse q on the wire
      const auto req = Request(prompt, 0.9f, 3, top_k);
      const auto local = Generate(req, local_verifier, &local_drafter, vocab_);
      const auto remote = Generate(req, *remote_verifier_, remote_drafter_.get(), vocab_);
      EXPECT_EQ(remote.tokens, local.tokens) << "top_k " << top_k << " prompt " << Str(prompt);
      EXPECT_EQ(remote.stats.speculation.accepted_tokens, local.stats.speculation.accepted_tokens);
      EXPECT_LT(remote.stats.speculation.accepted_tokens, remote.stats.speculation.drafted_tokens) << "draft differs: some rejections";
      const auto local_ng = Generate(req, local_verifier, &local_ngram, vocab_);
      const auto remote_ng = Generate(req, *remote_verifier_, remote_ngram_.get(), vocab_);
      EXPECT_EQ(remote_ng.tokens, local_ng.tokens) << "ngram top_k " << top_k;
    }
  }
}

TEST_F(FakeServicesTest, ConcurrentGenerationsEqualSequential) {
  std::vector<decoding::GenerationResult> sequential;
  for (const auto& prompt : kPrompts) {
    sequential.push_back(Generate(Request(prompt, 0.8f, 3, 5), *remote_verifier_, remote_drafter_.get(), vocab_));
  }
  std::vector<decoding::GenerationResult> concurrent(kPrompts.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < kPrompts.size(); ++i) {
    threads.emplace_back([&, i] {
      concurrent[i] = Generate(Request(kPrompts[i], 0.8f, 3, 5), *remote_verifier_, remote_drafter_.get(), vocab_);
    });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < kPrompts.size(); ++i) EXPECT_EQ(concurrent[i].tokens, sequential[i].tokens) << i;
}

grpc::Status OpenTarget(tandem::v1::Target::Stub& stub, const std::vector<int32_t>& prompt, float temperature,
                        std::string* id) {
  grpc::ClientContext ctx;
  tandem::v1::TargetOpenSessionRequest req;
  req.mutable_prompt_tokens()->Add(prompt.begin(), prompt.end());
  req.mutable_sampling()->set_temperature(temperature);
  tandem::v1::TargetOpenSessionResponse resp;
  grpc::Status s = stub.OpenSession(&ctx, req, &resp);
  if (id != nullptr) *id = resp.session_id();
  return s;
}

void ExpectInvalid(const grpc::Status& s, const std::string& field) {
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_NE(s.error_message().find(field), std::string::npos) << "message should name " << field << ": "
                                                              << s.error_message();
}

TEST_F(FakeServicesTest, TargetRejectsInvalidRequests) {
  auto stub = TargetStub(target_->address());
  ExpectInvalid(OpenTarget(*stub, {}, 0.0f, nullptr), "prompt_tokens");
  ExpectInvalid(OpenTarget(*stub, {1, kVocab}, 0.0f, nullptr), "prompt_tokens[1]");
  ExpectInvalid(OpenTarget(*stub, {1, -1}, 0.0f, nullptr), "prompt_tokens[1]");
  ExpectInvalid(OpenTarget(*stub, {1}, -1.0f, nullptr), "sampling.temperature");
  {
    grpc::ClientContext ctx;
    tandem::v1::TargetOpenSessionRequest req;
    req.add_prompt_tokens(1);
    req.set_model("no-such-model");
    tandem::v1::TargetOpenSessionResponse resp;
    ExpectInvalid(stub->OpenSession(&ctx, req, &resp), "model");
  }
  std::string greedy_id, sampled_id;
  ASSERT_TRUE(OpenTarget(*stub, {1, 2}, 0.0f, &greedy_id).ok());
  ASSERT_TRUE(OpenTarget(*stub, {1, 2}, 1.0f, &sampled_id).ok());
  auto verify = [&](const tandem::v1::VerifyRequest& req) {
    grpc::ClientContext ctx;
    tandem::v1::VerifyResponse resp;
    return stub->Verify(&ctx, req, &resp);
  };
  tandem::v1::VerifyRequest req;
  req.set_session_id("nope");
  req.set_greedy(true);
  EXPECT_EQ(verify(req).error_code(), grpc::StatusCode::NOT_FOUND);
  req.set_session_id("");
  ExpectInvalid(verify(req), "session_id");
  req.set_session_id(greedy_id);
  req.add_draft_tokens(kVocab + 3);
  ExpectInvalid(verify(req), "draft_tokens[0]");
  req.clear_draft_tokens();
  for (int i = 0; i < 65; ++i) req.add_draft_tokens(1);
  ExpectInvalid(verify(req), "draft_tokens");
  req.clear_draft_tokens();
  req.set_greedy(false);
  ExpectInvalid(verify(req), "greedy");

  req.set_session_id(sampled_id);
  req.add_draft_tokens(3);
  req.add_draft_tokens(4);
  auto* q0 = req.add_draft_distributions()->mutable_sparse();
  q0->add_token_ids(3);
  q0->add_probs(1.0f);
  ExpectInvalid(verify(req), "draft_distributions");  // count mismatch
  auto* q1 = req.add_draft_distributions()->mutable_sparse();
  q1->add_token_ids(4);
  q1->add_probs(0.5f);  // sums to 0.5
  ExpectInvalid(verify(req), "draft_distributions[1]");
  q1->set_probs(0, 1.0f);
  q1->set_token_ids(0, 5);  // q1 gives d_1 = 4 probability 0
  ExpectInvalid(verify(req), "draft_distributions[1]");
  req.mutable_draft_distributions(1)->mutable_dense()->add_probs(1.0f);  // dense of the wrong length
  ExpectInvalid(verify(req), "draft_distributions[1]");
  // The session survived all of that and still verifies.
  q1 = req.mutable_draft_distributions(1)->mutable_sparse();
  q1->add_token_ids(4);
  q1->add_probs(1.0f);
  EXPECT_TRUE(verify(req).ok());

  grpc::ClientContext ctx;
  tandem::v1::StepRequest step;
  step.set_session_id(greedy_id);
  step.set_num_tokens(65);
  tandem::v1::StepResponse step_resp;
  ExpectInvalid(stub->Step(&ctx, step, &step_resp), "num_tokens");
}

TEST_F(FakeServicesTest, DraftRejectsInvalidRequests) {
  auto stub = DraftStub(draft_->address());
  grpc::ClientContext open_ctx;
  tandem::v1::DraftOpenSessionRequest open;
  open.add_prompt_tokens(99);
  tandem::v1::DraftOpenSessionResponse open_resp;
  ExpectInvalid(stub->OpenSession(&open_ctx, open, &open_resp), "prompt_tokens[0]");
  grpc::ClientContext staged_ctx;
  open.set_prompt_tokens(0, 3);
  open.set_staged_ngram(17);
  ExpectInvalid(stub->OpenSession(&staged_ctx, open, &open_resp), "staged_ngram");
  // A uint32 past INT_MAX must be refused as too large, not wrap to a
  // negative (or small valid) int on the way into the drafter's options.
  for (const uint32_t huge : {uint32_t{0x80000000u}, uint32_t{0x80000002u}, std::numeric_limits<uint32_t>::max()}) {
    grpc::ClientContext huge_ctx;
    open.set_staged_ngram(huge);
    ExpectInvalid(stub->OpenSession(&huge_ctx, open, &open_resp), "staged_ngram");
  }
  open.set_staged_ngram(2);
  for (const float bad : {-0.001f, 0.02f, std::numeric_limits<float>::quiet_NaN()}) {
    grpc::ClientContext tail_ctx;
    open.set_q_tail_mass(bad);
    ExpectInvalid(stub->OpenSession(&tail_ctx, open, &open_resp), "q_tail_mass");
  }
  open.set_q_tail_mass(0.001f);
  grpc::ClientContext open_ctx2;
  open.set_session_id("mine");
  ASSERT_TRUE(stub->OpenSession(&open_ctx2, open, &open_resp).ok());
  EXPECT_EQ(open_resp.session_id(), "mine");
  grpc::ClientContext dup_ctx;
  EXPECT_EQ(stub->OpenSession(&dup_ctx, open, &open_resp).error_code(), grpc::StatusCode::ALREADY_EXISTS);

  auto propose = [&](const tandem::v1::ProposeRequest& req, tandem::v1::ProposeResponse* resp) {
    grpc::ClientContext ctx;
    return stub->Propose(&ctx, req, resp);
  };
  tandem::v1::ProposeRequest req;
  tandem::v1::ProposeResponse resp;
  req.set_session_id("mine");
  req.set_accepted_count(1);  // nothing was proposed yet
  ExpectInvalid(propose(req, &resp), "accepted_count");
  req.set_accepted_count(0);
  req.set_gamma(65);
  ExpectInvalid(propose(req, &resp), "gamma");
  req.set_gamma(3);
  req.set_next_token(kVocab);
  ExpectInvalid(propose(req, &resp), "next_token");
  req.clear_next_token();
  ASSERT_TRUE(propose(req, &resp).ok());
  EXPECT_EQ(resp.token_ids_size(), 3);
  EXPECT_EQ(resp.committed_length(), 1u);
  EXPECT_EQ(resp.distributions_size(), 0) << "not asked for";
  req.set_accepted_count(4);
  ExpectInvalid(propose(req, &resp), "accepted_count");
  req.set_accepted_count(2);
  req.set_next_token(5);
  ASSERT_TRUE(propose(req, &resp).ok());
  EXPECT_EQ(resp.committed_length(), 4u);  // prompt + 2 accepted + next
  req.set_session_id("unknown");
  EXPECT_EQ(propose(req, &resp).error_code(), grpc::StatusCode::NOT_FOUND);

  grpc::ClientContext close_ctx;
  tandem::v1::CloseSessionRequest close;
  close.set_session_id("mine");
  tandem::v1::CloseSessionResponse close_resp;
  ASSERT_TRUE(stub->CloseSession(&close_ctx, close, &close_resp).ok());
  EXPECT_TRUE(close_resp.found());
  grpc::ClientContext close_ctx2;
  ASSERT_TRUE(stub->CloseSession(&close_ctx2, close, &close_resp).ok());
  EXPECT_FALSE(close_resp.found());
}

TEST_F(FakeServicesTest, DraftShipsExactDistributions) {
  // Sampled sessions return one q per token; sparse when truncated.
  auto stub = DraftStub(draft_->address());
  for (int top_k : {0, 3}) {
    grpc::ClientContext ctx;
    tandem::v1::DraftOpenSessionRequest open;
    open.add_prompt_tokens(3);
    open.mutable_sampling()->set_temperature(1.0f);
    open.mutable_sampling()->set_top_k(top_k);
    open.mutable_sampling()->set_seed(5);
    open.set_return_distributions(true);
    tandem::v1::DraftOpenSessionResponse open_resp;
    ASSERT_TRUE(stub->OpenSession(&ctx, open, &open_resp).ok());
    grpc::ClientContext pctx;
    tandem::v1::ProposeRequest req;
    req.set_session_id(open_resp.session_id());
    req.set_gamma(4);
    tandem::v1::ProposeResponse resp;
    ASSERT_TRUE(stub->Propose(&pctx, req, &resp).ok());
    ASSERT_EQ(resp.distributions_size(), resp.token_ids_size());
    for (const auto& d : resp.distributions()) {
      if (top_k == 3) {
        ASSERT_TRUE(d.has_sparse());
        EXPECT_EQ(d.sparse().token_ids_size(), 3);
      } else {
        EXPECT_TRUE(d.has_dense());
      }
    }
  }
}

TEST_F(FakeServicesTest, CancelledScopeFailsFastAndSessionsClose) {
  auto scope = std::make_shared<orchestrator::CallScope>();
  auto verifier = remote_verifier_->WithScope(scope);
  auto drafter = remote_drafter_->WithScope(scope);
  runtime::SamplingParams greedy;
  greedy.temperature = 0.0f;
  auto vs = verifier->Open(std::vector<int32_t>{1, 2, 3}, greedy, {});
  ASSERT_TRUE(vs.ok()) << vs.status();
  auto ds = drafter->Open(std::vector<int32_t>{1, 2, 3}, greedy, {.return_distributions = false});
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_EQ(target_->service().active_sessions(), 1u);
  EXPECT_EQ(draft_->service().active_sessions(), 1u);
  scope->Cancel();
  decoding::VerifyResult result;
  EXPECT_EQ((*vs)->Verify({}, {}, &result).code(), absl::StatusCode::kCancelled);
  decoding::DraftProposal proposal;
  EXPECT_EQ((*ds)->Propose({}, 2, &proposal).code(), absl::StatusCode::kCancelled);
  vs->reset();  // destruction closes the sessions even after a cancel
  ds->reset();
  EXPECT_EQ(target_->service().active_sessions(), 0u);
  EXPECT_EQ(draft_->service().active_sessions(), 0u);
  EXPECT_FALSE(verifier->Open(std::vector<int32_t>{1}, greedy, {}).ok());
}

TEST(FakeServicesExpiryTest, IdleSessionsExpire) {
  FakeLm lm(kVocab, TargetLogits);
  LockedLm locked(lm);
  services::TargetServerOptions options;
  options.service.info = FakeInfo();
  options.service.sessions.idle_timeout = absl::Milliseconds(50);
  options.service.sessions.reap_interval = absl::Milliseconds(10);
  auto server = services::TargetServer::Start(locked, std::move(options));
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = TargetStub((*server)->address());
  std::string id;
  ASSERT_TRUE(OpenTarget(*stub, {1, 2, 3}, 0.0f, &id).ok());
  EXPECT_TRUE(WaitFor([&] { return (*server)->service().active_sessions() == 0; }));
  grpc::ClientContext ctx;
  tandem::v1::VerifyRequest req;
  req.set_session_id(id);
  req.set_greedy(true);
  tandem::v1::VerifyResponse resp;
  EXPECT_EQ(stub->Verify(&ctx, req, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
  const std::string metrics = (*server)->metrics().Serialize();
  EXPECT_NE(metrics.find("tandem:active_sessions 0"), std::string::npos) << metrics;
}

}  // namespace
}  // namespace tandem::dt_test
