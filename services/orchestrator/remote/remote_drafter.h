// Drafter port over the tandem.v1.Draft service: one Propose = one RPC that
// carries only the delta of the previous round. Sessions are closed on
// Close() or destruction; calls honour RemoteOptions' deadlines and scope.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "decoding/ports/drafter.h"
#include "services/orchestrator/remote/remote_options.h"
#include "tandem/v1/draft.grpc.pb.h"
#include "services/orchestrator/decoding_names.h"

namespace tandem::orchestrator {

class RemoteDrafter : public Drafter {
 public:
  // `info` is the draft's GetModelInfo answer (vocab_size decodes q rows).
  RemoteDrafter(std::shared_ptr<tandem::v1::Draft::StubInterface> stub, tandem::v1::ModelInfo info,
                RemoteOptions options = {});
  // Opens a channel to `address` (host:port) and asks for the model info
  // (UNAVAILABLE / DEADLINE_EXCEEDED if nobody answers within open_timeout).
  static absl::StatusOr<std::unique_ptr<RemoteDrafter>> Connect(const std::string& address,
                                                               RemoteOptions options = {});

  // The remote draft is a model drafter.
  std::string_view name() const override { return "model"; }
  absl::StatusOr<std::unique_ptr<DraftSession>> Open(std::span<const int32_t> prompt,
                                                     const runtime::SamplingParams& params,
                                                     const DraftOptions& options) override;

  const tandem::v1::ModelInfo& info() const { return info_; }
  // Same channel, another scope: one cheap RemoteDrafter per request.
  std::unique_ptr<RemoteDrafter> WithScope(std::shared_ptr<CallScope> scope) const;

 private:
  std::shared_ptr<tandem::v1::Draft::StubInterface> stub_;
  tandem::v1::ModelInfo info_;
  RemoteOptions options_;
};

}  // namespace tandem::orchestrator
