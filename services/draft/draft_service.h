// tandem.v1.Draft over a Drafter port: a ModelDrafter over a
// batching::BatchingLanguageModel (a draft model; concurrent sessions share
// forward passes) or the n-gram drafter (no model, no KV).
//
// Sessions exchange deltas only: Propose carries how many of the previous
// proposal the target accepted and the token it appended; the drafter rolls
// its KV back and drafts on. q distributions go out in the exact compact
// form (sparse support when truncated, dense otherwise).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>

#include <grpcpp/grpcpp.h>

#include "services/common/metrics.h"
#include "services/common/session_registry.h"
#include "decoding/ports/drafter.h"
#include "tandem/v1/draft.grpc.pb.h"

namespace tandem::services {

struct DraftServiceOptions {
  // Served by GetModelInfo; vocab_size and context_length bound the
  // validation (required, > 0). role is forced to "draft".
  tandem::v1::ModelInfo info;
  SessionRegistryOptions sessions;
};

class DraftService final : public tandem::v1::Draft::Service {
 public:
  // `drafter` and `metrics` (optional) must outlive the service. `kv_bytes`
  // (optional) reports the KV memory in use for the gauge.
  DraftService(decoding::Drafter& drafter, DraftServiceOptions options,
               ServiceMetrics* metrics = nullptr, std::function<int64_t()> kv_bytes = nullptr);
  ~DraftService() override;

  grpc::Status OpenSession(grpc::ServerContext* ctx, const tandem::v1::DraftOpenSessionRequest* req,
                           tandem::v1::DraftOpenSessionResponse* resp) override;
  grpc::Status Propose(grpc::ServerContext* ctx, const tandem::v1::ProposeRequest* req,
                       tandem::v1::ProposeResponse* resp) override;
  grpc::Status CloseSession(grpc::ServerContext* ctx, const tandem::v1::CloseSessionRequest* req,
                            tandem::v1::CloseSessionResponse* resp) override;
  grpc::Status GetModelInfo(grpc::ServerContext* ctx, const tandem::v1::GetModelInfoRequest* req,
                            tandem::v1::ModelInfo* resp) override;

  size_t active_sessions() const { return sessions_->size(); }
  size_t ReapExpired() { return sessions_->ReapExpired(); }

  struct Session;  // defined in the .cc

 private:
  absl::Status DoOpen(const tandem::v1::DraftOpenSessionRequest& req, tandem::v1::DraftOpenSessionResponse* resp);
  absl::Status DoPropose(const tandem::v1::ProposeRequest& req, tandem::v1::ProposeResponse* resp);
  void UpdateGauges();

  decoding::Drafter& drafter_;
  const DraftServiceOptions options_;
  ServiceMetrics* const metrics_;
  const std::function<int64_t()> kv_bytes_;
  std::unique_ptr<SessionRegistry<Session>> sessions_;  // destroyed first
};

}  // namespace tandem::services
