#include "services/gateway/openai_request.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "decoding/request/field_validation.h"
#include "runtime/sampling/logprobs.h"
#include "runtime/sampling/sampling_params.h"
#include "runtime/util/absl_compat.h"

namespace tandem::gateway {
namespace {

using decoding::InvalidField;
using nlohmann::json;

// The body's value at `key`, nullptr when absent or JSON null (the official
// client omits unset fields; other clients send null for "default").
const json* Find(const json& object, std::string_view key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string TypeName(const json& v) { return v.type_name(); }

absl::Status WrongType(std::string_view field, std::string_view expected, const json& v) {
  return InvalidField(field, absl::StrCat("must be ", AbslView(expected), ", got ", TypeName(v)));
}

absl::StatusOr<std::string> GetString(const json& v, std::string_view field) {
  if (!v.is_string()) return WrongType(field, "a string", v);
  return v.get<std::string>();
}

absl::StatusOr<bool> GetBool(const json& v, std::string_view field) {
  if (!v.is_boolean()) return WrongType(field, "a boolean", v);
  return v.get<bool>();
}

// Sets *out from object[key] when it is present (absent or null: *out keeps
// its default).
absl::Status ReadString(const json& object, std::string_view key, std::string_view field, std::string* out) {
  const json* v = Find(object, key);
  if (v == nullptr) return absl::OkStatus();
  auto s = GetString(*v, field);
  if (!s.ok()) return s.status();
  *out = *std::move(s);
  return absl::OkStatus();
}

// `Out`: bool, or std::optional<bool> where absent differs from false.
template <typename Out>
absl::Status ReadBool(const json& object, std::string_view key, std::string_view field, Out* out) {
  const json* v = Find(object, key);
  if (v == nullptr) return absl::OkStatus();
  auto b = GetBool(*v, field);
  if (!b.ok()) return b.status();
  *out = *b;
  return absl::OkStatus();
}

absl::StatusOr<int64_t> GetInt(const json& v, std::string_view field) {
  if (v.is_number_integer()) {
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return InvalidField(field, "is too large");
    }
    return v.get<int64_t>();
  }
  // 4.0 is an integer to most JSON writers; 4.5 is not.
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e15) return static_cast<int64_t>(d);
  }
  return WrongType(field, "an integer", v);
}

absl::StatusOr<double> GetNumber(const json& v, std::string_view field) {
  if (!v.is_number()) return WrongType(field, "a number", v);
  return v.get<double>();
}

absl::StatusOr<double> GetNumberIn(const json& v, std::string_view field, double lo, double hi) {
  auto d = GetNumber(v, field);
  if (!d.ok()) return d.status();
  if (auto s = decoding::ValidateRange(*d, lo, hi, field); !s.ok()) return s;
  return *d;
}

absl::Status Unsupported(std::string_view field, std::string_view why) {
  return InvalidField(field, absl::StrCat("is not supported by tandem", why.empty() ? "" : "; ", AbslView(why)));
}

// A strategy parameter as the registry parses it: its text. JSON numbers and
// booleans are accepted for convenience ("gamma": 4).
absl::StatusOr<std::string> ParamText(const json& v, std::string_view field) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return std::string(v.get<bool>() ? "true" : "false");
  if (v.is_number_integer()) return v.dump();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (!std::isfinite(d)) return InvalidField(field, "must be finite");
    return v.dump();
  }
  return WrongType(field, "a string, number or boolean", v);
}

// {"<token id>": bias, ...}, OpenAI's form (ids as JSON object keys), as
// the runtime's ascending list. The vocabulary bound is the shared
// translation's (it knows the model).
absl::StatusOr<std::vector<runtime::LogitBias>> ParseLogitBias(const json& v) {
  if (!v.is_object()) return WrongType("logit_bias", "an object", v);
  std::vector<runtime::LogitBias> out;
  out.reserve(v.size());
  for (const auto& [key, value] : v.items()) {
    const std::string field = absl::StrCat("logit_bias[", key.substr(0, 32), "]");
    int32_t token = 0;
    if (key.empty() || key.size() > 10 || key.find_first_not_of("0123456789") != std::string::npos ||
        !absl::SimpleAtoi(key, &token)) {
      return InvalidField(field, "keys must be token ids (non-negative integers)");
    }
    auto bias = GetNumberIn(value, field, -runtime::kMaxLogitBias, runtime::kMaxLogitBias);
    if (!bias.ok()) return bias.status();
    out.push_back({token, static_cast<float>(*bias)});
  }
  // "7" and "07" name one token.
  if (absl::Status s = runtime::SortLogitBias(out); !s.ok()) return InvalidField("logit_bias", std::string(s.message()));
  return out;
}

// "tandem": {"strategy", "params", ...}: tandem's own options. Unknown keys
// are errors: this is tandem's namespace, a typo must not fall back silently.
absl::Status ParseTandemField(const json& t, decoding::DecodeRequest* d) {
  if (!t.is_object()) return WrongType("tandem", "an object", t);
  static const std::vector<std::string> kKeys = {
      "strategy", "params", "gamma", "adaptive_gamma", "collection", "context", "top_k", "min_p",
      "repetition_penalty", "repetition_window", "ignore_eos"};
  for (const auto& [key, value] : t.items()) {
    bool known = false;
    for (const std::string& k : kKeys) known = known || key == k;
    if (!known) {
      return InvalidField(absl::StrCat("tandem.", key.substr(0, 64)),
                          absl::StrCat("unknown field (known: ", absl::StrJoin(kKeys, ", "), ")"));
    }
  }
  if (auto s = ReadString(t, "strategy", "tandem.strategy", &d->strategy); !s.ok()) return s;
  if (const json* v = Find(t, "params")) {
    if (!v->is_object()) return WrongType("tandem.params", "an object", *v);
    for (const auto& [key, value] : v->items()) {
      const std::string field = absl::StrCat("tandem.params.", key.substr(0, 64));
      auto text = ParamText(value, field);
      if (!text.ok()) return text.status();
      d->params[key] = *text;
    }
  }
  if (const json* v = Find(t, "gamma")) {
    auto g = GetInt(*v, "tandem.gamma");
    if (!g.ok()) return g.status();
    d->gamma = *g;
  }
  if (auto s = ReadBool(t, "adaptive_gamma", "tandem.adaptive_gamma", &d->adaptive_gamma); !s.ok()) return s;
  if (auto s = ReadString(t, "collection", "tandem.collection", &d->collection); !s.ok()) return s;
  if (auto s = ReadString(t, "context", "tandem.context", &d->context); !s.ok()) return s;
  if (const json* v = Find(t, "top_k")) {
    auto k = GetInt(*v, "tandem.top_k");
    if (!k.ok()) return k.status();
    if (auto s = decoding::ValidateRange(*k, 0, int64_t{1} << 30, "tandem.top_k"); !s.ok()) return s;
    d->sampling.top_k = static_cast<int>(*k);
  }
  if (const json* v = Find(t, "min_p")) {
    auto p = GetNumberIn(*v, "tandem.min_p", 0.0, 1.0);
    if (!p.ok()) return p.status();
    d->sampling.min_p = static_cast<float>(*p);
  }
  if (const json* v = Find(t, "repetition_penalty")) {
    auto r = GetNumberIn(*v, "tandem.repetition_penalty", 0.0, 10.0);
    if (!r.ok()) return r.status();
    if (*r == 0.0) return InvalidField("tandem.repetition_penalty", "must be > 0 (1 = off)");
    d->sampling.repetition_penalty = static_cast<float>(*r);
  }
  if (const json* v = Find(t, "repetition_window")) {
    auto w = GetInt(*v, "tandem.repetition_window");
    if (!w.ok()) return w.status();
    if (auto s = decoding::ValidateRange(*w, 0, 1 << 20, "tandem.repetition_window"); !s.ok()) return s;
    d->sampling.repetition_window = static_cast<int>(*w);
  }
  return ReadBool(t, "ignore_eos", "tandem.ignore_eos", &d->ignore_eos);
}

// The fields both endpoints share: model, sampling, limits, stop, streaming,
// and the refusals of what tandem does not implement.
absl::Status ParseCommon(const json& body, OpenAiRequest* out) {
  decoding::DecodeRequest& d = out->decode;
  if (auto s = ReadString(body, "model", "model", &d.model); !s.ok()) return s;
  if (auto s = ReadBool(body, "stream", "stream", &out->stream); !s.ok()) return s;
  if (const json* v = Find(body, "stream_options")) {
    if (!v->is_object()) return WrongType("stream_options", "an object", *v);
    if (auto s = ReadBool(*v, "include_usage", "stream_options.include_usage", &out->include_usage); !s.ok()) {
      return s;
    }
  }
  // OpenAI's defaults and ranges, not tandem's CLI defaults.
  d.sampling.temperature = 1.0f;
  if (const json* v = Find(body, "temperature")) {
    auto t = GetNumberIn(*v, "temperature", 0.0, 2.0);
    if (!t.ok()) return t.status();
    d.sampling.temperature = static_cast<float>(*t);
  }
  if (const json* v = Find(body, "top_p")) {
    auto p = GetNumberIn(*v, "top_p", 0.0, 1.0);
    if (!p.ok()) return p.status();
    if (*p == 0.0) return InvalidField("top_p", "must be > 0 (1 = off)");
    d.sampling.top_p = static_cast<float>(*p);
  }
  // max_completion_tokens replaced max_tokens in the chat API; both are read.
  for (std::string_view key : {"max_tokens", "max_completion_tokens"}) {
    if (const json* v = Find(body, key)) {
      auto n = GetInt(*v, key);
      if (!n.ok()) return n.status();
      // 0 is for completions' echo with logprobs (score the prompt only);
      // the shared translation refuses it otherwise.
      if (*n < 0) return InvalidField(key, absl::StrCat("must be at least 0, got ", *n));
      d.max_tokens = *n;
    }
  }
  if (const json* v = Find(body, "n")) {
    auto n = GetInt(*v, "n");
    if (!n.ok()) return n.status();
    if (auto s = decoding::ValidateRange(*n, 1, kMaxChoices, "n"); !s.ok()) return s;
    out->n = static_cast<int>(*n);
  }
  out->best_of = out->n;  // completions' best_of may raise it
  if (const json* v = Find(body, "stop")) {
    if (v->is_string()) {
      d.stop.push_back(v->get<std::string>());
    } else if (v->is_array()) {
      for (size_t i = 0; i < v->size(); ++i) {
        auto s = GetString((*v)[i], absl::StrCat("stop[", i, "]"));
        if (!s.ok()) return s.status();
        d.stop.push_back(*s);
      }
    } else {
      return WrongType("stop", "a string or an array of strings", *v);
    }
  }
  if (const json* v = Find(body, "seed")) {
    auto s = GetInt(*v, "seed");
    if (!s.ok()) return s.status();
    if (*s < 0) return InvalidField("seed", absl::StrCat("must be >= 0, got ", *s));
    d.seed = static_cast<uint64_t>(*s);
  }
  if (const json* v = Find(body, "presence_penalty")) {
    auto p = GetNumberIn(*v, "presence_penalty", -2.0, 2.0);
    if (!p.ok()) return p.status();
    d.sampling.presence_penalty = static_cast<float>(*p);
  }
  if (const json* v = Find(body, "frequency_penalty")) {
    auto p = GetNumberIn(*v, "frequency_penalty", -2.0, 2.0);
    if (!p.ok()) return p.status();
    d.sampling.frequency_penalty = static_cast<float>(*p);
  }
  if (const json* v = Find(body, "logit_bias")) {
    auto bias = ParseLogitBias(*v);
    if (!bias.ok()) return bias.status();
    d.sampling.logit_bias = *std::move(bias);
  }
  for (std::string_view key : {"tools", "functions"}) {
    if (const json* v = Find(body, key); v != nullptr && !(v->is_array() && v->empty())) {
      return Unsupported(key, "tandem generates plain text");
    }
  }
  if (const json* v = Find(body, "response_format")) {
    // json::value() throws on a non-string "type" (a 500); Find does not.
    const json* type = v->is_object() ? Find(*v, "type") : nullptr;
    if (type == nullptr || !type->is_string() || type->get<std::string>() != "text") {
      return Unsupported("response_format", "only {\"type\": \"text\"}");
    }
  }
  if (const json* v = Find(body, "tandem")) {
    if (auto s = ParseTandemField(*v, &d); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// Message content: a string, or the array form's text parts.
absl::StatusOr<std::string> MessageContent(const json& content, const std::string& field) {
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) return WrongType(field, "a string or an array of content parts", content);
  std::string text;
  for (size_t i = 0; i < content.size(); ++i) {
    const json& part = content[i];
    const std::string pf = absl::StrCat(field, "[", i, "]");
    if (!part.is_object()) return WrongType(pf, "an object", part);
    const json* type_field = Find(part, "type");
    if (type_field == nullptr) return InvalidField(pf + ".type", "is required");
    auto type = GetString(*type_field, pf + ".type");
    if (!type.ok()) return type.status();
    if (*type != "text") return Unsupported(pf + ".type", absl::StrCat("'", type->substr(0, 32), "' (only text parts)"));
    const json* t = Find(part, "text");
    if (t == nullptr) return InvalidField(pf + ".text", "is required");
    auto s = GetString(*t, pf + ".text");
    if (!s.ok()) return s.status();
    text += *s;
  }
  return text;
}

// "logprobs": bool and "top_logprobs": 0..20, which needs logprobs (as
// OpenAI refuses it alone; 0 alone is harmless and accepted).
absl::Status ParseChatLogprobs(const json& body, decoding::DecodeRequest* d) {
  if (auto s = ReadBool(body, "logprobs", "logprobs", &d->logprobs); !s.ok()) return s;
  const json* v = Find(body, "top_logprobs");
  if (v == nullptr) return absl::OkStatus();
  auto n = GetInt(*v, "top_logprobs");
  if (!n.ok()) return n.status();
  if (auto s = decoding::ValidateRange(*n, 0, int64_t{runtime::kMaxTopLogprobs}, "top_logprobs"); !s.ok()) return s;
  if (*n > 0 && !d->logprobs) return InvalidField("top_logprobs", "needs \"logprobs\": true");
  d->top_logprobs = *n;
  return absl::OkStatus();
}

absl::Status ParseChat(const json& body, OpenAiRequest* out) {
  const json* messages = Find(body, "messages");
  if (messages == nullptr) return InvalidField("messages", "is required");
  if (!messages->is_array()) return WrongType("messages", "an array", *messages);
  auto& list = out->decode.messages.emplace();
  for (size_t i = 0; i < messages->size(); ++i) {
    const json& m = (*messages)[i];
    const std::string field = absl::StrCat("messages[", i, "]");
    if (!m.is_object()) return WrongType(field, "an object", m);
    const json* role = Find(m, "role");
    if (role == nullptr) return InvalidField(field + ".role", "is required");
    auto r = GetString(*role, field + ".role");
    if (!r.ok()) return r.status();
    // "developer" is the newer name of the system role.
    tokenizer::ChatMessage message;
    message.role = *r == "developer" ? "system" : *r;
    if (const json* c = Find(m, "content")) {
      auto text = MessageContent(*c, field + ".content");
      if (!text.ok()) return text.status();
      message.content = *text;
    }
    list.push_back(std::move(message));
  }
  return ParseChatLogprobs(body, &out->decode);
}

absl::Status ParseCompletion(const json& body, OpenAiRequest* out) {
  const json* prompt = Find(body, "prompt");
  if (prompt == nullptr) return InvalidField("prompt", "is required");
  decoding::DecodeRequest& d = out->decode;
  // A string, token ids, or a list of either (several prompts, answered in
  // order with n choices each).
  std::vector<OpenAiRequest::Prompt> prompts;
  const bool list = prompt->is_array() && !prompt->empty() && !(*prompt)[0].is_number();
  for (size_t k = 0; k < (list ? prompt->size() : 1); ++k) {
    const json& p = list ? (*prompt)[k] : *prompt;
    const std::string field = list ? absl::StrCat("prompt[", k, "]") : "prompt";
    OpenAiRequest::Prompt& one = prompts.emplace_back();
    if (p.is_string()) {
      one.text = p.get<std::string>();
    } else if (p.is_array() && !p.empty() && p[0].is_number()) {
      auto& ids = one.tokens.emplace();
      for (size_t i = 0; i < p.size(); ++i) {
        auto id = GetInt(p[i], absl::StrCat(field, "[", i, "]"));
        if (!id.ok()) return id.status();
        if (*id < 0 || *id > std::numeric_limits<int32_t>::max()) {
          return InvalidField(absl::StrCat(field, "[", i, "]"), absl::StrCat("token id ", *id, " is out of range"));
        }
        ids.push_back(static_cast<int32_t>(*id));
      }
    } else {
      return WrongType(field, list ? "a string or an array of token ids" : "a string, an array of token ids, or "
                                                                           "an array of those", p);
    }
  }
  d.prompt = std::move(prompts.front().text);
  d.prompt_tokens = std::move(prompts.front().tokens);
  out->more_prompts.assign(std::make_move_iterator(prompts.begin() + 1), std::make_move_iterator(prompts.end()));
  if (auto s = ReadBool(body, "echo", "echo", &out->echo); !s.ok()) return s;
  // Fill in the middle: the code after the gap (every prompt of a list gets
  // it). "" is no suffix, as OpenAI's default.
  if (const json* v = Find(body, "suffix")) {
    if (!v->is_string()) return WrongType("suffix", "a string", *v);
    if (!v->get_ref<const std::string&>().empty()) {
      if (out->echo) return InvalidField("suffix", "cannot be combined with echo");
      d.suffix = v->get<std::string>();
    }
  }
  // best_of candidates, the n most likely returned (OpenAI's rules: at least
  // n, and not streamed above n since the best are known only at the end).
  if (const json* v = Find(body, "best_of")) {
    auto b = GetInt(*v, "best_of");
    if (!b.ok()) return b.status();
    if (auto s = decoding::ValidateRange(*b, 1, kMaxChoices, "best_of"); !s.ok()) return s;
    if (*b < out->n) return InvalidField("best_of", absl::StrCat("must be at least n (", out->n, "), got ", *b));
    if (*b > out->n && out->stream) {
      return InvalidField("best_of", "cannot be streamed above n: the best candidates are known only when all "
                                     "have finished");
    }
    out->best_of = static_cast<int>(*b);
  }
  // OpenAI's legacy form: one integer, the alternatives per token (0 = only
  // the chosen token's); absent or null = none.
  if (const json* v = Find(body, "logprobs")) {
    auto n = GetInt(*v, "logprobs");
    if (!n.ok()) return n.status();
    if (auto s = decoding::ValidateRange(*n, 0, int64_t{kMaxCompletionLogprobs}, "logprobs"); !s.ok()) return s;
    d.logprobs = true;
    d.top_logprobs = *n;
  }
  // Echoed tokens get their scores too (what lm-eval's loglikelihood reads).
  d.prompt_logprobs = out->echo && d.logprobs;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<json> ParseJsonBody(std::string_view body) {
  json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return InvalidField("body", "is not valid JSON");
  if (!parsed.is_object()) return WrongType("body", "a JSON object", parsed);
  return parsed;
}

absl::StatusOr<OpenAiRequest> ParseOpenAiRequest(Endpoint endpoint, const json& body) {
  if (!body.is_object()) return WrongType("body", "a JSON object", body);
  OpenAiRequest out;
  if (auto s = ParseCommon(body, &out); !s.ok()) return s;
  absl::Status s =
      endpoint == Endpoint::kChatCompletions ? ParseChat(body, &out) : ParseCompletion(body, &out);
  if (!s.ok()) return s;
  const size_t choices = (1 + out.more_prompts.size()) * static_cast<size_t>(out.best_of);
  if (choices > static_cast<size_t>(kMaxRequestChoices)) {
    return InvalidField("prompt", absl::StrCat(1 + out.more_prompts.size(), " prompts x ",
                                               out.best_of > out.n ? "best_of" : "n", " = ", out.best_of, " are ",
                                               choices, " choices; at most ", kMaxRequestChoices, " per request"));
  }
  return out;
}

}  // namespace tandem::gateway
