#include "services/retrieval/local_retriever.h"

#include <limits>
#include <string>

#include "absl/strings/str_cat.h"

namespace tandem::retrieval {
namespace {

// Port <-> engine conversions.
retrieval::SearchParams ToSearchParams(const decoding::RetrievalQuery& query) {
  retrieval::SearchParams p;
  p.query = query.query;
  p.top_k = query.top_k;
  if (query.min_score > decoding::kKeepAllScores) p.min_score = query.min_score;
  switch (query.mode) {
    case decoding::RetrievalMode::kDense: p.mode = retrieval::SearchMode::kDense; break;
    case decoding::RetrievalMode::kLexical: p.mode = retrieval::SearchMode::kBm25; break;
    case decoding::RetrievalMode::kHybrid: p.mode = retrieval::SearchMode::kHybrid; break;
  }
  return p;
}

decoding::RetrievalResult FromSearchResult(retrieval::SearchResult result) {
  decoding::RetrievalResult out;
  out.chunks.reserve(result.chunks.size());
  for (retrieval::RetrievedChunk& c : result.chunks) {
    decoding::RetrievedChunk r;
    r.text = std::move(c.text);
    r.position = c.position;
    r.token_offset = c.token_offset;
    r.token_count = c.token_count;
    r.score = c.score;
    r.document_id = std::move(c.document_id);
    out.chunks.push_back(std::move(r));
  }
  out.total_chunks = result.total_chunks;
  out.context_tokens = result.context_tokens;
  out.elapsed_ms = result.elapsed_ms;
  return out;
}

}  // namespace

absl::StatusOr<retrieval::RetrievalEngine*> LocalRetriever::engine() {
  absl::MutexLock lock(&mu_);
  if (engine_ == nullptr && load_error_.ok()) {
    if (!loader_) return absl::FailedPreconditionError("retriever: no engine and no loader");
    auto loaded = loader_();
    if (loaded.ok() && *loaded == nullptr) loaded = absl::InternalError("retriever: the loader returned no engine");
    if (loaded.ok()) {
      engine_ = std::move(*loaded);
    } else {
      load_error_ = absl::Status(loaded.status().code(),
                                 absl::StrCat("retriever: ", loaded.status().message()));
    }
  }
  if (!load_error_.ok()) return load_error_;
  return engine_.get();
}

absl::StatusOr<decoding::RetrievalResult> LocalRetriever::SearchText(std::string_view context, const decoding::RetrievalQuery& query,
                                                           const decoding::ChunkingOptions& chunking) {
  auto engine = this->engine();
  if (!engine.ok()) return engine.status();
  auto r = (*engine)->SearchText(context, chunking.chunk_tokens, ToSearchParams(query));
  if (!r.ok()) return r.status();
  return FromSearchResult(std::move(*r));
}

absl::StatusOr<decoding::RetrievalResult> LocalRetriever::SearchCollection(std::string_view collection,
                                                                 const decoding::RetrievalQuery& query) {
  auto engine = this->engine();
  if (!engine.ok()) return engine.status();
  auto r = (*engine)->SearchCollection(std::string(collection), ToSearchParams(query));
  if (!r.ok()) return r.status();
  return FromSearchResult(std::move(*r));
}

}  // namespace tandem::retrieval
