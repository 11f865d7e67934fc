// Client's calls of the Retrieval service: collections, ingestion, search.
#include <algorithm>
#include <utility>

#include "connection.h"
#include "ingest_batches.h"
#include "status_mapping.h"
#include "tandem/sdk/client.h"

namespace tandem {

using sdk_internal::FromGrpc;

absl::StatusOr<v1::CollectionStats> Client::CreateCollection(std::string_view name, int32_t chunk_tokens,
                                                             const CallOptions& call) const {
  v1::CreateCollectionRequest request;
  request.set_name(std::string(name));
  request.set_chunk_tokens(chunk_tokens);
  grpc::ClientContext context;
  connection_->Prepare(&context, call.timeout);
  v1::CollectionStats response;
  if (grpc::Status s = connection_->retrieval->CreateCollection(&context, request, &response); !s.ok()) {
    return FromGrpc(s);
  }
  return response;
}

absl::Status Client::DeleteCollection(std::string_view name, const CallOptions& call) const {
  v1::DeleteCollectionRequest request;
  request.set_name(std::string(name));
  grpc::ClientContext context;
  connection_->Prepare(&context, call.timeout);
  v1::DeleteCollectionResponse response;
  return FromGrpc(connection_->retrieval->DeleteCollection(&context, request, &response));
}

absl::StatusOr<v1::CollectionStats> Client::AddDocuments(std::string_view collection,
                                                         const std::vector<Document>& documents,
                                                         const std::function<void(const IngestProgress&)>& on_progress,
                                                         const CallOptions& call) const {
  const std::vector<sdk_internal::IngestBatch> batches = sdk_internal::SplitIntoBatches(documents);
  grpc::ClientContext context;
  connection_->Prepare(&context, call.timeout);
  std::unique_ptr<grpc::ClientReaderWriter<v1::AddDocumentsRequest, v1::AddDocumentsResponse>> stream =
      connection_->retrieval->AddDocuments(&context);

  IngestProgress progress;
  progress.documents_total = documents.size();
  auto report = [&](const v1::AddDocumentsResponse& response) {
    progress.documents = response.documents();
    progress.chunks = response.chunks();
    progress.tokens = response.tokens();
    progress.committed = response.committed();
    if (on_progress) on_progress(progress);
  };

  // Lock step: the server answers every message with the progress so far, and
  // the commit message (the last batch) with the final, committed response.
  v1::AddDocumentsResponse response;
  bool committed = false;
  for (size_t i = 0; i < batches.size(); ++i) {
    const bool last = i + 1 == batches.size();
    v1::AddDocumentsRequest request = batches[i].ToRequest(documents, collection, /*commit=*/last);
    if (!stream->Write(request)) break;  // the server ended the call: Finish() says why
    bool acknowledged = false;
    while (stream->Read(&response)) {
      progress.documents_sent = batches[i].documents_done;
      report(response);
      acknowledged = true;
      committed = response.committed();
      if (!last || committed) break;
    }
    if (!acknowledged) break;
  }
  stream->WritesDone();
  v1::AddDocumentsResponse ignored;
  while (stream->Read(&ignored)) {
  }
  if (grpc::Status s = stream->Finish(); !s.ok()) return FromGrpc(s);
  if (!committed) return absl::InternalError("AddDocuments: the server ended the call without committing");
  return response.stats();
}

absl::StatusOr<v1::SearchResponse> Client::Search(const SearchQuery& query, const CallOptions& call) const {
  if (query.collection.empty() == query.context.empty()) {
    return absl::InvalidArgumentError("search: set exactly one of collection and context");
  }
  v1::SearchRequest request;
  if (!query.collection.empty()) {
    request.set_collection(query.collection);
  } else {
    request.mutable_context()->set_text(query.context);
    request.mutable_context()->set_chunk_tokens(query.context_chunk_tokens);
  }
  request.set_query(query.query);
  request.set_top_k(query.top_k);
  if (query.min_score) request.set_min_score(*query.min_score);
  request.set_mode(query.mode);
  grpc::ClientContext context;
  connection_->Prepare(&context, call.timeout);
  v1::SearchResponse response;
  if (grpc::Status s = connection_->retrieval->Search(&context, request, &response); !s.ok()) return FromGrpc(s);
  return response;
}

absl::StatusOr<v1::CollectionStats> Client::GetCollectionStats(std::string_view name, const CallOptions& call) const {
  v1::GetCollectionStatsRequest request;
  request.set_name(std::string(name));
  grpc::ClientContext context;
  connection_->Prepare(&context, call.timeout);
  v1::CollectionStats response;
  if (grpc::Status s = connection_->retrieval->GetCollectionStats(&context, request, &response); !s.ok()) {
    return FromGrpc(s);
  }
  return response;
}

absl::StatusOr<std::vector<v1::CollectionStats>> Client::ListCollections(const CallOptions& call) const {
  grpc::ClientContext context;
  connection_->Prepare(&context, call.timeout);
  v1::ListCollectionsResponse response;
  if (grpc::Status s = connection_->retrieval->ListCollections(&context, v1::ListCollectionsRequest(), &response);
      !s.ok()) {
    return FromGrpc(s);
  }
  return std::vector<v1::CollectionStats>(response.collections().begin(), response.collections().end());
}

}  // namespace tandem
