// Code point classes used by the BPE pre-tokenizers. The table is generated
// (tools/gen_unicode_tables.py) so that no regex engine or ICU is needed.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tandem::tokenizer::internal {

struct CodepointRange {
  uint32_t first;
  uint32_t last;
  uint8_t cls;  // one of the CodepointClass bits
};

// Sorted, non-overlapping; code points not covered are class 0 ("other").
extern const CodepointRange kCodepointRanges[];
extern const size_t kNumCodepointRanges;

}  // namespace tandem::tokenizer::internal
