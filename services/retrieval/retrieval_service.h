// tandem.v1.Retrieval over a RetrievalEngine: request validation (every
// INVALID_ARGUMENT names its field), the AddDocuments stream protocol
// (progress per request message, one commit after the client half-closes,
// nothing committed when the stream fails or is cancelled) and metrics.
#pragma once

#include <grpcpp/grpcpp.h>

#include "services/retrieval/retrieval_engine.h"
#include "services/retrieval/retrieval_metrics.h"
#include "tandem/v1/retrieval.grpc.pb.h"

namespace tandem::retrieval {

// Largest document accepted (all parts joined).
inline constexpr size_t kMaxDocumentBytes = size_t{256} << 20;

class RetrievalService final : public tandem::v1::Retrieval::Service {
 public:
  // `metrics` may be null.
  RetrievalService(RetrievalEngine& engine, RetrievalMetrics* metrics) : engine_(engine), metrics_(metrics) {}

  grpc::Status CreateCollection(grpc::ServerContext* ctx, const tandem::v1::CreateCollectionRequest* req,
                                tandem::v1::CollectionStats* resp) override;
  grpc::Status DeleteCollection(grpc::ServerContext* ctx, const tandem::v1::DeleteCollectionRequest* req,
                                tandem::v1::DeleteCollectionResponse* resp) override;
  grpc::Status AddDocuments(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<tandem::v1::AddDocumentsResponse, tandem::v1::AddDocumentsRequest>* stream) override;
  grpc::Status Search(grpc::ServerContext* ctx, const tandem::v1::SearchRequest* req,
                      tandem::v1::SearchResponse* resp) override;
  grpc::Status GetCollectionStats(grpc::ServerContext* ctx, const tandem::v1::GetCollectionStatsRequest* req,
                                  tandem::v1::CollectionStats* resp) override;
  grpc::Status ListCollections(grpc::ServerContext* ctx, const tandem::v1::ListCollectionsRequest* req,
                               tandem::v1::ListCollectionsResponse* resp) override;

 private:
  grpc::Status Finish(std::string_view method, const absl::Status& status);
  absl::Status DoAddDocuments(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<tandem::v1::AddDocumentsResponse, tandem::v1::AddDocumentsRequest>* stream);
  absl::Status DoSearch(const tandem::v1::SearchRequest& req, tandem::v1::SearchResponse* resp);

  RetrievalEngine& engine_;
  RetrievalMetrics* metrics_;
};

void InfoToProto(const CollectionInfo& info, tandem::v1::CollectionStats* out);

}  // namespace tandem::retrieval
