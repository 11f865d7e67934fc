// Retriever port over the tandem.v1.Retrieval service: one Search RPC per
// call (the inline context travels in the request; the service chunks and
// embeds it). Calls register in the port's CallScope, so aborting a request
// cancels a search in flight.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/security/credentials.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "decoding/ports/retriever.h"
#include "services/orchestrator/remote/call_scope.h"
#include "tandem/v1/retrieval.grpc.pb.h"
#include "services/orchestrator/decoding_names.h"

namespace tandem::orchestrator {

struct RemoteRetrieverOptions {
  // Embedding a long inline context on a CPU takes seconds: allow for it.
  absl::Duration search_timeout = absl::Seconds(120);
  std::shared_ptr<CallScope> scope;  // null = not cancellable beyond the deadline
};

class RemoteRetriever : public Retriever {
 public:
  RemoteRetriever(std::shared_ptr<tandem::v1::Retrieval::StubInterface> stub, RemoteRetrieverOptions options = {})
      : stub_(std::move(stub)), options_(std::move(options)) {}
  // Waits (up to connect_timeout) for the service to answer a
  // ListCollections call; UNAVAILABLE otherwise. `credentials`: see
  // RemoteOptions::credentials (null = plaintext).
  static absl::StatusOr<std::unique_ptr<RemoteRetriever>> Connect(
      const std::string& address, absl::Duration connect_timeout = absl::Seconds(120),
      std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr);

  absl::StatusOr<RetrievalResult> SearchText(std::string_view context, const RetrievalQuery& query,
                                             const ChunkingOptions& chunking) override;
  absl::StatusOr<RetrievalResult> SearchCollection(std::string_view collection, const RetrievalQuery& query) override;

  std::unique_ptr<RemoteRetriever> WithScope(std::shared_ptr<CallScope> scope) const;

 private:
  absl::StatusOr<RetrievalResult> Call(const tandem::v1::SearchRequest& req);
  std::shared_ptr<tandem::v1::Retrieval::StubInterface> stub_;
  RemoteRetrieverOptions options_;
};

}  // namespace tandem::orchestrator
