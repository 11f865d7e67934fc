// An in-process gRPC server with the Generation, Reward and Retrieval
// services whose behaviour each test scripts (handlers as std::function), and
// per-method call counts, so the SDK's tests can produce any status, stream
// or protocol at will without models.
#pragma once

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/strings/str_cat.h"
#include "tandem/v1/generation.grpc.pb.h"
#include "tandem/v1/retrieval.grpc.pb.h"
#include "tandem/v1/reward.grpc.pb.h"

namespace tandem::sdk_test {

// Call counts by method name, and the metadata of the last call.
class CallLog {
 public:
  void Record(const std::string& method, const grpc::ServerContext* context) {
    std::lock_guard<std::mutex> lock(mu_);
    ++counts_[method];
    last_authorization_.clear();
    auto it = context->client_metadata().find("authorization");
    if (it != context->client_metadata().end()) last_authorization_.assign(it->second.data(), it->second.size());
  }
  int Count(const std::string& method) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = counts_.find(method);
    return it == counts_.end() ? 0 : it->second;
  }
  std::string LastAuthorization() const {
    std::lock_guard<std::mutex> lock(mu_);
    return last_authorization_;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, int> counts_;
  std::string last_authorization_;
};

using GenerateHandler = std::function<grpc::Status(grpc::ServerContext*, const v1::GenerateRequest&,
                                                   grpc::ServerWriter<v1::GenerateResponse>*)>;
template <typename Request, typename Response>
using UnaryHandler = std::function<grpc::Status(grpc::ServerContext*, const Request&, Response*)>;
using AddDocumentsHandler = std::function<grpc::Status(
    grpc::ServerContext*, grpc::ServerReaderWriter<v1::AddDocumentsResponse, v1::AddDocumentsRequest>*)>;

inline grpc::Status Unimplemented() { return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "not scripted"); }

class FakeGeneration final : public v1::Generation::Service {
 public:
  explicit FakeGeneration(CallLog* log) : log_(log) {}
  GenerateHandler generate;
  UnaryHandler<v1::GetInfoRequest, v1::GetInfoResponse> get_info;
  UnaryHandler<v1::ListModelsRequest, v1::ListModelsResponse> list_models;
  UnaryHandler<v1::AbortRequest, v1::AbortResponse> abort;

  grpc::Status Generate(grpc::ServerContext* c, const v1::GenerateRequest* r,
                        grpc::ServerWriter<v1::GenerateResponse>* w) override {
    log_->Record("Generate", c);
    return generate ? generate(c, *r, w) : Unimplemented();
  }
  grpc::Status GetInfo(grpc::ServerContext* c, const v1::GetInfoRequest* r, v1::GetInfoResponse* out) override {
    log_->Record("GetInfo", c);
    return get_info ? get_info(c, *r, out) : Unimplemented();
  }
  grpc::Status ListModels(grpc::ServerContext* c, const v1::ListModelsRequest* r,
                          v1::ListModelsResponse* out) override {
    log_->Record("ListModels", c);
    return list_models ? list_models(c, *r, out) : Unimplemented();
  }
  grpc::Status Abort(grpc::ServerContext* c, const v1::AbortRequest* r, v1::AbortResponse* out) override {
    log_->Record("Abort", c);
    return abort ? abort(c, *r, out) : Unimplemented();
  }

 private:
  CallLog* log_;
};

class FakeReward final : public v1::Reward::Service {
 public:
  explicit FakeReward(CallLog* log) : log_(log) {}
  UnaryHandler<v1::ScoreRequest, v1::ScoreResponse> score;
  UnaryHandler<v1::ScoreStepsRequest, v1::ScoreStepsResponse> score_steps;

  grpc::Status Score(grpc::ServerContext* c, const v1::ScoreRequest* r, v1::ScoreResponse* out) override {
    log_->Record("Score", c);
    return score ? score(c, *r, out) : Unimplemented();
  }
  grpc::Status ScoreSteps(grpc::ServerContext* c, const v1::ScoreStepsRequest* r,
                          v1::ScoreStepsResponse* out) override {
    log_->Record("ScoreSteps", c);
    return score_steps ? score_steps(c, *r, out) : Unimplemented();
  }

 private:
  CallLog* log_;
};

class FakeRetrieval final : public v1::Retrieval::Service {
 public:
  explicit FakeRetrieval(CallLog* log) : log_(log) {}
  UnaryHandler<v1::CreateCollectionRequest, v1::CollectionStats> create_collection;
  UnaryHandler<v1::SearchRequest, v1::SearchResponse> search;
  AddDocumentsHandler add_documents;

  grpc::Status CreateCollection(grpc::ServerContext* c, const v1::CreateCollectionRequest* r,
                                v1::CollectionStats* out) override {
    log_->Record("CreateCollection", c);
    return create_collection ? create_collection(c, *r, out) : Unimplemented();
  }
  grpc::Status Search(grpc::ServerContext* c, const v1::SearchRequest* r, v1::SearchResponse* out) override {
    log_->Record("Search", c);
    return search ? search(c, *r, out) : Unimplemented();
  }
  grpc::Status AddDocuments(
      grpc::ServerContext* c,
      grpc::ServerReaderWriter<v1::AddDocumentsResponse, v1::AddDocumentsRequest>* stream) override {
    log_->Record("AddDocuments", c);
    return add_documents ? add_documents(c, stream) : Unimplemented();
  }

 private:
  CallLog* log_;
};

// Script the handlers, then Start(); the server stops when destroyed.
class FakeServer {
 public:
  CallLog log;
  FakeGeneration generation{&log};
  FakeReward reward{&log};
  FakeRetrieval retrieval{&log};

  void Start(std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials()) {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", credentials, &port);
    builder.RegisterService(&generation);
    builder.RegisterService(&reward);
    builder.RegisterService(&retrieval);
    server_ = builder.BuildAndStart();
    address_ = absl::StrCat("127.0.0.1:", port);
  }
  ~FakeServer() {
    // A deadline of now cancels calls still running, so a handler waiting
    // for its client cannot hang the test.
    if (server_) server_->Shutdown(std::chrono::system_clock::now());
  }
  const std::string& address() const { return address_; }

 private:
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

}  // namespace tandem::sdk_test
