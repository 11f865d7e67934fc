// Character data of the BERT BasicTokenizer, generated from Unicode 14.0 by
// tools/gen_bert_unicode_tables.py (see there for what each table holds and
// how it differs from Hugging Face tokenizers' older category data). All
// tables are sorted by code point; lookups are binary searches.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tandem::embedding::internal {

struct CodepointSpan {
  uint32_t first;
  uint32_t last;
};

struct Decomposition {
  uint32_t cp;
  uint32_t offset;  // into kBertDecompositionPool
  uint32_t length;  // may be 0 (a character that is only marks)
};

struct CaseMapping {
  uint32_t from;
  uint32_t to;
};

extern const CodepointSpan kBertControl[];
extern const size_t kBertControlSize;
extern const CodepointSpan kBertPunctuation[];
extern const size_t kBertPunctuationSize;
extern const CodepointSpan kBertNonspacingMarks[];
extern const size_t kBertNonspacingMarksSize;
extern const Decomposition kBertDecompositions[];
extern const size_t kBertDecompositionsSize;
extern const uint32_t kBertDecompositionPool[];
extern const CaseMapping kBertLowercase[];
extern const size_t kBertLowercaseSize;

}  // namespace tandem::embedding::internal
