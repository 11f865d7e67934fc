#include "services/gateway/openai_logprobs.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "decoding/request/field_validation.h"
#include "runtime/tokenizer/tokenizer.h"
#include "runtime/tokenizer/unicode.h"

namespace tandem::gateway {
namespace {

using nlohmann::json;

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// -inf (a probability below float's range) would be written as null, which
// typed clients reject; OpenAI writes -9999 there. Rounding may leave a
// near-certain token a hair above 0, which no probability is.
float CleanLogprob(float logprob) {
  if (!std::isfinite(logprob)) return kFloorLogprob;
  return std::min(logprob, 0.0f);
}

json ByteArray(std::string_view bytes) {
  json out = json::array();
  for (char c : bytes) out.push_back(static_cast<int>(static_cast<unsigned char>(c)));
  return out;
}

// Characters `bytes` complete after the held-back `*unfinished` ones, as the
// streaming detokenizer emits them (a malformed byte is one U+FFFD); the
// bytes of a character still unfinished stay in *unfinished.
int64_t CompletedChars(std::string_view bytes, std::string* unfinished) {
  unfinished->append(bytes.data(), bytes.size());
  int64_t chars = 0;
  size_t pos = 0;
  while (pos < unfinished->size()) {
    const int len = tokenizer::Utf8SequenceLength(*unfinished, pos);
    if (len < 0) break;  // the next token may finish it
    pos += len == 0 ? 1 : static_cast<size_t>(len);
    ++chars;
  }
  unfinished->erase(0, pos);
  return chars;
}

}  // namespace

TokenBytes VocabularyTokenBytes(const decoding::Vocabulary& vocabulary) {
  return [&vocabulary](int32_t token) {
    std::unique_ptr<decoding::TokenDecoder> d = vocabulary.NewDecoder();
    if (d == nullptr) return std::string();
    std::string text = d->Push(token);
    return text + d->Flush();
  };
}

absl::StatusOr<TokenBytes> DeploymentTokenBytes(const decoding::GenerationPorts& ports) {
  // The tokenizer knows each token's exact bytes; a decoder only gives whole
  // characters.
  if (const tokenizer::Tokenizer* tok = ports.tokenizer; tok != nullptr) {
    return TokenBytes([tok](int32_t token) { return std::string(tok->TokenText(token)); });
  }
  if (ports.vocabulary != nullptr && ports.vocabulary->NewDecoder() != nullptr) {
    return VocabularyTokenBytes(*ports.vocabulary);
  }
  return decoding::InvalidField("logprobs", "token texts need a detokenizer of the target's tokens, which this "
                                            "deployment lacks");
}

std::string ValidTokenText(std::string_view bytes) {
  std::string out;
  size_t pos = 0;
  while (pos < bytes.size()) {
    const int len = tokenizer::Utf8SequenceLength(bytes, pos);
    if (len < 0) {  // an unfinished character ends the token
      out += kReplacement;
      break;
    }
    if (len == 0) {
      out += kReplacement;
      ++pos;
      continue;
    }
    out.append(bytes.substr(pos, static_cast<size_t>(len)));
    pos += static_cast<size_t>(len);
  }
  return out;
}

LogprobsWriter::LogprobsWriter(Endpoint endpoint, TokenBytes token_bytes, int top_n)
    : endpoint_(endpoint), token_bytes_(std::move(token_bytes)), top_n_(std::max(top_n, 0)) {}

absl::StatusOr<json> LogprobsWriter::Write(std::span<const int32_t> tokens, std::span<const float> logprobs,
                                           std::span<const std::vector<runtime::TokenLogprob>> top) {
  // One entry per token, never a guess: a mismatch is a decoding-layer bug.
  if (logprobs.size() != tokens.size() || (top_n_ > 0 && top.size() != tokens.size())) {
    return absl::InternalError(absl::StrCat("logprobs: the strategy reported ", logprobs.size(),
                                            " log-probabilities and ", top.size(), " alternative lists for ",
                                            tokens.size(), " tokens"));
  }
  return endpoint_ == Endpoint::kChatCompletions ? Chat(tokens, logprobs, top) : Completions(tokens, logprobs, top);
}

absl::StatusOr<json> LogprobsWriter::WritePrompt(std::span<const int32_t> prompt, std::span<const float> logprobs,
                                                 std::span<const std::vector<runtime::TokenLogprob>> top) {
  if (endpoint_ != Endpoint::kCompletions) return absl::InternalError("logprobs: only completions echo the prompt");
  const size_t scored = prompt.empty() ? 0 : prompt.size() - 1;
  if (prompt.empty() || logprobs.size() != scored || (top_n_ > 0 && top.size() != scored)) {
    return absl::InternalError(absl::StrCat("logprobs: the strategy reported ", logprobs.size(),
                                            " prompt log-probabilities and ", top.size(),
                                            " alternative lists for a prompt of ", prompt.size(), " tokens"));
  }
  return Completions(prompt, logprobs, top, /*unscored=*/1);
}

void AppendCompletionLogprobs(json* into, const json& more) {
  for (const char* key : {"tokens", "token_logprobs", "top_logprobs", "text_offset"}) {
    json& list = (*into)[key];
    if (list.is_null()) continue;  // top_logprobs without alternatives asked for
    for (const json& v : more[key]) list.push_back(v);
  }
}

std::span<const runtime::TokenLogprob> LogprobsWriter::Alternatives(
    std::span<const std::vector<runtime::TokenLogprob>> top, size_t i) const {
  if (top_n_ == 0 || i >= top.size()) return {};
  std::span<const runtime::TokenLogprob> list(top[i]);
  return list.first(std::min(list.size(), static_cast<size_t>(top_n_)));
}

json LogprobsWriter::Chat(std::span<const int32_t> tokens, std::span<const float> logprobs,
                          std::span<const std::vector<runtime::TokenLogprob>> top) const {
  auto entry = [this](int32_t token, float logprob) {
    const std::string bytes = token_bytes_(token);
    return json{{"token", ValidTokenText(bytes)}, {"logprob", CleanLogprob(logprob)}, {"bytes", ByteArray(bytes)}};
  };
  json content = json::array();
  for (size_t i = 0; i < tokens.size(); ++i) {
    json e = entry(tokens[i], logprobs[i]);
    // Always a list, empty without top_logprobs, as OpenAI writes it.
    json alternatives = json::array();
    for (const runtime::TokenLogprob& alt : Alternatives(top, i)) alternatives.push_back(entry(alt.token, alt.logprob));
    e["top_logprobs"] = std::move(alternatives);
    content.push_back(std::move(e));
  }
  return json{{"content", std::move(content)}, {"refusal", nullptr}};
}

json LogprobsWriter::Completions(std::span<const int32_t> tokens, std::span<const float> logprobs,
                                 std::span<const std::vector<runtime::TokenLogprob>> top, size_t unscored) {
  json texts = json::array();
  json token_logprobs = json::array();
  json offsets = json::array();
  json tops = top_n_ > 0 ? json::array() : json(nullptr);
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string bytes = token_bytes_(tokens[i]);
    const std::string text = ValidTokenText(bytes);
    texts.push_back(text);
    // Where the token's text starts in the completion; a token that finishes
    // a character another one began starts where that character does.
    offsets.push_back(chars_);
    chars_ += CompletedChars(bytes, &unfinished_);
    if (i < unscored) {
      token_logprobs.push_back(nullptr);
      if (top_n_ > 0) tops.push_back(nullptr);
      continue;
    }
    const size_t k = i - unscored;  // logprobs[k] and top[k] belong to tokens[i]
    const float logprob = CleanLogprob(logprobs[k]);
    token_logprobs.push_back(logprob);
    if (top_n_ == 0) continue;
    // A map from text: two tokens with the same text keep the likelier one
    // (the lists are best first).
    json alternatives = json::object();
    for (const runtime::TokenLogprob& alt : Alternatives(top, k)) {
      const std::string key = ValidTokenText(token_bytes_(alt.token));
      if (!alternatives.contains(key)) alternatives[key] = CleanLogprob(alt.logprob);
    }
    // As OpenAI's: the chosen token is always there (up to logprobs + 1).
    if (!alternatives.contains(text)) alternatives[text] = logprob;
    tops.push_back(std::move(alternatives));
  }
  return json{{"tokens", std::move(texts)},
              {"token_logprobs", std::move(token_logprobs)},
              {"top_logprobs", std::move(tops)},
              {"text_offset", std::move(offsets)}};
}

}  // namespace tandem::gateway
