// Retries on UNAVAILABLE: the safe calls are repeated (with backoff) until
// they succeed, writes never are, and a Generate that already streamed
// output is never repeated.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>

#include "fake_server.h"
#include "tandem/sdk/client.h"

namespace tandem {
namespace {

using sdk_test::FakeServer;

grpc::Status Unavailable() { return grpc::Status(grpc::StatusCode::UNAVAILABLE, "warming up"); }

Client Connect(const FakeServer& server, int max_attempts) {
  ConnectionOptions options;
  options.address = server.address();
  options.retry.max_attempts = max_attempts;
  options.retry.initial_backoff = std::chrono::milliseconds(10);
  options.retry.max_backoff = std::chrono::milliseconds(50);
  absl::StatusOr<Client> client = Client::Connect(options);
  EXPECT_TRUE(client.ok()) << client.status();
  return *std::move(client);
}

TEST(ClientRetry, SafeCallsAreRetriedUntilTheyAnswer) {
  FakeServer server;
  std::atomic<int> info_failures{2};
  server.generation.get_info = [&](grpc::ServerContext*, const v1::GetInfoRequest&, v1::GetInfoResponse* out) {
    if (info_failures.fetch_sub(1) > 0) return Unavailable();
    out->set_version("0.1.0");
    return grpc::Status::OK;
  };
  std::atomic<int> search_failures{1};
  server.retrieval.search = [&](grpc::ServerContext*, const v1::SearchRequest&, v1::SearchResponse* out) {
    if (search_failures.fetch_sub(1) > 0) return Unavailable();
    out->set_total_chunks(3);
    return grpc::Status::OK;
  };
  std::atomic<int> score_failures{1};
  server.reward.score = [&](grpc::ServerContext*, const v1::ScoreRequest&, v1::ScoreResponse* out) {
    if (score_failures.fetch_sub(1) > 0) return Unavailable();
    out->add_scores(0.5f);
    return grpc::Status::OK;
  };
  server.Start();
  Client client = Connect(server, 4);

  absl::StatusOr<v1::GetInfoResponse> info = client.GetInfo();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->version(), "0.1.0");
  EXPECT_EQ(server.log.Count("GetInfo"), 3);

  absl::StatusOr<v1::SearchResponse> found = client.Search({.collection = "docs", .query = "q"});
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(server.log.Count("Search"), 2);

  absl::StatusOr<ScoreResult> scored = client.Score({{.prompt = "p", .response = "r"}});
  ASSERT_TRUE(scored.ok()) << scored.status();
  EXPECT_EQ(server.log.Count("Score"), 2);
}

TEST(ClientRetry, GivesUpAfterMaxAttempts) {
  FakeServer server;
  server.generation.get_info = [](grpc::ServerContext*, const v1::GetInfoRequest&, v1::GetInfoResponse*) {
    return Unavailable();
  };
  server.Start();
  absl::StatusOr<v1::GetInfoResponse> info = Connect(server, 3).GetInfo();
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(info.status().message(), "warming up");
  EXPECT_EQ(server.log.Count("GetInfo"), 3);
}

TEST(ClientRetry, WritesAreNotRetried) {
  FakeServer server;
  server.retrieval.create_collection = [](grpc::ServerContext*, const v1::CreateCollectionRequest&,
                                          v1::CollectionStats*) { return Unavailable(); };
  server.Start();
  absl::StatusOr<v1::CollectionStats> created = Connect(server, 4).CreateCollection("docs");
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(server.log.Count("CreateCollection"), 1);
}

TEST(ClientRetry, OnlyOtherCodesAreNotRetried) {
  FakeServer server;
  server.generation.get_info = [](grpc::ServerContext*, const v1::GetInfoRequest&, v1::GetInfoResponse*) {
    return grpc::Status(grpc::StatusCode::INTERNAL, "boom");
  };
  server.Start();
  EXPECT_EQ(Connect(server, 4).GetInfo().status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(server.log.Count("GetInfo"), 1);
}

TEST(ClientRetry, GenerateIsRetriedOnlyBeforeItStreamedAnything) {
  FakeServer server;
  std::atomic<int> calls{0};
  server.generation.generate = [&](grpc::ServerContext*, const v1::GenerateRequest& request,
                                   grpc::ServerWriter<v1::GenerateResponse>* writer) {
    const int n = calls.fetch_add(1);
    if (request.prompt() == "fail-early" && n == 0) return Unavailable();  // nothing sent yet
    v1::GenerateResponse chunk;
    chunk.mutable_chunk()->set_text("partial");
    writer->Write(chunk);
    if (request.prompt() == "fail-late") return Unavailable();  // after output
    v1::GenerateResponse complete;
    complete.mutable_complete()->set_finish_reason(v1::FINISH_REASON_LENGTH);
    writer->Write(complete);
    return grpc::Status::OK;
  };
  server.Start();
  Client client = Connect(server, 4);

  absl::StatusOr<GenerationResult> early = client.Generate("fail-early");
  ASSERT_TRUE(early.ok()) << early.status();
  EXPECT_EQ(early->text, "partial");
  EXPECT_EQ(server.log.Count("Generate"), 2);

  absl::StatusOr<GenerationResult> late = client.Generate("fail-late");
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(server.log.Count("Generate"), 3);  // one more call: not repeated
}

TEST(ClientRetry, OneAttemptMeansNoRetry) {
  FakeServer server;
  server.generation.get_info = [](grpc::ServerContext*, const v1::GetInfoRequest&, v1::GetInfoResponse*) {
    return Unavailable();
  };
  server.Start();
  EXPECT_EQ(Connect(server, 1).GetInfo().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(server.log.Count("GetInfo"), 1);
}

}  // namespace
}  // namespace tandem
