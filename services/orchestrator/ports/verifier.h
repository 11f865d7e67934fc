// Verifier port: the target side of speculative decoding. Session based like
// the drafter: the prompt is prefilled at Open, each Verify sends only the
// drafted tokens (and their q) and gets back the verdict. The accept/reject
// math runs where p lives (spec/acceptance.h, shared by the in-process
// verifier and the target service), so p never crosses the network.
//
// Sequence bookkeeping: S starts as the prompt. Verify(d_1..d_n, q_1..q_n)
// computes p_1..p_{n+1} after S + d_1..d_{i-1}, accepts a prefix d_1..d_k
// (lossless rejection sampling, or exact argmax match when the session is
// greedy), picks next_token (residual sample at the first rejection or the
// bonus token from p_{n+1}) and sets S := S + d_1..d_k + [next_token]; the
// target's KV cache is rolled back to match. n = 0 is one target-only step.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/sampling/distribution.h"
#include "runtime/sampling/sampling_params.h"

namespace tandem::orchestrator {

struct VerifyResult {
  int accepted = 0;              // k in [0, n]
  int32_t next_token = -1;       // correction or bonus token
  int64_t committed_length = 0;  // |S| after the call, prompt included
  // Only when the session was opened with return_distributions: the target's
  // processed p for each emitted position (k + 1 entries).
  std::vector<runtime::Distribution> p;
};

struct VerifyOptions {
  bool return_distributions = false;
};

// One request drives a session; sessions are not thread-safe, different
// sessions may run concurrently.
class VerifySession {
 public:
  // Destroying a session closes it (best effort) if Close() was not called.
  virtual ~VerifySession() = default;
  // `q` must have one entry per drafted token unless the session is greedy
  // (temperature 0), where it may be empty. On error the session is
  // unchanged; OutOfRange / ResourceExhausted mean the context window / KV
  // budget cannot take the drafted tokens (a shorter call may still fit).
  virtual absl::Status Verify(std::span<const int32_t> draft,
                              std::span<const runtime::Distribution> q, VerifyResult* out) = 0;
  virtual int64_t committed_length() const = 0;
  virtual absl::Status Close() = 0;
};

class Verifier {
 public:
  virtual ~Verifier() = default;
  virtual absl::StatusOr<std::unique_ptr<VerifySession>> Open(
      std::span<const int32_t> prompt, const runtime::SamplingParams& params,
      const VerifyOptions& options) = 0;
};

}  // namespace tandem::orchestrator
