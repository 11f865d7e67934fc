// Pre-tokenizers: split text into the pieces that BPE encodes independently.
// Each one is a hand-written matcher equivalent to the regex the model was
// trained with (leftmost-first alternation, as a backtracking engine runs
// it). Hand-written because std::regex has no Unicode classes and is slow.
#pragma once

#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace tandem::tokenizer {

enum class PreTokenizerKind {
  // GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  kGpt2,
  // SmolLM / StarCoder: every \p{N} is its own piece, then the GPT-2 rules.
  kSmolLM,
  // Llama 3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
  //          ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
  kLlama3,
  // Qwen2: as Llama 3 but single digits (\p{N} instead of \p{N}{1,3}).
  kQwen2,
};

// Maps tokenizer.ggml.pre to a kind; InvalidArgument names unknown values.
absl::StatusOr<PreTokenizerKind> PreTokenizerFromName(std::string_view name);

// Appends the pieces of `text` (views into it) to `pieces`. The pieces
// concatenate to `text`. Malformed UTF-8 bytes count as "other" characters.
void PreTokenize(PreTokenizerKind kind, std::string_view text,
                 std::vector<std::string_view>* pieces);

}  // namespace tandem::tokenizer
