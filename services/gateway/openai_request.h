// An OpenAI request body (POST /v1/chat/completions, /v1/completions) ->
// the decoding layer's DecodeRequest, which the gateway then hands to the
// shared PrepareRequest like every other front end. Here are only the checks
// the OpenAI wire format itself needs: JSON types, OpenAI's ranges
// (temperature in [0, 2], top_logprobs in [0, 20], completions' logprobs in
// [0, 5]), and clear refusals of what tandem does not do (tools,
// response formats other than text, ...), instead of silently ignoring
// them. tandem's own options travel in the extra body
// field "tandem" (the official client sends it with extra_body).
//
// Errors are INVALID_ARGUMENT whose message starts with the offending field
// in the body's own spelling ("temperature: ...", "tandem.params: ...").
#pragma once

#include <cstdint>

#include <vector>

#include <string>

#include <optional>

#include <string_view>

#include "absl/status/statusor.h"
#include "decoding/request/request_translation.h"
#include "nlohmann/json.hpp"

namespace tandem::gateway {

enum class Endpoint { kChatCompletions, kCompletions };

// OpenAI's cap on the completions endpoint's `logprobs` (alternatives per
// token); chat's top_logprobs goes to runtime::kMaxTopLogprobs (20).
inline constexpr int kMaxCompletionLogprobs = 5;

struct OpenAiRequest {
  decoding::DecodeRequest decode;
  bool stream = false;
  // stream_options.include_usage: a last chunk with usage (and tandem stats).
  bool include_usage = false;
  // Completions' echo: the prompt goes back in front of the completion, and
  // with logprobs its tokens' scores in front of the completion's
  // (DecodeRequest::prompt_logprobs).
  bool echo = false;
  // Choices to generate for the prompt, each an independent request (the
  // seed, when given, advanced by the choice's index).
  int n = 1;
  // Completions' best_of: candidates generated per prompt (>= n; n when
  // absent), of which the n with the highest log-probability per token are
  // returned (RankByTokenLogprob). Above n it cannot be streamed.
  int best_of = 1;
  // Completions' prompts after the first (which is in `decode`): a prompt
  // list is answered with n choices per prompt, in the list's order.
  struct Prompt {
    std::optional<std::string> text;
    std::optional<std::vector<int32_t>> tokens;
  };
  std::vector<Prompt> more_prompts;
};

// The most choices one request may ask for (each runs as its own request),
// and the most in all (prompts x best_of, which is n unless best_of is set).
inline constexpr int kMaxChoices = 16;
inline constexpr int kMaxRequestChoices = 64;

// The body as JSON; INVALID_ARGUMENT ("body: ...") unless it is a JSON object.
absl::StatusOr<nlohmann::json> ParseJsonBody(std::string_view body);

absl::StatusOr<OpenAiRequest> ParseOpenAiRequest(Endpoint endpoint, const nlohmann::json& body);

}  // namespace tandem::gateway
