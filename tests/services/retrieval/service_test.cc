// The Retrieval service through real gRPC (in-process server on a free
// port): collection lifecycle, the AddDocuments stream (progress, partial
// documents, commit only at the end), search in every mode, restart with the
// same data dir, the Retriever ports (remote and local) on the same engine,
// health, metrics, and the status codes of bad requests.
#include <unistd.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "services/common/health_client.h"
#include "services/retrieval/local_retriever.h"
#include "services/orchestrator/remote/remote_retriever.h"
#include "services/retrieval/retrieval_server.h"
#include "tests/services/retrieval/test_util.h"

namespace tandem::retrieval {
namespace {

namespace fs = std::filesystem;
using tandem::v1::AddDocumentsRequest;
using tandem::v1::AddDocumentsResponse;

const std::vector<std::pair<std::string, std::string>> kDocs = {
    {"lighthouse", "The lighthouse keeper painted the tower blue every spring.\n\nShips passed at night."},
    {"quantum", "Quantum computers use qubits that can be in superposition.\n\nError correction is costly."},
    {"baking", "The recipe needs two eggs, flour, sugar and a pinch of salt.\n\nBake for forty minutes."},
};

class RetrievalServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tandem-retrieval-svc-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    Start();
  }
  void TearDown() override {
    Stop();
    fs::remove_all(dir_);
  }
  void Start() {
    RetrievalEngineOptions options;
    options.data_dir = dir_.string();
    options.default_chunk_tokens = 64;
    options.embed_window_tokens = 32;
    auto engine = RetrievalEngine::Open(testing::ByteTokenizer(), std::make_shared<testing::ToyEmbedder>(), options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = std::move(*engine);
    auto server = RetrievalServer::Start(*engine_, RetrievalServerOptions{});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    stub_ = tandem::v1::Retrieval::NewStub(grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials()));
  }
  void Stop() {
    stub_.reset();
    server_.reset();
    engine_.reset();
  }

  grpc::Status Create(const std::string& name, int chunk_tokens = 0) {
    grpc::ClientContext ctx;
    tandem::v1::CreateCollectionRequest req;
    req.set_name(name);
    req.set_chunk_tokens(chunk_tokens);
    tandem::v1::CollectionStats resp;
    return stub_->CreateCollection(&ctx, req, &resp);
  }

  // Sends `messages` (the last with commit = true unless !commit), reads
  // every response; returns the final status.
  grpc::Status Add(std::vector<AddDocumentsRequest> messages, std::vector<AddDocumentsResponse>* out,
                   bool commit = true) {
    if (commit && !messages.empty()) messages.back().set_commit(true);
    grpc::ClientContext ctx;
    auto stream = stub_->AddDocuments(&ctx);
    for (const AddDocumentsRequest& m : messages) {
      if (!stream->Write(m)) break;
      AddDocumentsResponse r;
      if (!stream->Read(&r)) break;  // one progress message per request message
      out->push_back(r);
    }
    stream->WritesDone();
    AddDocumentsResponse r;
    while (stream->Read(&r)) out->push_back(r);
    return stream->Finish();
  }

  grpc::Status Search(tandem::v1::SearchRequest req, tandem::v1::SearchResponse* resp) {
    grpc::ClientContext ctx;
    return stub_->Search(&ctx, req, resp);
  }

  static tandem::v1::SearchRequest Query(const std::string& collection, const std::string& q,
                                         tandem::v1::SearchMode mode, int k = 2) {
    tandem::v1::SearchRequest req;
    req.set_collection(collection);
    req.set_query(q);
    req.set_mode(mode);
    req.set_top_k(k);
    return req;
  }

  fs::path dir_;
  std::unique_ptr<RetrievalEngine> engine_;
  std::unique_ptr<RetrievalServer> server_;
  std::unique_ptr<tandem::v1::Retrieval::Stub> stub_;
};

TEST_F(RetrievalServiceTest, LifecycleStreamSearchRestart) {
  ASSERT_TRUE(services::CheckServing(server_->address(), "tandem.v1.Retrieval").ok());
  ASSERT_TRUE(Create("notes").ok());
  // Message 1: two documents; message 2: a document in two parts.
  std::vector<AddDocumentsRequest> msgs(2);
  msgs[0].set_collection("notes");
  for (int i = 0; i < 2; ++i) {
    auto* d = msgs[0].add_documents();
    d->set_id(kDocs[i].first);
    d->set_text(kDocs[i].second);
  }
  const std::string& last = kDocs[2].second;
  auto* p1 = msgs[1].add_documents();
  p1->set_id(kDocs[2].first);
  p1->set_text(last.substr(0, 20));
  p1->set_partial(true);
  auto* p2 = msgs[1].add_documents();
  p2->set_id(kDocs[2].first);
  p2->set_text(last.substr(20));
  std::vector<AddDocumentsResponse> responses;
  grpc::Status st = Add(msgs, &responses);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_EQ(responses.size(), 2u);  // progress after message 1, the commit summary after message 2
  EXPECT_EQ(responses[0].documents(), 2u);
  EXPECT_FALSE(responses[0].committed());
  EXPECT_EQ(responses[1].documents(), 3u);
  EXPECT_TRUE(responses[1].committed());
  EXPECT_EQ(responses[1].stats().documents(), 3u);
  EXPECT_EQ(responses[1].stats().generation(), 1u);
  uint64_t tokens = 0;
  for (const auto& [id, text] : kDocs) tokens += text.size();  // byte tokenizer
  EXPECT_EQ(responses[1].tokens(), tokens);

  for (auto mode : {tandem::v1::SEARCH_MODE_DENSE, tandem::v1::SEARCH_MODE_BM25, tandem::v1::SEARCH_MODE_HYBRID,
                    tandem::v1::SEARCH_MODE_UNSPECIFIED}) {
    tandem::v1::SearchResponse resp;
    ASSERT_TRUE(Search(Query("notes", "eggs flour sugar", mode), &resp).ok());
    ASSERT_GE(resp.chunks_size(), 1);
    EXPECT_EQ(resp.chunks(0).document_id(), "baking") << mode;
    EXPECT_GT(resp.total_chunks(), 3);
  }
  // The partial document was joined before chunking: its chunks spell it.
  {
    tandem::v1::SearchResponse resp;
    ASSERT_TRUE(Search(Query("notes", "recipe eggs bake minutes", tandem::v1::SEARCH_MODE_BM25, 1000), &resp).ok());
    std::map<int64_t, std::string> by_pos;
    for (const auto& c : resp.chunks()) {
      if (c.document_id() == "baking") by_pos[c.position()] = c.text();
    }
    std::string joined;
    for (const auto& [pos, text] : by_pos) joined += text;
    EXPECT_EQ(joined, last);
  }
  // Inline context: nothing stored.
  {
    tandem::v1::SearchRequest req;
    req.mutable_context()->set_text(kDocs[1].second + "\n\n" + kDocs[0].second);
    req.mutable_context()->set_chunk_tokens(32);
    req.set_query("qubits");
    req.set_top_k(1);
    tandem::v1::SearchResponse resp;
    ASSERT_TRUE(Search(req, &resp).ok());
    ASSERT_EQ(resp.chunks_size(), 1);
    EXPECT_NE(resp.chunks(0).text().find("qubits"), std::string::npos);
    EXPECT_GT(resp.context_tokens(), 0);
  }
  const std::string metrics = server_->metrics().Serialize();
  EXPECT_NE(metrics.find("tandem:retrieval_search_latency_seconds_count{mode=\"dense\",source=\"collection\"}"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("tandem:retrieval_ingested_chunks_total"), std::string::npos);
  EXPECT_NE(metrics.find("tandem:retrieval_retrieved_tokens_total{mode=\"bm25\",source=\"collection\"}"),
            std::string::npos);

  // Restart on the same data dir: everything is still there.
  Stop();
  Start();
  grpc::ClientContext ctx;
  tandem::v1::ListCollectionsResponse list;
  ASSERT_TRUE(stub_->ListCollections(&ctx, tandem::v1::ListCollectionsRequest(), &list).ok());
  ASSERT_EQ(list.collections_size(), 1);
  EXPECT_EQ(list.collections(0).documents(), 3u);
  EXPECT_EQ(list.collections(0).index_type(), "flat");
  tandem::v1::SearchResponse resp;
  ASSERT_TRUE(Search(Query("notes", "lighthouse keeper", tandem::v1::SEARCH_MODE_HYBRID), &resp).ok());
  EXPECT_EQ(resp.chunks(0).document_id(), "lighthouse");
  // Delete.
  grpc::ClientContext del_ctx;
  tandem::v1::DeleteCollectionRequest del;
  del.set_name("notes");
  tandem::v1::DeleteCollectionResponse del_resp;
  ASSERT_TRUE(stub_->DeleteCollection(&del_ctx, del, &del_resp).ok());
  EXPECT_EQ(Search(Query("notes", "x", tandem::v1::SEARCH_MODE_DENSE), &resp).error_code(), grpc::NOT_FOUND);
}

TEST_F(RetrievalServiceTest, FailedOrCancelledStreamCommitsNothing) {
  ASSERT_TRUE(Create("c").ok());
  std::vector<AddDocumentsRequest> msgs(2);
  msgs[0].set_collection("c");
  msgs[0].add_documents()->set_text("a good document");
  msgs[1].add_documents()->set_text("bad \xFF utf-8");
  std::vector<AddDocumentsResponse> responses;
  grpc::Status st = Add(msgs, &responses);
  EXPECT_EQ(st.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("documents[1].text"), std::string::npos) << st.error_message();
  // A cancelled stream.
  {
    grpc::ClientContext ctx;
    auto stream = stub_->AddDocuments(&ctx);
    AddDocumentsRequest m;
    m.set_collection("c");
    m.add_documents()->set_text("never committed");
    ASSERT_TRUE(stream->Write(m));
    AddDocumentsResponse r;
    ASSERT_TRUE(stream->Read(&r));
    ctx.TryCancel();
    EXPECT_EQ(stream->Finish().error_code(), grpc::CANCELLED);
  }
  // A stream that ends without a commit message (what a client that dies
  // between messages, or a message that fails to parse, looks like).
  {
    std::vector<AddDocumentsRequest> p(1);
    p[0].set_collection("c");
    p[0].add_documents()->set_text("no commit flag");
    std::vector<AddDocumentsResponse> out;
    EXPECT_EQ(Add(p, &out, /*commit=*/false).error_code(), grpc::ABORTED);
  }
  // A stream ending inside a partial document.
  {
    std::vector<AddDocumentsRequest> p(1);
    p[0].set_collection("c");
    auto* d = p[0].add_documents();
    d->set_id("x");
    d->set_text("part");
    d->set_partial(true);
    std::vector<AddDocumentsResponse> out;
    EXPECT_EQ(Add(p, &out).error_code(), grpc::INVALID_ARGUMENT);
  }
  grpc::ClientContext ctx;
  tandem::v1::GetCollectionStatsRequest req;
  req.set_name("c");
  tandem::v1::CollectionStats stats;
  ASSERT_TRUE(stub_->GetCollectionStats(&ctx, req, &stats).ok());
  EXPECT_EQ(stats.documents(), 0u);
  EXPECT_EQ(stats.generation(), 0u);
}

TEST_F(RetrievalServiceTest, BadRequestCodes) {
  EXPECT_EQ(Create("").error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_EQ(Create("bad name").error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_EQ(Create("c", 15).error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_EQ(Create("c", 8193).error_code(), grpc::INVALID_ARGUMENT);
  ASSERT_TRUE(Create("c").ok());
  EXPECT_EQ(Create("c").error_code(), grpc::ALREADY_EXISTS);
  tandem::v1::SearchResponse resp;
  EXPECT_EQ(Search(Query("missing", "q", tandem::v1::SEARCH_MODE_DENSE), &resp).error_code(), grpc::NOT_FOUND);
  for (int k : {0, 1001, -5}) {
    grpc::Status st = Search(Query("c", "q", tandem::v1::SEARCH_MODE_DENSE, k), &resp);
    EXPECT_EQ(st.error_code(), grpc::INVALID_ARGUMENT) << k;
    EXPECT_NE(st.error_message().find("top_k"), std::string::npos);
  }
  EXPECT_EQ(Search(Query("c", "", tandem::v1::SEARCH_MODE_DENSE), &resp).error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_EQ(Search(Query("c", "\xC3", tandem::v1::SEARCH_MODE_DENSE), &resp).error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_EQ(Search(Query("c", "q", static_cast<tandem::v1::SearchMode>(42)), &resp).error_code(),
            grpc::INVALID_ARGUMENT);
  tandem::v1::SearchRequest no_source;
  no_source.set_query("q");
  no_source.set_top_k(1);
  EXPECT_EQ(Search(no_source, &resp).error_code(), grpc::INVALID_ARGUMENT);
  tandem::v1::SearchRequest ctx_req;
  ctx_req.mutable_context()->set_text("");
  ctx_req.set_query("q");
  ctx_req.set_top_k(1);
  EXPECT_EQ(Search(ctx_req, &resp).error_code(), grpc::INVALID_ARGUMENT);
  ctx_req.mutable_context()->set_text("some text");
  ctx_req.mutable_context()->set_chunk_tokens(9000);
  EXPECT_EQ(Search(ctx_req, &resp).error_code(), grpc::INVALID_ARGUMENT);
  // AddDocuments: no collection, unknown collection, empty document, switching collections.
  std::vector<AddDocumentsResponse> out;
  std::vector<AddDocumentsRequest> m(1);
  m[0].add_documents()->set_text("x");
  EXPECT_EQ(Add(m, &out).error_code(), grpc::INVALID_ARGUMENT);
  m[0].set_collection("missing");
  EXPECT_EQ(Add(m, &out).error_code(), grpc::NOT_FOUND);
  m[0].set_collection("c");
  m[0].mutable_documents(0)->set_text("");
  EXPECT_EQ(Add(m, &out).error_code(), grpc::INVALID_ARGUMENT);
  std::vector<AddDocumentsRequest> two(2);
  two[0].set_collection("c");
  two[1].set_collection("other");
  EXPECT_EQ(Add(two, &out).error_code(), grpc::INVALID_ARGUMENT);
  grpc::ClientContext ctx;
  tandem::v1::GetCollectionStatsRequest req;
  req.set_name("missing");
  tandem::v1::CollectionStats stats;
  EXPECT_EQ(stub_->GetCollectionStats(&ctx, req, &stats).error_code(), grpc::NOT_FOUND);
  const std::string metrics = server_->metrics().Serialize();
  EXPECT_NE(metrics.find("tandem:retrieval_requests_failed_total{code=\"INVALID_ARGUMENT\",method=\"Search\"}"),
            std::string::npos)
      << metrics;
}

TEST_F(RetrievalServiceTest, RetrieverPortsRemoteAndLocalAgree) {
  ASSERT_TRUE(Create("notes").ok());
  std::vector<AddDocumentsRequest> msgs(1);
  msgs[0].set_collection("notes");
  for (const auto& [id, text] : kDocs) {
    auto* d = msgs[0].add_documents();
    d->set_id(id);
    d->set_text(text);
  }
  std::vector<AddDocumentsResponse> out;
  ASSERT_TRUE(Add(msgs, &out).ok());
  auto remote = orchestrator::RemoteRetriever::Connect(server_->address(), absl::Seconds(10));
  ASSERT_TRUE(remote.ok()) << remote.status();
  // The local port on an engine that shares nothing with the server but the
  // inputs: same tokenizer, same toy embedder, in memory.
  RetrievalEngineOptions options;
  options.default_chunk_tokens = 64;
  options.embed_window_tokens = 32;
  auto local_engine = RetrievalEngine::Open(testing::ByteTokenizer(), std::make_shared<testing::ToyEmbedder>(), options);
  ASSERT_TRUE(local_engine.ok());
  retrieval::LocalRetriever local(std::shared_ptr<RetrievalEngine>(std::move(*local_engine)));
  std::string context;
  for (const auto& [id, text] : kDocs) context += text + "\n\n";
  for (auto mode : {decoding::RetrievalMode::kDense, decoding::RetrievalMode::kLexical,
                    decoding::RetrievalMode::kHybrid}) {
    decoding::RetrievalQuery q;
    q.query = "blue tower lighthouse";
    q.top_k = 3;
    q.mode = mode;
    decoding::ChunkingOptions chunking;
    chunking.chunk_tokens = 48;
    auto a = (*remote)->SearchText(context, q, chunking);
    auto b = local.SearchText(context, q, chunking);
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_TRUE(b.ok()) << b.status();
    ASSERT_EQ(a->chunks.size(), b->chunks.size());
    for (size_t i = 0; i < a->chunks.size(); ++i) {
      EXPECT_EQ(a->chunks[i].position, b->chunks[i].position);
      EXPECT_EQ(a->chunks[i].text, b->chunks[i].text);
      EXPECT_EQ(a->chunks[i].token_offset, b->chunks[i].token_offset);
      EXPECT_FLOAT_EQ(a->chunks[i].score, b->chunks[i].score);
    }
    EXPECT_NE(a->chunks[0].text.find("lighthouse"), std::string::npos);
    EXPECT_EQ(a->context_tokens, static_cast<int64_t>(context.size()));
  }
  decoding::RetrievalQuery q;
  q.query = "qubits";
  q.top_k = 1;
  auto c = (*remote)->SearchCollection("notes", q);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->chunks.size(), 1u);
  EXPECT_EQ(c->chunks[0].document_id, "quantum");
  EXPECT_EQ((*remote)->SearchCollection("missing", q).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(local.SearchCollection("notes", q).status().code(), absl::StatusCode::kNotFound);
  q.top_k = 0;
  EXPECT_EQ((*remote)->SearchText(context, q, {}).status().code(), absl::StatusCode::kInvalidArgument);
  // A cancelled scope fails fast.
  auto scope = std::make_shared<orchestrator::CallScope>();
  auto scoped = (*remote)->WithScope(scope);
  scope->Cancel();
  q.top_k = 1;
  EXPECT_EQ(scoped->SearchText(context, q, {}).status().code(), absl::StatusCode::kCancelled);
  // A local retriever whose engine fails to load reports it on every call.
  retrieval::LocalRetriever broken([]() -> absl::StatusOr<std::shared_ptr<RetrievalEngine>> {
    return absl::NotFoundError("no embedder here");
  });
  EXPECT_EQ(broken.SearchText(context, q, {}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(broken.SearchCollection("notes", q).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace tandem::retrieval
