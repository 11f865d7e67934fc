// OpenAI request bodies -> DecodeRequest: every mapped field (logprobs in
// both endpoints' forms included), OpenAI's defaults and ranges, the "tandem"
// extra field, and the refusals of what tandem does not support (each names
// its field).
#include "services/gateway/openai_request.h"

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace tandem::gateway {
namespace {

using nlohmann::json;

absl::StatusOr<OpenAiRequest> Chat(json body) {
  if (!body.contains("messages")) body["messages"] = json::array({{{"role", "user"}, {"content", "Hi"}}});
  return ParseOpenAiRequest(Endpoint::kChatCompletions, body);
}

absl::StatusOr<OpenAiRequest> Completion(json body) {
  if (!body.contains("prompt")) body["prompt"] = "Once";
  return ParseOpenAiRequest(Endpoint::kCompletions, body);
}

// The error is INVALID_ARGUMENT and starts with "field: ".
void ExpectFieldError(const absl::StatusOr<OpenAiRequest>& r, const std::string& field) {
  ASSERT_FALSE(r.ok()) << "expected an error naming " << field;
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(r.status().message(), field + ": ")) << r.status().message();
}

TEST(OpenAiRequestTest, ChatMapsMessagesAndSampling) {
  auto r = Chat({{"model", "smollm2-135m"},
                 {"messages", json::array({{{"role", "system"}, {"content", "Be brief."}},
                                           {{"role", "user"}, {"content", "Why?"}},
                                           {{"role", "assistant"}, {"content", nullptr}},
                                           {{"role", "developer"},
                                            {"content", json::array({{{"type", "text"}, {"text", "a"}},
                                                                     {{"type", "text"}, {"text", "b"}}})}}})},
                 {"temperature", 0.5},
                 {"top_p", 0.9},
                 {"max_tokens", 17},
                 {"seed", 42},
                 {"stop", "\n\n"},
                 {"stream", true},
                 {"stream_options", {{"include_usage", true}}}});
  ASSERT_TRUE(r.ok()) << r.status();
  const decoding::DecodeRequest& d = r->decode;
  EXPECT_EQ(d.model, "smollm2-135m");
  ASSERT_TRUE(d.messages.has_value());
  ASSERT_EQ(d.messages->size(), 4u);
  EXPECT_EQ((*d.messages)[0].role, "system");
  EXPECT_EQ((*d.messages)[1].content, "Why?");
  EXPECT_EQ((*d.messages)[2].content, "");
  EXPECT_EQ((*d.messages)[3].role, "system");  // developer = system
  EXPECT_EQ((*d.messages)[3].content, "ab");
  EXPECT_FALSE(d.prompt.has_value());
  EXPECT_FLOAT_EQ(d.sampling.temperature, 0.5f);
  EXPECT_FLOAT_EQ(d.sampling.top_p, 0.9f);
  EXPECT_EQ(d.max_tokens, 17);
  EXPECT_EQ(d.seed, 42u);
  EXPECT_EQ(d.stop, std::vector<std::string>{"\n\n"});
  EXPECT_TRUE(r->stream);
  EXPECT_TRUE(r->include_usage);
}

TEST(OpenAiRequestTest, OpenAiDefaults) {
  auto r = Chat({});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FLOAT_EQ(r->decode.sampling.temperature, 1.0f);  // OpenAI's default, not the CLI's
  EXPECT_FLOAT_EQ(r->decode.sampling.top_p, 1.0f);
  EXPECT_FALSE(r->decode.max_tokens.has_value());
  EXPECT_FALSE(r->decode.seed.has_value());
  EXPECT_TRUE(r->decode.model.empty());
  EXPECT_TRUE(r->decode.strategy.empty());
  EXPECT_FALSE(r->stream);
  // Explicit nulls mean "default", as unset fields do.
  auto n = Chat({{"temperature", nullptr}, {"max_tokens", nullptr}, {"stop", nullptr}, {"n", nullptr}});
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_FLOAT_EQ(n->decode.sampling.temperature, 1.0f);
}

TEST(OpenAiRequestTest, MaxCompletionTokensAndStopList) {
  auto r = Chat({{"max_completion_tokens", 9}, {"stop", json::array({"a", "b"})}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->decode.max_tokens, 9);
  EXPECT_EQ(r->decode.stop, (std::vector<std::string>{"a", "b"}));
}

TEST(OpenAiRequestTest, CompletionPromptForms) {
  auto text = Completion({{"prompt", "Once upon"}});
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(text->decode.prompt, "Once upon");
  EXPECT_FALSE(text->decode.messages.has_value());
  auto one = Completion({{"prompt", json::array({"single"})}});
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->decode.prompt, "single");
  auto ids = Completion({{"prompt", json::array({1, 2, 3})}});
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(ids->decode.prompt_tokens, (std::vector<int32_t>{1, 2, 3}));
  auto nested = Completion({{"prompt", json::array({json::array({4, 5})})}});
  ASSERT_TRUE(nested.ok()) << nested.status();
  EXPECT_EQ(nested->decode.prompt_tokens, (std::vector<int32_t>{4, 5}));
  // Several prompts: the first in `decode`, the rest in order.
  auto several = Completion({{"prompt", json::array({"a", json::array({7, 8}), "c"})}, {"n", 2}});
  ASSERT_TRUE(several.ok()) << several.status();
  EXPECT_EQ(several->decode.prompt, "a");
  ASSERT_EQ(several->more_prompts.size(), 2u);
  EXPECT_EQ(several->more_prompts[0].tokens, (std::vector<int32_t>{7, 8}));
  EXPECT_FALSE(several->more_prompts[0].text.has_value());
  EXPECT_EQ(several->more_prompts[1].text, "c");
  ExpectFieldError(Completion({{"prompt", json::array({"a", 5})}}), "prompt[1]");
  ExpectFieldError(Completion({{"prompt", json::array({"a", json::array({1, -2})})}}), "prompt[1][1]");
  // At most 64 choices in all.
  ExpectFieldError(Completion({{"prompt", std::vector<std::string>(5, "x")}, {"n", 13}}), "prompt");
  EXPECT_TRUE(Completion({{"prompt", std::vector<std::string>(4, "x")}, {"n", 16}}).ok());
  ExpectFieldError(Completion({{"prompt", json::array({1, -2})}}), "prompt[1]");
  ExpectFieldError(Completion({{"prompt", 5}}), "prompt");
  ExpectFieldError(ParseOpenAiRequest(Endpoint::kCompletions, json::object()), "prompt");
}

TEST(OpenAiRequestTest, TandemField) {
  auto r = Chat({{"tandem",
                  {{"strategy", "speculative"},
                   {"params", {{"gamma", 5}, {"drafter", "ngram"}, {"adaptive_gamma", true}, {"eta", 0.25}}},
                   {"top_k", 40},
                   {"min_p", 0.05},
                   {"repetition_penalty", 1.1},
                   {"repetition_window", 32},
                   {"context", "a document"},
                   {"collection", "docs"},
                   {"ignore_eos", true},
                   {"gamma", 3}}}});
  ASSERT_TRUE(r.ok()) << r.status();
  const decoding::DecodeRequest& d = r->decode;
  EXPECT_EQ(d.strategy, "speculative");
  EXPECT_EQ(d.params.at("gamma"), "5");
  EXPECT_EQ(d.params.at("drafter"), "ngram");
  EXPECT_EQ(d.params.at("adaptive_gamma"), "true");
  EXPECT_EQ(d.params.at("eta"), "0.25");
  EXPECT_EQ(d.sampling.top_k, 40);
  EXPECT_FLOAT_EQ(d.sampling.min_p, 0.05f);
  EXPECT_FLOAT_EQ(d.sampling.repetition_penalty, 1.1f);
  EXPECT_EQ(d.sampling.repetition_window, 32);
  EXPECT_EQ(d.context, "a document");
  EXPECT_EQ(d.collection, "docs");
  EXPECT_TRUE(d.ignore_eos);
  EXPECT_EQ(d.gamma, 3);
  EXPECT_FALSE(d.adaptive_gamma.has_value());  // only in params here
}

// Absent and false differ: absent leaves the translation's rule (adaptive
// unless gamma or a seeded sample), false asks for a fixed gamma.
TEST(OpenAiRequestTest, AdaptiveGammaFalseIsKept) {
  auto fixed = Chat({{"tandem", {{"adaptive_gamma", false}}}});
  ASSERT_TRUE(fixed.ok()) << fixed.status();
  EXPECT_EQ(fixed->decode.adaptive_gamma, std::optional<bool>(false));
  auto adaptive = Chat({{"tandem", {{"adaptive_gamma", true}}}});
  ASSERT_TRUE(adaptive.ok()) << adaptive.status();
  EXPECT_EQ(adaptive->decode.adaptive_gamma, std::optional<bool>(true));
  auto unset = Chat({{"tandem", {{"strategy", "speculative"}}}});
  ASSERT_TRUE(unset.ok()) << unset.status();
  EXPECT_FALSE(unset->decode.adaptive_gamma.has_value());
  ExpectFieldError(Chat({{"tandem", {{"adaptive_gamma", "yes"}}}}), "tandem.adaptive_gamma");
}

TEST(OpenAiRequestTest, TandemFieldErrorsNameTheirField) {
  ExpectFieldError(Chat({{"tandem", "rsd"}}), "tandem");
  ExpectFieldError(Chat({{"tandem", {{"stratgy", "rsd"}}}}), "tandem.stratgy");
  ExpectFieldError(Chat({{"tandem", {{"strategy", 3}}}}), "tandem.strategy");
  ExpectFieldError(Chat({{"tandem", {{"params", json::array({1})}}}}), "tandem.params");
  ExpectFieldError(Chat({{"tandem", {{"params", {{"gamma", json::array({1})}}}}}}), "tandem.params.gamma");
  ExpectFieldError(Chat({{"tandem", {{"top_k", -1}}}}), "tandem.top_k");
  ExpectFieldError(Chat({{"tandem", {{"min_p", 2}}}}), "tandem.min_p");
  ExpectFieldError(Chat({{"tandem", {{"repetition_penalty", 0}}}}), "tandem.repetition_penalty");
  ExpectFieldError(Chat({{"tandem", {{"ignore_eos", "yes"}}}}), "tandem.ignore_eos");
}

TEST(OpenAiRequestTest, SamplingRangesAreOpenAis) {
  ExpectFieldError(Chat({{"temperature", 2.5}}), "temperature");
  ExpectFieldError(Chat({{"temperature", -0.1}}), "temperature");
  ExpectFieldError(Chat({{"temperature", "hot"}}), "temperature");
  EXPECT_TRUE(Chat({{"temperature", 2}}).ok());
  EXPECT_TRUE(Chat({{"temperature", 0}}).ok());
  ExpectFieldError(Chat({{"top_p", 1.5}}), "top_p");
  ExpectFieldError(Chat({{"top_p", 0}}), "top_p");
  ExpectFieldError(Chat({{"max_tokens", -1}}), "max_tokens");
  // 0 parses (completions' echo may score the prompt alone); the shared
  // translation refuses it without prompt logprobs.
  EXPECT_TRUE(Chat({{"max_tokens", 0}}).ok());
  ExpectFieldError(Chat({{"max_tokens", 2.5}}), "max_tokens");
  ExpectFieldError(Chat({{"max_completion_tokens", -3}}), "max_completion_tokens");
  ExpectFieldError(Chat({{"seed", -1}}), "seed");
  ExpectFieldError(Chat({{"stop", json::array({"a", 1})}}), "stop[1]");
  ExpectFieldError(Chat({{"stream", "yes"}}), "stream");
  ExpectFieldError(Chat({{"model", 7}}), "model");
}

TEST(OpenAiRequestTest, UnsupportedFeaturesAreRefused) {
  EXPECT_EQ(Chat({{"n", 1}})->n, 1);
  EXPECT_EQ(Completion({{"n", 16}})->n, 16);
  ExpectFieldError(Chat({{"n", 0}}), "n");
  ExpectFieldError(Chat({{"n", 17}}), "n");
  ExpectFieldError(Chat({{"n", 1.5}}), "n");
  ExpectFieldError(Chat({{"tools", json::array({{{"type", "function"}}})}}), "tools");
  ExpectFieldError(Chat({{"response_format", {{"type", "json_object"}}}}), "response_format");
  EXPECT_TRUE(Chat({{"response_format", {{"type", "text"}}}}).ok());
  // A "type" that is not a string is refused like any other value (json's
  // value() threw on it, which answered 500).
  ExpectFieldError(Chat({{"response_format", {{"type", nullptr}}}}), "response_format");
  ExpectFieldError(Chat({{"response_format", {{"type", 1}}}}), "response_format");
  ExpectFieldError(Chat({{"response_format", "text"}}), "response_format");
  ExpectFieldError(Completion({{"echo", "yes"}}), "echo");
}

// best_of: n when absent, at least n, at most kMaxChoices, not streamed
// above n, and counted against the request's choices instead of n.
TEST(OpenAiRequestTest, BestOfCountsTheCandidates) {
  EXPECT_EQ(Completion({})->best_of, 1);
  EXPECT_EQ(Completion({{"n", 3}})->best_of, 3);
  EXPECT_EQ(Chat({{"n", 2}})->best_of, 2);
  auto r = Completion({{"n", 2}, {"best_of", 5}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->n, 2);
  EXPECT_EQ(r->best_of, 5);
  EXPECT_TRUE(Completion({{"best_of", 3}, {"stream", true}, {"n", 3}}).ok()) << "best_of = n streams";
  ExpectFieldError(Completion({{"best_of", 3}, {"stream", true}}), "best_of");
  ExpectFieldError(Completion({{"n", 3}, {"best_of", 2}}), "best_of");
  ExpectFieldError(Completion({{"best_of", 0}}), "best_of");
  ExpectFieldError(Completion({{"best_of", 17}}), "best_of");
  ExpectFieldError(Completion({{"best_of", "4"}}), "best_of");
  // 5 prompts x best_of 16 = 80 candidates: over kMaxRequestChoices.
  const json prompts = json::array({"a", "b", "c", "d", "e"});
  EXPECT_TRUE(Completion({{"prompt", prompts}, {"best_of", 12}}).ok());
  ExpectFieldError(Completion({{"prompt", prompts}, {"best_of", 16}}), "prompt");
}

TEST(OpenAiRequestTest, SuffixFillsInTheMiddle) {
  auto r = Completion({{"prompt", "def f("}, {"suffix", "):\n  pass"}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->decode.prompt, "def f(");
  EXPECT_EQ(r->decode.suffix, "):\n  pass");
  // "" and null are OpenAI's default: no suffix, a plain completion.
  EXPECT_EQ(Completion({{"suffix", ""}})->decode.suffix, std::nullopt);
  EXPECT_EQ(Completion({{"suffix", nullptr}})->decode.suffix, std::nullopt);
  ExpectFieldError(Completion({{"suffix", 3}}), "suffix");
  ExpectFieldError(Completion({{"suffix", "end"}, {"echo", true}}), "suffix");
}

TEST(OpenAiRequestTest, ChatLogprobsAndTopLogprobs) {
  auto off = Chat({});
  ASSERT_TRUE(off.ok()) << off.status();
  EXPECT_FALSE(off->decode.logprobs);
  EXPECT_EQ(off->decode.top_logprobs, 0);
  auto on = Chat({{"logprobs", true}});
  ASSERT_TRUE(on.ok()) << on.status();
  EXPECT_TRUE(on->decode.logprobs);
  EXPECT_EQ(on->decode.top_logprobs, 0);
  auto top = Chat({{"logprobs", true}, {"top_logprobs", 5}});
  ASSERT_TRUE(top.ok()) << top.status();
  EXPECT_TRUE(top->decode.logprobs);
  EXPECT_EQ(top->decode.top_logprobs, 5);
  auto most = Chat({{"logprobs", true}, {"top_logprobs", 20}});
  ASSERT_TRUE(most.ok()) << most.status();
  EXPECT_EQ(most->decode.top_logprobs, 20);
  // Explicit false and nulls are "off", and top_logprobs 0 alone asks nothing.
  auto nulls = Chat({{"logprobs", nullptr}, {"top_logprobs", nullptr}});
  ASSERT_TRUE(nulls.ok()) << nulls.status();
  EXPECT_FALSE(nulls->decode.logprobs);
  auto zero = Chat({{"logprobs", false}, {"top_logprobs", 0}});
  ASSERT_TRUE(zero.ok()) << zero.status();
  EXPECT_FALSE(zero->decode.logprobs);
  EXPECT_EQ(zero->decode.top_logprobs, 0);
}

TEST(OpenAiRequestTest, ChatLogprobsErrorsNameTheirField) {
  ExpectFieldError(Chat({{"logprobs", "yes"}}), "logprobs");
  ExpectFieldError(Chat({{"logprobs", 1}}), "logprobs");
  ExpectFieldError(Chat({{"logprobs", true}, {"top_logprobs", 21}}), "top_logprobs");
  ExpectFieldError(Chat({{"logprobs", true}, {"top_logprobs", -1}}), "top_logprobs");
  ExpectFieldError(Chat({{"logprobs", true}, {"top_logprobs", 2.5}}), "top_logprobs");
  ExpectFieldError(Chat({{"logprobs", true}, {"top_logprobs", "3"}}), "top_logprobs");
  // As OpenAI: alternatives need logprobs on.
  auto alone = Chat({{"top_logprobs", 3}});
  ExpectFieldError(alone, "top_logprobs");
  EXPECT_TRUE(absl::StrContains(alone.status().message(), "logprobs")) << alone.status().message();
  ExpectFieldError(Chat({{"logprobs", false}, {"top_logprobs", 3}}), "top_logprobs");
}

// Completions' legacy form: one integer N in [0, 5], the chosen token's
// logprob and the N likeliest alternatives.
TEST(OpenAiRequestTest, CompletionLogprobsIsOneInteger) {
  auto off = Completion({});
  ASSERT_TRUE(off.ok()) << off.status();
  EXPECT_FALSE(off->decode.logprobs);
  auto null = Completion({{"logprobs", nullptr}});
  ASSERT_TRUE(null.ok()) << null.status();
  EXPECT_FALSE(null->decode.logprobs);
  auto zero = Completion({{"logprobs", 0}});
  ASSERT_TRUE(zero.ok()) << zero.status();
  EXPECT_TRUE(zero->decode.logprobs);
  EXPECT_EQ(zero->decode.top_logprobs, 0);
  auto two = Completion({{"logprobs", 2}});
  ASSERT_TRUE(two.ok()) << two.status();
  EXPECT_TRUE(two->decode.logprobs);
  EXPECT_EQ(two->decode.top_logprobs, 2);
  auto five = Completion({{"logprobs", kMaxCompletionLogprobs}});
  ASSERT_TRUE(five.ok()) << five.status();
  EXPECT_EQ(five->decode.top_logprobs, 5);
  ExpectFieldError(Completion({{"logprobs", 6}}), "logprobs");
  ExpectFieldError(Completion({{"logprobs", -1}}), "logprobs");
  ExpectFieldError(Completion({{"logprobs", true}}), "logprobs");
  ExpectFieldError(Completion({{"logprobs", "2"}}), "logprobs");
  // echo sends the prompt back; with logprobs its tokens are scored too.
  auto echo = Completion({{"echo", true}});
  ASSERT_TRUE(echo.ok()) << echo.status();
  EXPECT_TRUE(echo->echo);
  EXPECT_FALSE(echo->decode.prompt_logprobs);
  auto scored = Completion({{"logprobs", 1}, {"echo", true}});
  ASSERT_TRUE(scored.ok()) << scored.status();
  EXPECT_TRUE(scored->echo);
  EXPECT_TRUE(scored->decode.prompt_logprobs);
  EXPECT_EQ(scored->decode.top_logprobs, 1);
  EXPECT_FALSE(two->echo);
  EXPECT_FALSE(two->decode.prompt_logprobs);
}

TEST(OpenAiRequestTest, MessageShapeErrors) {
  ExpectFieldError(ParseOpenAiRequest(Endpoint::kChatCompletions, json::object()), "messages");
  ExpectFieldError(Chat({{"messages", "hi"}}), "messages");
  ExpectFieldError(Chat({{"messages", json::array({{{"content", "x"}}})}}), "messages[0].role");
  ExpectFieldError(Chat({{"messages", json::array({{{"role", "user"}, {"content", 5}}})}}), "messages[0].content");
  ExpectFieldError(Chat({{"messages", json::array({{{"role", "user"},
                                                     {"content", json::array({{{"type", "image_url"}}})}}})}}),
                   "messages[0].content[0].type");
  for (const json& type : {json(1), json(nullptr), json::array()}) {
    ExpectFieldError(Chat({{"messages", json::array({{{"role", "user"},
                                                       {"content", json::array({{{"type", type}, {"text", "hi"}}})}}})}}),
                     "messages[0].content[0].type");
  }
  ExpectFieldError(Chat({{"messages", json::array({{{"role", "user"}, {"content", json::array({{{"text", "hi"}}})}}})}}),
                   "messages[0].content[0].type");
}

TEST(OpenAiRequestTest, BodyMustBeAJsonObject) {
  EXPECT_TRUE(ParseJsonBody(R"({"a": 1})").ok());
  auto bad = ParseJsonBody("{not json");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(absl::StartsWith(bad.status().message(), "body: ")) << bad.status().message();
  EXPECT_FALSE(ParseJsonBody("[1, 2]").ok());
  EXPECT_FALSE(ParseJsonBody("").ok());
}

TEST(OpenAiRequestTest, PenaltiesAndLogitBias) {
  auto r = Completion({{"presence_penalty", 0.5},
                       {"frequency_penalty", -1},
                       {"logit_bias", {{"50256", -100}, {"7", 2.5}, {"42", 0}}}});
  ASSERT_TRUE(r.ok()) << r.status();
  const runtime::SamplingParams& sp = r->decode.sampling;
  EXPECT_EQ(sp.presence_penalty, 0.5f);
  EXPECT_EQ(sp.frequency_penalty, -1.0f);
  // Ascending ids, whatever the body's order.
  EXPECT_EQ(sp.logit_bias,
            (std::vector<runtime::LogitBias>{{7, 2.5f}, {42, 0.0f}, {50256, -100.0f}}));
  EXPECT_TRUE(Chat({{"presence_penalty", 0}, {"frequency_penalty", 0.0}, {"logit_bias", json::object()}}).ok());

  ExpectFieldError(Chat({{"presence_penalty", 2.5}}), "presence_penalty");
  ExpectFieldError(Chat({{"frequency_penalty", "high"}}), "frequency_penalty");
  ExpectFieldError(Chat({{"logit_bias", json::array({1, 2})}}), "logit_bias");
  ExpectFieldError(Chat({{"logit_bias", {{"the", 1}}}}), "logit_bias[the]");
  ExpectFieldError(Chat({{"logit_bias", {{"-3", 1}}}}), "logit_bias[-3]");
  ExpectFieldError(Chat({{"logit_bias", {{"99999999999", 1}}}}), "logit_bias[99999999999]");
  ExpectFieldError(Chat({{"logit_bias", {{"5", 101}}}}), "logit_bias[5]");
  ExpectFieldError(Chat({{"logit_bias", {{"5", "ban"}}}}), "logit_bias[5]");
  ExpectFieldError(Chat({{"logit_bias", {{"7", 1}, {"07", 2}}}}), "logit_bias");
}

}  // namespace
}  // namespace tandem::gateway
