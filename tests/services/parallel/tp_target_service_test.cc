// The tensor-parallel target as `tandem serve` runs each rank
// (ServeTensorParallelRank), with the ranks on threads of this process over
// LocalCommunicator instead of NCCL processes, against the unsharded target
// (TargetServer over the same GGUF) through real gRPC on loopback: model
// info, greedy Step tokens, Verify of a draft with a wrong token, rollback
// (Truncate) and Append's top tokens give the same answers; Close and
// shutdown stop every rank; a failing rank fails the request UNAVAILABLE and
// stops the group instead of hanging; and a build without NCCL (or a rank on
// the CPU backend) refuses world_size > 1 with FAILED_PRECONDITION.
#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "decoding/batching/batched_model.h"
#include "runtime/backend/backend_factory.h"
#include "runtime/gguf/gguf_file.h"
#include "runtime/parallel/local_communicator.h"
#include "runtime/parallel/tp_engine.h"
#include "services/common/health_client.h"
#include "services/model_host/model_host.h"
#include "services/target/target_server.h"
#include "services/target/tp_target.h"
#include "tandem/v1/target.grpc.pb.h"
#include "tests/common/loopback.h"
#include "tests/common/scratch.h"
#include "tests/common/test_paths.h"
#include "tests/parallel/faulty_communicator.h"

namespace tandem::services {
namespace {

[[maybe_unused]] ::testing::Environment* const kScratchCleanup =
    ::testing::AddGlobalTestEnvironment(new test_scratch::ScratchCleanup);

namespace v1 = tandem::v1;

// tests/parallel/tp_model_test.cc's bound, relative to the row's largest logit.
constexpr double kShardedRelTol = 2e-3;

const std::string& ModelPath() {
  static const std::string path = [] {
    const std::string p = test_scratch::ScratchDir() + "/tp_target_llama.gguf";
    const std::string cmd = test_paths::PythonPath() + " " + std::string(TANDEM_SOURCE_DIR) +
                            "/tests/parallel/make_tp_model.py --arch llama --out " + p;
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    return p;
  }();
  return path;
}

const std::vector<int32_t> kPrompt = {17, 200, 3, 99, 260, 45, 45, 128, 7, 255, 64};

ServiceConfig TargetConfig(int world) {
  ServiceConfig s;
  s.name = "target";
  s.role = ServiceRole::kTarget;
  s.model_path = ModelPath();
  s.host = "127.0.0.1";
  s.grpc_port = test_loopback::FreePort();
  s.threads = 1;
  s.kv_budget_mb = 16;
  s.tensor_parallel = TensorParallelConfig{.world_size = world, .rank = 0, .rendezvous = "127.0.0.1:1"};
  return s;
}

// The ranks of one sharded target on threads, serving until Stop.
class ShardedTarget {
 public:
  ShardedTarget(int world, int faulty_rank = -1, int fail_at = 0) : config_(TargetConfig(world)) {
    deployment_.name = "test";
    auto signal = ShutdownSignal::Install();
    EXPECT_TRUE(signal.ok()) << signal.status();
    signal_ = std::move(*signal);
    auto group = runtime::parallel::LocalGroup::Create(world);
    EXPECT_TRUE(group.ok());
    ranks_.resize(world);
    status_.resize(world);
    for (int r = 0; r < world; ++r) {
      auto comm = (*group)->Rank(r);
      EXPECT_TRUE(comm.ok());
      std::unique_ptr<runtime::parallel::Communicator> c = std::move(*comm);
      if (r == faulty_rank) c = std::make_unique<runtime::parallel::FaultyCommunicator>(std::move(c), fail_at);
      ranks_[r].backend = runtime::MakeCpuBackend(1);
      ranks_[r].comm = std::move(c);
      ranks_[r].channel = runtime::parallel::MakeDirectHostChannel(*ranks_[r].comm);
    }
    for (int r = 0; r < world; ++r) {
      // One ShutdownSignal per process: rank 0's; the followers stop when
      // rank 0 stops them.
      ShutdownSignal* signal = r == 0 ? signal_.get() : nullptr;
      threads_.emplace_back(
          [this, r, signal] { status_[r] = ServeTensorParallelRank(config_, deployment_, ranks_[r], signal); });
    }
    absl::Status up = WaitUntilServing(address(), v1::Target::service_full_name(), absl::Seconds(120));
    EXPECT_TRUE(up.ok()) << up;
  }
  ~ShardedTarget() { Stop(); }
  // Shuts rank 0 down (as SIGTERM would) and waits for every rank.
  void Stop() {
    if (signal_) signal_->Trigger();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }
  // Waits for the ranks without a signal (they stop by themselves).
  void Join() {
    for (auto& t : threads_) t.join();
    threads_.clear();
  }
  std::string address() const { return config_.grpc_address(); }
  const absl::Status& status(int r) const { return status_[r]; }

 private:
  ServiceConfig config_;
  DeploymentConfig deployment_;
  std::unique_ptr<ShutdownSignal> signal_;
  std::vector<TpRankResources> ranks_;
  std::vector<absl::Status> status_;
  std::vector<std::thread> threads_;
};

// The unsharded target on the same file, as `tandem serve --role target`
// loads it.
class UnshardedTarget {
 public:
  UnshardedTarget() {
    runtime::ModelOptions options;
    options.n_threads = 1;
    auto m = batching::BatchedModel::Load(ModelPath(), options);
    EXPECT_TRUE(m.ok()) << m.status();
    model_ = std::move(*m);
    TargetServerOptions o;
    o.service.info = ModelInfoOf(model_->model(), "target", "target");
    const auto* tok = &model_->model().tokenizer();
    o.service.is_end_of_generation = [tok](int32_t t) { return tok->IsEndOfGeneration(t); };
    auto server = TargetServer::Start(model_->lm(), std::move(o));
    EXPECT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }
  std::string address() const { return server_->address(); }

 private:
  std::unique_ptr<batching::BatchedModel> model_;
  std::unique_ptr<TargetServer> server_;
};

std::unique_ptr<v1::Target::Stub> Connect(const std::string& address) {
  return v1::Target::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
}

std::string Open(v1::Target::Stub& stub, const std::vector<int32_t>& prompt) {
  grpc::ClientContext ctx;
  v1::TargetOpenSessionRequest req;
  req.mutable_prompt_tokens()->Add(prompt.begin(), prompt.end());
  req.mutable_sampling()->set_temperature(0.0f);
  v1::TargetOpenSessionResponse resp;
  grpc::Status s = stub.OpenSession(&ctx, req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return resp.session_id();
}

grpc::Status Step(v1::Target::Stub& stub, const std::string& id, int n, std::vector<int32_t>* tokens) {
  grpc::ClientContext ctx;
  v1::StepRequest req;
  req.set_session_id(id);
  req.set_num_tokens(static_cast<uint32_t>(n));
  req.set_ignore_eos(true);
  v1::StepResponse resp;
  grpc::Status s = stub.Step(&ctx, req, &resp);
  tokens->assign(resp.token_ids().begin(), resp.token_ids().end());
  return s;
}

v1::VerifyResponse Verify(v1::Target::Stub& stub, const std::string& id, const std::vector<int32_t>& draft) {
  grpc::ClientContext ctx;
  v1::VerifyRequest req;
  req.set_session_id(id);
  req.set_greedy(true);
  req.mutable_draft_tokens()->Add(draft.begin(), draft.end());
  v1::VerifyResponse resp;
  grpc::Status s = stub.Verify(&ctx, req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return resp;
}

uint64_t Truncate(v1::Target::Stub& stub, const std::string& id, uint64_t length) {
  grpc::ClientContext ctx;
  v1::TruncateRequest req;
  req.set_session_id(id);
  req.set_length(length);
  v1::TruncateResponse resp;
  grpc::Status s = stub.Truncate(&ctx, req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return resp.committed_length();
}

v1::AppendResponse AppendTop(v1::Target::Stub& stub, const std::string& id, const std::vector<int32_t>& tokens) {
  grpc::ClientContext ctx;
  v1::AppendRequest req;
  req.set_session_id(id);
  req.mutable_tokens()->Add(tokens.begin(), tokens.end());
  req.set_top_k(5);
  v1::AppendResponse resp;
  grpc::Status s = stub.Append(&ctx, req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return resp;
}

bool Close(v1::Target::Stub& stub, const std::string& id) {
  grpc::ClientContext ctx;
  v1::CloseSessionRequest req;
  req.set_session_id(id);
  v1::CloseSessionResponse resp;
  EXPECT_TRUE(stub.CloseSession(&ctx, req, &resp).ok());
  return resp.found();
}

class TpTargetServiceTest : public ::testing::TestWithParam<int> {};

TEST_P(TpTargetServiceTest, AnswersAsTheUnshardedTarget) {
  const int world = GetParam();
  UnshardedTarget ref;
  ShardedTarget tp(world);
  auto a = Connect(ref.address());
  auto b = Connect(tp.address());

  {
    grpc::ClientContext ca, cb;
    v1::ModelInfo ia, ib;
    ASSERT_TRUE(a->GetModelInfo(&ca, v1::GetModelInfoRequest(), &ia).ok());
    ASSERT_TRUE(b->GetModelInfo(&cb, v1::GetModelInfoRequest(), &ib).ok());
    EXPECT_EQ(ib.vocab_size(), ia.vocab_size());
    EXPECT_EQ(ib.context_length(), ia.context_length());
    EXPECT_EQ(ib.eos_token_id(), ia.eos_token_id());
    EXPECT_EQ(ib.parameters(), ia.parameters());
    EXPECT_EQ(ib.arch(), ia.arch());
  }

  // Greedy decoding.
  const std::string sa = Open(*a, kPrompt), sb = Open(*b, kPrompt);
  std::vector<int32_t> ta, tb;
  ASSERT_TRUE(Step(*a, sa, 12, &ta).ok());
  ASSERT_TRUE(Step(*b, sb, 12, &tb).ok());
  ASSERT_EQ(ta.size(), 12u);
  EXPECT_EQ(tb, ta) << "world " << world;
  const std::vector<int32_t> first = ta;

  // Verify a draft: the unsharded target's next tokens with the third one
  // wrong, so two are accepted and the third is replaced.
  std::vector<int32_t> next;
  {
    const std::string probe = Open(*a, kPrompt);
    std::vector<int32_t> all;
    ASSERT_TRUE(Step(*a, probe, 16, &all).ok());
    next.assign(all.begin() + 12, all.begin() + 16);
    EXPECT_TRUE(Close(*a, probe));
  }
  std::vector<int32_t> draft = next;
  draft[2] = (draft[2] + 1) % 261;
  const v1::VerifyResponse va = Verify(*a, sa, draft), vb = Verify(*b, sb, draft);
  EXPECT_EQ(va.accepted_count(), 2u);
  EXPECT_EQ(vb.accepted_count(), va.accepted_count());
  EXPECT_EQ(vb.next_token(), va.next_token());
  EXPECT_EQ(vb.next_token(), next[2]);
  EXPECT_EQ(vb.committed_length(), va.committed_length());

  // Rollback to just after the prompt and decode again: the same tokens as
  // the first time.
  const uint64_t back = kPrompt.size() + 1;
  EXPECT_EQ(Truncate(*b, sb, back), back);
  EXPECT_EQ(Truncate(*a, sa, back), back);
  ASSERT_TRUE(Step(*b, sb, 6, &tb).ok());
  ASSERT_TRUE(Step(*a, sa, 6, &ta).ok());
  EXPECT_EQ(tb, ta);

  // Append with the next token's top 5: the same tokens, logits within the
  // sharded bound.
  const v1::AppendResponse pa = AppendTop(*a, sa, {5, 6, 7}), pb = AppendTop(*b, sb, {5, 6, 7});
  EXPECT_EQ(pb.committed_length(), pa.committed_length());
  ASSERT_EQ(pb.next().top_tokens_size(), 5);
  EXPECT_THAT(pb.next().top_tokens(), ::testing::ElementsAreArray(pa.next().top_tokens()));
  const double scale = std::fabs(pa.next().top_logits(0));
  for (int i = 0; i < 5; ++i) {
    EXPECT_NEAR(pb.next().top_logits(i), pa.next().top_logits(i), kShardedRelTol * scale) << i;
  }

  // A sharded session cannot fork: an error, not a hang.
  {
    grpc::ClientContext ctx;
    v1::ForkRequest req;
    req.set_session_id(sb);
    v1::ForkResponse resp;
    EXPECT_EQ(b->Fork(&ctx, req, &resp).error_code(), grpc::StatusCode::UNIMPLEMENTED);
  }
  EXPECT_TRUE(Close(*b, sb));
  EXPECT_FALSE(Close(*b, sb));
  // A new session after the close decodes as the first one did.
  const std::string sb2 = Open(*b, kPrompt);
  ASSERT_TRUE(Step(*b, sb2, 4, &tb).ok());
  EXPECT_EQ(tb, std::vector<int32_t>(first.begin(), first.begin() + 4));
  tp.Stop();
  for (int r = 0; r < world; ++r) EXPECT_TRUE(tp.status(r).ok()) << "rank " << r << ": " << tp.status(r);
}

INSTANTIATE_TEST_SUITE_P(World, TpTargetServiceTest, ::testing::Values(2, 4));

TEST(TpTargetService, AFailingRankFailsTheRequestAndStopsTheGroup) {
  // Rank 1's 8th all-reduce fails: in the second forward (the prompt's
  // prefill makes 5 on this 2-layer model).
  ShardedTarget tp(2, /*faulty_rank=*/1, /*fail_at=*/8);
  auto b = Connect(tp.address());
  const std::string sb = Open(*b, kPrompt);
  std::vector<int32_t> tokens;
  grpc::Status s = Step(*b, sb, 4, &tokens);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("injected transport failure"));
  // Rank 0 stops serving by itself and reports the failure; rank 1 too.
  tp.Join();
  EXPECT_EQ(tp.status(0).code(), absl::StatusCode::kUnavailable) << tp.status(0);
  EXPECT_FALSE(tp.status(1).ok());
}

// A follower that gets SIGTERM itself (its pod is stopped with rank 0's)
// keeps following while rank 0 drains, and leaves cleanly when rank 0 stops
// the group. Rank 0 runs as the bare engine here: the process' one
// ShutdownSignal is the follower's.
TEST(TpTargetService, AFollowerAskedToShutDownLeavesWhenRankZeroStopsTheGroup) {
  const ServiceConfig config = TargetConfig(2);
  DeploymentConfig deployment;
  deployment.name = "test";
  auto signal = ShutdownSignal::Install();
  ASSERT_TRUE(signal.ok());
  auto group = runtime::parallel::LocalGroup::Create(2);
  ASSERT_TRUE(group.ok());
  auto comm0 = (*group)->Rank(0);
  auto comm1 = (*group)->Rank(1);
  ASSERT_TRUE(comm0.ok() && comm1.ok());
  auto channel0 = runtime::parallel::MakeDirectHostChannel(**comm0);
  auto backend0 = runtime::MakeCpuBackend(1);
  auto file = gguf::GgufFile::Open(ModelPath());
  ASSERT_TRUE(file.ok()) << file.status();
  runtime::parallel::TpOptions options;
  options.kv_budget_bytes = static_cast<size_t>(config.kv_budget_mb) << 20;  // as the follower's
  auto model0 = runtime::parallel::TensorParallelModel::Load(**file, *backend0, **comm0, options);
  ASSERT_TRUE(model0.ok()) << model0.status();
  auto leader = runtime::parallel::TpLeader::Create(**model0, *channel0);
  ASSERT_TRUE(leader.ok());

  TpRankResources follower;
  follower.backend = runtime::MakeCpuBackend(1);
  follower.comm = std::move(*comm1);
  follower.channel = runtime::parallel::MakeDirectHostChannel(*follower.comm);
  absl::Status follower_status = absl::UnknownError("still running");
  std::thread t([&] { follower_status = ServeTensorParallelRank(config, deployment, follower, signal->get()); });

  auto id = (*leader)->NewSession();
  ASSERT_TRUE(id.ok()) << id.status();
  std::vector<float> logits;
  ASSERT_TRUE((*leader)->Forward(*id, kPrompt, false, &logits).ok());
  (*signal)->Trigger();  // the follower's SIGTERM
  // Rank 0 drains: its steps still run on the follower.
  absl::Status step = (*leader)->Forward(*id, std::vector<int32_t>{3}, false, &logits);
  EXPECT_TRUE(step.ok()) << step;
  EXPECT_EQ(logits.size(), 261u);
  (*leader)->Close(*id);
  (*leader)->Stop();
  t.join();
  EXPECT_TRUE(follower_status.ok()) << follower_status;
  EXPECT_TRUE((*leader)->health().ok());
}

// Never the whole model served unsharded: without NCCL (a build without
// CUDA) or on the CPU backend (device: cpu, the default) a rank refuses to
// start, before any network or model loading.
TEST(TpTargetService, WorldSizeAboveOneWithoutNcclOrOnTheCpuIsAFailedPrecondition) {
  auto signal = ShutdownSignal::Install();
  ASSERT_TRUE(signal.ok());
  DeploymentConfig deployment;
  deployment.name = "test";
  absl::Status s = RunTensorParallelTargetService(TargetConfig(2), deployment, **signal);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  if (runtime::BuiltWithCuda()) {
    EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("set device: cuda"));
  } else {
    EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("needs the NCCL build"));
    EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("-DTANDEM_CUDA=ON"));
  }
}

}  // namespace
}  // namespace tandem::services
