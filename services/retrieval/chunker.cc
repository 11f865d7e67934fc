#include "services/retrieval/chunker.h"

#include <algorithm>
#include <array>
#include <string>

#include "absl/strings/str_cat.h"
#include "runtime/tokenizer/tokenizer.h"

namespace tandem::retrieval {
namespace {

constexpr std::array<std::string_view, 8> kSeparators = {"\n\n", "\n", ". ", "! ", "? ", "; ", ", ", " "};
constexpr int kNoSeparator = static_cast<int>(kSeparators.size());

// Rank of the best separator that touches byte position p: an occurrence
// [a, a + len) with a <= p <= a + len, i.e. p is before, inside or right after
// it. BPE often glues a separator to a neighbour (" the", ".\n\n"), so the
// token boundary rarely falls exactly after the separator.
int BoundaryRank(std::string_view text, int64_t p) {
  for (int r = 0; r < kNoSeparator; ++r) {
    const std::string_view sep = kSeparators[r];
    const int64_t len = static_cast<int64_t>(sep.size());
    for (int64_t k = 0; k <= len; ++k) {
      const int64_t a = p - k;
      if (a < 0 || a + len > static_cast<int64_t>(text.size())) continue;
      if (text.substr(static_cast<size_t>(a), static_cast<size_t>(len)) == sep) return r;
    }
  }
  return kNoSeparator;
}

bool IsContinuationByte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

bool AtCharBoundary(std::string_view text, int64_t p) {
  return p >= static_cast<int64_t>(text.size()) || !IsContinuationByte(text[static_cast<size_t>(p)]);
}

bool IsBlank(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

}  // namespace

std::span<const std::string_view> ChunkSeparators() { return kSeparators; }

absl::StatusOr<TokenStarts> TokenizeBoundaries(const tokenizer::Tokenizer& tok, std::string_view text) {
  const std::vector<int32_t> ids = tok.Encode(text, /*add_special=*/false, /*parse_special=*/false);
  TokenStarts starts;
  starts.reserve(ids.size() + 1);
  int64_t pos = 0;
  for (int32_t id : ids) {
    const std::string_view piece = tok.TokenText(id);
    if (text.substr(std::min(text.size(), static_cast<size_t>(pos)), piece.size()) != piece) {
      return absl::InternalError(absl::StrCat("chunker: token ", id, " at byte ", pos,
                                              " does not spell the text (tokenizer round trip failed)"));
    }
    starts.push_back(pos);
    pos += static_cast<int64_t>(piece.size());
  }
  if (pos != static_cast<int64_t>(text.size())) {
    return absl::InternalError(absl::StrCat("chunker: tokens cover ", pos, " of ", text.size(), " bytes"));
  }
  starts.push_back(pos);
  return starts;
}

std::vector<TextChunk> ChunkTokenRange(std::string_view text, std::span<const int64_t> starts, int64_t begin,
                                       int64_t end, int max_tokens) {
  std::vector<TextChunk> chunks;
  max_tokens = std::max(1, max_tokens);
  int64_t s = begin;
  while (s < end) {
    int64_t e = end;
    if (end - s > max_tokens) {
      const int64_t limit = s + max_tokens;
      int best_rank = kNoSeparator;
      int64_t best = -1;
      // A chunk of separators only (e.g. the "\n\n" a previous cut left at
      // the front) would be useless to retrieve: cuts before the first
      // non-blank byte are not valid.
      int64_t first_text = starts[s];
      while (first_text < starts[limit] && IsBlank(text[static_cast<size_t>(first_text)])) ++first_text;
      for (int64_t c = s + 1; c <= limit; ++c) {
        if (starts[c] <= first_text) continue;
        const int rank = BoundaryRank(text, starts[c]);
        if (rank > best_rank || rank == kNoSeparator) continue;
        best_rank = rank;  // same rank: the later boundary wins
        best = c;
      }
      if (best < 0) {
        // No separator: a hard cut, on a character boundary (a multi-byte
        // character can span several byte-level tokens).
        best = limit;
        while (best > s + 1 && !AtCharBoundary(text, starts[best])) --best;
        while (best < end && !AtCharBoundary(text, starts[best])) ++best;
      }
      e = best;
    }
    TextChunk c;
    c.byte_offset = starts[s];
    c.byte_length = starts[e] - starts[s];
    c.token_offset = s;
    c.token_count = static_cast<int32_t>(e - s);
    chunks.push_back(c);
    s = e;
  }
  return chunks;
}

}  // namespace tandem::retrieval
