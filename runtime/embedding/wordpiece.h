// BERT WordPiece tokenizer (uncased BERT / all-MiniLM-L6-v2), equal to Hugging
// Face tokenizers' BertWordPieceTokenizer(vocab, lowercase=True):
//
//  1. BasicTokenizer normalization, character by character:
//     clean_text  drop U+0000, U+FFFD and control characters (Cc, Cf, Co;
//                 not tab/LF/CR); map every White_Space character to ' '
//     CJK         surround each CJK ideograph with spaces (Hugging Face's
//                 ranges, which start the extension-C+ block at U+2B920)
//     accents     canonical decomposition (NFD; Hangul algorithmically)
//                 with nonspacing marks (Mn) dropped   } when `lowercase`
//     lowercase   one-to-one Unicode lowercase         }
//  2. split on spaces; every punctuation character (Unicode P* and all ASCII
//     punctuation and symbols) is a word of its own;
//  3. WordPiece per word: greedy longest match from the left, continuation
//     pieces prefixed "##"; a word with no complete match, or longer than
//     100 characters, becomes [UNK].
//
// Character data comes from Unicode 14.0 (tools/gen_bert_unicode_tables.py);
// the generator documents the few rare code points where Hugging Face's
// older tables disagree. NFD's canonical reordering is not applied: it only
// moves characters with a non-zero combining class, which are (outside a few
// musical symbols) nonspacing marks that are dropped anyway.
//
// Deliberate difference: text that spells a special token ("[SEP]") is
// tokenized as text, not as the special token Hugging Face would match, so
// that document content can never inject control tokens.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"

namespace tandem::embedding {

struct WordPieceOptions {
  bool lowercase = true;              // also strips accents (BERT's default for uncased)
  int max_input_chars_per_word = 100;  // longer words become [UNK]
};

class WordPieceTokenizer {
 public:
  // vocab.txt: one token per line, id = line number (trailing whitespace
  // trimmed, a later duplicate wins, as in Hugging Face). Needs [UNK], [CLS],
  // [SEP] and [PAD]. NotFound if the file is missing, InvalidArgument if a
  // line is not UTF-8 or a special token is missing.
  static absl::StatusOr<std::unique_ptr<WordPieceTokenizer>> FromVocabFile(const std::string& path,
                                                                           WordPieceOptions options = {});
  static absl::StatusOr<std::unique_ptr<WordPieceTokenizer>> FromVocab(std::vector<std::string> tokens,
                                                                       WordPieceOptions options = {});

  // Steps 1-2: the words (UTF-8) WordPiece will see. InvalidArgument for
  // invalid UTF-8 (naming the byte offset).
  absl::StatusOr<std::vector<std::string>> BasicTokenize(std::string_view text) const;

  // Steps 1-3 without special tokens.
  absl::StatusOr<std::vector<int32_t>> Tokenize(std::string_view text) const;

  // [CLS] pieces [SEP], the pieces cut so that at most max_tokens ids come
  // out (max_tokens >= 2, else InvalidArgument).
  absl::StatusOr<std::vector<int32_t>> Encode(std::string_view text, int max_tokens) const;

  int vocab_size() const { return static_cast<int>(tokens_.size()); }
  const std::string& token(int32_t id) const { return tokens_[static_cast<size_t>(id)]; }
  int32_t unk_id() const { return unk_id_; }
  int32_t cls_id() const { return cls_id_; }
  int32_t sep_id() const { return sep_id_; }
  int32_t pad_id() const { return pad_id_; }

 private:
  WordPieceTokenizer() = default;
  // Normalized code points (step 1).
  absl::StatusOr<std::vector<uint32_t>> Normalize(std::string_view text) const;
  // Calls fn(word) for each word of the normalized text (step 2).
  template <typename Fn>
  static void ForEachWord(const std::vector<uint32_t>& norm, Fn&& fn);
  void WordPiece(const std::vector<uint32_t>& word, std::vector<int32_t>* out) const;

  WordPieceOptions options_;
  std::vector<std::string> tokens_;
  // Word-initial pieces keyed by their text; continuation pieces ("##x")
  // keyed without the prefix, so that lookups need no string building.
  absl::flat_hash_map<std::string, int32_t> initial_;
  absl::flat_hash_map<std::string, int32_t> continuation_;
  int32_t unk_id_ = -1, cls_id_ = -1, sep_id_ = -1, pad_id_ = -1;
};

}  // namespace tandem::embedding
