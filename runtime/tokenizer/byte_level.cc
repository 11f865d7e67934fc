#include "runtime/tokenizer/byte_level.h"

#include "runtime/tokenizer/unicode.h"

namespace tandem::tokenizer {

ByteLevelAlphabet::ByteLevelAlphabet() {
  cp_to_byte_.fill(-1);
  uint32_t shifted = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) ||
                           (b >= 0xAE && b <= 0xFF);
    const uint32_t cp = printable ? static_cast<uint32_t>(b) : shifted++;
    byte_to_cp_[b] = cp;
    cp_to_byte_[cp] = static_cast<int16_t>(b);
  }
}

std::optional<std::string> ByteLevelAlphabet::Decode(std::string_view vocab_text) const {
  std::string out;
  out.reserve(vocab_text.size());
  size_t pos = 0;
  while (pos < vocab_text.size()) {
    const Utf8Char c = DecodeUtf8(vocab_text, pos);
    if (!c.valid || c.cp >= cp_to_byte_.size() || cp_to_byte_[c.cp] < 0) {
      return std::nullopt;
    }
    out.push_back(static_cast<char>(cp_to_byte_[c.cp]));
    pos += c.len;
  }
  return out;
}

std::string ByteLevelAlphabet::Encode(std::string_view bytes) const {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char ch : bytes) AppendUtf8(byte_to_cp_[static_cast<uint8_t>(ch)], &out);
  return out;
}

}  // namespace tandem::tokenizer
