// UTF-8 decoding and the code point classes (\p{L}, \p{N}, \s) the
// pre-tokenizers split on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tandem::tokenizer {

enum CodepointClass : uint8_t {
  kOther = 0,
  kLetter = 1,
  kNumber = 2,
  kWhitespace = 4,
};

CodepointClass ClassifyCodepoint(uint32_t cp);

// One decoded character. Malformed input (a stray continuation byte, a
// truncated or overlong sequence, a surrogate) decodes as a single byte with
// `valid == false` so that callers can keep such bytes verbatim.
struct Utf8Char {
  uint32_t cp = 0;
  uint8_t len = 1;
  bool valid = false;
};

// Decodes the character starting at text[pos]; pos must be < text.size().
Utf8Char DecodeUtf8(std::string_view text, size_t pos);

// Appends the UTF-8 encoding of a valid code point.
void AppendUtf8(uint32_t cp, std::string* out);

// Length of a valid complete sequence starting at text[pos], 0 if the bytes
// there are malformed, or -1 if they are a valid but incomplete prefix.
int Utf8SequenceLength(std::string_view text, size_t pos);

// Well-formed UTF-8 throughout (no overlongs, surrogates, stray continuation
// bytes or truncated sequences).
bool IsValidUtf8(std::string_view text);

}  // namespace tandem::tokenizer
