// Splits text into chunks of at most S target-tokenizer tokens without
// overlap (RAPID's chunking, algorithms.md §1 step 1). Each chunk ends at the
// most preferred separator available within its S-token window, in the order
//   "\n\n", "\n", ". ", "! ", "? ", "; ", ", ", " "
// and, among boundaries of that rank, the latest one (longest chunk). A
// window with no separator at all is cut after S tokens (moved back to a
// UTF-8 character boundary). Chunks are byte ranges of the original text, so
// concatenating them gives the text back exactly.
//
// Why token boundaries: chunk sizes are budgets in the target model's tokens
// (the drafter's prompt length), so a chunk is a run of whole tokens of the
// text's tokenization, and its token offset is exact.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace tandem::tokenizer {
class Tokenizer;
}

namespace tandem::retrieval {

struct TextChunk {
  int64_t byte_offset = 0;   // into the chunked text
  int64_t byte_length = 0;
  int64_t token_offset = 0;  // first token (index into the text's tokens)
  int32_t token_count = 0;
};

// The separators in order of preference; index = rank (lower is better).
std::span<const std::string_view> ChunkSeparators();

// Byte offset of every token start plus the end: size n + 1 for n tokens,
// starts[0] = 0, starts[n] = text.size().
using TokenStarts = std::vector<int64_t>;

// Tokenizes `text` with `tok` (no special tokens, control-token text kept as
// text) and returns its token boundaries. Internal error if the tokens do not
// spell the text back (they always do for byte-level BPE).
absl::StatusOr<TokenStarts> TokenizeBoundaries(const tokenizer::Tokenizer& tok, std::string_view text);

// Chunks tokens [begin, end) of `text` (boundaries `starts`) into runs of at
// most max_tokens tokens (>= 1). token_offset of each chunk is absolute.
std::vector<TextChunk> ChunkTokenRange(std::string_view text, std::span<const int64_t> starts,
                                       int64_t begin, int64_t end, int max_tokens);

}  // namespace tandem::retrieval
