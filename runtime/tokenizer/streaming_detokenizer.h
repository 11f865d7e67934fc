// Incremental detokenization for streaming output: a multi-byte character
// (emoji, CJK) is often split across tokens, so bytes are held back until
// they form complete UTF-8 sequences. Never emits a broken sequence.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tandem::tokenizer {

class Tokenizer;

class StreamingDetokenizer {
 public:
  // The tokenizer must outlive this object.
  explicit StreamingDetokenizer(const Tokenizer& tokenizer) : tokenizer_(&tokenizer) {}

  // Adds a token; returns the newly completed valid UTF-8 text (may be empty).
  // Malformed bytes that can never complete are emitted as U+FFFD.
  std::string Push(int32_t id);
  // Same for raw bytes (used by Push; handy for tests).
  std::string PushBytes(std::string_view bytes);
  // Emits whatever is held back; an incomplete trailing sequence becomes U+FFFD.
  std::string Flush();
  // Drops held-back bytes (e.g. after a rollback of rejected draft tokens).
  void Reset() { pending_.clear(); }

  size_t pending_bytes() const { return pending_.size(); }

 private:
  const Tokenizer* tokenizer_;
  std::string pending_;
};

}  // namespace tandem::tokenizer
