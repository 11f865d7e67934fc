// Retriever port: top-k chunks of a long context or of a stored collection
// for a query. RAPID uses it to build the drafter's short context. In process
// it is services/retrieval's library; in a deployment a gRPC client of the
// retrieval service. Both return chunks with their original position so the
// caller can restore document order.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace tandem::decoding {

enum class RetrievalMode { kDense, kLexical, kHybrid };  // embeddings, BM25, both fused

struct ChunkingOptions {
  int chunk_tokens = 512;  // S: chunk length in target-tokenizer tokens (no overlap)
};

// RetrievalQuery::min_score at or below this keeps every chunk (no theta).
inline constexpr float kKeepAllScores = -1e30f;

struct RetrievalQuery {
  std::string query;        // the question sentence only (not the whole prompt)
  int top_k = 8;            // >= 1
  float min_score = kKeepAllScores; // theta: chunks scoring below are dropped (dense: cosine)
  RetrievalMode mode = RetrievalMode::kDense;
};

struct RetrievedChunk {
  std::string text;
  int64_t position = 0;      // chunk index in the original document / collection order
  int64_t token_offset = 0;  // first token of the chunk in its document
  int32_t token_count = 0;
  float score = 0;           // higher is better (cosine for dense)
  std::string document_id;   // collections only
};

struct RetrievalResult {
  std::vector<RetrievedChunk> chunks;  // best first, de-duplicated
  int64_t total_chunks = 0;            // chunks searched
  int64_t context_tokens = 0;          // SearchText: tokens of the context
  double elapsed_ms = 0;               // chunking + embedding + search
};

class Retriever {
 public:
  virtual ~Retriever() = default;
  // Chunks `context` with the target tokenizer, embeds the chunks and the
  // query, returns the top_k chunks (InvalidArgument for an empty context or
  // query, top_k < 1, invalid UTF-8).
  virtual absl::StatusOr<RetrievalResult> SearchText(std::string_view context,
                                                     const RetrievalQuery& query,
                                                     const ChunkingOptions& chunking) = 0;
  // Searches a stored collection (NotFound when it does not exist).
  virtual absl::StatusOr<RetrievalResult> SearchCollection(std::string_view collection,
                                                           const RetrievalQuery& query) = 0;
};

}  // namespace tandem::decoding
