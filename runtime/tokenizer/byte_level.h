// The byte-level alphabet of GPT-2 style BPE vocabularies: every byte is
// stored in the vocabulary as one printable code point (bytes that are
// printable Latin-1 stand for themselves; the others are shifted to U+0100+).
// The tokenizer works on raw bytes internally and converts the vocabulary
// once at load time.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tandem::tokenizer {

class ByteLevelAlphabet {
 public:
  ByteLevelAlphabet();

  uint32_t CodepointForByte(uint8_t b) const { return byte_to_cp_[b]; }

  // Converts a vocabulary string (UTF-8 of alphabet code points) to the raw
  // bytes it stands for; nullopt if it contains a code point outside the
  // alphabet (then the token is not a byte-level token).
  std::optional<std::string> Decode(std::string_view vocab_text) const;

  // Raw bytes to the vocabulary form (used by tests and diagnostics).
  std::string Encode(std::string_view bytes) const;

 private:
  std::array<uint32_t, 256> byte_to_cp_{};
  std::array<int16_t, 324> cp_to_byte_{};  // -1 where not in the alphabet
};

}  // namespace tandem::tokenizer
