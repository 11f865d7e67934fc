// Draft and Target services over the real SmolLM2-135M through real gRPC on
// loopback, driven by the orchestrator's strategies through the remote
// ports: greedy speculative decoding (draft service with the same model file,
// and with the n-gram drafter) is token-identical to target-only greedy in
// process for several prompts and gamma; four simultaneous sessions equal the
// sequential results; invalid requests, KV release on close, idle expiry,
// health and metrics.
#include <thread>

#include <grpcpp/grpcpp.h>

#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "decoding/batching/batched_model.h"
#include "services/draft/draft_server.h"
#include "services/model_host/model_host.h"
#include "decoding/drafters/ngram_drafter.h"
#include "decoding/local/model_drafter.h"
#include "decoding/local/model_verifier.h"
#include "decoding/local/runtime_language_model.h"
#include "services/orchestrator/remote/remote_vocabulary.h"
#include "services/target/target_server.h"
#include "tests/services/draft_target/dt_test_util.h"
#include "tests/services/draft_target/services_fixture.h"

namespace tandem::dt_test {
namespace {

constexpr const char* kModel = "smollm2-135m";

const std::vector<std::string> kPrompts = {
    "The capital of France is",
    "def add(a, b):\n    return",
    "List the planets of the solar system: Mercury, Venus,",
};

std::unique_ptr<batching::BatchedModel> LoadBatched() {
  runtime::ModelOptions options;
  options.n_threads = 2;
  options.kv_budget_bytes = 256u << 20;
  auto m = batching::BatchedModel::Load(RealModelPath(kModel), options);
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? std::move(*m) : nullptr;
}

class ModelServicesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    target_model_ = LoadBatched();
    draft_model_ = LoadBatched();
    ASSERT_NE(target_model_, nullptr);
    ASSERT_NE(draft_model_, nullptr);
    runtime::ModelOptions options;
    options.n_threads = 2;
    auto ref = runtime::Model::Load(RealModelPath(kModel), options);
    ASSERT_TRUE(ref.ok()) << ref.status();
    ref_model_ = std::move(*ref);
    ref_lm_ = std::make_unique<decoding::RuntimeLanguageModel>(*ref_model_);
    vocab_ = std::make_unique<decoding::TokenizerVocabulary>(ref_model_->tokenizer());
    const runtime::Tokenizer* tok = &ref_model_->tokenizer();
    is_eos_ = [tok](int32_t t) { return tok->IsEndOfGeneration(t); };

    services::TargetServerOptions target_options;
    target_options.service.info = services::ModelInfoOf(target_model_->model(), kModel, "target");
    target_options.service.is_end_of_generation = is_eos_;
    batching::BatchingLanguageModel* tlm = &target_model_->lm();
    auto target = services::TargetServer::Start(*tlm, std::move(target_options),
                                                [tlm] { return tlm->kv_bytes_in_use(); });
    ASSERT_TRUE(target.ok()) << target.status();
    target_ = std::move(*target);

    model_drafter_ = std::make_unique<decoding::ModelDrafter>(draft_model_->lm(), is_eos_);
    services::DraftServerOptions draft_options;
    draft_options.service.info = services::ModelInfoOf(draft_model_->model(), kModel, "draft");
    batching::BatchingLanguageModel* dlm = &draft_model_->lm();
    auto draft = services::DraftServer::Start(*model_drafter_, draft_options, [dlm] { return dlm->kv_bytes_in_use(); });
    ASSERT_TRUE(draft.ok()) << draft.status();
    draft_ = std::move(*draft);
    ngram_drafter_ = std::make_unique<decoding::NgramDrafter>(decoding::NgramDrafterOptions{
        .vocab_size = draft_options.service.info.vocab_size(), .is_end_of_generation = is_eos_});
    auto ngram = services::DraftServer::Start(*ngram_drafter_, draft_options);
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

  void TearDown() override {
    // Servers before the models they serve.
    ngram_.reset();
    draft_.reset();
    target_.reset();
  }

  decoding::GenerationRequest Request(const std::string& text, float temperature, int gamma) {
    decoding::GenerationRequest req;
    req.prompt = ref_model_->tokenizer().Encode(text, /*add_special=*/true, /*parse_special=*/false);
    req.sampling.temperature = temperature;
    req.sampling.top_k = temperature > 0 ? 20 : 0;
    req.sampling.seed = 77;
    req.max_tokens = 16;
    req.gamma.gamma = gamma;
    return req;
  }

  std::unique_ptr<batching::BatchedModel> target_model_, draft_model_;
  std::unique_ptr<runtime::Model> ref_model_;
  std::unique_ptr<decoding::RuntimeLanguageModel> ref_lm_;
  std::unique_ptr<decoding::TokenizerVocabulary> vocab_;
  std::function<bool(int32_t)> is_eos_;
  std::unique_ptr<decoding::ModelDrafter> model_drafter_;
  std::unique_ptr<decoding::NgramDrafter> ngram_drafter_;
  std::unique_ptr<services::TargetServer> target_;
  std::unique_ptr<services::DraftServer> draft_, ngram_;
  std::unique_ptr<orchestrator::RemoteVerifier> remote_verifier_;
  std::unique_ptr<orchestrator::RemoteDrafter> remote_drafter_, remote_ngram_;
};

TEST_F(ModelServicesTest, GreedyThroughServicesEqualsTargetOnlyInProcess) {
  decoding::ModelVerifier local(*ref_lm_);
  for (const std::string& prompt : kPrompts) {
    const auto reference = Generate(Request(prompt, 0.0f, 1), local, nullptr, *vocab_);
    ASSERT_GE(reference.tokens.size(), 8u) << prompt;
    for (int gamma : {2, 5}) {
      const auto with_model = Generate(Request(prompt, 0.0f, gamma), *remote_verifier_, remote_drafter_.get(), *vocab_);
      EXPECT_EQ(with_model.tokens, reference.tokens) << "model drafter, gamma " << gamma << ": " << prompt;
      // Same model on both sides: every greedy draft is accepted.
      EXPECT_EQ(with_model.stats.speculation.accepted_tokens, with_model.stats.speculation.drafted_tokens);
    }
    for (int gamma : {1, 4}) {
      const auto with_ngram = Generate(Request(prompt, 0.0f, gamma), *remote_verifier_, remote_ngram_.get(), *vocab_);
      EXPECT_EQ(with_ngram.tokens, reference.tokens) << "ngram drafter, gamma " << gamma << ": " << prompt;
    }
  }
  EXPECT_EQ(target_->service().active_sessions(), 0u);
  EXPECT_EQ(draft_->service().active_sessions(), 0u);
  EXPECT_EQ(target_model_->lm().kv_bytes_in_use(), 0) << "closed sessions must free their KV";
  EXPECT_EQ(draft_model_->lm().kv_bytes_in_use(), 0);
}

TEST_F(ModelServicesTest, SampledThroughServicesEqualsInProcess) {
  // Same seed, same code path: the remote run must draw exactly what the
  // in-process run draws (q crosses the wire exactly, p stays exact).
  decoding::ModelVerifier local_verifier(*ref_lm_);
  // Drafter and verifier share the reference adapter (it serialises Forward).
  decoding::ModelDrafter local_drafter(*ref_lm_, is_eos_);
  for (const std::string& prompt : {kPrompts[0], kPrompts[2]}) {
    const auto req = Request(prompt, 0.8f, 4);
    const auto local = Generate(req, local_verifier, &local_drafter, *vocab_);
    const auto remote = Generate(req, *remote_verifier_, remote_drafter_.get(), *vocab_);
    EXPECT_EQ(remote.tokens, local.tokens) << prompt;
    EXPECT_EQ(remote.stats.speculation.accepted_tokens, local.stats.speculation.accepted_tokens);
  }
}

TEST_F(ModelServicesTest, FourSimultaneousSessionsEqualSequential) {
  std::vector<std::string> prompts = kPrompts;
  prompts.push_back("Water boils at");
  std::vector<decoding::GenerationResult> sequential;
  for (const auto& p : prompts) {
    sequential.push_back(Generate(Request(p, 0.0f, 3), *remote_verifier_, remote_drafter_.get(), *vocab_));
  }
  const batching::BatchingStats before = target_model_->lm().stats();
  std::vector<decoding::GenerationResult> concurrent(prompts.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < prompts.size(); ++i) {
    threads.emplace_back([&, i] {
      concurrent[i] = Generate(Request(prompts[i], 0.0f, 3), *remote_verifier_, remote_drafter_.get(), *vocab_);
    });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(concurrent[i].tokens, sequential[i].tokens) << prompts[i];
  const batching::BatchingStats after = target_model_->lm().stats();
  std::printf("target during the concurrent run: %lld appends in %lld forward passes (largest batch %lld)\n",
              static_cast<long long>(after.appends - before.appends),
              static_cast<long long>(after.forward_passes - before.forward_passes),
              static_cast<long long>(after.max_items_per_pass));
}

TEST_F(ModelServicesTest, InvalidRequestsKvReleaseHealthAndMetrics) {
  auto stub = TargetStub(target_->address());
  const int32_t vocab = target_model_->model().config().vocab_size;
  {
    grpc::ClientContext ctx;
    tandem::v1::TargetOpenSessionRequest req;
    req.add_prompt_tokens(1);
    req.add_prompt_tokens(vocab);
    tandem::v1::TargetOpenSessionResponse resp;
    grpc::Status s = stub->OpenSession(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(s.error_message().find("prompt_tokens[1]"), std::string::npos) << s.error_message();
  }
  EXPECT_EQ(target_model_->lm().kv_bytes_in_use(), 0);
  // A session over one prompt token, without options; "" if it failed.
  auto OpenOneTokenSession = [&]() -> std::string {
    grpc::ClientContext ctx;
    tandem::v1::TargetOpenSessionRequest open;
    open.add_prompt_tokens(1);
    tandem::v1::TargetOpenSessionResponse opened;
    return stub->OpenSession(&ctx, open, &opened).ok() ? opened.session_id() : std::string();
  };
  std::string id;
  {
    grpc::ClientContext ctx;
    tandem::v1::TargetOpenSessionRequest req;
    for (int32_t t : ref_model_->tokenizer().Encode("Hello there, how are", true, false)) req.add_prompt_tokens(t);
    req.set_return_logprobs(true);
    req.set_top_logprobs(2);
    tandem::v1::TargetOpenSessionResponse resp;
    ASSERT_TRUE(stub->OpenSession(&ctx, req, &resp).ok());
    id = resp.session_id();
  }
  EXPECT_GT(target_model_->lm().kv_bytes_in_use(), 0);
  {
    grpc::ClientContext ctx;
    tandem::v1::StepRequest req;
    req.set_session_id(id);
    req.set_num_tokens(3);
    req.set_return_logprobs(true);
    tandem::v1::StepResponse resp;
    ASSERT_TRUE(stub->Step(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.token_ids_size(), 3);
    ASSERT_EQ(resp.logprobs_size(), 3);
    ASSERT_EQ(resp.top_logprobs_size(), 3);
    for (int i = 0; i < 3; ++i) {
      // The model's own distribution, not greedy's one-hot p: the greedy
      // token is the most likely one, with a logprob below 0.
      EXPECT_LT(resp.logprobs(i), 0.0f);
      ASSERT_EQ(resp.top_logprobs(i).token_ids_size(), 2);
      EXPECT_EQ(resp.top_logprobs(i).token_ids(0), resp.token_ids(i));
      EXPECT_EQ(resp.top_logprobs(i).logprobs(0), resp.logprobs(i));
      EXPECT_GE(resp.top_logprobs(i).logprobs(0), resp.top_logprobs(i).logprobs(1));
    }
  }
  {
    // A session opened without return_logprobs computes none.
    const std::string plain = OpenOneTokenSession();
    ASSERT_FALSE(plain.empty());
    grpc::ClientContext ctx;
    tandem::v1::StepRequest req;
    req.set_session_id(plain);
    req.set_return_logprobs(true);
    tandem::v1::StepResponse resp;
    grpc::Status s = stub->Step(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_NE(s.error_message().find("return_logprobs"), std::string::npos) << s.error_message();
    grpc::ClientContext close_ctx;
    tandem::v1::CloseSessionRequest close;
    close.set_session_id(plain);
    tandem::v1::CloseSessionResponse closed;
    ASSERT_TRUE(stub->CloseSession(&close_ctx, close, &closed).ok());
  }
  {
    grpc::ClientContext ctx;
    tandem::v1::VerifyRequest req;
    req.set_session_id(id);
    req.set_greedy(true);
    req.add_draft_tokens(-5);
    tandem::v1::VerifyResponse resp;
    grpc::Status s = stub->Verify(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(s.error_message().find("draft_tokens[0]"), std::string::npos) << s.error_message();
  }
  {
    grpc::ClientContext ctx;
    tandem::v1::VerifyRequest req;
    req.set_session_id(id);
    req.set_greedy(true);
    req.add_draft_tokens(42);
    tandem::v1::VerifyResponse resp;
    ASSERT_TRUE(stub->Verify(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.batch_size(), 1u);
    EXPECT_EQ(resp.active_sessions(), 1u);
  }
  {
    // A second open session that is idle is not in the pass, but it is load.
    const std::string idle = OpenOneTokenSession();
    ASSERT_FALSE(idle.empty());
    grpc::ClientContext ctx;
    tandem::v1::VerifyRequest req;
    req.set_session_id(id);
    req.set_greedy(true);
    tandem::v1::VerifyResponse resp;
    ASSERT_TRUE(stub->Verify(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.batch_size(), 1u);
    EXPECT_EQ(resp.active_sessions(), 2u);
    grpc::ClientContext close_ctx;
    tandem::v1::CloseSessionRequest close;
    close.set_session_id(idle);
    tandem::v1::CloseSessionResponse closed;
    ASSERT_TRUE(stub->CloseSession(&close_ctx, close, &closed).ok());
  }
  const std::string metrics = target_->metrics().Serialize();
  EXPECT_NE(metrics.find("tandem:target_verify_latency_seconds_count 2"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("tandem:active_sessions 1"), std::string::npos);
  EXPECT_NE(metrics.find("tandem:target_batch_size_count 3"), std::string::npos) << "one Step + two Verify";
  EXPECT_EQ(metrics.find("tandem:kv_cache_bytes 0\n"), std::string::npos) << "KV gauge should be non-zero";
  {
    grpc::ClientContext ctx;
    tandem::v1::CloseSessionRequest req;
    req.set_session_id(id);
    tandem::v1::CloseSessionResponse resp;
    ASSERT_TRUE(stub->CloseSession(&ctx, req, &resp).ok());
    EXPECT_TRUE(resp.found());
  }
  EXPECT_EQ(target_model_->lm().kv_bytes_in_use(), 0);
  EXPECT_NE(target_->metrics().Serialize().find("tandem:kv_cache_bytes 0\n"), std::string::npos);

  for (const std::string& address : {target_->address(), draft_->address()}) {
    auto health = grpc::health::v1::Health::NewStub(orchestrator::MakeServiceChannel(address));
    grpc::ClientContext ctx;
    grpc::health::v1::HealthCheckRequest req;
    grpc::health::v1::HealthCheckResponse resp;
    ASSERT_TRUE(health->Check(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING) << address;
  }
  tandem::v1::ModelInfo info = remote_verifier_->info();
  EXPECT_EQ(info.vocab_size(), vocab);
  EXPECT_EQ(info.role(), "target");
  orchestrator::RemoteVocabulary remote_vocab(info);
  EXPECT_TRUE(remote_vocab.IsEndOfGeneration(ref_model_->tokenizer().eos_id()));
}

TEST_F(ModelServicesTest, IdleSessionsExpireAndFreeKv) {
  // A second target service over the same batching model, with a short
  // idle timeout: long enough that the session surely outlives the check
  // right after its Open on a busy machine (100 ms did not, once, under
  // ctest -j2), short enough to wait for.
  services::TargetServerOptions options;
  options.service.info = services::ModelInfoOf(target_model_->model(), kModel, "target");
  options.service.sessions.idle_timeout = absl::Seconds(1);
  options.service.sessions.reap_interval = absl::Milliseconds(20);
  batching::BatchingLanguageModel* lm = &target_model_->lm();
  auto server = services::TargetServer::Start(*lm, std::move(options), [lm] { return lm->kv_bytes_in_use(); });
  ASSERT_TRUE(server.ok()) << server.status();
  orchestrator::RemoteOptions remote_options;
  auto verifier = orchestrator::RemoteVerifier::Connect((*server)->address(), remote_options);
  ASSERT_TRUE(verifier.ok());
  runtime::SamplingParams greedy;
  greedy.temperature = 0;
  auto session = (*verifier)->Open(ref_model_->tokenizer().Encode("An idle session", true, false), greedy, {});
  ASSERT_TRUE(session.ok()) << session.status();
  EXPECT_GT(lm->kv_bytes_in_use(), 0);
  // The reaper takes the session out of the table first and frees its KV
  // right after, outside the table's lock: wait for both.
  EXPECT_TRUE(WaitFor([&] { return (*server)->service().active_sessions() == 0; }));
  EXPECT_TRUE(WaitFor([&] { return lm->kv_bytes_in_use() == 0; })) << lm->kv_bytes_in_use();
  decoding::VerifyResult result;
  EXPECT_EQ((*session)->Verify({}, {}, &result).code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace tandem::dt_test
