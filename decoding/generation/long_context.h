// The text side of a long-context request, for strategies that build their
// own prompts around a document (RAPID: the target reads the whole context,
// the drafter only the retrieved chunks). The server fills it from
// GenerateRequest.context and the prompt / last user message; tests fill it
// with a toy tokenizer. Strategies stay free of any tokenizer type.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace tandem::decoding {

struct LongContextInput {
  // The request's long document (valid UTF-8; may be empty only when the
  // strategy searches a named collection).
  std::string context;
  // The retrieval query: the question sentence only (the raw prompt, or the
  // last user message of a chat), never the rendered template.
  std::string question;
  // Target context window in tokens (0 = unlimited): prompts longer than the
  // window minus max_tokens are middle-truncated.
  int64_t context_window = 0;
  // The full prompt's token ids with `context` placed in the request's
  // template around the question; `retrieved` = true selects the drafter's
  // wording ("retrieved text chunks"). Required.
  std::function<absl::StatusOr<std::vector<int32_t>>(std::string_view context, bool retrieved)> render;
  // Tokens of a plain text (no special tokens); the retrieval budget counts
  // the context with it. Required.
  std::function<int64_t(std::string_view text)> count_tokens;
};

}  // namespace tandem::decoding
