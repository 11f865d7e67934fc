#include "runtime/tokenizer/chat_template.h"

#include "absl/strings/str_cat.h"
#include "runtime/tokenizer/unicode.h"

namespace tandem::tokenizer {
namespace {

// Debian's Abseil is built with its own string_view type; convert explicitly.
absl::string_view A(std::string_view s) { return absl::string_view(s.data(), s.size()); }

bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

constexpr std::string_view kSmolLMSystem =
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face";
constexpr std::string_view kQwenSystem =
    "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

void AppendChatML(std::string_view role, std::string_view content, std::string* out) {
  absl::StrAppend(out, "<|im_start|>", A(role), "\n", A(content), "<|im_end|>\n");
}

// Python's str.isspace(), which Jinja's `trim` filter uses: the regex
// whitespace class plus the information separators U+001C..U+001F.
bool IsPythonSpace(uint32_t cp) {
  return (cp >= 0x1C && cp <= 0x1F) || ClassifyCodepoint(cp) == kWhitespace;
}

std::string_view PythonStrip(std::string_view s) {
  size_t b = 0;
  while (b < s.size()) {
    const Utf8Char c = DecodeUtf8(s, b);
    if (!c.valid || !IsPythonSpace(c.cp)) break;
    b += c.len;
  }
  size_t e = s.size();
  while (e > b) {
    // Step back to the start of the last character.
    size_t start = e - 1;
    while (start > b && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80 &&
           e - start < 4) {
      --start;
    }
    const Utf8Char c = DecodeUtf8(s, start);
    if (!c.valid || start + c.len != e || !IsPythonSpace(c.cp)) break;
    e = start;
  }
  return s.substr(b, e - b);
}

std::string RenderSmolLM2(std::span<const ChatMessage> messages, bool gen) {
  std::string out;
  for (size_t i = 0; i < messages.size(); ++i) {
    if (i == 0 && messages[0].role != "system") AppendChatML("system", kSmolLMSystem, &out);
    AppendChatML(messages[i].role, messages[i].content, &out);
  }
  if (gen) out += "<|im_start|>assistant\n";
  return out;
}

std::string RenderChatML(std::span<const ChatMessage> messages, bool gen) {
  std::string out;
  for (const ChatMessage& m : messages) AppendChatML(m.role, m.content, &out);
  if (gen) out += "<|im_start|>assistant\n";
  return out;
}

absl::StatusOr<std::string> RenderQwen25(std::span<const ChatMessage> messages, bool gen) {
  // The template indexes messages[0] unconditionally; Jinja fails on it.
  if (messages.empty()) {
    return absl::InvalidArgumentError("the Qwen2.5 chat template needs at least one message");
  }
  std::string out;
  if (messages[0].role == "system") {
    AppendChatML("system", messages[0].content, &out);
  } else {
    AppendChatML("system", kQwenSystem, &out);
  }
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    if (m.role == "user" || (m.role == "system" && i != 0) || m.role == "assistant") {
      AppendChatML(m.role, m.content, &out);
    } else if (m.role == "tool") {
      // Consecutive tool results share one user turn.
      if (i == 0 || messages[i - 1].role != "tool") out += "<|im_start|>user";
      absl::StrAppend(&out, "\n<tool_response>\n", m.content, "\n</tool_response>");
      if (i + 1 == messages.size() || messages[i + 1].role != "tool") out += "<|im_end|>\n";
    }
    // Other roles are not rendered by the template.
  }
  if (gen) out += "<|im_start|>assistant\n";
  return out;
}

std::string RenderLlama3(std::span<const ChatMessage> messages, bool gen,
                         std::string_view bos) {
  std::string out;
  for (size_t i = 0; i < messages.size(); ++i) {
    if (i == 0) out += bos;
    absl::StrAppend(&out, "<|start_header_id|>", messages[i].role, "<|end_header_id|>\n\n",
                    A(PythonStrip(messages[i].content)), "<|eot_id|>");
  }
  if (gen) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

}  // namespace

std::string_view ChatTemplateFamilyName(ChatTemplateFamily family) {
  switch (family) {
    case ChatTemplateFamily::kNone: return "none";
    case ChatTemplateFamily::kUnrecognized: return "unrecognized";
    case ChatTemplateFamily::kChatML: return "chatml";
    case ChatTemplateFamily::kSmolLM2: return "smollm2";
    case ChatTemplateFamily::kQwen25: return "qwen2.5";
    case ChatTemplateFamily::kLlama3: return "llama3";
  }
  return "unknown";
}

ChatTemplateFamily DetectChatTemplateFamily(std::string_view src) {
  if (src.empty()) return ChatTemplateFamily::kNone;
  const bool chatml = Contains(src, "<|im_start|>") &&
                      Contains(src, "<|im_end|>");
  if (chatml) {
    if (Contains(src, kSmolLMSystem) &&
        Contains(src, "messages[0]['role'] != 'system'")) {
      return ChatTemplateFamily::kSmolLM2;
    }
    if (Contains(src, kQwenSystem) && Contains(src, "<tool_response>")) {
      return ChatTemplateFamily::kQwen25;
    }
    // Plain ChatML: no default system prompt, no tools, no other branches on role.
    if (!Contains(src, "You are") && !Contains(src, "tool") &&
        !Contains(src, "== 'system'") && !Contains(src, "== \"system\"") &&
        Contains(src, "message['role'] + '\\n' + message['content']")) {
      return ChatTemplateFamily::kChatML;
    }
    return ChatTemplateFamily::kUnrecognized;
  }
  // Llama 3.0. Llama 3.1+ templates inject dates and tool prompts: not supported.
  if (Contains(src, "<|start_header_id|>") && Contains(src, "<|eot_id|>") &&
      Contains(src, "| trim") && !Contains(src, "Cutting Knowledge") &&
      !Contains(src, "tools")) {
    return ChatTemplateFamily::kLlama3;
  }
  return ChatTemplateFamily::kUnrecognized;
}

ChatTemplate::ChatTemplate(std::string source, std::string bos_text)
    : source_(std::move(source)),
      bos_text_(std::move(bos_text)),
      family_(DetectChatTemplateFamily(source_)) {}

absl::StatusOr<std::string> ChatTemplate::Apply(std::span<const ChatMessage> messages,
                                                bool add_generation_prompt) const {
  switch (family_) {
    case ChatTemplateFamily::kNone:
      return absl::FailedPreconditionError(
          "the model has no chat template (tokenizer.chat_template is missing)");
    case ChatTemplateFamily::kUnrecognized:
      return absl::UnimplementedError(absl::StrCat(
          "unrecognized chat template (supported: ChatML, SmolLM2, Qwen2.5, Llama 3); "
          "template begins: ",
          source_.substr(0, 120)));
    case ChatTemplateFamily::kChatML:
      return RenderChatML(messages, add_generation_prompt);
    case ChatTemplateFamily::kSmolLM2:
      return RenderSmolLM2(messages, add_generation_prompt);
    case ChatTemplateFamily::kQwen25:
      return RenderQwen25(messages, add_generation_prompt);
    case ChatTemplateFamily::kLlama3:
      return RenderLlama3(messages, add_generation_prompt, bos_text_);
  }
  return absl::InternalError("bad chat template family");
}

}  // namespace tandem::tokenizer
