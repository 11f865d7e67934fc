#include "services/orchestrator/server/request_translation.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "services/common/validation.h"
#include "services/orchestrator/server/rapid_strategy.h"
#include "services/orchestrator/server/strategy_runner.h"

namespace tandem::orchestrator::server {
namespace {

using services::ValidateRange;
using services::ValidateUtf8Field;

absl::Status Invalid(std::string_view field, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(absl::string_view(field.data(), field.size()), ": ",
                                                 absl::string_view(what.data(), what.size())));
}

bool IsParamKey(const std::string& key) {
  if (key.empty() || key.size() > 64) return false;
  for (char c : key) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.')) return false;
  }
  return true;
}

absl::StatusOr<std::vector<int32_t>> Tokenize(const tandem::v1::GenerateRequest& r,
                                              const GenerationPorts& ports) {
  const int64_t ctx = ports.target.context_length > 0 ? ports.target.context_length : (int64_t{1} << 31);
  switch (r.input_case()) {
    case tandem::v1::GenerateRequest::kPrompt: {
      if (auto s = ValidateUtf8Field(r.prompt(), "prompt", kMaxPromptBytes, 1); !s.ok()) return s;
      if (ports.tokenizer == nullptr) return Invalid("prompt", "text prompts need the target's tokenizer, which this deployment lacks; send prompt_tokens");
      return EncodePrompt(*ports.tokenizer, r.prompt(), "prompt");
    }
    case tandem::v1::GenerateRequest::kPromptTokens: {
      if (auto s = services::ValidateTokenIds(r.prompt_tokens().ids(), ports.target.vocab_size,
                                              "prompt_tokens.ids", 1, static_cast<size_t>(ctx));
          !s.ok()) {
        return s;
      }
      return std::vector<int32_t>(r.prompt_tokens().ids().begin(), r.prompt_tokens().ids().end());
    }
    case tandem::v1::GenerateRequest::kMessages: {
      const auto& msgs = r.messages().messages();
      if (msgs.empty() || msgs.size() > kMaxMessages) {
        return Invalid("messages.messages", absl::StrCat("must have 1..", kMaxMessages, " messages, got ", msgs.size()));
      }
      std::vector<tokenizer::ChatMessage> chat;
      for (int i = 0; i < msgs.size(); ++i) {
        const std::string field = absl::StrCat("messages.messages[", i, "]");
        const std::string& role = msgs[i].role();
        if (role != "system" && role != "user" && role != "assistant") {
          return Invalid(field + ".role", absl::StrCat("'", role.substr(0, 32), "' is not system, user or assistant"));
        }
        if (auto s = ValidateUtf8Field(msgs[i].content(), field + ".content", kMaxPromptBytes); !s.ok()) return s;
        chat.push_back({role, msgs[i].content()});
      }
      if (ports.tokenizer == nullptr) return Invalid("messages", "chat input needs the target's tokenizer, which this deployment lacks");
      return EncodeChat(*ports.tokenizer, chat, "messages");
    }
    case tandem::v1::GenerateRequest::INPUT_NOT_SET:
      break;
  }
  return Invalid("input", "one of prompt, prompt_tokens or messages must be set");
}

// The prompt as text for reward models: the raw prompt, the only non-system
// message, or the conversation as "Role: content" paragraphs; empty for
// token prompts (strategies then decode the tokens).
std::string PromptText(const tandem::v1::GenerateRequest& r) {
  if (r.input_case() == tandem::v1::GenerateRequest::kPrompt) return r.prompt();
  if (r.input_case() != tandem::v1::GenerateRequest::kMessages) return {};
  std::vector<const tandem::v1::ChatMessage*> turns;
  for (const auto& m : r.messages().messages()) {
    if (m.role() != "system") turns.push_back(&m);
  }
  if (turns.size() == 1) return turns[0]->content();
  std::string text;
  for (const auto* m : turns) {
    absl::StrAppend(&text, text.empty() ? "" : "\n\n", m->role() == "user" ? "User: " : "Assistant: ",
                    m->content());
  }
  return text;
}

// rapid: the typed gamma / collection fields, and the prompt renderer that
// puts the request's context around its text question.
absl::Status AttachRapidInput(const tandem::v1::GenerateRequest& r, const GenerationPorts& ports,
                              TranslatedRequest* out) {
  if (r.has_gamma()) out->choice.rapid.gamma = static_cast<int>(r.gamma());
  if (!r.collection().empty()) {
    if (auto s = ValidateUtf8Field(r.collection(), "collection", 128, 1); !s.ok()) return s;
    out->choice.rapid.collection = r.collection();
  }
  if (ports.tokenizer == nullptr) {
    return Invalid("strategy", "rapid renders prompts with the target's tokenizer, which this deployment lacks");
  }
  QuestionInput question;
  if (r.input_case() == tandem::v1::GenerateRequest::kPrompt) {
    question.prompt = r.prompt();
  } else if (r.input_case() == tandem::v1::GenerateRequest::kMessages) {
    for (const auto& m : r.messages().messages()) question.messages.push_back({m.role(), m.content()});
  } else {
    return Invalid("prompt_tokens", "rapid puts the context around a text question: send prompt or messages");
  }
  auto input = MakeLongContextInput(*ports.tokenizer, std::move(question), r.context(), ports.target.context_length);
  if (!input.ok()) return input.status();
  out->generation.long_context = *std::move(input);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TranslatedRequest> TranslateRequest(const tandem::v1::GenerateRequest& r,
                                                   const GenerationPorts& ports,
                                                   std::string_view default_strategy,
                                                   uint64_t fallback_seed) {
  TranslatedRequest out;
  if (auto s = services::ValidateId(r.request_id(), "request_id", /*allow_empty=*/true); !s.ok()) return s;

  // Cheap field checks first, tokenization (the expensive part) last.
  if (!r.model().empty() && r.model() != ports.target.name) {
    return Invalid("model", absl::StrCat("unknown model '", r.model().substr(0, 128), "' (available: ",
                                         ports.target.name, ")"));
  }
  out.choice.strategy = r.strategy().empty() ? std::string(default_strategy) : r.strategy();
  const StrategySpec* spec = FindStrategy(out.choice.strategy);
  if (spec == nullptr) {
    return Invalid("strategy", absl::StrCat("unknown strategy '", out.choice.strategy.substr(0, 64),
                                            "' (known: ", StrategyNames(), ")"));
  }
  if (!spec->implemented) {
    return absl::UnimplementedError(absl::StrCat("strategy: '", out.choice.strategy,
                                                 "' is not implemented yet (available: target_only, speculative)"));
  }

  if (r.params_size() > kMaxParams) {
    return Invalid("params", absl::StrCat("at most ", kMaxParams, " entries, got ", r.params_size()));
  }
  std::map<std::string, std::string> params;
  for (const auto& [key, value] : r.params()) {
    if (!IsParamKey(key)) return Invalid("params", absl::StrCat("key '", key.substr(0, 64), "' is not 1..64 bytes of [a-z0-9_.]"));
    if (auto s = ValidateUtf8Field(value, absl::StrCat("params.", key), 4096); !s.ok()) return s;
    params[key] = value;
  }
  if (auto s = ApplyStrategyParams(params, &out.choice); !s.ok()) return s;
  // Typed fields win over params.
  if (r.has_gamma()) {
    if (auto s = ValidateRange(int64_t{r.gamma()}, 1, kMaxGamma, "gamma"); !s.ok()) return s;
    out.choice.gamma.gamma = static_cast<int>(r.gamma());
  }
  if (r.adaptive_gamma()) out.choice.gamma.adaptive = true;
  if (out.choice.gamma.adaptive) {
    out.choice.gamma.gamma = std::clamp(out.choice.gamma.gamma, out.choice.gamma.min_gamma, out.choice.gamma.max_gamma);
  }
  if (out.choice.strategy == "speculative") {
    if (auto d = ResolveDrafter(out.choice, ports); !d.ok()) return d.status();
  }

  if (r.stop_size() > kMaxStops) return Invalid("stop", absl::StrCat("at most ", kMaxStops, " strings, got ", r.stop_size()));
  for (int i = 0; i < r.stop_size(); ++i) {
    if (auto s = ValidateUtf8Field(r.stop(i), absl::StrCat("stop[", i, "]"), 256, 1); !s.ok()) return s;
    out.generation.stop_strings.push_back(r.stop(i));
  }
  if (!out.generation.stop_strings.empty() && ports.vocabulary->NewDecoder() == nullptr) {
    return Invalid("stop", "stop strings need detokenized text, which this deployment lacks");
  }
  if (auto s = ValidateUtf8Field(r.context(), "context", kMaxContextBytes); !s.ok()) return s;

  if (auto s = services::ValidateSamplingParams(r.sampling(), ports.target.vocab_size, "sampling"); !s.ok()) return s;
  const auto& sp = r.sampling();
  runtime::SamplingParams& rs = out.generation.sampling;
  rs.temperature = sp.temperature();
  rs.top_k = sp.top_k();
  rs.top_p = sp.top_p() == 0.0f ? 1.0f : sp.top_p();
  rs.min_p = sp.min_p();
  rs.repetition_penalty = sp.repetition_penalty() == 0.0f ? 1.0f : sp.repetition_penalty();
  rs.seed = sp.has_seed() ? sp.seed() : fallback_seed;
  if (auto s = rs.Validate(); !s.ok()) return Invalid("sampling", std::string(s.message()));

  auto prompt = Tokenize(r, ports);
  if (!prompt.ok()) return prompt.status();
  out.generation.prompt = std::move(*prompt);
  out.generation.prompt_text = PromptText(r);
  const int64_t ctx = ports.target.context_length;
  const int64_t room = ctx > 0 ? ctx - static_cast<int64_t>(out.generation.prompt.size()) : (int64_t{1} << 30);
  if (room < 1) {
    return Invalid("prompt", absl::StrCat(out.generation.prompt.size(), " prompt tokens leave no room in the context of ", ctx));
  }
  if (r.has_max_tokens()) {
    if (auto s = ValidateRange(int64_t{r.max_tokens()}, 1, room, "max_tokens"); !s.ok()) return s;
    out.generation.max_tokens = static_cast<int>(r.max_tokens());
  } else {
    out.generation.max_tokens = static_cast<int>(std::min<int64_t>(kDefaultMaxTokens, room));
  }
  if (out.choice.strategy == "rapid") {
    if (auto s = AttachRapidInput(r, ports, &out); !s.ok()) return s;
  }
  out.ignore_eos = r.ignore_eos();
  out.tokens_only = r.tokens_only();
  return out;
}

}  // namespace tandem::orchestrator::server
