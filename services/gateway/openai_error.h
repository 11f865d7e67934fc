// absl::Status -> an OpenAI-format error: the HTTP status the official
// clients map to their exception types (400 BadRequestError, 404
// NotFoundError, 429 RateLimitError, 5xx InternalServerError, ...) and the
// body {"error": {"message", "type", "param", "code"}}.
//
// Errors of the shared request translation name tandem's fields ("model: ",
// "params.gamma: ", "messages.messages[2].role: ", "prompt: ... leave no room
// in the context"); `param` spells them as the OpenAI body does ("model",
// "tandem.params.gamma", "messages[2].role", completions' "logprobs" for
// "top_logprobs"), an unknown model is 404 model_not_found and a prompt that
// fills the context is context_length_exceeded, as OpenAI answers them.
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "services/gateway/openai_request.h"

namespace tandem::gateway {

struct HttpError {
  int status = 500;
  nlohmann::json body;  // {"error": {...}}
  // > 0: sent as Retry-After (overloaded 429, unavailable 503); the official
  // clients wait that long before they retry.
  int retry_after_s = 0;
};

// `status` must not be OK.
HttpError ToHttpError(const absl::Status& status, Endpoint endpoint);

// An error that is not about a request field (unknown route, method).
HttpError MakeHttpError(int http_status, std::string_view message, std::string_view type,
                        std::string_view code);

}  // namespace tandem::gateway
