// tandem.v1.Target over a LanguageModel: session-based verification with the
// acceptance math co-located (ModelVerifier + spec/acceptance.h), so p never
// leaves this process.
//
// Give it a batching::BatchingLanguageModel and concurrent Verify/Step calls
// of different sessions share one forward pass (VerifyResponse.batch_size
// reports how many sessions did); any other LanguageModel works too (tests
// use synthetic ones).
//
// Every request field is validated before it reaches the model; errors are
// INVALID_ARGUMENT naming the field, NOT_FOUND for unknown/expired sessions,
// FAILED_PRECONDITION for overlapping calls on one session.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>

#include <grpcpp/grpcpp.h>

#include "services/common/metrics.h"
#include "services/common/session_registry.h"
#include "decoding/local/language_model.h"
#include "decoding/ports/verifier.h"
#include "decoding/spec/acceptance.h"
#include "tandem/v1/target.grpc.pb.h"

namespace tandem::services {

struct TargetServiceOptions {
  // Served by GetModelInfo; vocab_size and context_length bound the
  // validation (required, > 0). role is forced to "target".
  tandem::v1::ModelInfo info;
  // Step stops after such a token unless ignore_eos (optional).
  std::function<bool(int32_t)> is_end_of_generation;
  // Idle timeout, reaper interval, session limit.
  SessionRegistryOptions sessions;
  // The lossless rule for temperature > 0 (tests may inject another).
  decoding::spec::AcceptFn accept = decoding::spec::SpeculativeAccept;
};

class TargetService final : public tandem::v1::Target::Service {
 public:
  // `lm` and `metrics` (optional) must outlive the service. `kv_bytes`
  // (optional) reports the KV memory in use for the gauge.
  TargetService(decoding::LanguageModel& lm, TargetServiceOptions options,
                ServiceMetrics* metrics = nullptr, std::function<int64_t()> kv_bytes = nullptr);
  ~TargetService() override;

  grpc::Status OpenSession(grpc::ServerContext* ctx, const tandem::v1::TargetOpenSessionRequest* req,
                           tandem::v1::TargetOpenSessionResponse* resp) override;
  grpc::Status Verify(grpc::ServerContext* ctx, const tandem::v1::VerifyRequest* req,
                      tandem::v1::VerifyResponse* resp) override;
  grpc::Status Step(grpc::ServerContext* ctx, const tandem::v1::StepRequest* req,
                    tandem::v1::StepResponse* resp) override;
  grpc::Status CloseSession(grpc::ServerContext* ctx, const tandem::v1::CloseSessionRequest* req,
                            tandem::v1::CloseSessionResponse* resp) override;
  grpc::Status GetModelInfo(grpc::ServerContext* ctx, const tandem::v1::GetModelInfoRequest* req,
                            tandem::v1::ModelInfo* resp) override;
  grpc::Status Append(grpc::ServerContext* ctx, const tandem::v1::AppendRequest* req,
                      tandem::v1::AppendResponse* resp) override;
  grpc::Status Truncate(grpc::ServerContext* ctx, const tandem::v1::TruncateRequest* req,
                        tandem::v1::TruncateResponse* resp) override;
  grpc::Status Fork(grpc::ServerContext* ctx, const tandem::v1::ForkRequest* req,
                    tandem::v1::ForkResponse* resp) override;

  size_t active_sessions() const { return sessions_->size(); }
  // Closes idle sessions now (the reaper does it periodically).
  size_t ReapExpired() { return sessions_->ReapExpired(); }

  struct Session;  // defined in the .cc

 private:
  absl::Status DoOpen(const tandem::v1::TargetOpenSessionRequest& req,
                      tandem::v1::TargetOpenSessionResponse* resp);
  absl::Status DoVerify(const tandem::v1::VerifyRequest& req, tandem::v1::VerifyResponse* resp);
  absl::Status DoStep(const tandem::v1::StepRequest& req, tandem::v1::StepResponse* resp);
  absl::Status DoAppend(const tandem::v1::AppendRequest& req, tandem::v1::AppendResponse* resp);
  absl::Status DoTruncate(const tandem::v1::TruncateRequest& req, tandem::v1::TruncateResponse* resp);
  absl::Status DoFork(const tandem::v1::ForkRequest& req, tandem::v1::ForkResponse* resp);
  void UpdateGauges();

  decoding::LanguageModel& lm_;
  const TargetServiceOptions options_;
  ServiceMetrics* const metrics_;
  // tandem:target_batch_size: sessions in the forward pass that served each
  // Verify/Step (how much continuous batching is happening). Null without
  // metrics.
  prometheus::Histogram* batch_size_ = nullptr;
  const std::function<int64_t()> kv_bytes_;
  // Last member: destroyed first, stopping the reaper before the rest goes.
  std::unique_ptr<SessionRegistry<Session>> sessions_;
};

}  // namespace tandem::services
