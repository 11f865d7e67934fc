// Verifier port over the tandem.v1.Target service: one Verify = one RPC with
// the drafted tokens (and their q when sampling); the acceptance math runs on
// the target, next to p. Sessions are closed on Close() or destruction.
// VerifyOptions::return_logprobs rides on each VerifyRequest (k + 1 floats
// back, never p's rows).
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "decoding/ports/verifier.h"
#include "services/orchestrator/remote/remote_options.h"
#include "tandem/v1/target.grpc.pb.h"
#include "services/orchestrator/decoding_names.h"

namespace tandem::orchestrator {

class RemoteVerifier : public Verifier {
 public:
  RemoteVerifier(std::shared_ptr<tandem::v1::Target::StubInterface> stub, tandem::v1::ModelInfo info,
                 RemoteOptions options = {});
  static absl::StatusOr<std::unique_ptr<RemoteVerifier>> Connect(const std::string& address,
                                                                RemoteOptions options = {});

  absl::StatusOr<std::unique_ptr<VerifySession>> Open(std::span<const int32_t> prompt,
                                                      const runtime::SamplingParams& params,
                                                      const VerifyOptions& options) override;

  const tandem::v1::ModelInfo& info() const { return info_; }
  std::unique_ptr<RemoteVerifier> WithScope(std::shared_ptr<CallScope> scope) const;

 private:
  std::shared_ptr<tandem::v1::Target::StubInterface> stub_;
  tandem::v1::ModelInfo info_;
  RemoteOptions options_;
};

}  // namespace tandem::orchestrator
