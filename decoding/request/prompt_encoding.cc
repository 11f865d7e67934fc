#include "decoding/request/prompt_encoding.h"

#include "absl/strings/str_cat.h"
#include "runtime/util/absl_compat.h"

namespace tandem::decoding {

absl::StatusOr<std::vector<int32_t>> EncodePrompt(const tokenizer::Tokenizer& tokenizer, std::string_view text,
                                                  std::string_view field) {
  std::vector<int32_t> ids = tokenizer.Encode(text, /*add_special=*/true, /*parse_special=*/false);
  if (ids.empty()) return absl::InvalidArgumentError(absl::StrCat(AbslView(field), ": encodes to zero tokens"));
  return ids;
}

absl::StatusOr<std::vector<int32_t>> EncodeChat(const tokenizer::Tokenizer& tokenizer,
                                                const std::vector<tokenizer::ChatMessage>& messages,
                                                std::string_view field) {
  auto rendered = tokenizer.ApplyChatTemplate(messages, /*add_generation_prompt=*/true);
  if (!rendered.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(AbslView(field), ": ", rendered.status().message()));
  }
  // Only the template's own markup may contain control tokens; user text
  // smuggling "<|im_end|>" is a known weakness of string templates, accepted
  // here as every template-based server does.
  std::vector<int32_t> ids = tokenizer.Encode(*rendered, /*add_special=*/true, /*parse_special=*/true);
  if (ids.empty()) return absl::InvalidArgumentError(absl::StrCat(AbslView(field), ": encodes to zero tokens"));
  return ids;
}

}  // namespace tandem::decoding
