// Admission control through the Generation service on loopback (synthetic
// models): beyond max_running_requests + max_queued_requests a request gets
// RESOURCE_EXHAUSTED with the retry-after-ms trailing metadata, and so does a
// target that refuses the KV; a queued request runs once a slot frees; queue
// depth, rejections and drafter fallbacks are metrics.
#include <future>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "services/orchestrator/remote/remote_options.h"
#include "services/orchestrator/server/orchestrator_server.h"
#include "tests/services/orchestrator/service_fixture.h"

namespace tandem::decoding::testing {
namespace {

using orchestrator::server::OrchestratorServer;

// Runs until aborted (2000 tokens, end-of-generation ignored).
tandem::v1::GenerateRequest LongRequest(const std::string& strategy) {
  tandem::v1::GenerateRequest req = TokenRequest({1, 2, 3}, strategy, 2000);
  req.set_ignore_eos(true);
  return req;
}

class AdmissionServiceTest : public ::testing::Test {
 protected:
  void Start(int max_running, int max_waiting) {
    orchestrator::server::OrchestratorServerOptions o;
    o.admission.max_running = max_running;
    o.admission.max_waiting = max_waiting;
    o.retry_after_ms = 250;
    auto s = OrchestratorServer::Start(dep_.ports, o);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
    stub_ = tandem::v1::Generation::NewStub(orchestrator::MakeServiceChannel(server_->address()));
  }
  bool MetricsContain(const std::string& line) {
    return server_->metrics().Serialize().find(line) != std::string::npos;
  }
  void Abort(const std::string& id) {
    grpc::ClientContext ctx;
    tandem::v1::AbortRequest req;
    req.set_request_id(id);
    tandem::v1::AbortResponse resp;
    ASSERT_TRUE(stub_->Abort(&ctx, req, &resp).ok());
    EXPECT_TRUE(resp.found());
  }

  FakeDeployment dep_;
  std::unique_ptr<OrchestratorServer> server_;
  std::unique_ptr<tandem::v1::Generation::Stub> stub_;
};

TEST_F(AdmissionServiceTest, BeyondTheLimitsRequestsAreRefusedWithARetryHint) {
  Start(/*max_running=*/1, /*max_waiting=*/0);
  dep_.target_lm.delay_ms = 5;
  tandem::v1::GenerateRequest long_request = LongRequest("speculative");
  long_request.set_request_id("long");
  grpc::ClientContext ctx;
  auto reader = stub_->Generate(&ctx, long_request);
  tandem::v1::GenerateResponse resp;
  ASSERT_TRUE(reader->Read(&resp));  // running: the one slot is taken

  grpc::ClientContext refused_ctx;
  tandem::v1::GenerateRequest small = TokenRequest({1, 2, 3}, "target_only", 4);
  auto refused = stub_->Generate(&refused_ctx, small);
  while (refused->Read(&resp)) {
  }
  const grpc::Status status = refused->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  const auto& trailers = refused_ctx.GetServerTrailingMetadata();
  auto hint = trailers.find("retry-after-ms");
  ASSERT_NE(hint, trailers.end());
  EXPECT_EQ(std::string(hint->second.data(), hint->second.size()), "250");
  EXPECT_TRUE(MetricsContain("tandem:request_rejections_total{reason=\"queue_full\"} 1"))
      << server_->metrics().Serialize();

  Abort("long");
  while (reader->Read(&resp)) {
  }
  EXPECT_TRUE(reader->Finish().ok());
  // The slot is free again.
  StreamResult ok = Stream(*stub_, small);
  EXPECT_TRUE(ok.status.ok()) << ok.status.error_message();
  EXPECT_EQ(dep_.open_sessions(), 0);
}

TEST_F(AdmissionServiceTest, AQueuedRequestRunsWhenTheSlotFrees) {
  Start(/*max_running=*/1, /*max_waiting=*/1);
  dep_.target_lm.delay_ms = 5;
  tandem::v1::GenerateRequest long_request = LongRequest("speculative");
  long_request.set_request_id("long");
  grpc::ClientContext ctx;
  auto reader = stub_->Generate(&ctx, long_request);
  tandem::v1::GenerateResponse resp;
  ASSERT_TRUE(reader->Read(&resp));

  auto queued = std::async(std::launch::async,
                           [&] { return Stream(*stub_, TokenRequest({1, 2, 3}, "target_only", 4)); });
  // Waits in the queue: the gauge shows it (polled while the request is on
  // its way; the bound only keeps a broken queue from hanging the test).
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!MetricsContain("tandem:num_requests_waiting 1") && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(MetricsContain("tandem:num_requests_waiting 1")) << server_->metrics().Serialize();
  Abort("long");
  while (reader->Read(&resp)) {
  }
  StreamResult done = queued.get();
  EXPECT_TRUE(done.status.ok()) << done.status.error_message();
  EXPECT_EQ(done.tokens.size(), 4u);
  EXPECT_TRUE(MetricsContain("tandem:num_requests_waiting 0"));
  EXPECT_EQ(dep_.open_sessions(), 0);
}

// A target whose KV budget cannot take another session.
class FullTarget : public Verifier {
 public:
  absl::StatusOr<std::unique_ptr<VerifySession>> Open(std::span<const int32_t>, const runtime::SamplingParams&,
                                                      const VerifyOptions&) override {
    return absl::ResourceExhaustedError("target service OpenSession: KV cache budget exhausted");
  }
};

TEST_F(AdmissionServiceTest, ATargetOutOfKvIsRefusedWithTheRetryHint) {
  FullTarget full;
  dep_.ports.verifier = &full;
  Start(/*max_running=*/0, /*max_waiting=*/0);
  grpc::ClientContext ctx;
  auto reader = stub_->Generate(&ctx, TokenRequest({1, 2, 3}, "target_only", 4));
  tandem::v1::GenerateResponse resp;
  while (reader->Read(&resp)) {
  }
  const grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  const auto& trailers = ctx.GetServerTrailingMetadata();
  auto hint = trailers.find("retry-after-ms");
  ASSERT_NE(hint, trailers.end());
  EXPECT_EQ(std::string(hint->second.data(), hint->second.size()), "250");
  EXPECT_TRUE(MetricsContain("tandem:request_rejections_total{reason=\"target_capacity\"} 1"))
      << server_->metrics().Serialize();
}

// A drafter that is down: the request completes target-only, the final
// message's stats say so and the fallback counter counts it.
class DownDrafter : public Drafter {
 public:
  std::string_view name() const override { return "model"; }
  absl::StatusOr<std::unique_ptr<DraftSession>> Open(std::span<const int32_t>, const runtime::SamplingParams&,
                                                     const DraftOptions&) override {
    return absl::UnavailableError("draft service OpenSession: failed to connect to all addresses");
  }
};

TEST_F(AdmissionServiceTest, ALostDrafterIsAFallbackInStatsAndMetrics) {
  DownDrafter down;
  dep_.ports.drafters["model"] = &down;
  Start(/*max_running=*/0, /*max_waiting=*/0);
  StreamResult base = Stream(*stub_, TokenRequest({1, 2, 3}, "target_only", 12));
  StreamResult spec = Stream(*stub_, TokenRequest({1, 2, 3}, "speculative", 12));
  ASSERT_TRUE(spec.status.ok()) << spec.status.error_message();
  EXPECT_EQ(spec.tokens, base.tokens);
  EXPECT_EQ(spec.complete.stats().fallback(),
            "draft unavailable: draft service OpenSession: failed to connect to all addresses");
  EXPECT_TRUE(MetricsContain("tandem:request_fallbacks_total{peer=\"draft\",strategy=\"speculative\"} 1"))
      << server_->metrics().Serialize();
  EXPECT_EQ(base.complete.stats().fallback(), "");
}

}  // namespace
}  // namespace tandem::decoding::testing
