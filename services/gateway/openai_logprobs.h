// Token log-probabilities in OpenAI's two response shapes, from what the
// decoding layer reports (GenerationResult / StreamChunk: each emitted
// token's log-probability under the target model's own distribution, and the
// most likely tokens at its position):
//   chat         {"content": [{"token", "logprob", "bytes",
//                              "top_logprobs": [{"token", "logprob", "bytes"}]}],
//                 "refusal": null}
//   completions  {"tokens": [str], "token_logprobs": [float],
//                 "top_logprobs": [{str: float}] or null, "text_offset": [int]}
//
// A token's text is what it stands for on its own. `bytes` are its exact
// bytes when the orchestrator has the tokenizer (a token that ends inside a
// UTF-8 character keeps its partial bytes, so clients can rebuild the
// character); the `token` string is always valid UTF-8, with U+FFFD for bytes
// that are not a whole character, as the streaming detokenizer writes them.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "decoding/ports/generation_ports.h"
#include "decoding/ports/vocabulary.h"
#include "nlohmann/json.hpp"
#include "runtime/sampling/logprobs.h"
#include "services/gateway/openai_request.h"

namespace tandem::gateway {

// OpenAI's stand-in for a probability too small to represent.
inline constexpr float kFloorLogprob = -9999.0f;

// The bytes one token stands for on its own (may be partial UTF-8).
using TokenBytes = std::function<std::string(int32_t token)>;

// A fresh decoder of `vocabulary` per token: whole characters only, a token
// that is part of one reads as U+FFFD. `vocabulary` must outlive the result
// and have a decoder.
TokenBytes VocabularyTokenBytes(const decoding::Vocabulary& vocabulary);

// The deployment's token texts: the tokenizer's bytes when there is one,
// else the vocabulary's decoder. INVALID_ARGUMENT "logprobs: ..." when there
// is neither (no token text to report). `ports` must outlive the result.
absl::StatusOr<TokenBytes> DeploymentTokenBytes(const decoding::GenerationPorts& ports);

// Valid UTF-8 for `bytes`: each malformed byte and an unfinished trailing
// character become U+FFFD (what the streaming detokenizer would write).
std::string ValidTokenText(std::string_view bytes);

// One response's `logprobs`, written at once (a JSON answer) or piece by
// piece (each streamed chunk's tokens): completions' text_offset counts on
// across pieces.
class LogprobsWriter {
 public:
  // top_n: alternatives per token (chat's top_logprobs, completions'
  // logprobs); lists the decoding layer reports are capped to it.
  LogprobsWriter(Endpoint endpoint, TokenBytes token_bytes, int top_n);

  // The choice's `logprobs` for the next `tokens` of the response, with
  // their logprobs and (top_n > 0) alternatives, aligned with them. INTERNAL
  // when they are not (the decoding layer reports one per token).
  absl::StatusOr<nlohmann::json> Write(std::span<const int32_t> tokens, std::span<const float> logprobs,
                                       std::span<const std::vector<runtime::TokenLogprob>> top);
  // Completions' echo: the prompt's tokens, first in the response, with
  // the decoding layer's prompt scores (GenerationResult::prompt_logprobs:
  // one fewer than the tokens). The first token has no context to be scored
  // in, so its logprob and alternatives are null, as OpenAI writes them.
  // INTERNAL on a count mismatch or on the chat endpoint (which has no echo).
  absl::StatusOr<nlohmann::json> WritePrompt(std::span<const int32_t> prompt, std::span<const float> logprobs,
                                             std::span<const std::vector<runtime::TokenLogprob>> top);

 private:
  nlohmann::json Chat(std::span<const int32_t> tokens, std::span<const float> logprobs,
                      std::span<const std::vector<runtime::TokenLogprob>> top) const;
  // The first `unscored` tokens come without logprobs (the prompt's first),
  // written as nulls; logprobs[k] and top[k] belong to tokens[unscored + k].
  nlohmann::json Completions(std::span<const int32_t> tokens, std::span<const float> logprobs,
                             std::span<const std::vector<runtime::TokenLogprob>> top, size_t unscored = 0);
  // The first top_n alternatives of token i (none when top_n is 0).
  std::span<const runtime::TokenLogprob> Alternatives(std::span<const std::vector<runtime::TokenLogprob>> top,
                                                      size_t i) const;

  Endpoint endpoint_;
  TokenBytes token_bytes_;
  int top_n_;
  // Completions' text_offset: characters of the choice's text so far (the
  // echoed prompt's first), and the
  // bytes of a character that the next token finishes.
  int64_t chars_ = 0;
  std::string unfinished_;
};

// Completions' `logprobs` of later tokens appended to `*into`'s (the
// echoed prompt's, then the completion's): each list continued.
void AppendCompletionLogprobs(nlohmann::json* into, const nlohmann::json& more);

}  // namespace tandem::gateway
