// The Generation service through real gRPC on loopback, over in-process
// ports with synthetic models (exact arithmetic, so greedy equality is
// exact): speculative == target_only, concurrency == sequential,
// cancellation and Abort free every session, invalid requests name their
// field, /metrics counters equal the per-request stats.
#include <map>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/orchestrator/remote/remote_options.h"
#include "services/orchestrator/server/orchestrator_server.h"
#include "services/orchestrator/server/request_translation.h"
#include "tests/services/orchestrator/service_fixture.h"

namespace tandem::decoding::testing {
namespace {

using orchestrator::server::OrchestratorServer;
using tandem::v1::GenerateRequest;

class GenerationServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = OrchestratorServer::Start(dep_.ports, {});
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
    stub_ = tandem::v1::Generation::NewStub(orchestrator::MakeServiceChannel(server_->address()));
  }

  FakeDeployment dep_;
  std::unique_ptr<OrchestratorServer> server_;
  std::unique_ptr<tandem::v1::Generation::Stub> stub_;
};

const std::vector<std::vector<int32_t>> kPrompts = {
    {3, 5, 7}, {1, 2, 3, 1, 2, 3, 1, 2}, {9, 4, 9, 4, 9, 4, 9}, {11, 12, 13, 14, 15, 16, 17, 18, 19, 20}};

TEST_F(GenerationServiceTest, GreedySpeculativeEqualsTargetOnly) {
  for (const auto& prompt : kPrompts) {
    StreamResult base = Stream(*stub_, TokenRequest(prompt, "target_only", 40));
    ASSERT_TRUE(base.status.ok()) << base.status.error_message();
    ASSERT_TRUE(base.has_complete);
    ASSERT_FALSE(base.tokens.empty());
    EXPECT_EQ(base.complete.stats().strategy(), "target_only");
    for (const std::string drafter : {"model", "ngram"}) {
      for (int gamma : {1, 3, 6}) {
        for (bool adaptive : {false, true}) {
          GenerateRequest req = TokenRequest(prompt, "speculative", 40);
          (*req.mutable_params())["drafter"] = drafter;
          req.set_gamma(gamma);
          req.set_adaptive_gamma(adaptive);
          StreamResult spec = Stream(*stub_, req);
          ASSERT_TRUE(spec.status.ok()) << spec.status.error_message();
          EXPECT_EQ(spec.tokens, base.tokens) << drafter << " gamma " << gamma << " adaptive " << adaptive;
          EXPECT_EQ(spec.text, base.text);
          EXPECT_EQ(spec.complete.finish_reason(), base.complete.finish_reason());
          const auto& st = spec.complete.stats();
          EXPECT_EQ(st.strategy(), "speculative");
          EXPECT_EQ(st.drafter(), drafter);
          EXPECT_EQ(st.generated_tokens(), spec.tokens.size());
          EXPECT_LE(st.speculation().accepted_tokens(), st.speculation().drafted_tokens());
          EXPECT_GE(st.target_calls(), 1u);
          if (drafter == "model") {
            EXPECT_GT(st.speculation().drafted_tokens(), 0u);
          }
          // Every round's gamma and reason reach the client (and the metrics).
          uint32_t rounds = 0;
          for (const tandem::v1::GammaChoice& c : st.speculation().gamma_choices()) {
            rounds += c.rounds();
            EXPECT_EQ(c.reason(), adaptive ? c.reason() : "fixed");
            EXPECT_TRUE(c.reason() == "fixed" || c.reason() == "acceptance" || c.reason() == "load" ||
                        c.reason() == "probe" || c.reason() == "prefill")
                << c.reason();
            if (!adaptive) {
              EXPECT_EQ(c.gamma(), static_cast<uint32_t>(gamma));
            }
          }
          EXPECT_GE(rounds, 1u);
        }
      }
    }
  }
}

TEST_F(GenerationServiceTest, ConcurrentStreamsMatchSequentialRuns) {
  std::vector<GenerateRequest> reqs;
  for (size_t i = 0; i < kPrompts.size(); ++i) {
    GenerateRequest greedy = TokenRequest(kPrompts[i], i % 2 ? "speculative" : "target_only", 30);
    reqs.push_back(greedy);
    GenerateRequest sampled = TokenRequest(kPrompts[i], "speculative", 30);
    sampled.mutable_sampling()->set_temperature(0.9f);
    sampled.mutable_sampling()->set_top_k(8);
    sampled.mutable_sampling()->set_seed(100 + i);
    sampled.set_gamma(3);
    reqs.push_back(sampled);
  }
  std::vector<StreamResult> sequential;
  for (const auto& r : reqs) sequential.push_back(Stream(*stub_, r));
  std::vector<StreamResult> concurrent(reqs.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < reqs.size(); ++i) {
    threads.emplace_back([&, i] { concurrent[i] = Stream(*stub_, reqs[i]); });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < reqs.size(); ++i) {
    ASSERT_TRUE(sequential[i].status.ok()) << sequential[i].status.error_message();
    ASSERT_TRUE(concurrent[i].status.ok()) << concurrent[i].status.error_message();
    EXPECT_FALSE(sequential[i].tokens.empty());
    EXPECT_EQ(concurrent[i].tokens, sequential[i].tokens) << "request " << i;
    EXPECT_EQ(concurrent[i].text, sequential[i].text) << "request " << i;
  }
  EXPECT_EQ(dep_.open_sessions(), 0);
}

// A long stream: the synthetic model sleeps per forward, EOS is ignored.
GenerateRequest LongRequest(const std::string& strategy) {
  GenerateRequest req = TokenRequest({1, 2, 3}, strategy, 2000);
  req.set_ignore_eos(true);
  return req;
}

TEST_F(GenerationServiceTest, ClientCancellationClosesEverySession) {
  dep_.target_lm.delay_ms = 5;
  dep_.draft_lm.delay_ms = 2;
  for (const std::string strategy : {"speculative", "target_only"}) {
    grpc::ClientContext ctx;
    auto reader = stub_->Generate(&ctx, LongRequest(strategy));
    tandem::v1::GenerateResponse resp;
    ASSERT_TRUE(reader->Read(&resp));  // mid-stream
    ASSERT_TRUE(resp.has_chunk());
    EXPECT_GT(dep_.open_sessions(), 0);
    ctx.TryCancel();
    while (reader->Read(&resp)) {
    }
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
    EXPECT_TRUE(Eventually([&] { return dep_.open_sessions() == 0 && server_->service().active_requests() == 0; }))
        << strategy << ": open sessions " << dep_.open_sessions();
  }
}

TEST_F(GenerationServiceTest, AbortByRequestIdEndsTheStreamAndClosesSessions) {
  dep_.target_lm.delay_ms = 5;
  GenerateRequest req = LongRequest("speculative");
  req.set_request_id("job-42");
  grpc::ClientContext ctx;
  auto reader = stub_->Generate(&ctx, req);
  tandem::v1::GenerateResponse resp;
  ASSERT_TRUE(reader->Read(&resp));
  EXPECT_EQ(resp.request_id(), "job-42");

  // A second stream with the same id is refused while the first runs.
  StreamResult dup = Stream(*stub_, req);
  EXPECT_EQ(dup.status.error_code(), grpc::StatusCode::ALREADY_EXISTS);

  grpc::ClientContext actx;
  tandem::v1::AbortRequest abort;
  abort.set_request_id("job-42");
  tandem::v1::AbortResponse aresp;
  ASSERT_TRUE(stub_->Abort(&actx, abort, &aresp).ok());
  EXPECT_TRUE(aresp.found());
  bool complete = false;
  while (reader->Read(&resp)) {
    if (resp.has_complete()) {
      complete = true;
      EXPECT_EQ(resp.complete().finish_reason(), tandem::v1::FINISH_REASON_ABORTED);
      EXPECT_LT(resp.complete().stats().generated_tokens(), 2000u);
    }
  }
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_TRUE(complete);
  EXPECT_EQ(dep_.open_sessions(), 0);

  grpc::ClientContext actx2;
  ASSERT_TRUE(stub_->Abort(&actx2, abort, &aresp).ok());
  EXPECT_FALSE(aresp.found());
}

struct BadCase {
  const char* name;
  std::function<void(GenerateRequest*)> mutate;
  grpc::StatusCode code;
  const char* field;  // the message must start with it
};

TEST_F(GenerationServiceTest, InvalidRequestsAreRejectedNamingTheField) {
  const std::vector<BadCase> cases = {
      {"no input", [](GenerateRequest* r) { r->clear_prompt_tokens(); }, grpc::StatusCode::INVALID_ARGUMENT, "input"},
      {"empty tokens", [](GenerateRequest* r) { r->mutable_prompt_tokens()->clear_ids(); },
       grpc::StatusCode::INVALID_ARGUMENT, "prompt_tokens.ids"},
      {"token out of range", [](GenerateRequest* r) { r->mutable_prompt_tokens()->add_ids(kVocab); },
       grpc::StatusCode::INVALID_ARGUMENT, "prompt_tokens.ids[3]"},
      {"text without tokenizer", [](GenerateRequest* r) { r->set_prompt("hello"); },
       grpc::StatusCode::INVALID_ARGUMENT, "prompt"},
      {"unknown strategy", [](GenerateRequest* r) { r->set_strategy("telepathy"); },
       grpc::StatusCode::INVALID_ARGUMENT, "strategy"},
      {"rsd without its models", [](GenerateRequest* r) { r->set_strategy("rsd"); },
       grpc::StatusCode::FAILED_PRECONDITION, "rsd"},
      {"unknown model", [](GenerateRequest* r) { r->set_model("gpt-9"); }, grpc::StatusCode::INVALID_ARGUMENT, "model"},
      {"unknown param", [](GenerateRequest* r) { (*r->mutable_params())["gama"] = "3"; },
       grpc::StatusCode::INVALID_ARGUMENT, "params: unknown parameter(s) gama"},
      {"bad param value", [](GenerateRequest* r) { (*r->mutable_params())["gamma"] = "lots"; },
       grpc::StatusCode::INVALID_ARGUMENT, "params.gamma"},
      {"param out of range", [](GenerateRequest* r) { (*r->mutable_params())["gamma"] = "99"; },
       grpc::StatusCode::INVALID_ARGUMENT, "params.gamma"},
      {"bad param key", [](GenerateRequest* r) { (*r->mutable_params())["Gamma!"] = "3"; },
       grpc::StatusCode::INVALID_ARGUMENT, "params"},
      {"unknown drafter", [](GenerateRequest* r) { (*r->mutable_params())["drafter"] = "oracle"; },
       grpc::StatusCode::INVALID_ARGUMENT, "params.drafter"},
      {"gamma 0", [](GenerateRequest* r) { r->set_gamma(0); }, grpc::StatusCode::INVALID_ARGUMENT, "gamma"},
      {"gamma 33", [](GenerateRequest* r) { r->set_gamma(33); }, grpc::StatusCode::INVALID_ARGUMENT, "gamma"},
      {"max_tokens 0", [](GenerateRequest* r) { r->set_max_tokens(0); }, grpc::StatusCode::INVALID_ARGUMENT, "max_tokens"},
      {"max_tokens past context", [](GenerateRequest* r) { r->set_max_tokens(4094); },
       grpc::StatusCode::INVALID_ARGUMENT, "max_tokens"},
      {"temperature", [](GenerateRequest* r) { r->mutable_sampling()->set_temperature(-1); },
       grpc::StatusCode::INVALID_ARGUMENT, "sampling.temperature"},
      {"top_p", [](GenerateRequest* r) { r->mutable_sampling()->set_top_p(1.5f); },
       grpc::StatusCode::INVALID_ARGUMENT, "sampling.top_p"},
      {"top_k", [](GenerateRequest* r) { r->mutable_sampling()->set_top_k(kVocab + 1); },
       grpc::StatusCode::INVALID_ARGUMENT, "sampling.top_k"},
      {"empty stop", [](GenerateRequest* r) { r->add_stop(""); }, grpc::StatusCode::INVALID_ARGUMENT, "stop[0]"},
      {"too many stops", [](GenerateRequest* r) { for (int i = 0; i < 17; ++i) r->add_stop("x"); },
       grpc::StatusCode::INVALID_ARGUMENT, "stop"},
      {"bad request id", [](GenerateRequest* r) { r->set_request_id("has space"); },
       grpc::StatusCode::INVALID_ARGUMENT, "request_id"},
      {"chat role", [](GenerateRequest* r) {
         auto* m = r->mutable_messages()->add_messages();
         m->set_role("wizard");
         m->set_content("hi");
       }, grpc::StatusCode::INVALID_ARGUMENT, "messages.messages[0].role"},
      // Client text fields are proto bytes, so invalid UTF-8 reaches the
      // service's validation over the wire and is answered naming the field.
      {"prompt not UTF-8", [](GenerateRequest* r) { r->set_prompt(std::string("a\xff", 2)); },
       grpc::StatusCode::INVALID_ARGUMENT, "prompt"},
      {"context not UTF-8", [](GenerateRequest* r) { r->set_context(std::string("\xc0\x80", 2)); },
       grpc::StatusCode::INVALID_ARGUMENT, "context"},
      {"stop not UTF-8", [](GenerateRequest* r) { r->add_stop(std::string("\xed\xa0\x80", 3)); },
       grpc::StatusCode::INVALID_ARGUMENT, "stop[0]"},
      {"param value not UTF-8", [](GenerateRequest* r) { (*r->mutable_params())["gamma"] = std::string("\xff"); },
       grpc::StatusCode::INVALID_ARGUMENT, "params.gamma"},
      {"chat content not UTF-8", [](GenerateRequest* r) {
         auto* m = r->mutable_messages()->add_messages();
         m->set_role("user");
         m->set_content(std::string("\xff", 1));
       }, grpc::StatusCode::INVALID_ARGUMENT, "messages.messages[0].content"},
  };
  for (const BadCase& c : cases) {
    GenerateRequest req = TokenRequest({1, 2, 3}, "speculative", 8);
    c.mutate(&req);
    StreamResult r = Stream(*stub_, req);
    EXPECT_EQ(r.status.error_code(), c.code) << c.name << ": " << r.status.error_message();
    EXPECT_TRUE(absl::StartsWith(r.status.error_message(), c.field))
        << c.name << ": message '" << r.status.error_message() << "' does not start with '" << c.field << "'";
    EXPECT_TRUE(r.tokens.empty()) << c.name;
  }
  EXPECT_EQ(dep_.open_sessions(), 0);
}

// The translation step on its own (the same checks run over gRPC above).
TEST(TranslateRequestTest, InvalidUtf8IsRejectedNamingTheField) {
  FakeDeployment dep;
  struct Case {
    std::function<void(GenerateRequest*)> mutate;
    const char* field;
  };
  const std::vector<Case> cases = {
      {[](GenerateRequest* r) { r->set_prompt(std::string("a\xff", 2)); }, "prompt: is not valid UTF-8"},
      {[](GenerateRequest* r) { r->set_context(std::string("\xc0\x80", 2)); }, "context: is not valid UTF-8"},
      {[](GenerateRequest* r) { r->add_stop(std::string("\xed\xa0\x80", 3)); }, "stop[0]: is not valid UTF-8"},
      {[](GenerateRequest* r) { (*r->mutable_params())["gamma"] = std::string("\xff"); }, "params.gamma"},
      // The suffix reaches the shared translation (which wants a text prompt for it).
      {[](GenerateRequest* r) { r->set_suffix("):"); }, "suffix: fills in the middle of a text prompt"},
  };
  for (const Case& c : cases) {
    GenerateRequest req = TokenRequest({1, 2, 3}, "speculative", 8);
    c.mutate(&req);
    auto t = orchestrator::server::TranslateRequest(req, dep.ports, "speculative", 1);
    ASSERT_FALSE(t.ok()) << c.field;
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StartsWith(t.status().message(), c.field)) << t.status();
  }
}

// Sum of the samples of one family whose labels contain every `labels` entry.
double MetricSum(const std::string& exposition, const std::string& family,
                 const std::vector<std::string>& labels) {
  double sum = 0;
  std::istringstream in(exposition);
  std::string line;
  while (std::getline(in, line)) {
    if (!absl::StartsWith(line, family + "{")) continue;
    bool match = true;
    for (const std::string& l : labels) match = match && absl::StrContains(line, l);
    if (match) sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

TEST_F(GenerationServiceTest, MetricsCountersMatchPerRequestStats) {
  uint64_t drafts = 0, drafted = 0, accepted = 0, target_calls = 0, generated = 0;
  std::vector<uint64_t> per_pos;
  for (size_t i = 0; i < kPrompts.size(); ++i) {
    GenerateRequest req = TokenRequest(kPrompts[i], "speculative", 25);
    req.set_gamma(2 + i);
    if (i == 3) {
      req.mutable_sampling()->set_temperature(1.0f);
      req.mutable_sampling()->set_seed(5);
    }
    StreamResult r = Stream(*stub_, req);
    ASSERT_TRUE(r.status.ok()) << r.status.error_message();
    const auto& st = r.complete.stats();
    drafts += st.speculation().num_drafts();
    drafted += st.speculation().drafted_tokens();
    accepted += st.speculation().accepted_tokens();
    target_calls += st.target_calls();
    generated += st.generated_tokens();
    if (per_pos.size() < static_cast<size_t>(st.speculation().accepted_per_position_size())) {
      per_pos.resize(st.speculation().accepted_per_position_size());
    }
    for (int p = 0; p < st.speculation().accepted_per_position_size(); ++p) per_pos[p] += st.speculation().accepted_per_position(p);
  }
  ASSERT_GT(drafted, 0u);
  const std::string text = server_->metrics().Serialize();
  const std::vector<std::string> spec = {"strategy=\"speculative\"", "drafter=\"model\""};
  EXPECT_EQ(MetricSum(text, "tandem:spec_decode_num_drafts_total", spec), drafts);
  EXPECT_EQ(MetricSum(text, "tandem:spec_decode_num_draft_tokens_total", spec), drafted);
  EXPECT_EQ(MetricSum(text, "tandem:spec_decode_num_accepted_tokens_total", spec), accepted);
  EXPECT_EQ(MetricSum(text, "tandem:target_calls_total", spec), target_calls);
  EXPECT_EQ(MetricSum(text, "tandem:generation_tokens_total", {"strategy=\"speculative\""}), generated);
  for (size_t p = 0; p < per_pos.size(); ++p) {
    std::vector<std::string> labels = spec;
    labels.push_back(absl::StrCat("position=\"", p, "\""));
    EXPECT_EQ(MetricSum(text, "tandem:spec_decode_num_accepted_tokens_per_pos_total", labels), per_pos[p]) << p;
  }
  EXPECT_EQ(MetricSum(text, "tandem:request_success_total", {"strategy=\"speculative\""}), kPrompts.size());
  // Latency histograms were fed by the instrumented ports.
  EXPECT_GT(MetricSum(text, "tandem:target_verify_latency_seconds_count", {}) +
                MetricSum(text, "tandem:draft_rpc_latency_seconds_count", {"drafter=\"model\""}), 0);
  // A rejected request is a failure, not a success.
  Stream(*stub_, TokenRequest({1, 2, 3}, "telepathy", 5));
  EXPECT_EQ(MetricSum(server_->metrics().Serialize(), "tandem:request_failure_total", {"code=\"INVALID_ARGUMENT\""}), 1);
}

TEST_F(GenerationServiceTest, InfoAndModels) {
  grpc::ClientContext c1, c2;
  tandem::v1::GetInfoResponse info;
  ASSERT_TRUE(stub_->GetInfo(&c1, {}, &info).ok());
  EXPECT_EQ(info.default_strategy(), "speculative");  // a drafter is configured
  EXPECT_EQ(info.drafter(), "model");
  EXPECT_EQ(info.default_model(), "fake-target");
  std::vector<std::string> names;
  for (const auto& s : info.strategies()) names.push_back(s.name());
  // Every implemented strategy, the two baselines first (strategies(1) is
  // speculative below).
  ASSERT_GE(names.size(), 2u);
  EXPECT_EQ(names[0], "target_only");
  EXPECT_EQ(names[1], "speculative");
  EXPECT_THAT(names, ::testing::IsSupersetOf({"cards", "best_of_n", "args", "rapid", "rsd", "draft_only"}));
  std::vector<std::string> params;
  for (const auto& p : info.strategies(1).params()) params.push_back(p.name());
  EXPECT_THAT(params, ::testing::Contains("gamma"));
  tandem::v1::ListModelsResponse models;
  ASSERT_TRUE(stub_->ListModels(&c2, {}, &models).ok());
  ASSERT_EQ(models.models_size(), 1);
  EXPECT_EQ(models.models(0).vocab_size(), kVocab);
  ASSERT_EQ(models.draft_models_size(), 1);
  // Empty strategy = the default (speculative), empty model = the target.
  StreamResult r = Stream(*stub_, TokenRequest({1, 2, 3}, "", 6));
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.complete.stats().strategy(), "speculative");
  EXPECT_FALSE(r.request_id.empty());
}

TEST_F(GenerationServiceTest, TokensOnlySkipsTheText) {
  GenerateRequest req = TokenRequest({3, 5, 7}, "speculative", 12);
  StreamResult with_text = Stream(*stub_, req);
  req.set_tokens_only(true);
  StreamResult ids_only = Stream(*stub_, req);
  ASSERT_TRUE(ids_only.status.ok());
  EXPECT_FALSE(with_text.text.empty());
  EXPECT_TRUE(ids_only.text.empty());
  EXPECT_EQ(ids_only.tokens, with_text.tokens);
}

// Prompt logprobs over gRPC: the first chunk carries the prompt's ids and
// scores (one fewer than the ids), no later chunk does, and a generated
// continuation fed back as the prompt scores as it was generated; refused
// without logprobs.
TEST_F(GenerationServiceTest, PromptLogprobsComeOnTheFirstChunk) {
  auto chunks = [&](const GenerateRequest& req, grpc::Status* status) {
    grpc::ClientContext ctx;
    auto reader = stub_->Generate(&ctx, req);
    std::vector<tandem::v1::GenerateChunk> out;
    tandem::v1::GenerateResponse resp;
    while (reader->Read(&resp)) {
      if (resp.has_chunk()) out.push_back(resp.chunk());
    }
    *status = reader->Finish();
    return out;
  };
  const std::vector<int32_t> prompt = {3, 5, 7, 1, 2};
  GenerateRequest req = TokenRequest(prompt, "target_only", 5);
  req.set_ignore_eos(true);
  req.set_logprobs(true);
  req.set_top_logprobs(2);
  req.set_prompt_logprobs(true);
  grpc::Status status;
  const std::vector<tandem::v1::GenerateChunk> first = chunks(req, &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_FALSE(first.empty());
  EXPECT_THAT(first[0].prompt_token_ids(), ::testing::ElementsAreArray(prompt));
  EXPECT_EQ(first[0].prompt_logprobs_size(), static_cast<int>(prompt.size()) - 1);
  EXPECT_EQ(first[0].prompt_top_logprobs_size(), static_cast<int>(prompt.size()) - 1);
  std::vector<int32_t> fed_back = prompt;
  std::vector<float> generated;
  for (size_t i = 0; i < first.size(); ++i) {
    if (i > 0) {
      EXPECT_EQ(first[i].prompt_token_ids_size() + first[i].prompt_logprobs_size(), 0) << i;
    }
    fed_back.insert(fed_back.end(), first[i].token_ids().begin(), first[i].token_ids().end());
    generated.insert(generated.end(), first[i].logprobs().begin(), first[i].logprobs().end());
  }
  ASSERT_EQ(generated.size(), 5u);
  for (const char* strategy : {"target_only", "speculative"}) {
    GenerateRequest again = req;
    again.mutable_prompt_tokens()->mutable_ids()->Assign(fed_back.begin(), fed_back.end());
    again.set_strategy(strategy);
    again.set_max_tokens(1);
    const std::vector<tandem::v1::GenerateChunk> scored = chunks(again, &status);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_FALSE(scored.empty());
    ASSERT_EQ(scored[0].prompt_logprobs_size(), static_cast<int>(fed_back.size()) - 1) << strategy;
    const std::vector<float> tail(scored[0].prompt_logprobs().end() - 5, scored[0].prompt_logprobs().end());
    EXPECT_EQ(tail, generated) << strategy;
    EXPECT_EQ(std::vector<float>(scored[0].prompt_logprobs().begin(), scored[0].prompt_logprobs().begin() + 4),
              std::vector<float>(first[0].prompt_logprobs().begin(), first[0].prompt_logprobs().end()))
        << strategy;
  }
  req.set_logprobs(false);
  req.set_top_logprobs(0);
  chunks(req, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StartsWith(status.error_message(), "prompt_logprobs")) << status.error_message();
}

TEST_F(GenerationServiceTest, StopStringsCutTheOutput) {
  StreamResult base = Stream(*stub_, TokenRequest({3, 5, 7}, "target_only", 30));
  ASSERT_GE(base.text.size(), 6u);
  const std::string stop = base.text.substr(4, 2);
  GenerateRequest req = TokenRequest({3, 5, 7}, "speculative", 30);
  req.add_stop(stop);
  StreamResult r = Stream(*stub_, req);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.complete.finish_reason(), tandem::v1::FINISH_REASON_STOP_STRING);
  EXPECT_EQ(r.complete.matched_stop(), stop);
  EXPECT_EQ(r.text, base.text.substr(0, base.text.find(stop)));
}

}  // namespace
}  // namespace tandem::decoding::testing
