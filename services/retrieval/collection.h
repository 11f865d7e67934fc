// One collection's searchable state: chunks (with their document and
// original position), window embeddings, the BM25 index and the dense index.
// Immutable once built: searches share it through a shared_ptr while a commit
// builds the next version beside it, so reads never wait for ingestion.
// The same type backs ad-hoc searches of an inline context (never stored).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/embedding/embedder.h"
#include "services/retrieval/bm25.h"
#include "services/retrieval/dense_index.h"

namespace tandem::tokenizer {
class Tokenizer;
}

namespace tandem::retrieval {

enum class SearchMode { kDense, kBm25, kHybrid };
std::string_view SearchModeName(SearchMode mode);

struct CollectionConfig {
  int chunk_tokens = 512;        // S
  int embed_window_tokens = 64;  // dense: each chunk embedded as windows of this many tokens (0 = whole chunk)
  std::string embedder;          // Embedder::name() of the vectors
  int dim = 0;
};

struct DocumentRecord {
  std::string id;
  int64_t tokens = 0;
  int64_t bytes = 0;
  int64_t first_chunk = 0;
  int64_t chunk_count = 0;
};

struct ChunkRecord {
  int32_t document = 0;      // index into documents
  int64_t token_offset = 0;  // within the document
  int32_t token_count = 0;
  std::string text;
};

struct CollectionData {
  std::string name;
  CollectionConfig config;
  uint64_t generation = 0;
  std::vector<DocumentRecord> documents;
  std::vector<ChunkRecord> chunks;      // position = index
  std::vector<float> vectors;           // window embeddings, rows of config.dim
  std::vector<int32_t> vector_chunk;    // window row -> chunk index
  int64_t tokens = 0;
  uint64_t disk_bytes = 0;              // committed files (0 in memory)
  Bm25Index bm25;                       // one document per chunk
  std::unique_ptr<DenseIndex> index;    // over `vectors`; never null once built

  int64_t vector_count() const { return config.dim > 0 ? static_cast<int64_t>(vectors.size()) / config.dim : 0; }
};

// A document chunked and embedded, not yet part of a collection.
struct PreparedDocument {
  DocumentRecord record;             // first_chunk relative to this document (0)
  std::vector<ChunkRecord> chunks;   // document index 0
  std::vector<float> vectors;
  std::vector<int32_t> vector_chunk; // relative to this document's chunks
};

// Chunks `text` with the target tokenizer and, when `embedder` is not null,
// embeds its windows (null: chunks only, vectors and vector_chunk empty, for
// a lexical-only search).
absl::StatusOr<PreparedDocument> PrepareDocument(const tokenizer::Tokenizer& tok, embedding::Embedder* embedder,
                                                 const CollectionConfig& config, std::string id,
                                                 std::string_view text);

// `base` (may be null: empty) plus `docs`, as a new generation-less version
// with a BM25 and a dense index. `base` is not modified.
absl::StatusOr<std::shared_ptr<CollectionData>> ExtendCollection(const CollectionData* base,
                                                                 const std::string& name,
                                                                 const CollectionConfig& config,
                                                                 std::span<PreparedDocument> docs,
                                                                 const DenseIndexOptions& index_options);

// Rebuilds the derived state (BM25 from chunk texts, the dense index from
// `vectors` unless one is given) after a load.
absl::Status RebuildDerived(CollectionData* data, const DenseIndexOptions& index_options);

struct SearchParams {
  std::string query;
  int top_k = 8;
  std::optional<float> min_score;
  SearchMode mode = SearchMode::kDense;
};

struct SearchHit {
  int64_t chunk = 0;  // index = position
  float score = 0;
};

// Ranks `data`'s chunks for the query: best first, de-duplicated by text,
// at most top_k, dropping scores below min_score. Dense scores are the best
// window's cosine; hybrid is reciprocal-rank fusion, sum of 1 / (60 + rank)
// over the dense and the BM25 rankings. FAILED_PRECONDITION when the
// collection was embedded by a different embedder.
absl::StatusOr<std::vector<SearchHit>> SearchCollectionData(const CollectionData& data, embedding::Embedder& embedder,
                                                            const SearchParams& params);

}  // namespace tandem::retrieval
