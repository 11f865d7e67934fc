// Okapi BM25 over chunk texts, with its own lexical tokenizer (lowercase
// words), independent of the model's tokenizer: BPE pieces make poor search
// terms ("Paris" and " Paris" are different tokens).
//
//   score(q, d) = sum over distinct terms t of q:
//       idf(t) * tf(t,d) * (k1 + 1) / (tf(t,d) + k1 * (1 - b + b * |d| / avgdl))
//   idf(t) = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))   (never negative)
// with k1 = 1.2, b = 0.75. A term repeated in the query counts once.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace tandem::retrieval {

// Words: maximal runs of ASCII letters/digits and non-ASCII bytes (so
// accented and non-Latin words stay whole), ASCII lowercased.
std::vector<std::string> LexicalTerms(std::string_view text);

struct Bm25Params {
  float k1 = 1.2f;
  float b = 0.75f;
};

class Bm25Index {
 public:
  explicit Bm25Index(Bm25Params params = {}) : params_(params) {}

  // Appends one document (a chunk); its id is the number added before it.
  void Add(std::string_view text);
  int64_t size() const { return static_cast<int64_t>(doc_lengths_.size()); }

  // Score of every document for `query` (0 for documents without a query
  // term), indexed by document id.
  std::vector<float> Score(std::string_view query) const;

 private:
  struct Posting {
    int32_t doc;
    int32_t tf;
  };
  Bm25Params params_;
  absl::flat_hash_map<std::string, std::vector<Posting>> postings_;
  std::vector<int32_t> doc_lengths_;
  int64_t total_length_ = 0;
};

}  // namespace tandem::retrieval
