// Chat templates. GGUF files carry a Jinja template (tokenizer.chat_template);
// instead of a Jinja interpreter we recognize the template families of the
// models we serve by markers and render exactly what the template would
// produce for plain role/content messages. Anything else is a clear error.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace tandem::tokenizer {

struct ChatMessage {
  std::string role;     // "system", "user", "assistant" (Qwen also: "tool")
  std::string content;
};

enum class ChatTemplateFamily {
  kNone,          // the model has no template
  kUnrecognized,  // a template we cannot render
  kChatML,        // plain ChatML, no default system prompt
  kSmolLM2,       // ChatML; default system prompt when the first message is not system
  kQwen25,        // ChatML; Qwen default system prompt; tool messages as <tool_response>
  kLlama3,        // <|start_header_id|>role<|end_header_id|>\n\n content|trim <|eot_id|>
};

std::string_view ChatTemplateFamilyName(ChatTemplateFamily family);

class ChatTemplate {
 public:
  // `bos_text` is the text of the BOS token (Llama 3 templates emit it).
  ChatTemplate(std::string source, std::string bos_text);

  ChatTemplateFamily family() const { return family_; }
  const std::string& source() const { return source_; }

  absl::StatusOr<std::string> Apply(std::span<const ChatMessage> messages,
                                    bool add_generation_prompt) const;

 private:
  std::string source_;
  std::string bos_text_;
  ChatTemplateFamily family_;
};

// Exposed for tests.
ChatTemplateFamily DetectChatTemplateFamily(std::string_view source);

}  // namespace tandem::tokenizer
