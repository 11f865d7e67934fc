// The slice of a language model that the in-process drafter and verifier
// need: sequences with a KV cache that can be appended to (returning logits)
// and truncated. runtime::Model is adapted to it in runtime_language_model.h;
// tests implement it with small synthetic models, which exercises the exact
// drafter/verifier code that runs against the real model.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tandem::decoding {

class LmSequence {
 public:
  virtual ~LmSequence() = default;
  // Tokens currently in the KV cache.
  virtual std::span<const int32_t> tokens() const = 0;
  // Keeps the first n tokens (rollback).
  virtual absl::Status Truncate(int64_t n) = 0;
  // Appends `tokens` and, if `logits` is non-null, writes vocab_size() floats
  // per row: one row per appended token (row i = distribution of the token
  // after tokens[i]) when all_logits, else only the last row.
  virtual absl::Status Append(std::span<const int32_t> tokens, bool all_logits,
                              std::vector<float>* logits) = 0;
  // An independent sequence with the same tokens whose KV cache shares this
  // one's copy-on-write (no KV memory until one of them writes into a shared
  // page). Wrappers that cannot fork keep the default.
  virtual absl::StatusOr<std::unique_ptr<LmSequence>> Fork() const {
    return absl::UnimplementedError("this language model cannot fork sequences");
  }
};

class LanguageModel {
 public:
  virtual ~LanguageModel() = default;
  virtual int32_t vocab_size() const = 0;
  virtual absl::StatusOr<std::unique_ptr<LmSequence>> NewSequence() = 0;
};

}  // namespace tandem::decoding
