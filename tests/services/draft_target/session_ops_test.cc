// Append / Truncate / Fork and DraftDelta.append through the real pieces:
// the batching model on the tiny synthetic GGUF (Fork shares KV pages
// copy-on-write and the forks compute exactly what fresh sessions compute),
// and the Target / Draft services over gRPC on loopback (the remote ports give
// the same answers as the in-process ports on the same synthetic model, and
// the new request fields are validated).
#include <cmath>
#include <memory>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "decoding/batching/batching_language_model.h"
#include "services/draft/draft_server.h"
#include "decoding/local/model_drafter.h"
#include "decoding/local/model_verifier.h"
#include "decoding/strategies/cards/cards.h"
#include "decoding/strategies/reward_guided/target_likelihood.h"
#include "decoding/strategies/rsd/rsd.h"
#include "services/target/target_server.h"
#include "tests/decoding/fake_lm.h"
#include "tests/decoding/session_steps.h"
#include "tests/services/draft_target/dt_test_util.h"
#include "tests/services/draft_target/services_fixture.h"

namespace tandem::dt_test {
namespace {

// The tiny model lives in this process's scratch folder; remove it at exit.
[[maybe_unused]] ::testing::Environment* const kScratchCleanup =
    ::testing::AddGlobalTestEnvironment(new test_scratch::ScratchCleanup);

using decoding::NextTokenInfo;
using decoding::VerifyResult;
using decoding::VerifySession;
using decoding::testing::Continue;
using decoding::testing::FakeLm;
using decoding::testing::Greedy;
using decoding::testing::Open;
using V = std::vector<int32_t>;

V Concat(V a, const V& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

V Tokens(int n, int seed, int vocab) {
  V t(n);
  for (int i = 0; i < n; ++i) t[i] = (seed * 131 + i * 17 + i * i) % vocab;
  return t;
}

// ----------------------------------------------- batching model (tiny GGUF) --

TEST(BatchingSessionOps, ForkSharesPagesAndDivergesLikeFreshSessions) {
  static const std::string path = MakeTinyModel();
  runtime::ModelOptions options;
  options.n_threads = 2;
  auto model = runtime::Model::Load(path, options);
  ASSERT_TRUE(model.ok()) << model.status();
  batching::BatchingLanguageModel lm(**model);
  decoding::ModelVerifier verifier(lm);
  const int vocab = lm.vocab_size();
  const V prompt = Tokens(150, 3, vocab);  // more than two 64-token pages

  auto parent = Open(verifier, prompt);
  ASSERT_NE(parent, nullptr);
  NextTokenInfo info;
  ASSERT_TRUE(parent->Append(Tokens(5, 4, vocab), 3, &info).ok());
  const int64_t before = lm.kv_bytes_in_use();
  auto child = parent->Fork(7);
  ASSERT_TRUE(child.ok()) << child.status();
  EXPECT_EQ(lm.kv_bytes_in_use(), before);  // copy-on-write: no page copied yet

  const V base = Concat(prompt, Tokens(5, 4, vocab));
  const V a = {1, 2, 3}, b = {9};
  ASSERT_TRUE(parent->Append(a, 0, nullptr).ok());
  ASSERT_TRUE((*child)->Append(b, 2, &info).ok());
  auto fresh_a = Open(verifier, Concat(base, a));
  auto fresh_b = Open(verifier, Concat(base, b));
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(Continue(*parent, 1), Continue(*fresh_a, 1)) << "step " << i;
    EXPECT_EQ(Continue(**child, 1), Continue(*fresh_b, 1)) << "step " << i;
  }
  // The forks share the full pages of the prompt: far less than two copies.
  const int64_t three_separate = lm.kv_bytes_in_use();
  child->reset();
  fresh_a.reset();
  fresh_b.reset();
  EXPECT_LT(lm.kv_bytes_in_use(), three_separate);

  // Truncate into the prompt, then continue like a fresh session.
  ASSERT_TRUE(parent->Truncate(100).ok());
  auto fresh = Open(verifier, V(prompt.begin(), prompt.begin() + 100));
  EXPECT_EQ(Continue(*parent, 6), Continue(*fresh, 6));
}

// ------------------------------------------------ services over gRPC (fake) --

constexpr int32_t kVocab = 12;

tandem::v1::ModelInfo FakeInfo() {
  tandem::v1::ModelInfo info;
  info.set_name("fake");
  info.set_arch("synthetic");
  info.set_vocab_size(kVocab);
  info.set_context_length(256);
  info.set_eos_token_id(0);
  return info;
}

class SessionOpsServicesTest : public ::testing::Test {
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
    auto rv = orchestrator::RemoteVerifier::Connect(target_->address());
    ASSERT_TRUE(rv.ok()) << rv.status();
    remote_verifier_ = std::move(*rv);
    auto rd = orchestrator::RemoteDrafter::Connect(draft_->address());
    ASSERT_TRUE(rd.ok()) << rd.status();
    remote_drafter_ = std::move(*rd);
  }


  // A draft whose next token depends on the length and the last two tokens
  // (DraftLogits looks at the last token only, which would hide a draft
  // session holding the wrong history).
  static void Draft(std::span<const int32_t> ctx, std::span<float> out) {
    decoding::testing::TargetLogits(ctx, out);
    for (size_t v = 0; v < out.size(); ++v) out[v] += 1.3f * std::cos(2.1f * v + 0.7f * ctx.size());
  }
  // The target with its end-of-generation damped, so RSD runs last several steps.
  static void Target(std::span<const int32_t> ctx, std::span<float> out) {
    decoding::testing::TargetLogits(ctx, out);
    out[0] -= 2.0f;
  }
  FakeLm draft_lm_{kVocab, Draft};
  FakeLm target_lm_{kVocab, Target};
  FakeLm target_ref_{kVocab, Target};
  FakeLm draft_ref_{kVocab, Draft};
  LockedLm locked_target_{target_lm_};
  LockedLm locked_draft_{draft_lm_};
  decoding::ModelDrafter model_drafter_{locked_draft_};
  std::unique_ptr<services::TargetServer> target_;
  std::unique_ptr<services::DraftServer> draft_;
  std::unique_ptr<orchestrator::RemoteVerifier> remote_verifier_;
  std::unique_ptr<orchestrator::RemoteDrafter> remote_drafter_;
};

// The same script of Append / Verify / Truncate / Fork on a remote and a
// local session: every answer must agree.
TEST_F(SessionOpsServicesTest, RemoteSessionOpsEqualInProcess) {
  decoding::ModelVerifier local_verifier(target_ref_);
  const V prompt = {5, 7, 2, 9};
  auto remote = Open(*remote_verifier_, prompt);
  auto local = Open(local_verifier, prompt);
  ASSERT_NE(remote, nullptr);

  NextTokenInfo ri, li;
  ASSERT_TRUE(remote->Append(V{3, 3, 8}, 5, &ri).ok());
  ASSERT_TRUE(local->Append(V{3, 3, 8}, 5, &li).ok());
  EXPECT_FLOAT_EQ(ri.entropy, li.entropy);
  EXPECT_EQ(ri.top_tokens, li.top_tokens);
  EXPECT_EQ(ri.top_logits, li.top_logits);
  EXPECT_EQ(remote->committed_length(), 7);
  EXPECT_EQ(Continue(*remote, 4), Continue(*local, 4));

  ASSERT_TRUE(remote->Append(V{1}, 0, nullptr).ok());
  ASSERT_TRUE(local->Append(V{1}, 0, nullptr).ok());
  VerifyResult rr, lr;
  ASSERT_TRUE(remote->Verify(V{4, 4, 4}, {}, &rr).ok());
  ASSERT_TRUE(local->Verify(V{4, 4, 4}, {}, &lr).ok());
  EXPECT_EQ(rr.accepted, lr.accepted);
  EXPECT_EQ(rr.next_token, lr.next_token);
  EXPECT_EQ(rr.committed_length, lr.committed_length);

  ASSERT_TRUE(remote->Truncate(6).ok());
  ASSERT_TRUE(local->Truncate(6).ok());
  EXPECT_EQ(remote->committed_length(), 6);
  EXPECT_EQ(Continue(*remote, 5), Continue(*local, 5));

  auto rf = remote->Fork(42);
  auto lf = local->Fork(42);
  ASSERT_TRUE(rf.ok()) << rf.status();
  ASSERT_TRUE(lf.ok());
  EXPECT_EQ((*rf)->committed_length(), remote->committed_length());
  ASSERT_TRUE((*rf)->Append(V{6}, 0, nullptr).ok());
  ASSERT_TRUE((*lf)->Append(V{6}, 0, nullptr).ok());
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(Continue(**rf, 1), Continue(**lf, 1));
    EXPECT_EQ(Continue(*remote, 1), Continue(*local, 1));
  }
  EXPECT_EQ(target_->service().active_sessions(), 2u);
  ASSERT_TRUE((*rf)->Close().ok());
  EXPECT_EQ(target_->service().active_sessions(), 1u);
}

TEST_F(SessionOpsServicesTest, TargetValidatesTheNewCalls) {
  auto stub = TargetStub(target_->address());
  tandem::v1::TargetOpenSessionRequest open;
  open.set_session_id("s1");
  for (int32_t t : {1, 2, 3}) open.add_prompt_tokens(t);
  open.mutable_sampling()->set_temperature(0);
  tandem::v1::TargetOpenSessionResponse opened;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub->OpenSession(&ctx, open, &opened).ok());
  }
  auto append = [&](const V& tokens, uint32_t top_k, const std::string& id = "s1", bool log_probs = false,
                    uint32_t top_logprobs = 0) {
    tandem::v1::AppendRequest req;
    req.set_session_id(id);
    req.mutable_tokens()->Add(tokens.begin(), tokens.end());
    req.set_top_k(top_k);
    req.set_return_log_probs(log_probs);
    req.set_top_logprobs(top_logprobs);
    tandem::v1::AppendResponse resp;
    grpc::ClientContext ctx;
    return stub->Append(&ctx, req, &resp);
  };
  EXPECT_EQ(append({kVocab}, 0).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(append({kVocab}, 0).error_message(), ::testing::HasSubstr("tokens"));
  EXPECT_EQ(append({1}, kVocab + 1).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(append({1}, kVocab + 1).error_message(), ::testing::HasSubstr("top_k"));
  EXPECT_EQ(append({1}, 1, "nope").error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(append(V(300, 1), 0).error_code(), grpc::StatusCode::INVALID_ARGUMENT);  // > context_length
  // Alternatives only with log-probabilities, at most 20.
  EXPECT_THAT(append({1}, 0, "s1", false, 2).error_message(), ::testing::HasSubstr("needs return_log_probs"));
  EXPECT_EQ(append({1}, 0, "s1", true, 21).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(append({1}, 0, "s1", true, 21).error_message(), ::testing::HasSubstr("top_logprobs"));

  auto truncate = [&](uint64_t length) {
    tandem::v1::TruncateRequest req;
    req.set_session_id("s1");
    req.set_length(length);
    tandem::v1::TruncateResponse resp;
    grpc::ClientContext ctx;
    return stub->Truncate(&ctx, req, &resp);
  };
  EXPECT_EQ(truncate(0).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(truncate(4).error_message(), ::testing::HasSubstr("length"));
  EXPECT_TRUE(truncate(2).ok());

  auto fork = [&](const std::string& new_id) {
    tandem::v1::ForkRequest req;
    req.set_session_id("s1");
    req.set_new_session_id(new_id);
    tandem::v1::ForkResponse resp;
    grpc::ClientContext ctx;
    grpc::Status st = stub->Fork(&ctx, req, &resp);
    if (st.ok()) {
      EXPECT_EQ(resp.committed_length(), 2u);
    }
    return st;
  };
  EXPECT_TRUE(fork("s2").ok());
  EXPECT_EQ(fork("s2").error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(fork("bad\nid").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(target_->service().active_sessions(), 2u);
}

// RAPID's knowledge transfer arrives with OpenSession: out-of-range or NaN
// eta / alpha_m are INVALID_ARGUMENT naming the field, and open no session.
TEST_F(SessionOpsServicesTest, TargetRejectsBadKnowledgeTransfer) {
  auto stub = TargetStub(target_->address());
  auto open = [&](float eta, float alpha_m) {
    tandem::v1::TargetOpenSessionRequest req;
    for (int32_t t : {1, 2, 3}) req.add_prompt_tokens(t);
    req.mutable_sampling()->set_temperature(0.8f);
    req.mutable_knowledge_transfer()->set_eta(eta);
    req.mutable_knowledge_transfer()->set_alpha_m(alpha_m);
    tandem::v1::TargetOpenSessionResponse resp;
    grpc::ClientContext ctx;
    return stub->OpenSession(&ctx, req, &resp);
  };
  const struct {
    float eta, alpha_m;
    const char* field;
  } bad[] = {{-1.0f, 0.1f, "knowledge_transfer.eta"},
             {101.0f, 0.1f, "knowledge_transfer.eta"},
             {std::nanf(""), 0.1f, "knowledge_transfer.eta"},
             {5.0f, 1.5f, "knowledge_transfer.alpha_m"},
             {5.0f, -0.1f, "knowledge_transfer.alpha_m"}};
  for (const auto& b : bad) {
    grpc::Status st = open(b.eta, b.alpha_m);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << b.eta << " " << b.alpha_m;
    EXPECT_THAT(st.error_message(), ::testing::HasSubstr(b.field));
  }
  EXPECT_EQ(target_->service().active_sessions(), 0u);
  EXPECT_TRUE(open(5.0f, 0.1f).ok());
  EXPECT_EQ(target_->service().active_sessions(), 1u);
}

TEST_F(SessionOpsServicesTest, DraftServiceAppliesAppendedTokens) {
  decoding::ModelDrafter local(draft_ref_);
  decoding::DraftOptions options;
  options.return_distributions = false;
  const V prompt = {4, 4, 1};
  auto remote = remote_drafter_->Open(prompt, Greedy(), options);
  auto ref = local.Open(prompt, Greedy(), options);
  ASSERT_TRUE(remote.ok()) << remote.status();
  ASSERT_TRUE(ref.ok());
  decoding::DraftProposal rp, lp;
  ASSERT_TRUE((*remote)->Propose({}, 3, &rp).ok());
  ASSERT_TRUE((*ref)->Propose({}, 3, &lp).ok());
  EXPECT_EQ(rp.tokens, lp.tokens);
  decoding::DraftDelta delta;
  delta.accepted = 1;
  delta.next_token = 2;
  delta.append = {7, 7, 3};
  ASSERT_TRUE((*remote)->Propose(delta, 4, &rp).ok());
  ASSERT_TRUE((*ref)->Propose(delta, 4, &lp).ok());
  EXPECT_EQ(rp.tokens, lp.tokens);
  EXPECT_EQ((*remote)->committed_length(), 3 + 1 + 1 + 3);
  delta.accepted = 0;
  delta.append = {kVocab};
  absl::Status bad = (*remote)->Propose(delta, 1, &rp);
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.message()), ::testing::HasSubstr("append_tokens"));
}

// RSD through the services: the draft rolls rejected steps back with
// truncate_to and takes the target's via append_tokens, the target gets kept
// steps with Append. Same tokens, steps and rewards as in process.
class AlternatingPrm : public decoding::RewardScorer {
 public:
  absl::StatusOr<std::vector<float>> Score(const decoding::RewardSpec&,
                                           std::span<const decoding::RewardItem>) override {
    return absl::UnimplementedError("ScoreSteps only");
  }
  absl::StatusOr<std::vector<float>> ScoreSteps(const decoding::RewardSpec&, std::string_view,
                                                std::span<const std::string> steps) override {
    std::vector<float> out(steps.size(), 0.0f);
    out.back() = (calls++ % 3 == 1) ? 0.25f : 0.75f;  // every third step is rejected
    return out;
  }
  std::vector<std::string> Backends() const override { return {"alternating"}; }
  int calls = 0;
};

TEST_F(SessionOpsServicesTest, RsdThroughServicesEqualsInProcess) {
  decoding::ModelVerifier local_verifier(target_ref_);
  decoding::ModelDrafter local_drafter(draft_ref_);
  decoding::testing::FakeVocabulary vocab(kVocab);
  decoding::RsdOptions o;
  o.delimiter = "d";       // token 3
  o.step_max_tokens = 4;  // and steps of at most 4 tokens, so that there are many
  o.draft_chunk = 3;
  int64_t target_steps = 0, kept_steps = 0;
  for (const V& prompt : {V{5, 7, 2, 9}, V{1, 2, 3}, V{11, 4, 4, 8, 6}, V{3}}) {
    decoding::GenerationRequest req;
    req.prompt = prompt;
    req.prompt_text = "q";
    req.sampling.temperature = 0;
    req.max_tokens = 40;
    AlternatingPrm remote_prm, local_prm;
    decoding::GenerationResult remote, local;
    ASSERT_TRUE(decoding::RunRsd(req, o, *remote_drafter_, *remote_verifier_, remote_prm, vocab, nullptr,
                                     &remote)
                    .ok());
    ASSERT_TRUE(decoding::RunRsd(req, o, local_drafter, local_verifier, local_prm, vocab, nullptr, &local).ok());
    EXPECT_EQ(remote.tokens, local.tokens) << Str(prompt);
    EXPECT_EQ(remote.finish_reason, local.finish_reason);
    EXPECT_EQ(remote.stats.rsd.steps_target, local.stats.rsd.steps_target);
    EXPECT_EQ(remote.stats.rsd.step_rewards, local.stats.rsd.step_rewards);
    target_steps += remote.stats.rsd.steps_target;
    kept_steps += remote.stats.rsd.steps_accepted;
  }
  EXPECT_GT(target_steps, 1);
  EXPECT_GT(kept_steps, 1);
  // Every session was closed.
  EXPECT_EQ(target_->service().active_sessions(), 0u);
}

// The target-likelihood PRM across services: AppendScored answers the same
// log-probabilities over gRPC as in process, and RSD (prm=target_likelihood)
// and CARDS (reward=target_likelihood) run on the remote target alone, no
// reward scorer anywhere, with the same tokens and rewards as in process.
TEST_F(SessionOpsServicesTest, TargetLikelihoodThroughServicesEqualsInProcess) {
  decoding::ModelVerifier local_verifier(target_ref_);
  const V prompt = {5, 7, 2, 9};
  auto remote = Open(*remote_verifier_, prompt);
  auto local = Open(local_verifier, prompt);
  ASSERT_NE(remote, nullptr);
  std::vector<float> rl, ll;
  ASSERT_TRUE(remote->AppendScored(V{3, 3, 8}, &rl).ok());
  ASSERT_TRUE(local->AppendScored(V{3, 3, 8}, &ll).ok());
  EXPECT_EQ(rl, ll);
  ASSERT_EQ(rl.size(), 3u);
  EXPECT_EQ(remote->committed_length(), 7);
  // With alternatives, over the wire as in process.
  std::vector<std::vector<runtime::TokenLogprob>> rt, lt;
  ASSERT_TRUE(remote->AppendScoredWithAlternatives(V{1, 4}, 2, &rl, &rt).ok());
  ASSERT_TRUE(local->AppendScoredWithAlternatives(V{1, 4}, 2, &ll, &lt).ok());
  EXPECT_EQ(rl, ll);
  EXPECT_EQ(rt, lt);
  ASSERT_EQ(rt.size(), 2u);
  EXPECT_EQ(rt[0].size(), 2u);
  EXPECT_EQ(remote->committed_length(), 9);
  EXPECT_EQ(Continue(*remote, 4), Continue(*local, 4));
  ASSERT_TRUE(remote->Close().ok());

  decoding::ModelDrafter local_drafter(draft_ref_);
  decoding::testing::FakeVocabulary vocab(kVocab);
  decoding::RsdOptions o;
  o.prm.backend = decoding::kTargetLikelihoodBackend;
  o.delta = 0.12;
  o.delimiter = "d";
  o.step_max_tokens = 4;
  o.draft_chunk = 3;
  int64_t target_steps = 0, kept_steps = 0;
  for (const V& p : {V{5, 7, 2, 9}, V{1, 2, 3}, V{11, 4, 4, 8, 6}, V{3}}) {
    decoding::GenerationRequest req;
    req.prompt = p;
    req.prompt_text = "q";
    req.sampling.temperature = 0;
    req.max_tokens = 40;
    decoding::GenerationResult r, l;
    absl::Status s = decoding::RunRsd(req, o, *remote_drafter_, *remote_verifier_, nullptr, vocab, nullptr, &r);
    ASSERT_TRUE(s.ok()) << s;
    ASSERT_TRUE(decoding::RunRsd(req, o, local_drafter, local_verifier, nullptr, vocab, nullptr, &l).ok());
    EXPECT_EQ(r.tokens, l.tokens) << Str(p);
    EXPECT_EQ(r.stats.rsd.step_rewards, l.stats.rsd.step_rewards);
    EXPECT_FALSE(r.stats.rsd.step_rewards.empty());
    target_steps += r.stats.rsd.steps_target;
    kept_steps += r.stats.rsd.steps_accepted;

    decoding::CardsOptions c;
    c.reward.backend = decoding::kTargetLikelihoodBackend;
    c.r_star = 0.2;
    c.hard = true;
    c.min_segment = c.max_segment = 3;
    c.max_rejections = 2;
    req.sampling.seed = 5;
    req.max_tokens = 12;
    decoding::GenerationResult cr, cl;
    s = decoding::RunCards(req, c, *remote_verifier_, nullptr, vocab, nullptr, &cr);
    ASSERT_TRUE(s.ok()) << s;
    ASSERT_TRUE(decoding::RunCards(req, c, local_verifier, nullptr, vocab, nullptr, &cl).ok());
    EXPECT_EQ(cr.tokens, cl.tokens) << Str(p);
    EXPECT_EQ(cr.stats.reward.final_reward, cl.stats.reward.final_reward);
    EXPECT_EQ(cr.stats.cards.segments_rejected, cl.stats.cards.segments_rejected);
  }
  EXPECT_GT(target_steps, 0);
  EXPECT_GT(kept_steps, 0);
  EXPECT_EQ(target_->service().active_sessions(), 0u);

  // The wire contract: log-probabilities and next-token info are not asked together.
  auto stub = TargetStub(target_->address());
  tandem::v1::TargetOpenSessionRequest open;
  open.set_session_id("tl");
  for (int32_t t : {1, 2, 3}) open.add_prompt_tokens(t);
  tandem::v1::TargetOpenSessionResponse opened;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub->OpenSession(&ctx, open, &opened).ok());
  }
  tandem::v1::AppendRequest req;
  req.set_session_id("tl");
  req.add_tokens(4);
  req.set_return_log_probs(true);
  req.set_top_k(2);
  tandem::v1::AppendResponse resp;
  grpc::ClientContext ctx;
  const grpc::Status both = stub->Append(&ctx, req, &resp);
  EXPECT_EQ(both.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(both.error_message(), ::testing::HasSubstr("return_log_probs"));
}

}  // namespace
}  // namespace tandem::dt_test
