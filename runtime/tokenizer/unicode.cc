#include "runtime/tokenizer/unicode.h"

#include <algorithm>

#include "runtime/tokenizer/unicode_tables.h"

namespace tandem::tokenizer {
namespace {

// ASCII is by far the most common input; avoid the binary search for it.
constexpr CodepointClass AsciiClass(uint32_t c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return kLetter;
  if (c >= '0' && c <= '9') return kNumber;
  if (c == ' ' || (c >= 0x09 && c <= 0x0D)) return kWhitespace;
  return kOther;
}

}  // namespace

CodepointClass ClassifyCodepoint(uint32_t cp) {
  if (cp < 0x80) return AsciiClass(cp);
  const auto* begin = internal::kCodepointRanges;
  const auto* end = begin + internal::kNumCodepointRanges;
  // First range whose last >= cp.
  const auto* it = std::lower_bound(
      begin, end, cp,
      [](const internal::CodepointRange& r, uint32_t v) { return r.last < v; });
  if (it == end || it->first > cp) return kOther;
  return static_cast<CodepointClass>(it->cls);
}

int Utf8SequenceLength(std::string_view text, size_t pos) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  const unsigned char b0 = s[pos];
  if (b0 < 0x80) return 1;
  int len;
  uint32_t min_cp;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2; min_cp = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3; min_cp = 0x800;
  } else if ((b0 & 0xF8) == 0xF0 && b0 <= 0xF4) {
    len = 4; min_cp = 0x10000;
  } else {
    return 0;  // continuation byte or invalid lead byte
  }
  uint32_t cp = b0 & (0x7F >> len);
  for (int k = 1; k < len; ++k) {
    if (pos + k >= n) {
      // Truncated: still a valid prefix only if what we have could complete.
      // Reject prefixes that can only lead to overlong/surrogate/out-of-range.
      if (k == 1) {
        return (b0 == 0xC0 || b0 == 0xC1) ? 0 : -1;
      }
      const uint32_t partial = cp << (6 * (len - k));
      const uint32_t max_cp = partial | ((1u << (6 * (len - k))) - 1);
      if (max_cp < min_cp) return 0;
      if (partial >= 0xD800 && partial <= 0xDFFF) return 0;
      if (partial > 0x10FFFF) return 0;
      return -1;
    }
    const unsigned char b = s[pos + k];
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min_cp || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

Utf8Char DecodeUtf8(std::string_view text, size_t pos) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  if (s[pos] < 0x80) return {s[pos], 1, true};
  const int len = Utf8SequenceLength(text, pos);
  if (len <= 0) return {s[pos], 1, false};
  uint32_t cp = s[pos] & (0x7F >> len);
  for (int k = 1; k < len; ++k) cp = (cp << 6) | (s[pos + k] & 0x3F);
  return {cp, static_cast<uint8_t>(len), true};
}

bool IsValidUtf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const int n = Utf8SequenceLength(text, i);
    if (n <= 0) return false;
    i += static_cast<size_t>(n);
  }
  return true;
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace tandem::tokenizer
