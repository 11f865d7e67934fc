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

absl::StatusOr<std::vector<int32_t>> EncodeFillInTheMiddle(const tokenizer::Tokenizer& tokenizer,
                                                           std::string_view prefix, std::string_view suffix) {
  const std::optional<tokenizer::FimTokens>& fim = tokenizer.fim_tokens();
  if (!fim.has_value()) {
    return absl::InvalidArgumentError(
        "suffix: this model has no fill-in-the-middle tokens (<|fim_prefix|>, <|fim_suffix|>, <|fim_middle|> "
        "or <fim_prefix>, ...); send the prompt alone");
  }
  std::vector<int32_t> ids;
  if (tokenizer.add_bos()) ids.push_back(tokenizer.bos_id());
  ids.push_back(fim->prefix);
  const std::vector<int32_t> before = tokenizer.Encode(prefix, /*add_special=*/false, /*parse_special=*/false);
  ids.insert(ids.end(), before.begin(), before.end());
  ids.push_back(fim->suffix);
  const std::vector<int32_t> after = tokenizer.Encode(suffix, /*add_special=*/false, /*parse_special=*/false);
  ids.insert(ids.end(), after.begin(), after.end());
  ids.push_back(fim->middle);
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
