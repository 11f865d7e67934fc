#include "runtime/embedding/wordpiece.h"

#include <algorithm>
#include <fstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "runtime/embedding/bert_unicode_tables.h"
#include "runtime/tokenizer/unicode.h"

namespace tandem::embedding {
namespace {

using internal::CodepointSpan;

bool InSpans(const CodepointSpan* spans, size_t n, uint32_t cp) {
  const CodepointSpan* end = spans + n;
  const CodepointSpan* it =
      std::upper_bound(spans, end, cp, [](uint32_t c, const CodepointSpan& s) { return c < s.first; });
  return it != spans && cp <= (it - 1)->last;
}

bool IsControl(uint32_t cp) {
  return cp == 0 || cp == 0xFFFD || InSpans(internal::kBertControl, internal::kBertControlSize, cp);
}

// The White_Space property (stable since Unicode 6.3).
bool IsWhitespace(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
         cp == 0x3000;
}

bool IsPunctuation(uint32_t cp) {
  return InSpans(internal::kBertPunctuation, internal::kBertPunctuationSize, cp);
}

// Hugging Face tokenizers' is_chinese_char ranges. BERT's original Python
// starts the fifth range at U+2B820; the Rust implementation (and so every
// model served with tokenizer.json) at U+2B920, which is what we follow.
bool IsCjk(uint32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
         (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) ||
         (cp >= 0x2B920 && cp <= 0x2CEAF) || (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

uint32_t Lowercase(uint32_t cp) {
  if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
  const internal::CaseMapping* begin = internal::kBertLowercase;
  const internal::CaseMapping* end = begin + internal::kBertLowercaseSize;
  const auto* it = std::lower_bound(begin, end, cp, [](const internal::CaseMapping& m, uint32_t c) { return m.from < c; });
  return (it != end && it->from == cp) ? it->to : cp;
}

// Appends NFD(cp) without its nonspacing marks.
void AppendStripped(uint32_t cp, std::vector<uint32_t>* out) {
  if (cp < 0xC0) {  // nothing below U+00C0 decomposes or is a mark
    out->push_back(cp);
    return;
  }
  constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
  constexpr uint32_t kTCount = 28, kNCount = 21 * 28, kSCount = 19 * kNCount;
  if (cp >= kSBase && cp < kSBase + kSCount) {  // Hangul syllable -> conjoining jamo
    const uint32_t s = cp - kSBase;
    out->push_back(kLBase + s / kNCount);
    out->push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) out->push_back(kTBase + s % kTCount);
    return;
  }
  const internal::Decomposition* begin = internal::kBertDecompositions;
  const internal::Decomposition* end = begin + internal::kBertDecompositionsSize;
  const auto* it = std::lower_bound(begin, end, cp, [](const internal::Decomposition& d, uint32_t c) { return d.cp < c; });
  if (it != end && it->cp == cp) {
    out->insert(out->end(), internal::kBertDecompositionPool + it->offset,
                internal::kBertDecompositionPool + it->offset + it->length);
    return;
  }
  if (InSpans(internal::kBertNonspacingMarks, internal::kBertNonspacingMarksSize, cp)) return;
  out->push_back(cp);
}

std::string ToUtf8(const uint32_t* cps, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) tokenizer::AppendUtf8(cps[i], &s);
  return s;
}

}  // namespace

absl::StatusOr<std::unique_ptr<WordPieceTokenizer>> WordPieceTokenizer::FromVocabFile(const std::string& path,
                                                                                      WordPieceOptions options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("wordpiece: cannot open vocabulary '", path, "'"));
  std::vector<std::string> tokens;
  std::string line;
  while (std::getline(in, line)) tokens.push_back(std::move(line));
  if (in.bad()) return absl::DataLossError(absl::StrCat("wordpiece: error reading '", path, "'"));
  auto tok = FromVocab(std::move(tokens), options);
  if (!tok.ok()) return absl::Status(tok.status().code(), absl::StrCat(tok.status().message(), " in '", path, "'"));
  return tok;
}

absl::StatusOr<std::unique_ptr<WordPieceTokenizer>> WordPieceTokenizer::FromVocab(std::vector<std::string> tokens,
                                                                                  WordPieceOptions options) {
  if (options.max_input_chars_per_word < 1) {
    return absl::InvalidArgumentError("wordpiece: max_input_chars_per_word must be >= 1");
  }
  if (tokens.size() > static_cast<size_t>(INT32_MAX)) return absl::InvalidArgumentError("wordpiece: vocabulary too large");
  std::unique_ptr<WordPieceTokenizer> t(new WordPieceTokenizer());
  t->options_ = options;
  for (size_t id = 0; id < tokens.size(); ++id) {
    std::string& tok = tokens[id];
    while (!tok.empty() && (tok.back() == ' ' || tok.back() == '\t' || tok.back() == '\r' || tok.back() == '\n')) {
      tok.pop_back();
    }
    if (!tokenizer::IsValidUtf8(tok)) {
      return absl::InvalidArgumentError(absl::StrCat("wordpiece: vocabulary line ", id + 1, " is not valid UTF-8"));
    }
    const int32_t i = static_cast<int32_t>(id);
    t->initial_.insert_or_assign(tok, i);
    if (tok.size() > 2 && tok.compare(0, 2, "##") == 0) t->continuation_.insert_or_assign(tok.substr(2), i);
  }
  t->tokens_ = std::move(tokens);
  const std::pair<const char*, int32_t*> specials[] = {
      {"[UNK]", &t->unk_id_}, {"[CLS]", &t->cls_id_}, {"[SEP]", &t->sep_id_}, {"[PAD]", &t->pad_id_}};
  for (const auto& [name, id] : specials) {
    const auto it = t->initial_.find(name);
    if (it == t->initial_.end()) {
      return absl::InvalidArgumentError(absl::StrCat("wordpiece: vocabulary has no ", name, " token"));
    }
    *id = it->second;
  }
  return t;
}

absl::StatusOr<std::vector<uint32_t>> WordPieceTokenizer::Normalize(std::string_view text) const {
  std::vector<uint32_t> out;
  out.reserve(text.size() + 8);
  for (size_t pos = 0; pos < text.size();) {
    const tokenizer::Utf8Char c = tokenizer::DecodeUtf8(text, pos);
    if (!c.valid) {
      return absl::InvalidArgumentError(absl::StrCat("text is not valid UTF-8 (byte offset ", pos, ")"));
    }
    pos += c.len;
    const uint32_t cp = c.cp;
    if (IsControl(cp)) continue;
    if (IsWhitespace(cp)) {
      out.push_back(' ');
      continue;
    }
    const bool cjk = IsCjk(cp);
    if (cjk) out.push_back(' ');
    if (options_.lowercase) {
      const size_t from = out.size();
      AppendStripped(cp, &out);
      for (size_t k = from; k < out.size(); ++k) out[k] = Lowercase(out[k]);
    } else {
      out.push_back(cp);
    }
    if (cjk) out.push_back(' ');
  }
  return out;
}

template <typename Fn>
void WordPieceTokenizer::ForEachWord(const std::vector<uint32_t>& norm, Fn&& fn) {
  std::vector<uint32_t> word;
  for (uint32_t cp : norm) {
    if (IsWhitespace(cp) || IsPunctuation(cp)) {
      if (!word.empty()) fn(word);
      word.clear();
      if (!IsWhitespace(cp)) {
        word.push_back(cp);
        fn(word);
        word.clear();
      }
      continue;
    }
    word.push_back(cp);
  }
  if (!word.empty()) fn(word);
}

void WordPieceTokenizer::WordPiece(const std::vector<uint32_t>& word, std::vector<int32_t>* out) const {
  if (word.size() > static_cast<size_t>(options_.max_input_chars_per_word)) {
    out->push_back(unk_id_);
    return;
  }
  // UTF-8 of the word and the byte offset of every character boundary.
  std::string bytes;
  std::vector<size_t> offset;
  offset.reserve(word.size() + 1);
  for (uint32_t cp : word) {
    offset.push_back(bytes.size());
    tokenizer::AppendUtf8(cp, &bytes);
  }
  offset.push_back(bytes.size());
  const size_t before = out->size();
  size_t start = 0;
  while (start < word.size()) {
    const auto& map = start == 0 ? initial_ : continuation_;
    int32_t found = -1;
    size_t end = word.size();
    for (; end > start; --end) {
      const auto it = map.find(absl::string_view(bytes.data() + offset[start], offset[end] - offset[start]));
      if (it != map.end()) {
        found = it->second;
        break;
      }
    }
    if (found < 0) {  // no piece matches here: the whole word is unknown
      out->resize(before);
      out->push_back(unk_id_);
      return;
    }
    out->push_back(found);
    start = end;
  }
}

absl::StatusOr<std::vector<std::string>> WordPieceTokenizer::BasicTokenize(std::string_view text) const {
  absl::StatusOr<std::vector<uint32_t>> norm = Normalize(text);
  if (!norm.ok()) return norm.status();
  std::vector<std::string> words;
  ForEachWord(*norm, [&](const std::vector<uint32_t>& w) { words.push_back(ToUtf8(w.data(), w.size())); });
  return words;
}

absl::StatusOr<std::vector<int32_t>> WordPieceTokenizer::Tokenize(std::string_view text) const {
  absl::StatusOr<std::vector<uint32_t>> norm = Normalize(text);
  if (!norm.ok()) return norm.status();
  std::vector<int32_t> ids;
  ForEachWord(*norm, [&](const std::vector<uint32_t>& w) { WordPiece(w, &ids); });
  return ids;
}

absl::StatusOr<std::vector<int32_t>> WordPieceTokenizer::Encode(std::string_view text, int max_tokens) const {
  if (max_tokens < 2) {
    return absl::InvalidArgumentError(absl::StrCat("wordpiece: max_tokens ", max_tokens, " < 2 ([CLS] and [SEP])"));
  }
  absl::StatusOr<std::vector<int32_t>> pieces = Tokenize(text);
  if (!pieces.ok()) return pieces.status();
  const size_t keep = std::min(pieces->size(), static_cast<size_t>(max_tokens - 2));
  std::vector<int32_t> ids;
  ids.reserve(keep + 2);
  ids.push_back(cls_id_);
  ids.insert(ids.end(), pieces->begin(), pieces->begin() + static_cast<std::ptrdiff_t>(keep));
  ids.push_back(sep_id_);
  return ids;
}

}  // namespace tandem::embedding
