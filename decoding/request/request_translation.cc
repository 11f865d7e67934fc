#include "decoding/request/request_translation.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "decoding/registry/strategy_registry.h"
#include "decoding/request/field_validation.h"
#include "decoding/request/prompt_encoding.h"
#include "decoding/spec/gamma_controller.h"
#include "decoding/strategies/rapid/rapid_strategy.h"
#include "runtime/util/absl_compat.h"

namespace tandem::decoding {
namespace {

bool IsParamKey(const std::string& key) {
  if (key.empty() || key.size() > 64) return false;
  for (char c : key) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.')) return false;
  }
  return true;
}

int InputCount(const DecodeRequest& r) {
  return int{r.prompt.has_value()} + int{r.prompt_tokens.has_value()} + int{r.messages.has_value()};
}

absl::StatusOr<std::vector<int32_t>> Tokenize(const DecodeRequest& r, const GenerationPorts& ports) {
  const int64_t ctx = ports.target.context_length > 0 ? ports.target.context_length : (int64_t{1} << 31);
  if (InputCount(r) != 1) return InvalidField("input", "one of prompt, prompt_tokens or messages must be set");
  if (r.suffix.has_value() && !r.prompt.has_value()) {
    return InvalidField("suffix", "fills in the middle of a text prompt; send the code before the gap as prompt");
  }
  if (r.prompt.has_value()) {
    // With a suffix, an empty prompt is a gap at the start of the file.
    const int min_bytes = r.suffix.has_value() ? 0 : 1;
    if (auto s = ValidateUtf8Field(*r.prompt, "prompt", kMaxPromptBytes, min_bytes); !s.ok()) return s;
    if (r.suffix.has_value()) {
      if (auto s = ValidateUtf8Field(*r.suffix, "suffix", kMaxPromptBytes); !s.ok()) return s;
    }
    if (ports.tokenizer == nullptr) {
      return InvalidField("prompt", "text prompts need the target's tokenizer, which this deployment lacks; send "
                                    "prompt_tokens");
    }
    if (r.suffix.has_value()) return EncodeFillInTheMiddle(*ports.tokenizer, *r.prompt, *r.suffix);
    return EncodePrompt(*ports.tokenizer, *r.prompt, "prompt");
  }
  if (r.prompt_tokens.has_value()) {
    const std::vector<int32_t>& ids = *r.prompt_tokens;
    if (ids.empty() || static_cast<int64_t>(ids.size()) > ctx) {
      return InvalidField("prompt_tokens.ids",
                          absl::StrCat("must have between 1 and ", ctx, " tokens, got ", ids.size()));
    }
    for (size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] < 0 || ids[i] >= ports.target.vocab_size) {
        return InvalidField(absl::StrCat("prompt_tokens.ids[", i, "]"),
                            absl::StrCat("token id ", ids[i], " is outside [0, ", ports.target.vocab_size, ")"));
      }
    }
    return ids;
  }
  const std::vector<tokenizer::ChatMessage>& msgs = *r.messages;
  if (msgs.empty() || msgs.size() > static_cast<size_t>(kMaxMessages)) {
    return InvalidField("messages.messages",
                        absl::StrCat("must have 1..", kMaxMessages, " messages, got ", msgs.size()));
  }
  for (size_t i = 0; i < msgs.size(); ++i) {
    const std::string field = absl::StrCat("messages.messages[", i, "]");
    const std::string& role = msgs[i].role;
    if (role != "system" && role != "user" && role != "assistant") {
      return InvalidField(field + ".role", absl::StrCat("'", role.substr(0, 32), "' is not system, user or assistant"));
    }
    if (auto s = ValidateUtf8Field(msgs[i].content, field + ".content", kMaxPromptBytes); !s.ok()) return s;
  }
  if (ports.tokenizer == nullptr) {
    return InvalidField("messages", "chat input needs the target's tokenizer, which this deployment lacks");
  }
  return EncodeChat(*ports.tokenizer, msgs, "messages");
}

// Strategies that read the request's context get the prompt renderer that
// puts the context around the request's text question.
absl::Status AttachLongContext(const DecodeRequest& r, const PreparedStrategy& strategy,
                               const GenerationPorts& ports, GenerationRequest* out) {
  if (ports.tokenizer == nullptr) {
    return InvalidField("strategy", absl::StrCat(AbslView(strategy.name()),
                                                 " renders prompts with the target's tokenizer, which this "
                                                 "deployment lacks"));
  }
  QuestionInput question;
  if (r.prompt.has_value()) {
    question.prompt = *r.prompt;
  } else if (r.messages.has_value()) {
    question.messages = *r.messages;
  } else {
    return InvalidField("prompt_tokens", absl::StrCat(AbslView(strategy.name()),
                                                      " puts the context around a text question: send prompt "
                                                      "or messages"));
  }
  auto input = MakeLongContextInput(*ports.tokenizer, std::move(question), r.context, ports.target.context_length);
  if (!input.ok()) return input.status();
  out->long_context = *std::move(input);
  return absl::OkStatus();
}

// A context for a strategy that reads none is an error, not a silent drop:
// `target_only` with an 8K-token document would otherwise answer from the
// bare question.
absl::Status RejectUnreadContext(const PreparedStrategy& strategy) {
  std::vector<std::string> readers;
  for (const StrategyDefinition* d : Strategies()) {
    auto prepared = d->Prepare({});
    if (prepared.ok() && (prepared->needs().long_context || prepared->needs().context_prompt)) {
      readers.emplace_back(d->name());
    }
  }
  return InvalidField("context", absl::StrCat("strategy ", AbslView(strategy.name()),
                                              " does not read a context (strategies that do: ",
                                              absl::StrJoin(readers, ", "),
                                              "); put the document in the prompt or send no context"));
}

// The prompt of a context_prompt strategy: the long-context template around
// the question, exactly the prompt RAPID's target reads (same renderer, same
// middle truncation to the window minus max_tokens), so these strategies are
// the long-context baseline RAPID is compared against.
absl::Status RenderContextPrompt(const DecodeRequest& r, const PreparedStrategy& strategy,
                                 const GenerationPorts& ports, GenerationRequest* out) {
  GenerationRequest with_context;
  if (auto s = AttachLongContext(r, strategy, ports, &with_context); !s.ok()) return s;
  const LongContextInput& input = *with_context.long_context;
  auto prompt = input.render(input.context, /*retrieved=*/false);
  if (!prompt.ok()) return prompt.status();
  if (ports.target.context_length > 0) MiddleTruncate(*prompt, ports.target.context_length - out->max_tokens);
  out->prompt = *std::move(prompt);
  return absl::OkStatus();
}

}  // namespace

std::string PromptText(const DecodeRequest& r) {
  if (r.prompt.has_value()) return *r.prompt;
  if (!r.messages.has_value()) return {};
  std::vector<const tokenizer::ChatMessage*> turns;
  for (const auto& m : *r.messages) {
    if (m.role != "system") turns.push_back(&m);
  }
  if (turns.size() == 1) return turns[0]->content;
  std::string text;
  for (const auto* m : turns) {
    absl::StrAppend(&text, text.empty() ? "" : "\n\n", m->role == "user" ? "User: " : "Assistant: ", m->content);
  }
  return text;
}

absl::StatusOr<PreparedStrategy> ResolveStrategy(const DecodeRequest& r, std::string_view default_strategy) {
  const std::string name = r.strategy.empty() ? std::string(default_strategy) : r.strategy;
  const StrategyDefinition* definition = FindStrategy(name);
  if (definition == nullptr) return PrepareStrategy(name, {});  // the unknown-strategy error
  if (r.params.size() > static_cast<size_t>(kMaxParams)) {
    return InvalidField("params", absl::StrCat("at most ", kMaxParams, " entries, got ", r.params.size()));
  }
  std::map<std::string, std::string> params;
  for (const auto& [key, value] : r.params) {
    if (!IsParamKey(key)) {
      return InvalidField("params", absl::StrCat("key '", key.substr(0, 64), "' is not 1..64 bytes of [a-z0-9_.]"));
    }
    if (auto s = ValidateUtf8Field(value, absl::StrCat("params.", key), 4096); !s.ok()) return s;
    params[key] = value;
  }
  // Logprobs here, before any model work (a CLI loads its models after
  // ResolveStrategy).
  if (auto s = ValidateRange(r.top_logprobs, 0, runtime::kMaxTopLogprobs, "top_logprobs"); !s.ok()) return s;
  if (r.top_logprobs > 0 && !r.logprobs) return InvalidField("top_logprobs", "needs logprobs");
  if (r.prompt_logprobs && !r.logprobs) return InvalidField("prompt_logprobs", "needs logprobs");
  if (r.logprobs && !definition->logprobs()) {
    return InvalidField("logprobs", absl::StrCat("strategy '", name, "' does not report them (",
                                                 LogprobStrategyNames(), " do)"));
  }
  if (!definition->applies_sampling_edits()) {
    const runtime::SamplingParams& sp = r.sampling;
    const char* field = !sp.logit_bias.empty()           ? "logit_bias"
                        : sp.presence_penalty != 0.0f    ? "presence_penalty"
                        : sp.frequency_penalty != 0.0f   ? "frequency_penalty"
                        : sp.repetition_penalty != 1.0f  ? "repetition_penalty"
                                                         : nullptr;
    if (field != nullptr) {
      return InvalidField(field, absl::StrCat("strategy '", name,
                                              "' picks tokens from the target's raw logits by its own rule, "
                                              "where a logit bias or penalty cannot apply"));
    }
  }
  // Typed fields win over params, for the strategies that have them.
  if (r.gamma.has_value()) {
    if (auto s = ValidateRange(*r.gamma, 1, spec::kMaxGamma, "gamma"); !s.ok()) return s;
    if (definition->HasParam("gamma")) params["gamma"] = absl::StrCat(*r.gamma);
  }
  if (definition->HasParam("adaptive_gamma")) {
    if (r.adaptive_gamma.has_value()) {
      params["adaptive_gamma"] = *r.adaptive_gamma ? "true" : "false";
    } else if (!params.contains("adaptive_gamma") &&
               (params.contains("gamma") || (r.seed.has_value() && !r.sampling.greedy()))) {
      params["adaptive_gamma"] = "false";  // see DecodeRequest::adaptive_gamma
    }
  }
  if (!r.collection.empty()) {
    if (auto s = ValidateUtf8Field(r.collection, "collection", 128, 1); !s.ok()) return s;
    if (definition->HasParam("collection")) params["collection"] = r.collection;
  }
  return definition->Prepare(params);
}

absl::StatusOr<PreparedRequest> PrepareRequest(const DecodeRequest& r, PreparedStrategy strategy,
                                               const GenerationPorts& ports, const TranslationDefaults& defaults) {
  PreparedRequest out;
  // Cheap field checks first, tokenization (the expensive part) last.
  if (!r.model.empty() && r.model != ports.target.name) {
    return InvalidField("model", absl::StrCat("unknown model '", r.model.substr(0, 128), "' (available: ",
                                              ports.target.name, ")"));
  }
  if (r.stop.size() > static_cast<size_t>(kMaxStops)) {
    return InvalidField("stop", absl::StrCat("at most ", kMaxStops, " strings, got ", r.stop.size()));
  }
  for (size_t i = 0; i < r.stop.size(); ++i) {
    if (auto s = ValidateUtf8Field(r.stop[i], absl::StrCat("stop[", i, "]"), 256, 1); !s.ok()) return s;
  }
  out.generation.stop_strings = r.stop;
  if (!r.stop.empty() && (ports.vocabulary == nullptr || ports.vocabulary->NewDecoder() == nullptr)) {
    return InvalidField("stop", "stop strings need detokenized text, which this deployment lacks");
  }
  if (auto s = ValidateUtf8Field(r.context, "context", kMaxContextBytes); !s.ok()) return s;

  out.generation.logprobs = r.logprobs;
  out.generation.top_logprobs = static_cast<int>(r.top_logprobs);
  out.generation.prompt_logprobs = r.prompt_logprobs;

  runtime::SamplingParams& rs = out.generation.sampling;
  rs = r.sampling;
  rs.seed = r.seed.has_value() ? *r.seed : defaults.fallback_seed;
  if (auto s = rs.Validate(); !s.ok()) return InvalidField("sampling", std::string(s.message()));
  // Ascending ids (Validate), so the last one is the largest.
  if (const int32_t vocab = ports.target.vocab_size; vocab > 0 && !rs.logit_bias.empty() &&
                                                     rs.logit_bias.back().token >= vocab) {
    return InvalidField("logit_bias", absl::StrCat("token ", rs.logit_bias.back().token,
                                                   " is outside the vocabulary of ", vocab));
  }

  auto prompt = Tokenize(r, ports);
  if (!prompt.ok()) return prompt.status();
  out.generation.prompt = std::move(*prompt);
  out.generation.prompt_text = PromptText(r);
  const int64_t ctx = ports.target.context_length;
  const int64_t room = ctx > 0 ? ctx - static_cast<int64_t>(out.generation.prompt.size()) : (int64_t{1} << 30);
  if (room < 1) {
    return InvalidField("prompt", absl::StrCat(out.generation.prompt.size(),
                                               " prompt tokens leave no room in the context of ", ctx));
  }
  if (r.max_tokens.has_value()) {
    // 0 only to score the prompt (OpenAI's legacy echo with max_tokens 0).
    if (auto s = ValidateRange(*r.max_tokens, r.prompt_logprobs ? 0 : 1, room, "max_tokens"); !s.ok()) return s;
    out.generation.max_tokens = static_cast<int>(*r.max_tokens);
  } else {
    out.generation.max_tokens = static_cast<int>(std::min<int64_t>(defaults.default_max_tokens, room));
  }
  if (r.suffix.has_value() && (strategy.needs().long_context || !r.context.empty())) {
    return InvalidField("suffix", absl::StrCat("cannot be combined with a context or a long-context strategy (",
                                               AbslView(strategy.name()), "), which render their own prompt"));
  }
  if (r.suffix.has_value() && strategy.needs().reward) {
    // A reward model scores a prompt and its continuation; the code after a
    // gap is neither, and scoring without it would judge a different text.
    return InvalidField("suffix", absl::StrCat("strategy ", AbslView(strategy.name()),
                                               " scores prompt + response with a reward model, which has no place "
                                               "for the code after the gap"));
  }
  if (strategy.needs().long_context) {
    if (auto s = AttachLongContext(r, strategy, ports, &out.generation); !s.ok()) return s;
  } else if (!r.context.empty()) {
    if (!strategy.needs().context_prompt) return RejectUnreadContext(strategy);
    if (auto s = RenderContextPrompt(r, strategy, ports, &out.generation); !s.ok()) return s;
  }
  out.ignore_eos = r.ignore_eos;
  out.strategy = std::move(strategy);
  return out;
}

absl::StatusOr<PreparedRequest> PrepareRequest(const DecodeRequest& r, const GenerationPorts& ports,
                                               const TranslationDefaults& defaults) {
  auto strategy = ResolveStrategy(r, defaults.default_strategy);
  if (!strategy.ok()) return strategy.status();
  return PrepareRequest(r, *std::move(strategy), ports, defaults);
}

}  // namespace tandem::decoding
