// Inputs of the Retrieval service calls (collections, ingestion, search).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "tandem/v1/retrieval.pb.h"

namespace tandem {

struct Document {
  std::string id = {};  // unique in the collection; empty = the server assigns one
  std::string text = {};
};

// Progress of Client::AddDocuments, reported after each message the server
// acknowledged.
struct IngestProgress {
  uint64_t documents_sent = 0;   // documents fully sent so far
  uint64_t documents_total = 0;  // documents of this call
  // The server's totals of this call so far.
  uint64_t documents = 0;
  uint64_t chunks = 0;
  uint64_t tokens = 0;
  bool committed = false;  // the last report, after the atomic commit
};

struct SearchQuery {
  // Exactly one: a stored collection, or an inline text searched unstored.
  std::string collection = {};
  std::string context = {};
  int32_t context_chunk_tokens = 0;  // chunk length for `context`; 0 = 512
  std::string query = {};
  int32_t top_k = 10;
  std::optional<float> min_score = {};
  v1::SearchMode mode = v1::SEARCH_MODE_DENSE;
};

}  // namespace tandem
