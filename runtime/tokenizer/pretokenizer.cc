#include "runtime/tokenizer/pretokenizer.h"

#include "absl/strings/str_cat.h"
#include "runtime/tokenizer/unicode.h"

namespace tandem::tokenizer {
namespace {

// A decoded view of the text: one entry per character, so the matchers can
// look ahead and back up cheaply.
struct Char {
  size_t offset;    // byte offset in the text
  uint32_t cp;      // code point, or the raw byte if malformed
  CodepointClass cls;
};

void DecodeAll(std::string_view text, std::vector<Char>* chars) {
  chars->clear();
  chars->reserve(text.size() + 1);
  size_t pos = 0;
  while (pos < text.size()) {
    const Utf8Char c = DecodeUtf8(text, pos);
    chars->push_back({pos, c.cp,
                      c.valid ? ClassifyCodepoint(c.cp) : kOther});
    pos += c.len;
  }
  // Sentinel so that chars[n].offset is the end of the text.
  chars->push_back({text.size(), 0, kOther});
}

bool IsCrLf(uint32_t cp) { return cp == '\r' || cp == '\n'; }

uint32_t Lower(uint32_t cp) {
  if (cp >= 'A' && cp <= 'Z') return cp + 32;
  return cp;
}

// Length in characters of the contraction at chars[i] ('s 't 're 've 'm 'll
// 'd), 0 if none. `fold` makes it case-insensitive.
size_t Contraction(const std::vector<Char>& c, size_t i, size_t end, bool fold) {
  if (c[i].cp != '\'' || i + 1 >= end) return 0;
  auto at = [&](size_t k) -> uint32_t {
    if (k >= end) return 0;
    return fold ? Lower(c[k].cp) : c[k].cp;
  };
  const uint32_t a = at(i + 1);
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  const uint32_t b = at(i + 2);
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  return 0;
}

// Advances over characters of class `cls` from i; returns the first index
// not of that class (<= end).
size_t RunOf(const std::vector<Char>& c, size_t i, size_t end, CodepointClass cls) {
  while (i < end && c[i].cls == cls) ++i;
  return i;
}

// \s+(?!\S) then \s+ on the whitespace run starting at i (c[i] is space).
size_t WhitespaceTail(const std::vector<Char>& c, size_t i, size_t end) {
  const size_t j = RunOf(c, i, end, kWhitespace);
  if (j == end) return j;          // run reaches the end: (?!\S) holds
  if (j - i >= 2) return j - 1;    // leave one space to prefix the next word
  return j;                        // plain \s+ of a single character
}

// GPT-2 rules on chars [begin, end); appends piece end indices.
void SplitGpt2(const std::vector<Char>& c, size_t begin, size_t end,
               std::vector<size_t>* cuts) {
  size_t i = begin;
  while (i < end) {
    size_t next;
    const CodepointClass cls = c[i].cls;
    const bool space_prefix = c[i].cp == ' ' && i + 1 < end;
    const CodepointClass after = space_prefix ? c[i + 1].cls : kOther;
    if (size_t n = Contraction(c, i, end, /*fold=*/false); n > 0) {
      next = i + n;
    } else if (cls == kLetter || (space_prefix && after == kLetter)) {
      next = RunOf(c, cls == kLetter ? i : i + 1, end, kLetter);
    } else if (cls == kNumber || (space_prefix && after == kNumber)) {
      next = RunOf(c, cls == kNumber ? i : i + 1, end, kNumber);
    } else if (cls == kOther || (space_prefix && after == kOther)) {
      next = RunOf(c, cls == kOther ? i : i + 1, end, kOther);
    } else {
      next = WhitespaceTail(c, i, end);
    }
    cuts->push_back(next);
    i = next;
  }
}

// Llama 3 / Qwen2 rules on chars [begin, end).
void SplitLlama3(const std::vector<Char>& c, size_t begin, size_t end,
                 size_t max_digits, std::vector<size_t>* cuts) {
  size_t i = begin;
  while (i < end) {
    size_t next;
    const CodepointClass cls = c[i].cls;
    if (size_t n = Contraction(c, i, end, /*fold=*/true); n > 0) {
      next = i + n;
    } else if (cls == kLetter ||
               (!IsCrLf(c[i].cp) && cls != kNumber && i + 1 < end &&
                c[i + 1].cls == kLetter)) {
      // [^\r\n\p{L}\p{N}]?\p{L}+
      next = RunOf(c, cls == kLetter ? i : i + 1, end, kLetter);
    } else if (cls == kNumber) {
      next = i + 1;
      while (next < end && next - i < max_digits && c[next].cls == kNumber) ++next;
    } else if (cls == kOther || (c[i].cp == ' ' && i + 1 < end && c[i + 1].cls == kOther)) {
      //  ?[^\s\p{L}\p{N}]+[\r\n]*
      next = RunOf(c, cls == kOther ? i : i + 1, end, kOther);
      while (next < end && IsCrLf(c[next].cp)) ++next;
    } else {
      // Whitespace. \s*[\r\n]+ : up to and including the last CR/LF of the run.
      const size_t j = RunOf(c, i, end, kWhitespace);
      size_t last_crlf = j;
      for (size_t k = j; k > i; --k) {
        if (IsCrLf(c[k - 1].cp)) { last_crlf = k - 1; break; }
      }
      if (last_crlf != j) {
        next = last_crlf + 1;
      } else {
        next = WhitespaceTail(c, i, end);
      }
    }
    cuts->push_back(next);
    i = next;
  }
}

}  // namespace

absl::StatusOr<PreTokenizerKind> PreTokenizerFromName(std::string_view name) {
  if (name == "gpt2" || name == "default") return PreTokenizerKind::kGpt2;
  if (name == "smollm") return PreTokenizerKind::kSmolLM;
  if (name == "llama-bpe" || name == "llama3") return PreTokenizerKind::kLlama3;
  if (name == "qwen2") return PreTokenizerKind::kQwen2;
  return absl::InvalidArgumentError(absl::StrCat(
      "unsupported tokenizer.ggml.pre '", absl::string_view(name.data(), name.size()),
      "' (supported: gpt2, default, smollm, llama-bpe, qwen2)"));
}

void PreTokenize(PreTokenizerKind kind, std::string_view text,
                 std::vector<std::string_view>* pieces) {
  if (text.empty()) return;
  std::vector<Char> chars;
  DecodeAll(text, &chars);
  const size_t n = chars.size() - 1;
  std::vector<size_t> cuts;
  cuts.reserve(n / 3 + 4);
  switch (kind) {
    case PreTokenizerKind::kGpt2:
      SplitGpt2(chars, 0, n, &cuts);
      break;
    case PreTokenizerKind::kSmolLM: {
      // Digits are isolated first; the GPT-2 rules then run on each stretch
      // between them, so that e.g. " 1" is two pieces and lookahead stops at a digit.
      size_t start = 0;
      for (size_t i = 0; i < n; ++i) {
        if (chars[i].cls != kNumber) continue;
        SplitGpt2(chars, start, i, &cuts);
        cuts.push_back(i + 1);
        start = i + 1;
      }
      SplitGpt2(chars, start, n, &cuts);
      break;
    }
    case PreTokenizerKind::kLlama3:
      SplitLlama3(chars, 0, n, 3, &cuts);
      break;
    case PreTokenizerKind::kQwen2:
      SplitLlama3(chars, 0, n, 1, &cuts);
      break;
  }
  size_t prev = 0;
  for (size_t cut : cuts) {
    const size_t b = chars[prev].offset, e = chars[cut].offset;
    pieces->push_back(text.substr(b, e - b));
    prev = cut;
  }
}

}  // namespace tandem::tokenizer
