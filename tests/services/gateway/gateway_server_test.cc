// The HTTP gateway on loopback over an orchestrator with synthetic models
// (exact arithmetic, token-id prompts: the fake deployment has no
// tokenizer): JSON and server-sent-event answers carry the same text, greedy
// speculative equals target_only, usage and tandem statistics are present,
// logprobs cover every token (streamed or not), bad input answers with the
// OpenAI error and HTTP status, and a streaming client that disconnects
// cancels its request and frees every session.
#include "services/gateway/gateway_server.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "services/gateway/completion_choices.h"
#include "services/gateway/gateway_probe.h"
#include "services/orchestrator/server/orchestrator_server.h"
#include "tests/services/orchestrator/service_fixture.h"

namespace tandem::decoding::testing {
namespace {

using gateway::GatewayOptions;
using gateway::HttpGateway;
using nlohmann::json;
using orchestrator::server::OrchestratorServer;

const std::vector<int32_t> kPrompt = {3, 5, 7, 1, 2, 3};

// A streamed completion of 3000 tokens (end-of-generation ignored): with
// slow forwards it runs far longer than a test waits, until its reader stops.
httplib::Request LongStreamedRequest() {
  const json body = {{"prompt", kPrompt}, {"temperature", 0}, {"max_tokens", 3000}, {"stream", true},
                     {"tandem", {{"strategy", "target_only"}, {"ignore_eos", true}}}};
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  return req;
}

class GatewayServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = OrchestratorServer::Start(dep_.ports, {});
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
    auto g = HttpGateway::Start(server_->service().runner(), GatewayOptions{});
    ASSERT_TRUE(g.ok()) << g.status();
    gateway_ = std::move(*g);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", gateway_->port());
    client_->set_read_timeout(60, 0);
  }

  httplib::Result Post(const std::string& path, const json& body) {
    return client_->Post(path.c_str(), body.dump(), "application/json");
  }

  // POSTs a completions body that must answer 200; *out is the parsed answer.
  // Call through ASSERT_NO_FATAL_FAILURE so a failure stops the test.
  void PostOk(const json& body, json* out) {
    auto res = Post("/v1/completions", body);
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    ASSERT_EQ(res->status, 200) << res->body;
    *out = json::parse(res->body);
  }

  json Completion(const std::string& strategy, int max_tokens) {
    json body = {{"model", "fake-target"}, {"prompt", kPrompt}, {"temperature", 0},
                 {"max_tokens", max_tokens}, {"tandem", {{"strategy", strategy}}}};
    auto res = Post("/v1/completions", body);
    EXPECT_TRUE(res) << httplib::to_string(res.error());
    if (!res) return {};
    EXPECT_EQ(res->status, 200) << res->body;
    return json::parse(res->body);
  }

  // POSTs with "stream": true; the data payloads of the events, in order.
  std::vector<std::string> StreamEvents(json body) {
    body["stream"] = true;
    auto res = Post("/v1/completions", body);
    EXPECT_TRUE(res) << httplib::to_string(res.error());
    if (!res) return {};
    EXPECT_EQ(res->status, 200) << res->body;
    EXPECT_TRUE(absl::StartsWith(res->get_header_value("Content-Type"), "text/event-stream"));
    std::vector<std::string> data;
    for (absl::string_view event : absl::StrSplit(res->body, "\n\n", absl::SkipEmpty())) {
      EXPECT_TRUE(absl::StartsWith(event, "data: ")) << event;
      data.emplace_back(event.substr(6));
    }
    return data;
  }

  void ExpectError(const std::string& path, const json& body, int status, const std::string& param,
                   const std::string& code = "") {
    auto res = Post(path, body);
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    EXPECT_EQ(res->status, status) << res->body;
    const json e = json::parse(res->body).at("error");
    EXPECT_FALSE(e.at("message").get<std::string>().empty());
    EXPECT_EQ(e.at("param"), param.empty() ? json(nullptr) : json(param)) << res->body;
    EXPECT_EQ(e.at("code"), code.empty() ? json(nullptr) : json(code)) << res->body;
  }

  FakeDeployment dep_;
  std::unique_ptr<OrchestratorServer> server_;
  std::unique_ptr<HttpGateway> gateway_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(GatewayServerTest, HealthAndModels) {
  EXPECT_TRUE(gateway::CheckGatewayHealth("127.0.0.1", gateway_->port(), absl::Seconds(5)).ok());
  auto res = client_->Get("/v1/models");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  const json models = json::parse(res->body);
  EXPECT_EQ(models["object"], "list");
  ASSERT_EQ(models["data"].size(), 1u);
  EXPECT_EQ(models["data"][0]["id"], "fake-target");
  auto one = client_->Get("/v1/models/fake-target");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->status, 200);
  auto missing = client_->Get("/v1/models/gpt-4");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(json::parse(missing->body)["error"]["code"], "model_not_found");
  auto route = client_->Get("/v2/nothing");
  ASSERT_TRUE(route);
  EXPECT_EQ(route->status, 404);
  EXPECT_EQ(json::parse(route->body)["error"]["type"], "invalid_request_error");
}

TEST_F(GatewayServerTest, GreedySpeculativeEqualsTargetOnly) {
  const json base = Completion("target_only", 30);
  ASSERT_TRUE(base.contains("choices")) << base;
  EXPECT_EQ(base["object"], "text_completion");
  EXPECT_TRUE(absl::StartsWith(base["id"].get<std::string>(), "cmpl-"));
  EXPECT_EQ(base["model"], "fake-target");
  const std::string text = base["choices"][0]["text"];
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(base["usage"]["prompt_tokens"], kPrompt.size());
  EXPECT_GT(base["usage"]["completion_tokens"].get<int>(), 0);
  EXPECT_EQ(base["usage"]["total_tokens"].get<int>(),
            base["usage"]["prompt_tokens"].get<int>() + base["usage"]["completion_tokens"].get<int>());
  EXPECT_EQ(base["tandem"]["strategy"], "target_only");
  const json spec = Completion("speculative", 30);
  ASSERT_TRUE(spec.contains("choices")) << spec;
  EXPECT_EQ(spec["choices"][0]["text"], text);
  EXPECT_EQ(spec["choices"][0]["finish_reason"], base["choices"][0]["finish_reason"]);
  EXPECT_EQ(spec["tandem"]["strategy"], "speculative");
  // The statistics' common core, as tandem.v1.Stats maps it to JSON.
  EXPECT_EQ(spec["tandem"]["drafter"], "model");
  EXPECT_GT(spec["tandem"]["draft_calls"].get<int>(), 0);
  EXPECT_EQ(spec["tandem"]["generated_tokens"], spec["usage"]["completion_tokens"]);
  EXPECT_EQ(dep_.open_sessions(), 0);
}

TEST_F(GatewayServerTest, StreamCarriesTheSameTextThenUsageAndDone) {
  const json whole = Completion("speculative", 25);
  ASSERT_TRUE(whole.contains("choices")) << whole;
  json body = {{"prompt", kPrompt}, {"temperature", 0}, {"max_tokens", 25},
               {"stream_options", {{"include_usage", true}}}, {"tandem", {{"strategy", "speculative"}}}};
  const std::vector<std::string> events = StreamEvents(body);
  ASSERT_GE(events.size(), 4u);
  EXPECT_EQ(events.back(), "[DONE]");
  std::string text;
  std::string finish;
  json usage;
  json stats;
  std::string id;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    const json chunk = json::parse(events[i]);
    EXPECT_EQ(chunk["object"], "text_completion");
    if (id.empty()) id = chunk["id"];
    EXPECT_EQ(chunk["id"], id);  // one id for the whole stream
    if (chunk.contains("usage")) {
      usage = chunk["usage"];
      stats = chunk["tandem"];
      EXPECT_TRUE(chunk["choices"].empty());
      EXPECT_EQ(i + 2, events.size()) << "the usage chunk is the last before [DONE]";
      continue;
    }
    text += chunk["choices"][0]["text"].get<std::string>();
    if (!chunk["choices"][0]["finish_reason"].is_null()) finish = chunk["choices"][0]["finish_reason"];
  }
  EXPECT_EQ(text, whole["choices"][0]["text"]);
  EXPECT_EQ(finish, whole["choices"][0]["finish_reason"]);
  EXPECT_EQ(usage, whole["usage"]);
  EXPECT_EQ(stats["strategy"], "speculative");
  EXPECT_EQ(stats["generated_tokens"], whole["tandem"]["generated_tokens"]);
}

TEST_F(GatewayServerTest, StreamWithoutUsagePutsStatsOnTheFinishChunk) {
  const std::vector<std::string> events =
      StreamEvents({{"prompt", kPrompt}, {"temperature", 0}, {"max_tokens", 8}, {"tandem", {{"ignore_eos", true}}}});
  ASSERT_GE(events.size(), 3u);
  ASSERT_EQ(events.back(), "[DONE]");
  const json last = json::parse(events[events.size() - 2]);
  EXPECT_FALSE(last.contains("usage"));
  EXPECT_FALSE(last["choices"][0]["finish_reason"].is_null());
  EXPECT_EQ(last["tandem"]["generated_tokens"], 8);
  EXPECT_EQ(last["choices"][0]["finish_reason"], "length");
}

// Completions with logprobs = N: one entry per generated token, each a log
// probability, the N likeliest alternatives (greedy: the chosen token is the
// likeliest), and text offsets into the returned text.
TEST_F(GatewayServerTest, CompletionLogprobsCoverEveryToken) {
  json body = {{"prompt", kPrompt}, {"temperature", 0}, {"max_tokens", 12}, {"logprobs", 3},
               {"tandem", {{"strategy", "target_only"}, {"ignore_eos", true}}}};
  json r;
  ASSERT_NO_FATAL_FAILURE(PostOk(body, &r));
  const json& lp = r["choices"][0]["logprobs"];
  const std::string text = r["choices"][0]["text"];
  const size_t n = r["usage"]["completion_tokens"].get<size_t>();
  ASSERT_EQ(n, 12u);
  for (const char* key : {"tokens", "token_logprobs", "top_logprobs", "text_offset"}) {
    ASSERT_EQ(lp[key].size(), n) << key << ": " << lp;
  }
  std::string joined;
  for (size_t i = 0; i < n; ++i) {
    const std::string token = lp["tokens"][i];
    EXPECT_EQ(lp["text_offset"][i].get<size_t>(), joined.size());  // one ASCII letter per token
    joined += token;
    const double logprob = lp["token_logprobs"][i];
    EXPECT_LE(logprob, 0.0);
    const json& top = lp["top_logprobs"][i];
    EXPECT_EQ(top.size(), 3u) << top;
    double best = -1e9;
    for (const auto& [key, value] : top.items()) best = std::max(best, value.get<double>());
    EXPECT_EQ(best, logprob) << "greedy picks the likeliest token";
    ASSERT_TRUE(top.contains(token)) << top;
    EXPECT_EQ(top[token].get<double>(), logprob);
  }
  EXPECT_EQ(joined, text);
  // Greedy speculative verifies the same target rows: same tokens, same numbers.
  body["tandem"]["strategy"] = "speculative";
  json spec;
  ASSERT_NO_FATAL_FAILURE(PostOk(body, &spec));
  const json s = spec["choices"][0]["logprobs"];
  EXPECT_EQ(s["tokens"], lp["tokens"]);
  EXPECT_EQ(s["token_logprobs"], lp["token_logprobs"]);  // exact: the kernels are batch-invariant
  EXPECT_EQ(s["top_logprobs"], lp["top_logprobs"]);
  // Not asked for: null, as before.
  EXPECT_TRUE(Completion("target_only", 4)["choices"][0]["logprobs"].is_null());
}

TEST_F(GatewayServerTest, StreamedLogprobsMatchTheJsonAnswer) {
  json body = {{"prompt", kPrompt}, {"temperature", 0}, {"max_tokens", 20}, {"logprobs", 2},
               {"tandem", {{"strategy", "speculative"}, {"ignore_eos", true}}}};
  json answer;
  ASSERT_NO_FATAL_FAILURE(PostOk(body, &answer));
  const json whole = answer["choices"][0]["logprobs"];
  const std::vector<std::string> events = StreamEvents(body);
  ASSERT_GE(events.size(), 3u);
  ASSERT_EQ(events.back(), "[DONE]");
  json streamed = {{"tokens", json::array()}, {"token_logprobs", json::array()}, {"top_logprobs", json::array()},
                   {"text_offset", json::array()}};
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    const json chunk = json::parse(events[i]);
    ASSERT_EQ(chunk["choices"].size(), 1u) << events[i];
    const json& choice = chunk["choices"][0];
    if (choice["logprobs"].is_null()) {
      // Only the opening and the finish chunks carry no tokens.
      EXPECT_TRUE(choice["text"] == "" || !choice["finish_reason"].is_null()) << events[i];
      continue;
    }
    for (auto& [key, list] : streamed.items()) {
      for (const json& v : choice["logprobs"][key]) list.push_back(v);
    }
  }
  EXPECT_EQ(streamed, whole);
}

// Completions' echo: the prompt's tokens first in text and logprobs, the
// first unscored (null), the others scored as the target scores them when
// it generates them (a completion fed back as a prompt gets its own
// logprobs back), text_offset counting from the prompt; streamed the same.
TEST_F(GatewayServerTest, CompletionEchoScoresThePrompt) {
  json first = {{"prompt", kPrompt}, {"temperature", 0}, {"max_tokens", 6}, {"logprobs", 2},
                {"tandem", {{"strategy", "target_only"}, {"ignore_eos", true}}}};
  json answer;
  ASSERT_NO_FATAL_FAILURE(PostOk(first, &answer));
  const json generated = answer["choices"][0];
  const std::string completion = generated["text"];
  ASSERT_EQ(completion.size(), 6u);  // one letter per token
  // The prompt and its completion, sent back with echo and one more token.
  std::vector<int32_t> extended = kPrompt;
  for (char c : completion) extended.push_back(c - 'a');
  for (const char* strategy : {"target_only", "speculative"}) {
    SCOPED_TRACE(strategy);
    json body = {{"prompt", extended}, {"temperature", 0}, {"max_tokens", 1}, {"logprobs", 2}, {"echo", true},
                 {"tandem", {{"strategy", strategy}, {"ignore_eos", true}}}};
    json r;
    ASSERT_NO_FATAL_FAILURE(PostOk(body, &r));
    const std::string text = r["choices"][0]["text"];
    const json& lp = r["choices"][0]["logprobs"];
    const size_t n = extended.size() + 1;
    ASSERT_EQ(r["usage"]["prompt_tokens"].get<size_t>(), extended.size());
    ASSERT_EQ(text.size(), n);
    EXPECT_EQ(text.substr(kPrompt.size(), completion.size()), completion);
    for (const char* key : {"tokens", "token_logprobs", "top_logprobs", "text_offset"}) {
      ASSERT_EQ(lp[key].size(), n) << key << ": " << lp;
    }
    EXPECT_TRUE(lp["token_logprobs"][0].is_null()) << lp;
    EXPECT_TRUE(lp["top_logprobs"][0].is_null()) << lp;
    for (size_t i = 0; i < n; ++i) {
      EXPECT_EQ(lp["text_offset"][i].get<size_t>(), i);
      EXPECT_EQ(lp["tokens"][i].get<std::string>(), text.substr(i, 1));
      if (i > 0) {
        EXPECT_LE(lp["token_logprobs"][i].get<double>(), 0.0) << i;
      }
    }
    // The completion's positions, now prompt tokens, score exactly as when
    // they were generated (the kernels are batch-invariant).
    for (size_t i = 0; i < completion.size(); ++i) {
      EXPECT_EQ(lp["token_logprobs"][kPrompt.size() + i], generated["logprobs"]["token_logprobs"][i]) << i;
      EXPECT_EQ(lp["top_logprobs"][kPrompt.size() + i], generated["logprobs"]["top_logprobs"][i]) << i;
    }
    // Streamed: the echo is the first text, and the pieces add up.
    const std::vector<std::string> events = StreamEvents(body);
    ASSERT_GE(events.size(), 3u);
    std::string streamed_text;
    json streamed = {{"tokens", json::array()}, {"token_logprobs", json::array()}, {"top_logprobs", json::array()},
                     {"text_offset", json::array()}};
    bool echo_first = false;
    for (size_t i = 0; i + 1 < events.size(); ++i) {
      const json event = json::parse(events[i]);
      const json& choice = event["choices"][0];
      streamed_text += choice["text"].get<std::string>();
      if (choice["logprobs"].is_null()) continue;
      if (streamed["tokens"].empty()) echo_first = choice["text"] == text.substr(0, extended.size());
      for (auto& [key, list] : streamed.items()) {
        for (const json& v : choice["logprobs"][key]) list.push_back(v);
      }
    }
    EXPECT_TRUE(echo_first);
    EXPECT_EQ(streamed_text, text);
    EXPECT_EQ(streamed, lp);
  }
  // Echo without logprobs: the text alone, streamed or not.
  json plain = {{"prompt", kPrompt}, {"temperature", 0}, {"max_tokens", 3}, {"echo", true},
                {"tandem", {{"strategy", "target_only"}, {"ignore_eos", true}}}};
  json plain_answer;
  ASSERT_NO_FATAL_FAILURE(PostOk(plain, &plain_answer));
  const json p = plain_answer["choices"][0];
  std::string prompt_text;
  for (int32_t id : kPrompt) prompt_text += static_cast<char>('a' + id);
  EXPECT_EQ(p["text"], prompt_text + completion.substr(0, 3));
  EXPECT_TRUE(p["logprobs"].is_null());
  std::string streamed_text;
  const std::vector<std::string> events = StreamEvents(plain);
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    streamed_text += json::parse(events[i])["choices"][0]["text"].get<std::string>();
  }
  EXPECT_EQ(streamed_text, p["text"]);
}

// Echo with logprobs and max_tokens 0 (OpenAI's legacy way to score a
// text): the prompt alone, every token's entry, nothing generated; streamed
// the same. max_tokens 0 without echo is refused (the shared translation's
// check, the same for chat).
TEST_F(GatewayServerTest, EchoWithZeroMaxTokensScoresThePromptAlone) {
  json body = {{"prompt", kPrompt}, {"temperature", 0}, {"max_tokens", 0}, {"logprobs", 1}, {"echo", true},
               {"tandem", {{"strategy", "target_only"}}}};
  json r;
  ASSERT_NO_FATAL_FAILURE(PostOk(body, &r));
  std::string prompt_text;
  for (int32_t id : kPrompt) prompt_text += static_cast<char>('a' + id);
  EXPECT_EQ(r["choices"][0]["text"], prompt_text);
  EXPECT_EQ(r["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(r["usage"]["completion_tokens"], 0);
  const json& lp = r["choices"][0]["logprobs"];
  ASSERT_EQ(lp["tokens"].size(), kPrompt.size()) << lp;
  EXPECT_TRUE(lp["token_logprobs"][0].is_null());
  for (size_t i = 1; i < kPrompt.size(); ++i) {
    EXPECT_LE(lp["token_logprobs"][i].get<double>(), 0.0) << i;
  }
  std::string streamed;
  const std::vector<std::string> events = StreamEvents(body);
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    const json event = json::parse(events[i]);
    if (!event["choices"].empty()) streamed += event["choices"][0]["text"].get<std::string>();
  }
  EXPECT_EQ(streamed, prompt_text);
  ExpectError("/v1/completions", {{"prompt", kPrompt}, {"max_tokens", 0}}, 400, "max_tokens");
}

// OpenAI's logit_bias and presence/frequency penalties reach the sampler
// of both sides: a +100 bias forces its token, greedy speculation still
// equals target_only under all of them, and a token outside the model's
// vocabulary is a 400 naming logit_bias.
TEST_F(GatewayServerTest, LogitBiasAndPenaltiesReachTheSampler) {
  auto body = [](const std::string& strategy, const json& sampling) {
    json b = {{"model", "fake-target"}, {"prompt", kPrompt}, {"temperature", 0}, {"max_tokens", 12},
              {"logprobs", 0}, {"tandem", {{"strategy", strategy}}}};
    b.merge_patch(sampling);
    return b;
  };
  json forced;
  ASSERT_NO_FATAL_FAILURE(PostOk(body("target_only", {{"logit_bias", {{"9", 100}}}}), &forced));
  const json& tokens = forced["choices"][0]["logprobs"]["tokens"];
  ASSERT_EQ(tokens.size(), 12u) << forced;
  for (const json& t : tokens) EXPECT_EQ(t, tokens[0]);
  json unbiased;
  ASSERT_NO_FATAL_FAILURE(PostOk(body("target_only", json::object()), &unbiased));
  EXPECT_NE(unbiased["choices"][0]["logprobs"]["tokens"], tokens);

  const json edits = {{"logit_bias", {{"9", 100}, {"2", -100}, {"5", 1.5}}}, {"presence_penalty", 0.8},
                      {"frequency_penalty", 1.2}};
  json edits_no_force = edits;
  edits_no_force["logit_bias"].erase("9");
  json base, spec;
  ASSERT_NO_FATAL_FAILURE(PostOk(body("target_only", edits_no_force), &base));
  ASSERT_NO_FATAL_FAILURE(PostOk(body("speculative", edits_no_force), &spec));
  EXPECT_EQ(spec["choices"][0]["text"], base["choices"][0]["text"]);
  EXPECT_EQ(spec["choices"][0]["logprobs"]["tokens"], base["choices"][0]["logprobs"]["tokens"]);
  // The penalties change the greedy output of this prompt.
  EXPECT_NE(base["choices"][0]["logprobs"]["tokens"], unbiased["choices"][0]["logprobs"]["tokens"]);

  ExpectError("/v1/completions", body("target_only", {{"logit_bias", {{"24", 1}}}}), 400, "logit_bias");
  ExpectError("/v1/completions", body("target_only", {{"logit_bias", {{"x", 1}}}}), 400, "logit_bias[x]");
  ExpectError("/v1/completions", body("speculative", {{"frequency_penalty", 3}}), 400, "frequency_penalty");
  EXPECT_EQ(dep_.open_sessions(), 0);
}

// n choices: independent samples under one response id, choice i the
// sample a single request with seed + i gives (logprobs and text offsets
// per choice), usage summed over the choices, the tandem statistics one
// object per choice; streamed, each choice's deltas add up to its text.
TEST_F(GatewayServerTest, SeveralChoicesAreSeededSamples) {
  const json base = {{"model", "fake-target"}, {"prompt", kPrompt}, {"temperature", 1.0}, {"seed", 40},
                     {"max_tokens", 10}, {"logprobs", 1},
                     {"tandem", {{"strategy", "speculative"}, {"ignore_eos", true}}}};
  json several = base;
  several["n"] = 3;
  json r;
  ASSERT_NO_FATAL_FAILURE(PostOk(several, &r));
  ASSERT_EQ(r["choices"].size(), 3u) << r;
  ASSERT_TRUE(r["tandem"].is_array()) << r;
  ASSERT_EQ(r["tandem"].size(), 3u);
  int64_t completion_tokens = 0;
  std::vector<std::string> texts;
  for (int i = 0; i < 3; ++i) {
    const json& c = r["choices"][i];
    EXPECT_EQ(c["index"], i);
    json one = base;
    one["seed"] = 40 + i;
    json single;
    ASSERT_NO_FATAL_FAILURE(PostOk(one, &single));
    EXPECT_EQ(c["text"], single["choices"][0]["text"]) << "choice " << i;
    EXPECT_EQ(c["logprobs"], single["choices"][0]["logprobs"]) << "choice " << i;
    EXPECT_EQ(c["finish_reason"], single["choices"][0]["finish_reason"]);
    EXPECT_EQ(r["tandem"][i]["generated_tokens"], single["usage"]["completion_tokens"]);
    completion_tokens += single["usage"]["completion_tokens"].get<int64_t>();
    texts.push_back(c["text"]);
  }
  EXPECT_EQ(r["usage"]["prompt_tokens"], kPrompt.size());
  EXPECT_EQ(r["usage"]["completion_tokens"], completion_tokens);
  EXPECT_EQ(r["usage"]["total_tokens"].get<int64_t>(), static_cast<int64_t>(kPrompt.size()) + completion_tokens);
  EXPECT_FALSE(texts[0] == texts[1] && texts[1] == texts[2]) << "independent samples";

  // Streamed with usage last: per-index deltas add up to the same texts.
  several["stream"] = true;
  several["stream_options"] = {{"include_usage", true}};
  const std::vector<std::string> events = StreamEvents(several);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back(), "[DONE]");
  std::vector<std::string> streamed(3);
  std::vector<int> finishes(3, 0);
  std::string id;
  json usage;
  for (size_t k = 0; k + 1 < events.size(); ++k) {
    const json e = json::parse(events[k]);
    if (id.empty()) id = e["id"];
    EXPECT_EQ(e["id"], id) << "one response id";
    if (e["choices"].empty()) {
      usage = e;
      continue;
    }
    const json& c = e["choices"][0];
    const int i = c["index"];
    ASSERT_GE(i, 0);
    ASSERT_LT(i, 3);
    streamed[i] += c["text"].get<std::string>();
    if (!c["finish_reason"].is_null()) ++finishes[i];
  }
  EXPECT_EQ(streamed, texts);
  EXPECT_EQ(finishes, std::vector<int>({1, 1, 1}));
  ASSERT_TRUE(usage.is_object());
  EXPECT_EQ(usage["usage"]["completion_tokens"], completion_tokens);
  EXPECT_EQ(usage["tandem"].size(), 3u);

  // Greedy: n equal answers.
  json greedy;
  ASSERT_NO_FATAL_FAILURE(PostOk({{"prompt", kPrompt}, {"temperature", 0}, {"max_tokens", 8}, {"n", 2}}, &greedy));
  ASSERT_EQ(greedy["choices"].size(), 2u);
  EXPECT_EQ(greedy["choices"][0]["text"], greedy["choices"][1]["text"]);
  EXPECT_EQ(dep_.open_sessions(), 0);
  EXPECT_EQ(server_->service().active_requests(), 0u);
}

// best_of = 4, n = 2: the answer is the two of the four seeded candidates
// (seeds 40..43, each what a request with that seed alone returns) with the
// highest mean token logprob, best first, indices 0 and 1; usage counts all
// four; without logprobs asked, the same texts and no logprobs.
TEST_F(GatewayServerTest, BestOfReturnsTheMostLikelyCandidates) {
  const json base = {{"model", "fake-target"}, {"prompt", kPrompt}, {"temperature", 1.0}, {"seed", 40},
                     {"max_tokens", 10}, {"logprobs", 0},
                     {"tandem", {{"strategy", "speculative"}, {"ignore_eos", true}}}};
  struct Candidate {
    double mean_logprob;
    int seed;
    json choice;
  };
  std::vector<Candidate> candidates;
  int64_t completion_tokens = 0;
  for (int j = 0; j < 4; ++j) {
    json one = base;
    one["seed"] = 40 + j;
    json single;
    ASSERT_NO_FATAL_FAILURE(PostOk(one, &single));
    const json& lp = single["choices"][0]["logprobs"]["token_logprobs"];
    ASSERT_FALSE(lp.empty());
    double sum = 0;
    for (const json& v : lp) sum += v.get<double>();
    candidates.push_back({sum / static_cast<double>(lp.size()), 40 + j, single["choices"][0]});
    completion_tokens += single["usage"]["completion_tokens"].get<int64_t>();
  }
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Candidate& a, const Candidate& b) { return a.mean_logprob > b.mean_logprob; });
  ASSERT_NE(candidates[0].mean_logprob, candidates[3].mean_logprob) << "the seeds must give different samples";

  json best = base;
  best["n"] = 2;
  best["best_of"] = 4;
  json r;
  ASSERT_NO_FATAL_FAILURE(PostOk(best, &r));
  ASSERT_EQ(r["choices"].size(), 2u) << r;
  for (int i = 0; i < 2; ++i) {
    const json& c = r["choices"][i];
    EXPECT_EQ(c["index"], i);
    EXPECT_EQ(c["text"], candidates[i].choice["text"]) << "rank " << i << " is seed " << candidates[i].seed;
    EXPECT_EQ(c["logprobs"], candidates[i].choice["logprobs"]);
  }
  EXPECT_EQ(r["usage"]["prompt_tokens"], kPrompt.size());
  EXPECT_EQ(r["usage"]["completion_tokens"], completion_tokens) << "every candidate was generated";
  ASSERT_EQ(r["tandem"].size(), 2u);

  // Logprobs not asked: the candidates are ranked all the same, none shown.
  best.erase("logprobs");
  best["n"] = 1;
  ASSERT_NO_FATAL_FAILURE(PostOk(best, &r));
  ASSERT_EQ(r["choices"].size(), 1u) << r;
  EXPECT_EQ(r["choices"][0]["text"], candidates[0].choice["text"]);
  EXPECT_TRUE(r["choices"][0]["logprobs"].is_null()) << r;

  // What cannot be ranked or streamed is refused before anything runs.
  json bad = best;
  bad["tandem"]["strategy"] = "draft_only";
  ExpectError("/v1/completions", bad, 400, "best_of");
  bad = best;
  bad["stream"] = true;
  ExpectError("/v1/completions", bad, 400, "best_of");
  bad = best;
  bad["n"] = 5;
  ExpectError("/v1/completions", bad, 400, "best_of");
  EXPECT_EQ(dep_.open_sessions(), 0);
  EXPECT_EQ(server_->service().active_requests(), 0u);
}

// A list of prompts: n choices per prompt in the list's order, each what a
// request with that prompt alone returns (echo included), usage counting
// every prompt once; streamed, the same texts per index.
TEST_F(GatewayServerTest, SeveralPromptsAnswerInOrder) {
  const std::vector<int32_t> other = {2, 4, 6, 8};
  const json base = {{"temperature", 0}, {"max_tokens", 6}, {"echo", true}, {"logprobs", 0},
                     {"tandem", {{"strategy", "speculative"}}}};
  json both = base;
  both["prompt"] = json::array({kPrompt, other});
  both["n"] = 2;
  json r;
  ASSERT_NO_FATAL_FAILURE(PostOk(both, &r));
  ASSERT_EQ(r["choices"].size(), 4u) << r;
  int64_t completion_tokens = 0;
  std::vector<std::string> texts;
  for (int k = 0; k < 2; ++k) {
    json alone = base;
    alone["prompt"] = k == 0 ? kPrompt : other;
    json single;
    ASSERT_NO_FATAL_FAILURE(PostOk(alone, &single));
    for (int j = 0; j < 2; ++j) {
      const json& c = r["choices"][2 * k + j];
      EXPECT_EQ(c["index"], 2 * k + j);
      EXPECT_EQ(c["text"], single["choices"][0]["text"]) << "prompt " << k;
      EXPECT_EQ(c["logprobs"], single["choices"][0]["logprobs"]) << "prompt " << k;
      completion_tokens += single["usage"]["completion_tokens"].get<int64_t>();
      texts.push_back(c["text"]);
    }
  }
  EXPECT_NE(texts[0], texts[2]);
  EXPECT_EQ(r["usage"]["prompt_tokens"], kPrompt.size() + other.size());
  EXPECT_EQ(r["usage"]["completion_tokens"], completion_tokens);

  std::vector<std::string> streamed(4);
  const std::vector<std::string> events = StreamEvents(both);
  for (size_t k = 0; k + 1 < events.size(); ++k) {
    const json e = json::parse(events[k]);
    for (const json& c : e["choices"]) streamed[c["index"].get<size_t>()] += c["text"].get<std::string>();
  }
  EXPECT_EQ(streamed, texts);
  // A bad prompt in the list fails the request before anything runs.
  json bad = base;
  bad["prompt"] = json::array({kPrompt, std::vector<int32_t>(4096, 3)});
  ExpectError("/v1/completions", bad, 400, "prompt", "context_length_exceeded");
  EXPECT_EQ(dep_.open_sessions(), 0);
}

TEST_F(GatewayServerTest, BadInputAnswersWithOpenAiErrors) {
  const json ok = {{"prompt", kPrompt}, {"max_tokens", 4}};
  auto with = [&](const json& patch) {
    json b = ok;
    b.merge_patch(patch);
    return b;
  };
  ExpectError("/v1/completions", with({{"model", "gpt-4"}}), 404, "model", "model_not_found");
  ExpectError("/v1/completions", with({{"model", 7}}), 400, "model");
  ExpectError("/v1/completions", with({{"response_format", {{"type", nullptr}}}}), 400, "response_format");
  ExpectError("/v1/completions", with({{"temperature", 3}}), 400, "temperature");
  ExpectError("/v1/completions", with({{"tandem", {{"strategy", "beam"}}}}), 400, "tandem.strategy");
  ExpectError("/v1/completions", with({{"tandem", {{"strategy", "speculative"}, {"params", {{"gama", 4}}}}}}), 400,
              "tandem.params");
  ExpectError("/v1/completions", with({{"n", 17}}), 400, "n");
  ExpectError("/v1/completions", with({{"prompt", std::vector<int32_t>(4096, 3)}}), 400, "prompt",
              "context_length_exceeded");
  ExpectError("/v1/completions", with({{"max_tokens", 5000}}), 400, "max_tokens");
  ExpectError("/v1/completions", with({{"logprobs", 6}}), 400, "logprobs");
  // Only strategies whose every token comes from a target verdict report
  // logprobs; the others refuse them up front.
  ExpectError("/v1/completions", with({{"logprobs", 1}, {"tandem", {{"strategy", "draft_only"}}}}), 400, "logprobs");
  const json hi = json::array({{{"role", "user"}, {"content", "hi"}}});
  ExpectError("/v1/chat/completions", {{"messages", hi}, {"top_logprobs", 2}}, 400, "top_logprobs");
  ExpectError("/v1/chat/completions", {{"messages", hi}, {"logprobs", true}, {"tandem", {{"strategy", "draft_only"}}}},
              400, "logprobs");
  // The fake deployment has no tokenizer: chat input is refused by the
  // shared translation, with the body's field name.
  ExpectError("/v1/chat/completions", {{"messages", json::array({{{"role", "user"}, {"content", "hi"}}})}}, 400,
              "messages");
  auto bad = client_->Post("/v1/completions", "{nope", "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(json::parse(bad->body)["error"]["param"], "body");
  // A streaming request with bad input fails before the stream starts.
  ExpectError("/v1/completions", with({{"stream", true}, {"model", "gpt-4"}}), 404, "model", "model_not_found");
  EXPECT_EQ(server_->service().active_requests(), 0u);
}

TEST_F(GatewayServerTest, BearerTokenGuardsTheApiButNotHealth) {
  GatewayOptions options;
  options.bearer_token = "s3cret-token";
  auto g = HttpGateway::Start(server_->service().runner(), options);
  ASSERT_TRUE(g.ok()) << g.status();
  httplib::Client client("127.0.0.1", (*g)->port());
  const std::string body = json{{"prompt", kPrompt}, {"max_tokens", 2}}.dump();
  auto none = client.Post("/v1/completions", body, "application/json");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(json::parse(none->body)["error"]["type"], "authentication_error");
  EXPECT_EQ(json::parse(none->body)["error"]["code"], "invalid_api_key");
  auto wrong = client.Post("/v1/completions", {{"Authorization", "Bearer s3cret-tokeN"}}, body, "application/json");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  auto models = client.Get("/v1/models");
  ASSERT_TRUE(models);
  EXPECT_EQ(models->status, 401);
  auto right = client.Post("/v1/completions", {{"Authorization", "Bearer s3cret-token"}}, body, "application/json");
  ASSERT_TRUE(right);
  EXPECT_EQ(right->status, 200) << right->body;
  auto health = client.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

TEST_F(GatewayServerTest, UnreadableTlsFilesFailTheStart) {
  GatewayOptions options;
  options.tls_cert = "/nonexistent/server.crt";
  options.tls_key = "/nonexistent/server.key";
  auto g = HttpGateway::Start(server_->service().runner(), options);
  ASSERT_FALSE(g.ok());
  EXPECT_TRUE(absl::StartsWith(g.status().message(), "tls: ")) << g.status();
}

TEST_F(GatewayServerTest, ClientDisconnectCancelsTheStream) {
  // Slow forwards and a long generation: without cancellation it would run
  // for far longer than the wait below.
  dep_.target_lm.delay_ms = 5;
  httplib::Request req = LongStreamedRequest();
  int received = 0;
  // Returning false closes the connection after the first events.
  req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return ++received < 3; };
  auto res = client_->send(req);
  EXPECT_FALSE(res);  // the client aborted it
  EXPECT_EQ(received, 3);
  EXPECT_TRUE(Eventually([&] { return server_->service().active_requests() == 0 && dep_.open_sessions() == 0; }))
      << "active " << server_->service().active_requests() << ", open sessions " << dep_.open_sessions();
}

// Admission control reaches HTTP clients as 429 with Retry-After whether they
// stream or not: a streamed request takes its slot before the status line
// (it used to get a 200 and then an error event, which the openai client
// raises as APIError, not RateLimitError, and does not retry). Asking for
// more generations than the deployment runs and queues at once is a 400.
TEST(GatewayAdmissionTest, AFullDeploymentAnswers429StreamedOrNot) {
  FakeDeployment dep;
  orchestrator::server::OrchestratorServerOptions o;
  o.admission.max_running = 1;
  o.admission.max_waiting = 0;
  auto server = OrchestratorServer::Start(dep.ports, o);
  ASSERT_TRUE(server.ok()) << server.status();
  auto gateway = HttpGateway::Start((*server)->service().runner(), GatewayOptions{});
  ASSERT_TRUE(gateway.ok()) << gateway.status();
  const int port = (*gateway)->port();
  dep.target_lm.delay_ms = 5;

  // A long streamed request holds the one slot until its reader lets go.
  std::promise<void> first_event;
  std::atomic<bool> release{false};
  std::thread holder([&] {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(60, 0);
    httplib::Request req = LongStreamedRequest();
    bool signalled = false;
    req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) {
      if (!signalled) {
        signalled = true;
        first_event.set_value();
      }
      while (!release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      return false;  // closes the connection: the request is cancelled
    };
    c.send(req);
  });
  const bool holding = first_event.get_future().wait_for(std::chrono::seconds(60)) == std::future_status::ready;
  EXPECT_TRUE(holding);

  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(60, 0);
  const json small = {{"prompt", kPrompt}, {"max_tokens", 4}};
  if (holding) {
    for (bool stream : {false, true}) {
      json body = small;
      body["stream"] = stream;
      auto res = client.Post("/v1/completions", body.dump(), "application/json");
      ASSERT_TRUE(res) << httplib::to_string(res.error());
      EXPECT_EQ(res->status, 429) << "stream " << stream << ": " << res->body;
      EXPECT_EQ(res->get_header_value("Retry-After"), "1") << "stream " << stream;
      EXPECT_FALSE(absl::StartsWith(res->get_header_value("Content-Type"), "text/event-stream"));
      EXPECT_EQ(json::parse(res->body)["error"]["type"], "rate_limit_error") << res->body;
    }
  }
  // Two choices can never both be admitted here (one runs, none queues).
  json two = small;
  two["n"] = 2;
  for (bool stream : {false, true}) {
    two["stream"] = stream;
    auto res = client.Post("/v1/completions", two.dump(), "application/json");
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    EXPECT_EQ(res->status, 400) << res->body;
    EXPECT_EQ(json::parse(res->body)["error"]["param"], "n") << res->body;
  }
  release = true;
  holder.join();
  EXPECT_TRUE(Eventually([&] { return (*server)->service().active_requests() == 0 && dep.open_sessions() == 0; }));
  // The slot is free again: the same streamed request runs, and its admission
  // is released when it ends (a second one runs too).
  for (int i = 0; i < 2; ++i) {
    json body = small;
    body["stream"] = true;
    auto res = client.Post("/v1/completions", body.dump(), "application/json");
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    EXPECT_EQ(res->status, 200) << res->body;
    EXPECT_TRUE(absl::StrContains(res->body, "data: [DONE]")) << res->body;
  }
  EXPECT_TRUE(Eventually([&] { return (*server)->service().active_requests() == 0; }));
}

// Several choices: the error reported is a real one, not the CANCELLED of a
// choice that was still queued when a sibling failed.
TEST(CompletionChoicesTest, ReportedFailurePrefersARealErrorOverACancellation) {
  using gateway::ReportedFailure;
  EXPECT_EQ(ReportedFailure({absl::OkStatus(), absl::OkStatus()}), std::nullopt);
  EXPECT_EQ(ReportedFailure({absl::CancelledError("queued"), absl::UnavailableError("target down")}), 1u);
  EXPECT_EQ(ReportedFailure({absl::OkStatus(), absl::InvalidArgumentError("x"), absl::UnavailableError("y")}), 1u);
  EXPECT_EQ(ReportedFailure({absl::CancelledError("a"), absl::OkStatus(), absl::CancelledError("b")}), 0u);
}

}  // namespace
}  // namespace tandem::decoding::testing
