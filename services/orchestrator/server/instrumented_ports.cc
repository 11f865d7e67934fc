#include "services/orchestrator/server/instrumented_ports.h"
#include "services/orchestrator/decoding_names.h"

#include <chrono>

namespace tandem::orchestrator::server {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

class TimedDraftSession : public DraftSession {
 public:
  TimedDraftSession(std::unique_ptr<DraftSession> inner, std::string drafter, services::ServiceMetrics& m)
      : inner_(std::move(inner)), drafter_(std::move(drafter)), metrics_(m) {}
  absl::Status Propose(const DraftDelta& delta, int gamma, DraftProposal* out) override {
    const auto t0 = std::chrono::steady_clock::now();
    absl::Status s = inner_->Propose(delta, gamma, out);
    metrics_.ObserveDraftRpcLatency(drafter_, SecondsSince(t0));
    return s;
  }
  int64_t committed_length() const override { return inner_->committed_length(); }
  bool prefill_pending() const override { return inner_->prefill_pending(); }
  absl::Status Close() override { return inner_->Close(); }

 private:
  std::unique_ptr<DraftSession> inner_;
  std::string drafter_;
  services::ServiceMetrics& metrics_;
};

class TimedVerifySession : public VerifySession {
 public:
  TimedVerifySession(std::unique_ptr<VerifySession> inner, services::ServiceMetrics& m)
      : inner_(std::move(inner)), metrics_(m) {}
  absl::Status Verify(std::span<const int32_t> draft, std::span<const runtime::Distribution> q,
                      VerifyResult* out) override {
    const auto t0 = std::chrono::steady_clock::now();
    absl::Status s = inner_->Verify(draft, q, out);
    metrics_.ObserveTargetVerifyLatency(SecondsSince(t0));
    return s;
  }
  int64_t committed_length() const override { return inner_->committed_length(); }
  // The target's load as its answers report it: the gamma controller's
  // signal (without it every served request saw 0 and fell back to the
  // pass's batch size, which misses the sessions drafting meanwhile).
  int active_sessions() const override { return inner_->active_sessions(); }
  absl::Status Close() override { return inner_->Close(); }
  absl::Status Append(std::span<const int32_t> tokens, int top_k, NextTokenInfo* next) override {
    const auto t0 = std::chrono::steady_clock::now();
    absl::Status s = inner_->Append(tokens, top_k, next);
    metrics_.ObserveTargetVerifyLatency(SecondsSince(t0));
    return s;
  }
  absl::Status AppendScoredWithAlternatives(std::span<const int32_t> tokens, int top_n, std::vector<float>* log_probs,
                                            std::vector<std::vector<runtime::TokenLogprob>>* top) override {
    const auto t0 = std::chrono::steady_clock::now();
    absl::Status s = inner_->AppendScoredWithAlternatives(tokens, top_n, log_probs, top);
    metrics_.ObserveTargetVerifyLatency(SecondsSince(t0));
    return s;
  }
  absl::Status Truncate(int64_t length) override { return inner_->Truncate(length); }
  absl::StatusOr<std::unique_ptr<VerifySession>> Fork(uint64_t seed) override {
    auto fork = inner_->Fork(seed);
    if (!fork.ok()) return fork.status();
    return std::unique_ptr<VerifySession>(new TimedVerifySession(std::move(*fork), metrics_));
  }

 private:
  std::unique_ptr<VerifySession> inner_;
  services::ServiceMetrics& metrics_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<DraftSession>> InstrumentedDrafter::Open(std::span<const int32_t> prompt,
                                                                         const runtime::SamplingParams& params,
                                                                         const DraftOptions& options) {
  auto s = inner_.Open(prompt, params, options);
  if (!s.ok()) return s.status();
  return std::make_unique<TimedDraftSession>(std::move(*s), std::string(inner_.name()), metrics_);
}

absl::StatusOr<std::unique_ptr<VerifySession>> InstrumentedVerifier::Open(std::span<const int32_t> prompt,
                                                                          const runtime::SamplingParams& params,
                                                                          const VerifyOptions& options) {
  auto s = inner_.Open(prompt, params, options);
  if (!s.ok()) return s.status();
  return std::make_unique<TimedVerifySession>(std::move(*s), metrics_);
}

}  // namespace tandem::orchestrator::server
