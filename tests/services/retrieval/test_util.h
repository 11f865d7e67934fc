// Test utilities for the retrieval tests: a byte-level tokenizer without a
// GGUF file (one token per byte, so token counts are byte counts) and a
// deterministic toy Embedder (hashed bag of lowercase words). The toy is a
// test double only: it stands in for the BERT embedder where the tests check
// chunking, indexing, persistence and the service, not embedding quality.
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/embedding/embedder.h"
#include "runtime/tokenizer/byte_level.h"
#include "runtime/tokenizer/tokenizer.h"
#include "runtime/tokenizer/unicode.h"
#include "services/retrieval/bm25.h"

namespace tandem::retrieval::testing {

inline std::shared_ptr<const tokenizer::Tokenizer> ByteTokenizer() {
  tokenizer::TokenizerConfig c;
  tokenizer::ByteLevelAlphabet alphabet;
  for (int b = 0; b < 256; ++b) c.tokens.push_back(alphabet.Encode(std::string(1, static_cast<char>(b))));
  auto tok = tokenizer::Tokenizer::FromConfig(std::move(c));
  if (!tok.ok()) return nullptr;
  return std::shared_ptr<const tokenizer::Tokenizer>(std::move(*tok));
}

class ToyEmbedder : public embedding::Embedder {
 public:
  explicit ToyEmbedder(int dim = 64, std::string name = "toy-hash-64") : dim_(dim), name_(std::move(name)) {}
  std::string_view name() const override { return name_; }
  int dim() const override { return dim_; }
  int max_tokens() const override { return 512; }
  absl::StatusOr<std::vector<float>> Embed(std::span<const std::string> texts) override {
    calls_ += 1;
    std::vector<float> out;
    for (const std::string& t : texts) {
      for (size_t i = 0; i < t.size();) {
        const tokenizer::Utf8Char c = tokenizer::DecodeUtf8(t, i);
        if (!c.valid) return absl::InvalidArgumentError("toy embedder: invalid UTF-8");
        i += c.len;
      }
      std::vector<float> v(static_cast<size_t>(dim_), 0.0f);
      for (const std::string& w : LexicalTerms(t)) {
        uint64_t h = 1469598103934665603ull;
        for (unsigned char ch : w) h = (h ^ ch) * 1099511628211ull;
        v[h % static_cast<uint64_t>(dim_)] += ((h >> 40) & 1) ? 1.0f : -1.0f;
      }
      double norm = 0;
      for (float x : v) norm += static_cast<double>(x) * x;
      if (norm == 0) {
        v[0] = 1;
        norm = 1;
      }
      for (float& x : v) x = static_cast<float>(x / std::sqrt(norm));
      out.insert(out.end(), v.begin(), v.end());
    }
    return out;
  }
  int calls() const { return calls_; }

 private:
  int dim_;
  std::string name_;
  int calls_ = 0;
};

}  // namespace tandem::retrieval::testing
