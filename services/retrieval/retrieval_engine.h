// The retrieval service's logic without the network: named collections
// (persisted under a data dir, or in memory), streamed ingestion with one
// atomic commit, dense / BM25 / hybrid search, and ad-hoc search over an
// inline context (chunked + embedded per call, never stored). The gRPC
// service and the orchestrator's in-process Retriever both sit on this.
// Thread-safe: searches run concurrently with each other and with commits
// (they read an immutable snapshot); commits of one collection are
// serialized.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "runtime/embedding/embedder.h"
#include "runtime/tokenizer/tokenizer.h"
#include "services/retrieval/collection.h"
#include "services/retrieval/store.h"

namespace tandem::retrieval {

inline constexpr int kMinChunkTokens = 16;
inline constexpr int kMaxChunkTokens = 8192;
inline constexpr int kMaxTopK = 1000;
inline constexpr size_t kMaxQueryBytes = 64 << 10;
inline constexpr size_t kMaxDocumentIdBytes = 256;

struct RetrievalEngineOptions {
  // Where collections live; empty = in memory only (lost at exit).
  std::string data_dir;
  // Open data_dir without writing to it (another process serves it): the
  // collections are searchable, create/delete/ingest fail.
  bool read_only = false;
  int default_chunk_tokens = 512;
  // Dense scoring granularity: each chunk is embedded as windows of this
  // many target tokens (cut like chunks) and scores as its best window. Why:
  // sentence embedders are trained on short inputs (all-MiniLM-L6-v2: <= 128
  // word pieces) and mean pooling over a 512-token chunk blurs a one-sentence
  // fact. Measured on the needle test (24 facts in 16K essay tokens, top 8 of
  // 512-token chunks): whole chunks 79 % found, 256-token windows 79 %, 128:
  // 92 %, 64: 100 % (23/24 at rank 1), 32: 100 % (24/24 at rank 1, twice the
  // vectors). 0 = one vector per chunk.
  int embed_window_tokens = 64;
  DenseIndexOptions index;
  // Inline contexts whose chunks and embeddings are kept for reuse (least
  // recently used evicted; 0 = none). Why: embedding dominates an inline
  // search (a 32K-token context takes ~26 s on a loaded 2-core CPU) and
  // RAPID clients often ask several questions about the same document.
  // Keyed by the exact text and chunk size; a 32K-token context costs ~1 MB.
  int context_cache_entries = 8;
};

struct CollectionInfo {
  std::string name;
  uint64_t documents = 0, chunks = 0, tokens = 0, vectors = 0;
  int chunk_tokens = 0, embed_window_tokens = 0;
  std::string embedder;
  int dim = 0;
  std::string index_type;
  uint64_t generation = 0;
  uint64_t disk_bytes = 0;
};

struct RetrievedChunk {
  std::string text;
  int64_t position = 0;
  int64_t token_offset = 0;
  int32_t token_count = 0;
  float score = 0;
  std::string document_id;
};

struct SearchResult {
  std::vector<RetrievedChunk> chunks;  // best first
  int64_t total_chunks = 0;
  int64_t context_tokens = 0;          // inline context only
  double elapsed_ms = 0;
  bool context_cached = false;         // inline context found in the cache (not embedded again)
};

class RetrievalEngine;

// One stream of documents into a collection: each Add chunks and embeds a
// document right away (so progress is real), Commit publishes all of them
// atomically. Dropping an Ingestion without Commit discards it.
class Ingestion {
 public:
  // Adds a document; an empty id gets "doc-<n>" at commit. INVALID_ARGUMENT
  // for empty or invalid UTF-8 text or a bad id; ALREADY_EXISTS for an id
  // repeated in this stream.
  absl::Status Add(std::string id, std::string_view text);
  uint64_t documents() const { return docs_.size(); }
  uint64_t chunks() const { return chunks_; }
  uint64_t tokens() const { return tokens_; }
  // Publishes the documents (NOT_FOUND if the collection was deleted
  // meanwhile, ALREADY_EXISTS if an id is already in the collection).
  absl::StatusOr<CollectionInfo> Commit();

 private:
  friend class RetrievalEngine;
  Ingestion(RetrievalEngine& engine, std::string collection, CollectionConfig config)
      : engine_(engine), collection_(std::move(collection)), config_(std::move(config)) {}
  RetrievalEngine& engine_;
  std::string collection_;
  CollectionConfig config_;
  std::vector<PreparedDocument> docs_;
  uint64_t chunks_ = 0, tokens_ = 0;
  bool committed_ = false;
};

class RetrievalEngine {
 public:
  // `tokenizer`: the target model's (chunk sizes are in its tokens).
  // Loads every committed collection under options.data_dir.
  static absl::StatusOr<std::unique_ptr<RetrievalEngine>> Open(
      std::shared_ptr<const tokenizer::Tokenizer> tokenizer, std::shared_ptr<embedding::Embedder> embedder,
      RetrievalEngineOptions options);

  // chunk_tokens 0 = the default. ALREADY_EXISTS for a taken name.
  absl::StatusOr<CollectionInfo> CreateCollection(const std::string& name, int chunk_tokens);
  absl::Status DeleteCollection(const std::string& name);
  absl::StatusOr<CollectionInfo> GetCollectionInfo(const std::string& name) const;
  std::vector<CollectionInfo> ListCollections() const;
  absl::StatusOr<std::unique_ptr<Ingestion>> BeginIngestion(const std::string& name);

  absl::StatusOr<SearchResult> SearchCollection(const std::string& name, const SearchParams& params) const;
  // chunk_tokens 0 = the default.
  absl::StatusOr<SearchResult> SearchText(std::string_view context, int chunk_tokens,
                                          const SearchParams& params) const;

  const tokenizer::Tokenizer& tokenizer() const { return *tokenizer_; }
  embedding::Embedder& embedder() const { return *embedder_; }
  const RetrievalEngineOptions& options() const { return options_; }

 private:
  friend class Ingestion;
  struct Slot {
    absl::Mutex commit_mu;  // serializes commits and the delete
    mutable absl::Mutex mu;
    std::shared_ptr<const CollectionData> data ABSL_GUARDED_BY(mu);
    bool deleted ABSL_GUARDED_BY(mu) = false;
  };

  RetrievalEngine(std::shared_ptr<const tokenizer::Tokenizer> tokenizer,
                  std::shared_ptr<embedding::Embedder> embedder, RetrievalEngineOptions options)
      : tokenizer_(std::move(tokenizer)), embedder_(std::move(embedder)), options_(std::move(options)) {}

  absl::StatusOr<std::shared_ptr<Slot>> FindSlot(const std::string& name) const;
  absl::StatusOr<CollectionInfo> Commit(const std::string& name, std::vector<PreparedDocument>& docs);
  absl::StatusOr<std::vector<SearchHit>> Search(const CollectionData& data, const SearchParams& params) const;
  CollectionConfig NewConfig(int chunk_tokens) const;

  std::shared_ptr<const tokenizer::Tokenizer> tokenizer_;
  std::shared_ptr<embedding::Embedder> embedder_;
  RetrievalEngineOptions options_;
  // An embedded inline context: its chunks/vectors/indexes and the text
  // they were built from (compared in full on lookup: no hash collisions).
  struct CachedContext {
    std::string text;
    int chunk_tokens = 0;
    std::shared_ptr<const CollectionData> data;
  };
  std::shared_ptr<const CollectionData> FindContext(std::string_view text, int chunk_tokens) const;
  void RememberContext(std::string_view text, int chunk_tokens, std::shared_ptr<const CollectionData> data) const;

  std::unique_ptr<CollectionStore> store_;  // null: in memory
  mutable absl::Mutex cache_mu_;
  mutable std::vector<CachedContext> context_cache_ ABSL_GUARDED_BY(cache_mu_);  // most recent last
  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<Slot>> collections_ ABSL_GUARDED_BY(mu_);
};

// Validation shared by the engine and the service (INVALID_ARGUMENT naming
// `field`).
absl::Status ValidateText(std::string_view text, std::string_view field, size_t max_bytes = SIZE_MAX);
absl::Status ValidateSearchParams(const SearchParams& params);
absl::Status ValidateChunkTokens(int chunk_tokens, std::string_view field);  // 0 allowed (= default)

CollectionInfo InfoOf(const CollectionData& data);

}  // namespace tandem::retrieval
