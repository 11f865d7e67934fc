// tandem::Client: the C++ client of a tandem deployment (docs/sdk-cpp.md).
//
//   absl::StatusOr<tandem::Client> client = tandem::Client::Connect({.address = "127.0.0.1:50051"});
//   tandem::GenerateOptions options;
//   options.Use(tandem::strategy::Speculative{.gamma = 5});
//   auto stream = client->StartGenerate("Why is the sky blue?", options);
//   for (const tandem::Chunk& chunk : *stream) std::cout << chunk.text;
//   absl::StatusOr<tandem::GenerationResult> result = stream->Finish();
//
// Every call returns absl::Status / StatusOr: the gRPC status code mapped
// one to one onto absl::StatusCode and the server's message unchanged
// (tandem's messages name the offending field). A Client is cheap to copy;
// copies share the channels (one per distinct address) and may be used from
// any number of threads at once.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tandem/sdk/connection.h"
#include "tandem/sdk/generation.h"
#include "tandem/sdk/generation_stream.h"
#include "tandem/sdk/retrieval.h"
#include "tandem/sdk/reward.h"
#include "tandem/sdk/strategy_options.h"
#include "tandem/v1/generation.pb.h"
#include "tandem/v1/retrieval.pb.h"
#include "tandem/v1/reward.pb.h"

namespace tandem {

class Client {
 public:
  // Builds the channels (no network traffic yet: the first call connects).
  // INVALID_ARGUMENT for an empty address or a bad retry policy, NOT_FOUND
  // for an unreadable TLS file.
  static absl::StatusOr<Client> Connect(ConnectionOptions options);

  // ---- generation (tandem.v1.Generation) ----

  // Starts a streaming generation. Errors (including a rejected request)
  // come from the stream's Next()/Finish().
  std::unique_ptr<GenerationStream> StartGenerate(const Prompt& prompt, const GenerateOptions& options = {}) const;
  // Streams to `on_chunk` (called on this thread) and returns the result.
  absl::StatusOr<GenerationResult> Generate(const Prompt& prompt, const GenerateOptions& options,
                                            const std::function<void(const Chunk&)>& on_chunk) const;
  // Waits for the whole result.
  absl::StatusOr<GenerationResult> Generate(const Prompt& prompt, const GenerateOptions& options = {}) const;
  // Aborts a running request by id (its stream then ends with
  // FINISH_REASON_ABORTED); true if the server found it.
  absl::StatusOr<bool> Abort(std::string_view request_id, const CallOptions& call = {}) const;
  // Server version, strategies with their parameters, defaults.
  absl::StatusOr<v1::GetInfoResponse> GetInfo(const CallOptions& call = {}) const;
  absl::StatusOr<v1::ListModelsResponse> ListModels(const CallOptions& call = {}) const;

  // ---- rewards (tandem.v1.Reward, at ConnectionOptions::reward_address) ----

  absl::StatusOr<ScoreResult> Score(const std::vector<RewardItem>& items, const RewardSpec& spec = {},
                                    const CallOptions& call = {}) const;
  // Process reward: scores[i] rates steps[i] given the prompt and the steps before it.
  absl::StatusOr<ScoreResult> ScoreSteps(std::string_view prompt, const std::vector<std::string>& steps,
                                         const RewardSpec& spec = {}, const CallOptions& call = {}) const;
  absl::StatusOr<v1::ListBackendsResponse> ListRewardBackends(const CallOptions& call = {}) const;

  // ---- retrieval collections (tandem.v1.Retrieval, at retrieval_address) ----

  // chunk_tokens: chunk length in target tokens, 0 = the server's default.
  absl::StatusOr<v1::CollectionStats> CreateCollection(std::string_view name, int32_t chunk_tokens = 0,
                                                       const CallOptions& call = {}) const;
  absl::Status DeleteCollection(std::string_view name, const CallOptions& call = {}) const;
  // Streams `documents` into the collection and commits them atomically: all
  // or nothing. `on_progress` (may be null) runs on this thread after every
  // acknowledged message; the last report has committed = true. Returns the
  // collection after the commit.
  absl::StatusOr<v1::CollectionStats> AddDocuments(std::string_view collection, const std::vector<Document>& documents,
                                                   const std::function<void(const IngestProgress&)>& on_progress = {},
                                                   const CallOptions& call = {}) const;
  absl::StatusOr<v1::SearchResponse> Search(const SearchQuery& query, const CallOptions& call = {}) const;
  absl::StatusOr<v1::CollectionStats> GetCollectionStats(std::string_view name, const CallOptions& call = {}) const;
  absl::StatusOr<std::vector<v1::CollectionStats>> ListCollections(const CallOptions& call = {}) const;

 private:
  struct Connection;
  explicit Client(std::shared_ptr<const Connection> connection) : connection_(std::move(connection)) {}
  std::shared_ptr<const Connection> connection_;
};

}  // namespace tandem
