// Exercises every part of the C++ SDK against a live deployment and checks
// each answer; exits non-zero on the first failed expectation.
//   live_check ORCHESTRATOR REWARD RETRIEVAL [CA_FILE TOKEN_FILE]
// (host:port each; with CA_FILE and TOKEN_FILE over TLS with a bearer token).
// scripts/test-sdk-cpp.sh runs it against `tandem up` with SmolLM2-135M.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tandem/sdk/client.h"

namespace {

void Expect(bool ok, const std::string& what) {
  std::cout << (ok ? "ok    " : "FAIL  ") << what << std::endl;
  if (!ok) std::exit(1);
}

// The value (by value: callers pass temporaries).
template <typename T>
T Must(absl::StatusOr<T> value, const std::string& what) {
  if (!value.ok()) std::cout << "      " << value.status() << "\n";
  Expect(value.ok(), what);
  return *std::move(value);
}

std::string ReadToken(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  std::string token = text.str();
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
  Expect(!token.empty(), "read the token from " + path);
  return token;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4 && argc != 6) {
    std::cerr << "usage: live_check ORCHESTRATOR REWARD RETRIEVAL [CA_FILE TOKEN_FILE]\n";
    return 2;
  }
  tandem::ConnectionOptions connection{.address = argv[1], .reward_address = argv[2], .retrieval_address = argv[3]};
  connection.timeout = std::chrono::seconds(120);
  if (argc == 6) {
    connection.tls = tandem::TlsOptions{.ca_file = argv[4]};
    connection.bearer_token = ReadToken(argv[5]);
    tandem::ConnectionOptions without_token = connection;
    without_token.bearer_token.clear();
    const tandem::Client anonymous = Must(tandem::Client::Connect(without_token), "connect without the token");
    Expect(anonymous.GetInfo().status().code() == absl::StatusCode::kUnauthenticated,
           "TLS without the bearer token -> UNAUTHENTICATED");
  }
  const tandem::Client client = Must(tandem::Client::Connect(connection), "connect");

  // Catalog: the deployment serves every strategy this SDK has typed options for.
  const tandem::v1::GetInfoResponse info = Must(client.GetInfo(), "GetInfo");
  for (std::string_view name : tandem::strategy::kStrategyNames) {
    const bool served = std::any_of(info.strategies().begin(), info.strategies().end(),
                                    [&](const tandem::v1::StrategyInfo& s) { return s.name() == name; });
    Expect(served, "GetInfo lists strategy " + std::string(name));
  }
  const tandem::v1::ListModelsResponse models = Must(client.ListModels(), "ListModels");
  Expect(models.models_size() > 0 && models.models(0).name() == "smollm2-135m", "ListModels: smollm2-135m");

  // Streaming speculative decoding with typed options; statistics in the result.
  tandem::GenerateOptions options;
  options.Use(tandem::strategy::Speculative{.gamma = 4, .drafter = tandem::strategy::Speculative::Drafter::kModel});
  options.max_tokens = 12;
  std::unique_ptr<tandem::GenerationStream> stream =
      client.StartGenerate(tandem::Prompt::Chat({{"user", "Name three colors."}}), options);
  int chunks = 0;
  for (const tandem::Chunk& chunk : *stream) {
    std::cout << chunk.text << std::flush;
    ++chunks;
  }
  std::cout << "\n";
  const tandem::GenerationResult result = Must(stream->Finish(), "Generate (stream)");
  Expect(chunks > 0 && !result.token_ids.empty(), "chunks streamed");
  Expect(result.stats.strategy() == "speculative" && result.stats.generated_tokens() == result.token_ids.size(),
         "statistics: " + result.stats.ShortDebugString());
  Expect(!result.request_id.empty(), "request id " + result.request_id);

  // Unary, greedy target_only: the same text as speculative (the draft is the target model).
  tandem::GenerateOptions target_only;
  target_only.Use(tandem::strategy::TargetOnly{});
  target_only.max_tokens = 12;
  const tandem::GenerationResult baseline =
      Must(client.Generate(tandem::Prompt::Chat({{"user", "Name three colors."}}), target_only), "Generate (unary)");
  Expect(baseline.text == result.text, "greedy speculative == target_only");

  // Logprobs: one per token; greedy, the chosen token is the most likely one.
  tandem::GenerateOptions with_logprobs = target_only;
  with_logprobs.logprobs = true;
  with_logprobs.top_logprobs = 2;
  const tandem::GenerationResult with_lp = Must(
      client.Generate(tandem::Prompt::Chat({{"user", "Name three colors."}}), with_logprobs), "Generate (logprobs)");
  bool consistent = with_lp.token_ids == baseline.token_ids && with_lp.logprobs.size() == with_lp.token_ids.size() &&
                    with_lp.top_logprobs.size() == with_lp.token_ids.size();
  for (size_t i = 0; consistent && i < with_lp.token_ids.size(); ++i) {
    consistent = with_lp.logprobs[i] < 0 && with_lp.top_logprobs[i].size() == 2 &&
                 with_lp.top_logprobs[i][0] == tandem::TokenLogprob{with_lp.token_ids[i], with_lp.logprobs[i]};
  }
  Expect(consistent, "logprobs: one per token, the greedy token first in top_logprobs");

  // Prompt logprobs: the conversation and its answer fed back as token ids
  // score the answer as it was generated.
  tandem::GenerateOptions prompt_scored = with_logprobs;
  prompt_scored.prompt_logprobs = true;
  const tandem::GenerationResult answered =
      Must(client.Generate(tandem::Prompt::Chat({{"user", "Name three colors."}}), prompt_scored),
           "Generate (prompt logprobs)");
  std::vector<int32_t> fed_back = answered.prompt_token_ids;
  fed_back.insert(fed_back.end(), answered.token_ids.begin(), answered.token_ids.end());
  prompt_scored.max_tokens = 1;
  const tandem::GenerationResult fed_back_result =
      Must(client.Generate(tandem::Prompt::Tokens(fed_back), prompt_scored), "Generate (prompt logprobs, fed back)");
  const size_t context = answered.prompt_token_ids.size() - 1;
  bool scored_back = !answered.prompt_token_ids.empty() && answered.prompt_logprobs.size() == context &&
                     fed_back_result.prompt_token_ids == fed_back &&
                     fed_back_result.prompt_logprobs.size() == fed_back.size() - 1;
  for (size_t i = 0; scored_back && i < answered.token_ids.size(); ++i) {
    scored_back = fed_back_result.prompt_logprobs[context + i] == answered.logprobs[i] &&
                  fed_back_result.prompt_top_logprobs[context + i] == answered.top_logprobs[i];
  }
  Expect(scored_back, "prompt logprobs: a generated answer fed back scores as it was generated");

  // A bad parameter: INVALID_ARGUMENT with the server's message naming it.
  tandem::GenerateOptions bad;
  bad.Use(tandem::strategy::Speculative{.gamma = 99});
  absl::StatusOr<tandem::GenerationResult> rejected = client.Generate("Hi", bad);
  std::cout << "      " << rejected.status() << "\n";
  Expect(rejected.status().code() == absl::StatusCode::kInvalidArgument &&
             rejected.status().message().find("gamma") != std::string_view::npos,
         "invalid parameter -> INVALID_ARGUMENT naming gamma");

  // Deadline exceeded.
  tandem::GenerateOptions slow;
  slow.max_tokens = 200;
  slow.ignore_eos = true;
  slow.timeout = std::chrono::milliseconds(50);
  Expect(client.Generate("Count to one hundred:", slow).status().code() == absl::StatusCode::kDeadlineExceeded,
         "deadline -> DEADLINE_EXCEEDED");

  // Cancellation from another thread after the first chunk.
  slow.timeout.reset();
  std::unique_ptr<tandem::GenerationStream> long_stream = client.StartGenerate("Count to one hundred:", slow);
  absl::StatusOr<std::optional<tandem::Chunk>> first = long_stream->Next();
  Expect(first.ok() && first->has_value(), "first chunk of a long generation");
  std::thread([&] { long_stream->Cancel(); }).join();
  Expect(long_stream->Finish().status().code() == absl::StatusCode::kCancelled, "cancel -> CANCELLED");

  // Reward service.
  const tandem::ScoreResult scored =
      Must(client.Score({{.prompt = "Say hi", .response = "hi there"}, {.prompt = "Say hi", .response = "hello"}},
                        {.backend = "keyword", .options = {{"required", "hi"}}}),
           "Score");
  Expect(scored.scores.size() == 2 && scored.scores[0] == 1.0f && scored.scores[1] == 0.0f, "keyword scores 1, 0");

  // Retrieval collection: create, ingest with progress, search, delete.
  const std::string name = "sdk-cpp-live";
  (void)client.DeleteCollection(name);  // left over from an interrupted run, if any
  Must(client.CreateCollection(name, 64), "CreateCollection");
  std::vector<tandem::Document> docs = {
      {.id = "sky", .text = "The sky is blue because air scatters blue sunlight more than red sunlight."},
      {.id = "grass", .text = "Grass is green because chlorophyll absorbs red and blue light."}};
  int reports = 0;
  bool committed = false;
  const tandem::v1::CollectionStats stats = Must(
      client.AddDocuments(name, docs,
                          [&](const tandem::IngestProgress& p) {
                            ++reports;
                            committed = p.committed;
                            std::cout << "      progress: " << p.documents_sent << "/" << p.documents_total
                                      << " sent, " << p.chunks << " chunks" << (p.committed ? ", committed" : "")
                                      << "\n";
                          }),
      "AddDocuments");
  Expect(reports >= 1 && committed && stats.documents() == 2, "ingest progress and commit");
  const tandem::v1::SearchResponse found =
      Must(client.Search({.collection = name, .query = "Why is the sky blue?", .top_k = 1}), "Search");
  Expect(found.chunks_size() == 1 && found.chunks(0).document_id() == "sky", "search finds the sky document");
  Expect(client.DeleteCollection(name).ok(), "DeleteCollection");
  Expect(client.GetCollectionStats(name).status().code() == absl::StatusCode::kNotFound,
         "deleted collection -> NOT_FOUND");

  std::cout << "live_check: all passed\n";
  return 0;
}
