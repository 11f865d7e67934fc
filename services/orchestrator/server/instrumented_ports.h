// Decorators that time every drafter and verifier call into the service's
// latency histograms (tandem:draft_rpc_latency_seconds{drafter},
// tandem:target_verify_latency_seconds) without the strategies knowing.
// Every virtual of the session ports is forwarded, the ones with defaults
// included (active_sessions, prefill_pending, Append, Truncate, Fork, ...):
// a default here would silently replace the wrapped session's answer.
#pragma once

#include <memory>
#include <string>

#include "services/common/metrics.h"
#include "decoding/ports/drafter.h"
#include "decoding/ports/verifier.h"
#include "services/orchestrator/decoding_names.h"

namespace tandem::orchestrator::server {

class InstrumentedDrafter : public Drafter {
 public:
  InstrumentedDrafter(Drafter& inner, services::ServiceMetrics& metrics) : inner_(inner), metrics_(metrics) {}
  std::string_view name() const override { return inner_.name(); }
  absl::StatusOr<std::unique_ptr<DraftSession>> Open(std::span<const int32_t> prompt,
                                                     const runtime::SamplingParams& params,
                                                     const DraftOptions& options) override;

 private:
  Drafter& inner_;
  services::ServiceMetrics& metrics_;
};

class InstrumentedVerifier : public Verifier {
 public:
  InstrumentedVerifier(Verifier& inner, services::ServiceMetrics& metrics) : inner_(inner), metrics_(metrics) {}
  absl::StatusOr<std::unique_ptr<VerifySession>> Open(std::span<const int32_t> prompt,
                                                      const runtime::SamplingParams& params,
                                                      const VerifyOptions& options) override;

 private:
  Verifier& inner_;
  services::ServiceMetrics& metrics_;
};

}  // namespace tandem::orchestrator::server
