// Text prompts and chat conversations -> token ids with the target's
// tokenizer: the one place that decides BOS and control-token parsing.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/tokenizer/tokenizer.h"

namespace tandem::decoding {

// Text prompt -> token ids (BOS if the model asks for it). Special-token
// text in a raw prompt stays plain text. INVALID_ARGUMENT naming `field`
// when it encodes to nothing.
absl::StatusOr<std::vector<int32_t>> EncodePrompt(const tokenizer::Tokenizer& tokenizer, std::string_view text,
                                                  std::string_view field);

// Fill in the middle: the code before (`prefix`) and after (`suffix`) the
// gap, in the model's prefix-suffix-middle form (BOS if the model asks for
// it, <prefix> prefix <suffix> suffix <middle>), so that what the model writes
// next is the gap's code. Both texts are plain (no control tokens parsed).
// INVALID_ARGUMENT naming "suffix" when the model has no FIM tokens.
absl::StatusOr<std::vector<int32_t>> EncodeFillInTheMiddle(const tokenizer::Tokenizer& tokenizer,
                                                           std::string_view prefix, std::string_view suffix);

// A chat conversation rendered with the model's template, generation prompt
// appended; control tokens of the template are parsed.
absl::StatusOr<std::vector<int32_t>> EncodeChat(const tokenizer::Tokenizer& tokenizer,
                                                const std::vector<tokenizer::ChatMessage>& messages,
                                                std::string_view field);

}  // namespace tandem::decoding
