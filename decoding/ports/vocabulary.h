// What strategies need to know about tokens without depending on a tokenizer
// implementation: end-of-generation ids and incremental detokenization (for
// stop strings and streamed text). In process this wraps runtime::Tokenizer;
// a remote orchestrator fills it from the target's model info and a local
// tokenizer.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

namespace tandem::decoding {

// Incremental token -> UTF-8 text for one generation. Push returns only
// complete UTF-8 (bytes of an unfinished character are held back).
class TokenDecoder {
 public:
  virtual ~TokenDecoder() = default;
  virtual std::string Push(int32_t token) = 0;
  virtual std::string Flush() = 0;
};

class Vocabulary {
 public:
  virtual ~Vocabulary() = default;
  virtual int32_t vocab_size() const = 0;
  // EOS / end-of-turn: generation stops after such a token.
  virtual bool IsEndOfGeneration(int32_t token) const = 0;
  // A fresh decoder, or nullptr when no text is available (stop strings are
  // then rejected and chunks carry token ids only).
  virtual std::unique_ptr<TokenDecoder> NewDecoder() const = 0;
};

// The text of `tokens` decoded in one go (the bytes of a character left
// unfinished at the end flushed as the decoder writes them); nullopt when
// `vocab` has no decoder.
inline std::optional<std::string> DecodeTokens(const Vocabulary& vocab, std::span<const int32_t> tokens) {
  std::unique_ptr<TokenDecoder> decoder = vocab.NewDecoder();
  if (decoder == nullptr) return std::nullopt;
  std::string text;
  for (int32_t token : tokens) text += decoder->Push(token);
  return text + decoder->Flush();
}

// A vocabulary with end-of-generation switched off: the strategies then
// treat end-of-generation tokens as ordinary tokens (ignore_eos requests,
// CARDS with stop_at_eos = false as in its reference code).
class EosFreeVocabulary : public Vocabulary {
 public:
  explicit EosFreeVocabulary(const Vocabulary& base) : base_(base) {}
  int32_t vocab_size() const override { return base_.vocab_size(); }
  bool IsEndOfGeneration(int32_t) const override { return false; }
  std::unique_ptr<TokenDecoder> NewDecoder() const override { return base_.NewDecoder(); }

 private:
  const Vocabulary& base_;
};

}  // namespace tandem::decoding
