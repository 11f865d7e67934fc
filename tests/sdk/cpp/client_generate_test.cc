// tandem::Client's generation calls against a scripted in-process server:
// streaming (iterator, callback, unary), the request it sends, statistics,
// cancellation from another thread and by destroying the stream, deadlines,
// and the server's errors as absl::Status.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "fake_server.h"
#include "tandem/sdk/client.h"

namespace tandem {
namespace {

using sdk_test::FakeServer;

v1::GenerateResponse ChunkOf(const std::string& text, std::vector<int32_t> ids) {
  v1::GenerateResponse r;
  r.set_request_id("req-1");
  r.mutable_chunk()->set_text(text);
  for (int32_t id : ids) r.mutable_chunk()->add_token_ids(id);
  return r;
}

v1::GenerateResponse CompleteWith(const v1::Stats& stats, v1::FinishReason reason) {
  v1::GenerateResponse r;
  r.set_request_id("req-1");
  r.mutable_complete()->set_finish_reason(reason);
  *r.mutable_complete()->mutable_stats() = stats;
  return r;
}

v1::Stats SampleStats() {
  v1::Stats stats;
  stats.set_strategy("speculative");
  stats.set_drafter("ngram");
  stats.set_generated_tokens(3);
  return stats;
}

// Streams "Hel", "lo" and a complete with SampleStats(); records the request.
void ScriptHello(FakeServer& server, v1::GenerateRequest* seen) {
  server.generation.generate = [seen](grpc::ServerContext*, const v1::GenerateRequest& request,
                                      grpc::ServerWriter<v1::GenerateResponse>* writer) {
    if (seen) *seen = request;
    writer->Write(ChunkOf("Hel", {10, 11}));
    writer->Write(ChunkOf("lo", {12}));
    writer->Write(CompleteWith(SampleStats(), v1::FINISH_REASON_LENGTH));
    return grpc::Status::OK;
  };
}

// Sends one chunk, then holds the call open until the client cancels it (or
// the server shuts down); `cancelled` says which.
void ScriptOneChunkThenWait(FakeServer& server, std::promise<bool>* cancelled) {
  server.generation.generate = [cancelled](grpc::ServerContext* context, const v1::GenerateRequest&,
                                           grpc::ServerWriter<v1::GenerateResponse>* writer) {
    writer->Write(ChunkOf("first", {1}));
    // Bounded so a broken client fails the test instead of hanging it.
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!context->IsCancelled() && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    cancelled->set_value(context->IsCancelled());
    return grpc::Status::OK;
  };
}

Client Connect(const FakeServer& server, ConnectionOptions options = {}) {
  options.address = server.address();
  absl::StatusOr<Client> client = Client::Connect(options);
  EXPECT_TRUE(client.ok()) << client.status();
  return *std::move(client);
}

TEST(ClientGenerate, StreamsChunksThenTheResultWithStatistics) {
  FakeServer server;
  ScriptHello(server, nullptr);
  server.Start();
  Client client = Connect(server);

  std::unique_ptr<GenerationStream> stream = client.StartGenerate("Hi");
  std::vector<std::string> texts;
  for (const Chunk& chunk : *stream) texts.push_back(chunk.text);
  EXPECT_EQ(texts, (std::vector<std::string>{"Hel", "lo"}));

  absl::StatusOr<GenerationResult> result = stream->Finish();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->text, "Hello");
  EXPECT_EQ(result->token_ids, (std::vector<int32_t>{10, 11, 12}));
  EXPECT_EQ(result->request_id, "req-1");
  EXPECT_EQ(result->finish_reason, v1::FINISH_REASON_LENGTH);
  // The statistics are the server's message, handed out whole.
  EXPECT_EQ(result->stats.SerializeAsString(), SampleStats().SerializeAsString());
}

TEST(ClientGenerate, CallbackAndUnaryFormsGiveTheSameResult) {
  FakeServer server;
  ScriptHello(server, nullptr);
  server.Start();
  Client client = Connect(server);

  std::string streamed;
  absl::StatusOr<GenerationResult> with_callback =
      client.Generate("Hi", {}, [&](const Chunk& chunk) { streamed += chunk.text; });
  ASSERT_TRUE(with_callback.ok()) << with_callback.status();
  EXPECT_EQ(streamed, "Hello");
  absl::StatusOr<GenerationResult> unary = client.Generate("Hi");
  ASSERT_TRUE(unary.ok()) << unary.status();
  EXPECT_EQ(unary->text, with_callback->text);
  EXPECT_EQ(unary->stats.generated_tokens(), 3u);
}

TEST(ClientGenerate, SendsTypedStrategyOptionsAndFields) {
  FakeServer server;
  v1::GenerateRequest seen;
  ScriptHello(server, &seen);
  server.Start();
  Client client = Connect(server);

  GenerateOptions options;
  options.Use(strategy::Speculative{.gamma = 5, .drafter = strategy::Speculative::Drafter::kNgram});
  options.max_tokens = 7;
  options.sampling.temperature = 0.5f;
  options.sampling.seed = 42;
  options.stop = {"\n\n"};
  options.request_id = "mine";
  options.model = "smollm2-135m";
  ASSERT_TRUE(client.Generate(Prompt::Chat({{"user", "Why?"}}), options).ok());

  EXPECT_EQ(seen.strategy(), "speculative");
  EXPECT_EQ(seen.params().size(), 2u);
  EXPECT_EQ(seen.params().at("gamma"), "5");
  EXPECT_EQ(seen.params().at("drafter"), "ngram");
  EXPECT_EQ(seen.max_tokens(), 7u);
  EXPECT_FLOAT_EQ(seen.sampling().temperature(), 0.5f);
  EXPECT_TRUE(seen.sampling().has_seed());
  EXPECT_EQ(seen.sampling().seed(), 42u);
  ASSERT_EQ(seen.stop_size(), 1);
  EXPECT_EQ(seen.stop(0), "\n\n");
  EXPECT_EQ(seen.request_id(), "mine");
  EXPECT_EQ(seen.model(), "smollm2-135m");
  ASSERT_TRUE(seen.has_messages());
  EXPECT_EQ(seen.messages().messages(0).role(), "user");
  EXPECT_EQ(seen.messages().messages(0).content(), "Why?");
}

TEST(ClientGenerate, TokenPromptsTravelAsIds) {
  FakeServer server;
  v1::GenerateRequest seen;
  ScriptHello(server, &seen);
  server.Start();
  ASSERT_TRUE(Connect(server).Generate(Prompt::Tokens({1, 2, 3})).ok());
  ASSERT_TRUE(seen.has_prompt_tokens());
  EXPECT_EQ(seen.prompt_tokens().ids_size(), 3);
}

TEST(ClientGenerate, SuffixTravelsOnlyWhenSet) {
  FakeServer server;
  v1::GenerateRequest seen;
  ScriptHello(server, &seen);
  server.Start();
  Client client = Connect(server);
  ASSERT_TRUE(client.Generate("def f(").ok());
  EXPECT_FALSE(seen.has_suffix());
  GenerateOptions fim;
  fim.suffix = "):\n    pass\n";
  ASSERT_TRUE(client.Generate("def f(", fim).ok());
  ASSERT_TRUE(seen.has_suffix());
  EXPECT_EQ(seen.suffix(), "):\n    pass\n");
}

TEST(ClientGenerate, InvalidArgumentKeepsTheServersMessage) {
  FakeServer server;
  const std::string message = "params.gamma: must be in [1, 32], got 99";
  server.generation.generate = [&](grpc::ServerContext*, const v1::GenerateRequest&,
                                   grpc::ServerWriter<v1::GenerateResponse>*) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message);
  };
  server.Start();
  GenerateOptions options;
  options.params["gamma"] = "99";
  absl::StatusOr<GenerationResult> result = Connect(server).Generate("Hi", options);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(result.status().message(), message);
}

TEST(ClientGenerate, StreamWithoutFinalMessageIsAnError) {
  FakeServer server;
  server.generation.generate = [](grpc::ServerContext*, const v1::GenerateRequest&,
                                  grpc::ServerWriter<v1::GenerateResponse>* writer) {
    writer->Write(ChunkOf("cut", {1}));
    return grpc::Status::OK;
  };
  server.Start();
  absl::StatusOr<GenerationResult> result = Connect(server).Generate("Hi");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInternal);
}

TEST(ClientGenerate, TextTailIsTheLastChunk) {
  FakeServer server;
  server.generation.generate = [](grpc::ServerContext*, const v1::GenerateRequest&,
                                  grpc::ServerWriter<v1::GenerateResponse>* writer) {
    writer->Write(ChunkOf("a", {1}));
    v1::GenerateResponse complete = CompleteWith(SampleStats(), v1::FINISH_REASON_STOP);
    complete.mutable_complete()->set_text_tail("\xEF\xBF\xBD");
    writer->Write(complete);
    return grpc::Status::OK;
  };
  server.Start();
  std::vector<std::string> texts;
  absl::StatusOr<GenerationResult> result =
      Connect(server).Generate("Hi", {}, [&](const Chunk& c) { texts.push_back(c.text); });
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(texts, (std::vector<std::string>{"a", "\xEF\xBF\xBD"}));
  EXPECT_EQ(result->text, "a\xEF\xBF\xBD");
}

TEST(ClientGenerate, CancelFromAnotherThreadEndsTheCallOnBothSides) {
  FakeServer server;
  std::promise<bool> cancelled;
  std::future<bool> server_saw_cancel = cancelled.get_future();
  ScriptOneChunkThenWait(server, &cancelled);
  server.Start();
  Client client = Connect(server);

  std::unique_ptr<GenerationStream> stream = client.StartGenerate("Hi");
  absl::StatusOr<std::optional<Chunk>> first = stream->Next();
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(first->has_value());
  EXPECT_EQ((*first)->text, "first");

  std::thread canceller([&] { stream->Cancel(); });
  absl::StatusOr<std::optional<Chunk>> next = stream->Next();  // blocks until the cancel lands
  canceller.join();
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(stream->Finish().status().code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(server_saw_cancel.get());
}

TEST(ClientGenerate, DestroyingTheStreamCancelsTheCall) {
  FakeServer server;
  std::promise<bool> cancelled;
  std::future<bool> server_saw_cancel = cancelled.get_future();
  ScriptOneChunkThenWait(server, &cancelled);
  server.Start();
  Client client = Connect(server);

  std::unique_ptr<GenerationStream> stream = client.StartGenerate("Hi");
  ASSERT_TRUE(stream->Next().ok());
  stream.reset();
  EXPECT_TRUE(server_saw_cancel.get());
}

TEST(ClientGenerate, DeadlineExceeded) {
  FakeServer server;
  std::promise<bool> cancelled;
  std::future<bool> server_done = cancelled.get_future();
  ScriptOneChunkThenWait(server, &cancelled);
  server.Start();
  Client client = Connect(server);

  GenerateOptions options;
  options.timeout = std::chrono::milliseconds(300);
  absl::StatusOr<GenerationResult> result = client.Generate("Hi", options);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(server_done.get());  // the server's call ended with the deadline
}

TEST(ClientGenerate, ClientDefaultDeadlineAppliesToUnaryCalls) {
  FakeServer server;
  server.generation.get_info = [](grpc::ServerContext* context, const v1::GetInfoRequest&, v1::GetInfoResponse*) {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!context->IsCancelled() && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return grpc::Status::OK;
  };
  server.Start();
  ConnectionOptions options;
  options.timeout = std::chrono::milliseconds(300);
  absl::StatusOr<v1::GetInfoResponse> info = Connect(server, options).GetInfo();
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(ClientGenerate, BearerTokenTravelsAsMetadata) {
  FakeServer server;
  server.generation.list_models = [](grpc::ServerContext*, const v1::ListModelsRequest&,
                                     v1::ListModelsResponse* out) {
    out->add_models()->set_name("smollm2-135m");
    return grpc::Status::OK;
  };
  server.Start();
  ConnectionOptions options;
  options.bearer_token = "s3cret";
  absl::StatusOr<v1::ListModelsResponse> models = Connect(server, options).ListModels();
  ASSERT_TRUE(models.ok()) << models.status();
  EXPECT_EQ(models->models(0).name(), "smollm2-135m");
  EXPECT_EQ(server.log.LastAuthorization(), "Bearer s3cret");
}

TEST(ClientGenerate, AbortSendsTheRequestId) {
  FakeServer server;
  server.generation.abort = [](grpc::ServerContext*, const v1::AbortRequest& request, v1::AbortResponse* out) {
    out->set_found(request.request_id() == "req-1");
    return grpc::Status::OK;
  };
  server.Start();
  Client client = Connect(server);
  absl::StatusOr<bool> found = client.Abort("req-1");
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_TRUE(*found);
  absl::StatusOr<bool> missing = client.Abort("other");
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_FALSE(*missing);
}

TEST(ClientConnect, RejectsBadOptions) {
  EXPECT_EQ(Client::Connect({}).status().code(), absl::StatusCode::kInvalidArgument);
  ConnectionOptions options;
  options.address = "127.0.0.1:1";
  options.retry.max_attempts = 9;
  EXPECT_EQ(Client::Connect(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.retry.max_attempts = 2;
  options.tls = TlsOptions{.ca_file = "/nonexistent/ca.pem"};
  absl::StatusOr<Client> client = Client::Connect(options);
  EXPECT_EQ(client.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(client.status().message().find("/nonexistent/ca.pem"), std::string_view::npos);
}

}  // namespace
}  // namespace tandem
