#include "services/orchestrator/remote/remote_retriever.h"

#include "absl/strings/str_cat.h"
#include "services/orchestrator/remote/remote_call.h"
#include "services/orchestrator/remote/remote_options.h"
#include "services/orchestrator/decoding_names.h"

namespace tandem::orchestrator {
namespace {

constexpr RemoteService kRetrieval("retrieval service", /*silence_is_loss=*/true);

void FillQuery(const RetrievalQuery& query, tandem::v1::SearchRequest* req) {
  req->set_query(query.query);
  req->set_top_k(query.top_k);
  if (query.min_score > kKeepAllScores) req->set_min_score(query.min_score);
  switch (query.mode) {
    case RetrievalMode::kDense: req->set_mode(tandem::v1::SEARCH_MODE_DENSE); break;
    case RetrievalMode::kLexical: req->set_mode(tandem::v1::SEARCH_MODE_BM25); break;
    case RetrievalMode::kHybrid: req->set_mode(tandem::v1::SEARCH_MODE_HYBRID); break;
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<RemoteRetriever>> RemoteRetriever::Connect(const std::string& address,
                                                                         absl::Duration connect_timeout,
                                                                         std::shared_ptr<grpc::ChannelCredentials> credentials) {
  std::shared_ptr<tandem::v1::Retrieval::StubInterface> stub =
      tandem::v1::Retrieval::NewStub(MakeServiceChannel(address, std::move(credentials)));
  ScopedCall call(nullptr, connect_timeout);
  call.context()->set_wait_for_ready(true);
  tandem::v1::ListCollectionsResponse resp;
  grpc::Status status = stub->ListCollections(call.context(), tandem::v1::ListCollectionsRequest(), &resp);
  if (!status.ok()) return kRetrieval.Error("ListCollections", status);
  return std::make_unique<RemoteRetriever>(std::move(stub));
}

std::unique_ptr<RemoteRetriever> RemoteRetriever::WithScope(std::shared_ptr<CallScope> scope) const {
  RemoteRetrieverOptions options = options_;
  options.scope = std::move(scope);
  return std::make_unique<RemoteRetriever>(stub_, std::move(options));
}

absl::StatusOr<RetrievalResult> RemoteRetriever::SearchText(std::string_view context, const RetrievalQuery& query,
                                                            const ChunkingOptions& chunking) {
  tandem::v1::SearchRequest req;
  req.mutable_context()->set_text(std::string(context));
  req.mutable_context()->set_chunk_tokens(chunking.chunk_tokens);
  FillQuery(query, &req);
  return Call(req);
}

absl::StatusOr<RetrievalResult> RemoteRetriever::SearchCollection(std::string_view collection,
                                                                  const RetrievalQuery& query) {
  tandem::v1::SearchRequest req;
  req.set_collection(std::string(collection));
  FillQuery(query, &req);
  return Call(req);
}

absl::StatusOr<RetrievalResult> RemoteRetriever::Call(const tandem::v1::SearchRequest& req) {
  tandem::v1::SearchResponse resp;
  absl::Status rpc = kRetrieval.Call("Search", options_.scope.get(), options_.search_timeout,
                                     [&](grpc::ClientContext* ctx) { return stub_->Search(ctx, req, &resp); });
  if (!rpc.ok()) return rpc;
  RetrievalResult out;
  out.chunks.reserve(static_cast<size_t>(resp.chunks_size()));
  for (tandem::v1::RetrievedChunk& c : *resp.mutable_chunks()) {
    RetrievedChunk r;
    r.text = std::move(*c.mutable_text());
    r.position = c.position();
    r.token_offset = c.token_offset();
    r.token_count = c.token_count();
    r.score = c.score();
    r.document_id = std::move(*c.mutable_document_id());
    out.chunks.push_back(std::move(r));
  }
  out.total_chunks = resp.total_chunks();
  out.context_tokens = resp.context_tokens();
  out.elapsed_ms = resp.elapsed_ms();
  return out;
}

}  // namespace tandem::orchestrator
