// Sentence embedder interface: text -> L2-normalized vector. The retrieval
// service (dense search), RAPID and the reward service's similarity backend
// use it. The real implementation is the BERT encoder in this folder
// (all-MiniLM-L6-v2: WordPiece, mean pooling, L2 normalization); tests may
// implement it with a deterministic toy.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace tandem::embedding {

class Embedder {
 public:
  virtual ~Embedder() = default;
  virtual std::string_view name() const = 0;
  // Embedding width (384 for all-MiniLM-L6-v2).
  virtual int dim() const = 0;
  // Longest input in the embedder's own tokens; longer texts are truncated.
  virtual int max_tokens() const = 0;
  // texts.size() rows of dim() floats, row-major, each of L2 norm 1 (inner
  // product = cosine). Safe to call from several threads at once.
  // InvalidArgument for invalid UTF-8.
  virtual absl::StatusOr<std::vector<float>> Embed(std::span<const std::string> texts) = 0;
};

}  // namespace tandem::embedding
