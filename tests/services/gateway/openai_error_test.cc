// absl::Status -> OpenAI error: HTTP status, type, param (in the body's
// spelling) and code, for the errors the shared translation produces.
#include "services/gateway/openai_error.h"

#include "gtest/gtest.h"

namespace tandem::gateway {
namespace {

using nlohmann::json;

const json& Err(const HttpError& e) { return e.body.at("error"); }

TEST(OpenAiErrorTest, UnknownModelIs404ModelNotFound) {
  HttpError e = ToHttpError(absl::InvalidArgumentError("model: unknown model 'gpt-4' (available: smollm2-135m)"),
                            Endpoint::kChatCompletions);
  EXPECT_EQ(e.status, 404);
  EXPECT_EQ(Err(e)["type"], "invalid_request_error");
  EXPECT_EQ(Err(e)["param"], "model");
  EXPECT_EQ(Err(e)["code"], "model_not_found");
  EXPECT_EQ(Err(e)["message"], "model: unknown model 'gpt-4' (available: smollm2-135m)");
}

TEST(OpenAiErrorTest, AModelOfTheWrongTypeIs400) {
  HttpError e = ToHttpError(absl::InvalidArgumentError("model: must be a string, got number"),
                            Endpoint::kChatCompletions);
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(Err(e)["param"], "model");
  EXPECT_TRUE(Err(e)["code"].is_null());
}

TEST(OpenAiErrorTest, PromptTooLongIsContextLengthExceeded) {
  const absl::Status s = absl::InvalidArgumentError("prompt: 9000 prompt tokens leave no room in the context of 8192");
  HttpError chat = ToHttpError(s, Endpoint::kChatCompletions);
  EXPECT_EQ(chat.status, 400);
  EXPECT_EQ(Err(chat)["code"], "context_length_exceeded");
  EXPECT_EQ(Err(chat)["param"], "messages");
  HttpError completion = ToHttpError(s, Endpoint::kCompletions);
  EXPECT_EQ(Err(completion)["param"], "prompt");
}

TEST(OpenAiErrorTest, TandemFieldsGetTheTandemPrefix) {
  HttpError strategy = ToHttpError(absl::InvalidArgumentError("strategy: unknown strategy 'x' (known: a, b)"),
                                   Endpoint::kChatCompletions);
  EXPECT_EQ(strategy.status, 400);
  EXPECT_EQ(Err(strategy)["param"], "tandem.strategy");
  EXPECT_TRUE(Err(strategy)["code"].is_null());
  HttpError params = ToHttpError(
      absl::InvalidArgumentError("params: unknown parameter(s) foo for strategy 'speculative'"), Endpoint::kCompletions);
  EXPECT_EQ(Err(params)["param"], "tandem.params");
  HttpError gamma = ToHttpError(absl::InvalidArgumentError("params.gamma: must be in [1, 32], got 99"),
                                Endpoint::kCompletions);
  EXPECT_EQ(Err(gamma)["param"], "tandem.params.gamma");
  HttpError penalty = ToHttpError(
      absl::InvalidArgumentError("repetition_penalty: strategy 'args' picks tokens from the target's raw logits"),
      Endpoint::kCompletions);
  EXPECT_EQ(Err(penalty)["param"], "tandem.repetition_penalty");
  HttpError bias = ToHttpError(absl::InvalidArgumentError("logit_bias: token 99999 is outside the vocabulary"),
                               Endpoint::kChatCompletions);
  EXPECT_EQ(Err(bias)["param"], "logit_bias");
}

TEST(OpenAiErrorTest, FieldNamesFollowTheBody) {
  HttpError role = ToHttpError(
      absl::InvalidArgumentError("messages.messages[2].role: 'tool' is not system, user or assistant"),
      Endpoint::kChatCompletions);
  EXPECT_EQ(Err(role)["param"], "messages[2].role");
  HttpError id = ToHttpError(absl::InvalidArgumentError("prompt_tokens.ids[3]: token id 99999 is outside [0, 49152)"),
                             Endpoint::kCompletions);
  EXPECT_EQ(Err(id)["param"], "prompt[3]");
  HttpError temperature = ToHttpError(absl::InvalidArgumentError("temperature: must be in [0, 2], got 3"),
                                      Endpoint::kCompletions);
  EXPECT_EQ(Err(temperature)["param"], "temperature");
  HttpError free_text = ToHttpError(absl::InvalidArgumentError("something went wrong here"), Endpoint::kCompletions);
  EXPECT_TRUE(Err(free_text)["param"].is_null());
}

// Completions' one `logprobs` integer carries the translation's
// top_logprobs; chat has a field of that name.
TEST(OpenAiErrorTest, LogprobsFieldsFollowTheEndpoint) {
  const absl::Status top = absl::InvalidArgumentError("top_logprobs: must be in [0, 20], got 30");
  EXPECT_EQ(Err(ToHttpError(top, Endpoint::kChatCompletions))["param"], "top_logprobs");
  EXPECT_EQ(Err(ToHttpError(top, Endpoint::kCompletions))["param"], "logprobs");
  const absl::Status strategy = absl::InvalidArgumentError(
      "logprobs: strategy 'draft_only' does not report them (target_only and speculative do)");
  for (Endpoint endpoint : {Endpoint::kChatCompletions, Endpoint::kCompletions}) {
    HttpError e = ToHttpError(strategy, endpoint);
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(Err(e)["type"], "invalid_request_error");
    EXPECT_EQ(Err(e)["param"], "logprobs");
  }
}

TEST(OpenAiErrorTest, StatusCodesMapToHttp) {
  EXPECT_EQ(ToHttpError(absl::ResourceExhaustedError("busy"), Endpoint::kCompletions).status, 429);
  EXPECT_EQ(Err(ToHttpError(absl::ResourceExhaustedError("busy"), Endpoint::kCompletions))["type"], "rate_limit_error");
  EXPECT_EQ(ToHttpError(absl::ResourceExhaustedError("busy"), Endpoint::kCompletions).retry_after_s, 1);
  EXPECT_EQ(ToHttpError(absl::UnavailableError("target down"), Endpoint::kCompletions).status, 503);
  EXPECT_EQ(ToHttpError(absl::UnavailableError("target down"), Endpoint::kCompletions).retry_after_s, 1);
  EXPECT_EQ(ToHttpError(absl::InvalidArgumentError("n: bad"), Endpoint::kCompletions).retry_after_s, 0);
  EXPECT_EQ(Err(ToHttpError(absl::UnavailableError("x"), Endpoint::kCompletions))["type"], "server_error");
  EXPECT_EQ(ToHttpError(absl::UnauthenticatedError("no token"), Endpoint::kCompletions).status, 401);
  EXPECT_EQ(ToHttpError(absl::PermissionDeniedError("no"), Endpoint::kCompletions).status, 403);
  EXPECT_EQ(ToHttpError(absl::DeadlineExceededError("slow"), Endpoint::kCompletions).status, 504);
  EXPECT_EQ(ToHttpError(absl::InternalError("bug"), Endpoint::kCompletions).status, 500);
  EXPECT_EQ(ToHttpError(absl::NotFoundError("collection: no such collection"), Endpoint::kCompletions).status, 404);
  // Only INVALID_ARGUMENT messages start with a field; others keep param null.
  EXPECT_TRUE(Err(ToHttpError(absl::UnavailableError("model: gone"), Endpoint::kCompletions))["param"].is_null());
}

TEST(OpenAiErrorTest, BodyHasTheFourFields) {
  HttpError e = MakeHttpError(404, "no route GET /v2", "invalid_request_error", "not_found");
  EXPECT_EQ(e.status, 404);
  for (const char* key : {"message", "type", "param", "code"}) EXPECT_TRUE(Err(e).contains(key)) << key;
  EXPECT_EQ(Err(e)["code"], "not_found");
  EXPECT_TRUE(MakeHttpError(500, "x", "server_error", "").body["error"]["code"].is_null());
}

}  // namespace
}  // namespace tandem::gateway
