// Reward scoring and retrieval collections through tandem::Client against a
// scripted server: what is sent, what comes back, ingestion progress and the
// all-or-nothing commit.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fake_server.h"
#include "tandem/sdk/client.h"

namespace tandem {
namespace {

using sdk_test::FakeServer;

Client Connect(const FakeServer& server) {
  absl::StatusOr<Client> client = Client::Connect({.address = server.address()});
  EXPECT_TRUE(client.ok()) << client.status();
  return *std::move(client);
}

TEST(ClientReward, ScoreSendsItemsAndSpec) {
  FakeServer server;
  v1::ScoreRequest seen;
  server.reward.score = [&](grpc::ServerContext*, const v1::ScoreRequest& request, v1::ScoreResponse* out) {
    seen = request;
    for (int i = 0; i < request.items_size(); ++i) out->add_scores(0.25f * static_cast<float>(i + 1));
    out->set_backend("length");
    return grpc::Status::OK;
  };
  server.Start();
  absl::StatusOr<ScoreResult> scored =
      Connect(server).Score({{.prompt = "q", .response = "a"}, {.prompt = "q", .response = "bb", .reference = "c"}},
                            {.backend = "length", .options = {{"target", "3"}}});
  ASSERT_TRUE(scored.ok()) << scored.status();
  EXPECT_EQ(scored->scores, (std::vector<float>{0.25f, 0.5f}));
  EXPECT_EQ(scored->backend, "length");
  ASSERT_EQ(seen.items_size(), 2);
  EXPECT_EQ(seen.items(1).response(), "bb");
  EXPECT_EQ(seen.items(1).reference(), "c");
  EXPECT_EQ(seen.spec().backend(), "length");
  EXPECT_EQ(seen.spec().options().at("target"), "3");
}

TEST(ClientReward, ScoreStepsAndErrors) {
  FakeServer server;
  server.reward.score_steps = [](grpc::ServerContext*, const v1::ScoreStepsRequest& request,
                                 v1::ScoreStepsResponse* out) {
    if (request.steps_size() == 0) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "steps: empty");
    for (int i = 0; i < request.steps_size(); ++i) out->add_scores(1.0f);
    return grpc::Status::OK;
  };
  server.Start();
  Client client = Connect(server);
  absl::StatusOr<ScoreResult> steps = client.ScoreSteps("q", {"one", "two"});
  ASSERT_TRUE(steps.ok()) << steps.status();
  EXPECT_EQ(steps->scores.size(), 2u);
  absl::StatusOr<ScoreResult> empty = client.ScoreSteps("q", {});
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(empty.status().message(), "steps: empty");
}

// A retrieval server that acknowledges every message with the running totals
// and commits on the commit message, joining partial documents.
void ScriptIngest(FakeServer& server, std::vector<std::string>* documents, int* messages) {
  server.retrieval.add_documents = [documents, messages](
                                       grpc::ServerContext*,
                                       grpc::ServerReaderWriter<v1::AddDocumentsResponse, v1::AddDocumentsRequest>* s) {
    v1::AddDocumentsRequest request;
    bool open_part = false;
    while (s->Read(&request)) {
      ++*messages;
      if (request.collection() != "docs") return grpc::Status(grpc::StatusCode::NOT_FOUND, "collection: no 'x'");
      for (const v1::Document& d : request.documents()) {
        if (open_part) {
          documents->back() += d.text();
        } else {
          documents->push_back(d.text());
        }
        open_part = d.partial();
      }
      v1::AddDocumentsResponse progress;
      progress.set_documents(documents->size() - (open_part ? 1 : 0));
      progress.set_chunks(documents->size() * 2);
      if (request.commit()) {
        progress.set_committed(true);
        progress.mutable_stats()->set_name("docs");
        progress.mutable_stats()->set_documents(documents->size());
        s->Write(progress);
        return grpc::Status::OK;
      }
      s->Write(progress);
    }
    return grpc::Status(grpc::StatusCode::ABORTED, "no commit");
  };
}

TEST(ClientRetrieval, AddDocumentsReportsProgressAndCommits) {
  FakeServer server;
  std::vector<std::string> received;
  int messages = 0;
  ScriptIngest(server, &received, &messages);
  server.Start();

  std::vector<Document> docs;
  for (int i = 0; i < 100; ++i) docs.push_back({.id = absl::StrCat("d", i), .text = absl::StrCat("text ", i)});
  docs.push_back({.id = "big", .text = std::string(3 << 20, 'x')});  // more than one message holds
  std::vector<IngestProgress> reports;
  absl::StatusOr<v1::CollectionStats> stats =
      Connect(server).AddDocuments("docs", docs, [&](const IngestProgress& p) { reports.push_back(p); });
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->documents(), docs.size());
  ASSERT_EQ(received.size(), docs.size());
  EXPECT_EQ(received.back(), docs.back().text);  // the parts joined back
  EXPECT_EQ(received[42], "text 42");

  ASSERT_GE(reports.size(), 3u);
  EXPECT_EQ(static_cast<int>(reports.size()), messages);  // one report per acknowledged message
  for (size_t i = 1; i < reports.size(); ++i) EXPECT_GE(reports[i].documents_sent, reports[i - 1].documents_sent);
  EXPECT_TRUE(reports.back().committed);
  EXPECT_EQ(reports.back().documents_sent, docs.size());
  EXPECT_EQ(reports.back().documents_total, docs.size());
}

TEST(ClientRetrieval, AddDocumentsErrorCarriesTheServersStatus) {
  FakeServer server;
  std::vector<std::string> received;
  int messages = 0;
  ScriptIngest(server, &received, &messages);
  server.Start();
  absl::StatusOr<v1::CollectionStats> stats = Connect(server).AddDocuments("x", {{.text = "a"}});
  ASSERT_FALSE(stats.ok());
  EXPECT_EQ(stats.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(stats.status().message(), "collection: no 'x'");
}

TEST(ClientRetrieval, SearchMapsTheQuery) {
  FakeServer server;
  v1::SearchRequest seen;
  server.retrieval.search = [&](grpc::ServerContext*, const v1::SearchRequest& request, v1::SearchResponse* out) {
    seen = request;
    v1::RetrievedChunk* chunk = out->add_chunks();
    chunk->set_text("the sky");
    chunk->set_score(0.9f);
    return grpc::Status::OK;
  };
  server.Start();
  Client client = Connect(server);
  absl::StatusOr<v1::SearchResponse> found = client.Search(
      {.context = "long text", .context_chunk_tokens = 64, .query = "sky?", .top_k = 3, .min_score = 0.1f,
       .mode = v1::SEARCH_MODE_HYBRID});
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->chunks(0).text(), "the sky");
  EXPECT_EQ(seen.context().text(), "long text");
  EXPECT_EQ(seen.context().chunk_tokens(), 64);
  EXPECT_EQ(seen.top_k(), 3);
  EXPECT_TRUE(seen.has_min_score());
  EXPECT_EQ(seen.mode(), v1::SEARCH_MODE_HYBRID);
  // Both sources (or neither) is a client-side error; the server is not asked.
  EXPECT_EQ(client.Search({.collection = "a", .context = "b", .query = "q"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(server.log.Count("Search"), 1);
}

}  // namespace
}  // namespace tandem
