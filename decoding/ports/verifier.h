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
#include "absl/strings/str_cat.h"
#include "runtime/sampling/distribution.h"
#include "runtime/sampling/logprobs.h"
#include "runtime/sampling/sampling_params.h"
#include "decoding/spec/knowledge_transfer.h"

namespace tandem::decoding {

struct VerifyResult {
  int accepted = 0;              // k in [0, n]
  int32_t next_token = -1;       // correction or bonus token
  int64_t committed_length = 0;  // |S| after the call, prompt included
  // Sessions in the target's forward pass that served the call (1 = alone),
  // as a batching target reports it; 0 = not reported. The gamma controller
  // reads it as the target's load (spec/gamma_controller.h).
  int batch_size = 0;
  // Only when the session was opened with return_logprobs: the natural-log
  // probability of each emitted token, the k accepted ones then next_token
  // (k + 1 entries), under the target's own distribution (raw logits at
  // temperature 1, runtime/sampling/logprobs.h), and with top_logprobs > 0
  // that many most likely tokens at each of those positions. What a server
  // needs for logprobs; the logit rows themselves never leave the verifier
  // (k + 1 vocabulary rows per call, 600 KB each for Qwen, and across
  // services they would cross the wire).
  std::vector<float> logprobs;
  std::vector<std::vector<runtime::TokenLogprob>> top_logprobs;
};

struct VerifyOptions {
  bool return_logprobs = false;
  int top_logprobs = 0;  // [0, runtime::kMaxTopLogprobs]; needs return_logprobs
  // RAPID's knowledge transfer (spec/knowledge_transfer.h): accept against
  // p^ leaning toward q instead of p. eta = 0 (the default) is lossless
  // speculative sampling. Returned logprobs stay those of the model.
  spec::KnowledgeTransfer knowledge_transfer;
};

// What the target would do next at the end of S, without committing anything
// (CARDS: entropy for segmentation and top-k for sampling; ARGS: top-k logits).
struct NextTokenInfo {
  float entropy = 0;                 // nats, softmax of the raw logits (T = 1), full vocabulary
  std::vector<int32_t> top_tokens;   // the top_k ids by raw logit, best first
  std::vector<float> top_logits;     // their raw logits (before temperature)
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
  // Sessions open on the target (this one included) as its last answer (the
  // Open, then each Verify) reported them; 0 = not reported (in process).
  // Unlike VerifyResult.batch_size it counts the sessions that are drafting
  // while a pass runs: the load the gamma controller uses when present.
  virtual int active_sessions() const { return 0; }

  // Teacher forcing: S := S + tokens without sampling (text another model
  // wrote, a candidate the strategy chose). With `next` non-null, also
  // reports the next-token info after the new S for its top_k (>= 1) ids.
  // tokens may be empty (only report). One target forward at most.
  virtual absl::Status Append(std::span<const int32_t> tokens, int top_k, NextTokenInfo* next) {
    return absl::UnimplementedError("this verifier does not support Append");
  }
  // Teacher forcing that reports how likely the target finds the tokens:
  // S := S + tokens and log_probs[i] = log p(tokens[i] | S_old + tokens[0..i-1])
  // under the target's raw logits at temperature 1 over the full vocabulary
  // (the session's sampling settings do not apply). Parallel target forwards
  // over the tokens; the KV of S_old is reused. On error S is unchanged. The
  // target-likelihood process reward is built on it
  // (strategies/reward_guided/target_likelihood.h).
  absl::Status AppendScored(std::span<const int32_t> tokens, std::vector<float>* log_probs) {
    return AppendScoredWithAlternatives(tokens, 0, log_probs, nullptr);
  }
  // The same, and with top_n > 0 (at most runtime::kMaxTopLogprobs; `top`
  // then non-null) the top_n most likely tokens at each scored position,
  // best first, equal logits by lower id: (*top)[i] for tokens[i]. What a
  // prompt's logprobs need (OpenAI completions' echo).
  virtual absl::Status AppendScoredWithAlternatives(std::span<const int32_t> tokens, int top_n,
                                                    std::vector<float>* log_probs,
                                                    std::vector<std::vector<runtime::TokenLogprob>>* top) {
    return absl::UnimplementedError("this verifier does not support AppendScored");
  }
  // Rollback: keeps the first `length` tokens of S (1 <= length <= |S|);
  // the KV cache is cropped, never recomputed beyond the last kept token.
  virtual absl::Status Truncate(int64_t length) {
    return absl::UnimplementedError("this verifier does not support Truncate");
  }
  // A new session whose S equals this one's, sharing its KV cache
  // (copy-on-write) and sampling with its own RNG stream from `seed`.
  virtual absl::StatusOr<std::unique_ptr<VerifySession>> Fork(uint64_t seed) {
    return absl::UnimplementedError("this verifier does not support Fork");
  }
};

// The argument check of AppendScoredWithAlternatives, for its
// implementations: top_n in [0, runtime::kMaxTopLogprobs], an output for
// the alternatives when top_n > 0.
inline absl::Status CheckAlternativesRequest(int top_n, bool has_output) {
  if (top_n < 0 || top_n > runtime::kMaxTopLogprobs) {
    return absl::InvalidArgumentError(absl::StrCat("verifier: AppendScored top_n ", top_n, " outside [0, ",
                                                   runtime::kMaxTopLogprobs, "]"));
  }
  if (top_n > 0 && !has_output) {
    return absl::InvalidArgumentError("verifier: AppendScored alternatives need an output");
  }
  return absl::OkStatus();
}

class Verifier {
 public:
  virtual ~Verifier() = default;
  virtual absl::StatusOr<std::unique_ptr<VerifySession>> Open(
      std::span<const int32_t> prompt, const runtime::SamplingParams& params,
      const VerifyOptions& options) = 0;
};

}  // namespace tandem::decoding
