#include "services/gateway/openai_error.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "runtime/util/absl_compat.h"

namespace tandem::gateway {
namespace {

using nlohmann::json;

int HttpStatusOf(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange: return 400;
    case absl::StatusCode::kUnauthenticated: return 401;
    case absl::StatusCode::kPermissionDenied: return 403;
    case absl::StatusCode::kNotFound: return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted: return 409;
    case absl::StatusCode::kResourceExhausted: return 429;
    case absl::StatusCode::kUnimplemented: return 501;
    case absl::StatusCode::kUnavailable: return 503;
    case absl::StatusCode::kDeadlineExceeded: return 504;
    default: return 500;
  }
}

std::string_view ErrorType(int http_status) {
  switch (http_status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 429: return "rate_limit_error";
    default: return http_status >= 500 ? "server_error" : "invalid_request_error";
  }
}

// The leading "field: " of a translation error; empty when the message does
// not start with a field name.
std::string_view LeadingField(std::string_view message) {
  const size_t colon = message.find(": ");
  if (colon == std::string_view::npos || colon == 0) return {};
  std::string_view field = message.substr(0, colon);
  for (char c : field) {
    if (c == ' ') return {};
  }
  return field;
}

// tandem's field name -> the OpenAI body's.
std::string OpenAiParam(std::string_view field, Endpoint endpoint) {
  if (absl::StartsWith(AbslView(field), "messages.messages")) {
    return absl::StrCat("messages", AbslView(field.substr(17)));
  }
  if (field == "prompt" || field == "input") {
    return endpoint == Endpoint::kChatCompletions ? "messages" : "prompt";
  }
  if (field == "prompt_tokens.ids" || absl::StartsWith(AbslView(field), "prompt_tokens.ids[")) {
    return absl::StrCat("prompt", AbslView(field.substr(17)));
  }
  for (std::string_view own :
       {"strategy", "params", "gamma", "adaptive_gamma", "collection", "context", "repetition_penalty"}) {
    if (field == own || absl::StartsWith(AbslView(field), absl::StrCat(AbslView(own), "."))) {
      return absl::StrCat("tandem.", AbslView(field));
    }
  }
  // Completions' one `logprobs` integer is the translation's top_logprobs
  // (and logprobs); chat has both fields under their own names.
  if (field == "top_logprobs" && endpoint == Endpoint::kCompletions) return "logprobs";
  if (field == "sampling") return "";  // the message names the sampling field
  return std::string(field);
}

}  // namespace

HttpError MakeHttpError(int http_status, std::string_view message, std::string_view type,
                        std::string_view code) {
  HttpError e;
  e.status = http_status;
  e.body = {{"error",
             {{"message", std::string(message)},
              {"type", std::string(type)},
              {"param", nullptr},
              {"code", code.empty() ? json(nullptr) : json(std::string(code))}}}};
  return e;
}

HttpError ToHttpError(const absl::Status& status, Endpoint endpoint) {
  const std::string_view message(status.message().data(), status.message().size());
  const std::string_view field =
      status.code() == absl::StatusCode::kInvalidArgument ? LeadingField(message) : std::string_view();
  int http_status = HttpStatusOf(status.code());
  std::string code;
  // Only the unknown-model refusal is a 404 (the client's NotFoundError); a
  // "model" of the wrong type is a bad request like any other field's.
  if (field == "model" && absl::StrContains(AbslView(message), "unknown model")) {
    http_status = 404;
    code = "model_not_found";
  } else if (field == "prompt" && absl::StrContains(AbslView(message), "no room in the context")) {
    code = "context_length_exceeded";
  }
  HttpError e = MakeHttpError(http_status, message, ErrorType(http_status), code);
  if (http_status == 429 || http_status == 503) e.retry_after_s = 1;
  const std::string param = OpenAiParam(field, endpoint);
  if (!param.empty()) e.body["error"]["param"] = param;
  return e;
}

}  // namespace tandem::gateway
