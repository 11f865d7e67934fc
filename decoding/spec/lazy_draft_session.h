// A draft session opened on its first drafting Propose instead of with the
// request. With adaptive gamma under load, the controller can run a whole
// request at gamma 0 (plain target steps); opening the drafter's session
// anyway cost a prefill of the prompt on the draft model for every request,
// on the processors the target's batched pass needed (16 streams of 48
// tokens on 2 cores: about a sixth of the target's time,
// docs/benchmarks.md "Load-adaptive speculation"). Deferred, the prefill
// happens only if the request ever drafts, and then over the prompt plus
// every token committed so far, in one call.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "decoding/ports/drafter.h"

namespace tandem::decoding::spec {

class LazyDraftSession : public DraftSession {
 public:
  // `drafter` must outlive the session; the prompt is copied.
  LazyDraftSession(Drafter& drafter, std::span<const int32_t> prompt, const runtime::SamplingParams& params,
                   const DraftOptions& options);
  ~LazyDraftSession() override;

  // Before the drafter's session exists, a delta only extends the pending
  // sequence (the prompt, then each delta's next_token and append; there is
  // no proposal to accept from, so accepted must be 0 and truncate_to
  // unset). The first Propose with gamma > 0 opens the session on that
  // sequence, then drafts. An Open failure is that Propose's failure
  // (UNAVAILABLE stays a peer loss, spec/peer_loss.h) and applies nothing
  // of the delta, so the same Propose may be tried again.
  absl::Status Propose(const DraftDelta& delta, int gamma, DraftProposal* out) override;
  int64_t committed_length() const override;
  // Closes the drafter's session if one was opened; OK otherwise.
  absl::Status Close() override;
  // True until the drafter's session is open: the next drafting Propose
  // also prefills everything committed so far.
  bool prefill_pending() const override { return session_ == nullptr; }

 private:
  Drafter& drafter_;
  std::vector<int32_t> pending_;  // the sequence the session will be opened on
  runtime::SamplingParams params_;
  DraftOptions options_;
  std::unique_ptr<DraftSession> session_;
  bool closed_ = false;
};

}  // namespace tandem::decoding::spec
