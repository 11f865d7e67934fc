#include "services/retrieval/retrieval_service.h"

#include <chrono>
#include <string>

#include "absl/strings/str_cat.h"
#include "services/common/status_convert.h"

namespace tandem::retrieval {
namespace {

absl::StatusOr<SearchMode> ModeFromProto(tandem::v1::SearchMode mode) {
  switch (mode) {
    case tandem::v1::SEARCH_MODE_UNSPECIFIED:
    case tandem::v1::SEARCH_MODE_DENSE: return SearchMode::kDense;
    case tandem::v1::SEARCH_MODE_BM25: return SearchMode::kBm25;
    case tandem::v1::SEARCH_MODE_HYBRID: return SearchMode::kHybrid;
    default: break;
  }
  return absl::InvalidArgumentError(absl::StrCat("mode: unknown value ", static_cast<int>(mode)));
}

}  // namespace

void InfoToProto(const CollectionInfo& info, tandem::v1::CollectionStats* out) {
  out->set_name(info.name);
  out->set_documents(info.documents);
  out->set_chunks(info.chunks);
  out->set_tokens(info.tokens);
  out->set_vectors(info.vectors);
  out->set_chunk_tokens(info.chunk_tokens);
  out->set_embed_window_tokens(info.embed_window_tokens);
  out->set_embedder(info.embedder);
  out->set_dim(info.dim);
  out->set_index_type(info.index_type);
  out->set_generation(info.generation);
  out->set_disk_bytes(info.disk_bytes);
}

grpc::Status RetrievalService::Finish(std::string_view method, const absl::Status& status) {
  if (!status.ok() && metrics_ != nullptr) metrics_->RecordFailure(method, status.code());
  return services::ToGrpcStatus(status);
}

grpc::Status RetrievalService::CreateCollection(grpc::ServerContext*, const tandem::v1::CreateCollectionRequest* req,
                                                tandem::v1::CollectionStats* resp) {
  auto info = engine_.CreateCollection(req->name(), req->chunk_tokens());
  if (info.ok()) InfoToProto(*info, resp);
  return Finish("CreateCollection", info.status());
}

grpc::Status RetrievalService::DeleteCollection(grpc::ServerContext*, const tandem::v1::DeleteCollectionRequest* req,
                                                tandem::v1::DeleteCollectionResponse*) {
  return Finish("DeleteCollection", engine_.DeleteCollection(req->name()));
}

grpc::Status RetrievalService::GetCollectionStats(grpc::ServerContext*,
                                                  const tandem::v1::GetCollectionStatsRequest* req,
                                                  tandem::v1::CollectionStats* resp) {
  auto info = engine_.GetCollectionInfo(req->name());
  if (info.ok()) InfoToProto(*info, resp);
  return Finish("GetCollectionStats", info.status());
}

grpc::Status RetrievalService::ListCollections(grpc::ServerContext*, const tandem::v1::ListCollectionsRequest*,
                                               tandem::v1::ListCollectionsResponse* resp) {
  for (const CollectionInfo& info : engine_.ListCollections()) InfoToProto(info, resp->add_collections());
  return grpc::Status::OK;
}

grpc::Status RetrievalService::AddDocuments(
    grpc::ServerContext* ctx,
    grpc::ServerReaderWriter<tandem::v1::AddDocumentsResponse, tandem::v1::AddDocumentsRequest>* stream) {
  return Finish("AddDocuments", DoAddDocuments(ctx, stream));
}

absl::Status RetrievalService::DoAddDocuments(
    grpc::ServerContext* ctx,
    grpc::ServerReaderWriter<tandem::v1::AddDocumentsResponse, tandem::v1::AddDocumentsRequest>* stream) {
  tandem::v1::AddDocumentsRequest req;
  std::string collection;
  std::unique_ptr<Ingestion> ingestion;
  // A document streamed in parts: its id and the text so far.
  bool pending = false;
  std::string pending_id, pending_text;
  uint64_t message = 0;
  bool commit = false;
  while (stream->Read(&req)) {
    if (message == 0) {
      if (req.collection().empty()) return absl::InvalidArgumentError("collection: required in the first message");
      collection = req.collection();
      auto begun = engine_.BeginIngestion(collection);
      if (!begun.ok()) return begun.status();
      ingestion = std::move(*begun);
    } else if (!req.collection().empty() && req.collection() != collection) {
      return absl::InvalidArgumentError(absl::StrCat("collection: message ", message, " names '", req.collection(),
                                                     "', the stream writes to '", collection, "'"));
    }
    for (int i = 0; i < req.documents_size(); ++i) {
      const tandem::v1::Document& doc = req.documents(i);
      if (pending && doc.id() != pending_id) {
        return absl::InvalidArgumentError(absl::StrCat("documents[", i, "].id: '", doc.id(),
                                                       "' follows a partial document '", pending_id,
                                                       "' (its remaining parts must come next)"));
      }
      if (!pending) pending_id = doc.id();
      if (pending_text.size() + doc.text().size() > kMaxDocumentBytes) {
        return absl::InvalidArgumentError(absl::StrCat("documents[", i, "].text: document '", doc.id(),
                                                       "' exceeds ", kMaxDocumentBytes, " bytes"));
      }
      pending_text += doc.text();
      pending = doc.partial();
      if (pending) continue;
      if (absl::Status s = ingestion->Add(pending_id, pending_text); !s.ok()) return s;
      pending_text.clear();
    }
    ++message;
    if (req.commit()) {
      commit = true;
      break;  // the last message: nothing is read after it
    }
    tandem::v1::AddDocumentsResponse progress;
    progress.set_documents(ingestion->documents());
    progress.set_chunks(ingestion->chunks());
    progress.set_tokens(ingestion->tokens());
    if (!stream->Write(progress)) return absl::CancelledError("client went away before the commit");
  }
  if (message == 0) return absl::InvalidArgumentError("collection: required in the first message (empty stream)");
  if (pending) {
    return absl::InvalidArgumentError(absl::StrCat("documents.partial: the stream ended inside document '",
                                                   pending_id, "'"));
  }
  // Read() also returns false when a message fails to parse or the call
  // breaks, so the end of the stream alone is no proof that the client sent
  // everything: only an explicit commit publishes.
  if (!commit) {
    return absl::AbortedError("commit: the stream ended without a message with commit = true; nothing was committed");
  }
  if (ctx->IsCancelled()) return absl::CancelledError("AddDocuments cancelled before the commit");
  auto info = ingestion->Commit();
  if (!info.ok()) return info.status();
  if (metrics_ != nullptr) metrics_->RecordIngested(ingestion->documents(), ingestion->chunks(), ingestion->tokens());
  tandem::v1::AddDocumentsResponse done;
  done.set_documents(ingestion->documents());
  done.set_chunks(ingestion->chunks());
  done.set_tokens(ingestion->tokens());
  done.set_committed(true);
  InfoToProto(*info, done.mutable_stats());
  stream->Write(done);  // committed either way; a vanished client just misses the summary
  return absl::OkStatus();
}

grpc::Status RetrievalService::Search(grpc::ServerContext*, const tandem::v1::SearchRequest* req,
                                      tandem::v1::SearchResponse* resp) {
  return Finish("Search", DoSearch(*req, resp));
}

absl::Status RetrievalService::DoSearch(const tandem::v1::SearchRequest& req, tandem::v1::SearchResponse* resp) {
  const auto t0 = std::chrono::steady_clock::now();
  auto mode = ModeFromProto(req.mode());
  if (!mode.ok()) return mode.status();
  SearchParams params;
  params.query = req.query();
  params.top_k = req.top_k();
  if (req.has_min_score()) params.min_score = req.min_score();
  params.mode = *mode;
  absl::StatusOr<SearchResult> result;
  std::string_view source;
  switch (req.source_case()) {
    case tandem::v1::SearchRequest::kCollection:
      source = "collection";
      result = engine_.SearchCollection(req.collection(), params);
      break;
    case tandem::v1::SearchRequest::kContext:
      source = "context";
      result = engine_.SearchText(req.context().text(), req.context().chunk_tokens(), params);
      break;
    default:
      return absl::InvalidArgumentError("source: set collection or context");
  }
  if (!result.ok()) return result.status();
  int64_t tokens = 0;
  for (const RetrievedChunk& c : result->chunks) {
    tandem::v1::RetrievedChunk* out = resp->add_chunks();
    out->set_text(c.text);
    out->set_position(c.position);
    out->set_token_offset(c.token_offset);
    out->set_token_count(c.token_count);
    out->set_score(c.score);
    out->set_document_id(c.document_id);
    tokens += c.token_count;
  }
  resp->set_total_chunks(result->total_chunks);
  resp->set_context_tokens(result->context_tokens);
  resp->set_elapsed_ms(result->elapsed_ms);
  resp->set_context_cached(result->context_cached);
  if (metrics_ != nullptr) {
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    metrics_->ObserveSearch(SearchModeName(params.mode), source, seconds,
                            static_cast<int64_t>(result->chunks.size()), tokens);
  }
  return absl::OkStatus();
}

}  // namespace tandem::retrieval
