// Drafter port: proposes tokens for the target to verify. Session based: the
// prompt is sent once at Open (prefill); every later call carries only the
// delta of the previous round, never the prefix. One Propose = one round trip
// for a remote drafter (it maps 1:1 onto tandem.v1.Draft/Propose).
//
// Sequence bookkeeping: the session's committed sequence S starts as the
// prompt. Propose(delta, gamma) first sets
//   S := S[0 : delta.truncate_to]                              (only if set)
//   S := S + last_proposal[0 : delta.accepted] + [delta.next_token] + delta.append
// (next_token only if set), then drafts up to gamma tokens after S.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/sampling/distribution.h"
#include "runtime/sampling/sampling_params.h"

namespace tandem::decoding {

// Outcome of the previous round, as reported by the verifier.
struct DraftDelta {
  int accepted = 0;                    // how many of the last proposal were kept
  std::optional<int32_t> next_token;   // correction or bonus token; unset on the first call
  // Appended after next_token: text the draft did not write (RSD: a step the
  // target generated after the draft's step was rejected).
  std::vector<int32_t> append;
  // Applied before everything else: keep only the first truncate_to tokens
  // of S (1 <= truncate_to <= |S|); the last proposal is dropped, so accepted
  // must be 0. RSD: a rejected draft step whose tokens were committed by the
  // Propose calls that drafted it in chunks.
  std::optional<int64_t> truncate_to;
};

// Checks delta.truncate_to against |S| = committed (shared by the drafters).
inline absl::Status ValidateTruncate(const DraftDelta& delta, size_t committed) {
  if (!delta.truncate_to.has_value()) return absl::OkStatus();
  if (*delta.truncate_to < 1 || static_cast<size_t>(*delta.truncate_to) > committed) {
    return absl::InvalidArgumentError("truncate_to " + std::to_string(*delta.truncate_to) + " outside [1, " +
                                      std::to_string(committed) + "]");
  }
  if (delta.accepted != 0) {
    return absl::InvalidArgumentError("accepted_count must be 0 with truncate_to (the last proposal is dropped)");
  }
  return absl::OkStatus();
}

struct DraftProposal {
  std::vector<int32_t> tokens;
  // q[i] = the exact processed distribution tokens[i] was sampled from; in a
  // greedy session (whose processed q is one-hot) the temperature-1
  // distribution at that position instead, the drafter's confidence that
  // RAPID's greedy knowledge transfer reads. Empty when the session was
  // opened without return_distributions (plain greedy verification needs
  // token ids only).
  //
  // Propose overwrites both (q sized to the tokens, or emptied). A caller
  // that keeps one proposal across rounds lets a drafter write into the
  // rows it already holds: a dense row is a vocabulary of floats (600 KB for
  // Qwen), and a fresh one per drafted token was allocated, zeroed and
  // page-faulted again on every round.
  std::vector<runtime::Distribution> q;
};

struct DraftOptions {
  bool return_distributions = true;
  // RAPID's c_conf: stop a proposal right after a drafted token whose
  // processed probability q(x) is below this (that token is kept), so a
  // round does not spend draft steps past a point the drafter itself doubts.
  // Greedy sessions (q one-hot) test the temperature-1 probability instead.
  // 0 = off; range [0, 1]. Drafters without probabilities (n-gram) ignore it.
  float stop_below_probability = 0.0f;
  // Staged speculation ("Staged Speculative Decoding"): the draft model is
  // itself sped up by prompt lookup. Each draft forward also runs up to this
  // many tokens that an n-gram lookup over the sequence proposes, and the
  // draft model's own rows accept them by speculative sampling (a lookup
  // proposal is a point mass: accepted with probability q(x), else the next
  // token comes from q without x), so every drafted token is still exactly a
  // sample of q and q is what the proposal reports; greedy: kept while they
  // are the argmax. A forward of 1 + k rows replaces up to k + 1 one-row
  // forwards. 0 = off; range [0, kMaxStagedNgram]. Drafters without a model
  // ignore it.
  int staged_ngram = 0;
  // Sampled sessions of a model drafter: drop the tail of each processed q
  // (runtime::Distribution::DropTail: entries below q_tail_mass / vocabulary,
  // together at most q_tail_mass) before sampling from it, so that q is
  // sparse: a few thousand entries instead of the vocabulary in floats (600
  // KB for Qwen) for every drafted token sent to a target across the
  // network. Lossless: the drafted token is a sample of the q reported, and
  // the target's output does not depend on which q proposed; acceptance
  // falls by at most q_tail_mass per token. 0 = the exact processed q; range
  // [0, kMaxQTailMass]. Greedy sessions and drafters without a model ignore
  // it.
  float q_tail_mass = 0.0f;
};

inline constexpr int kMaxStagedNgram = 16;
inline constexpr float kMaxQTailMass = 0.01f;

// The ranges above (NaN out of range), checked once for every drafter and
// for the draft service's OpenSession: InvalidArgument naming the field as
// both spell it ("q_tail_mass: must be in [0, 0.01], got 0.02").
absl::Status ValidateDraftOptions(const DraftOptions& options);

// One request drives a session; sessions are not thread-safe, different
// sessions may run concurrently.
class DraftSession {
 public:
  // Destroying a session closes it (best effort) if Close() was not called.
  virtual ~DraftSession() = default;
  // Applies `delta` then drafts 0..gamma tokens into *out (replacing its
  // contents). Fewer than gamma: nothing to propose (n-gram miss), an
  // end-of-generation token was drafted (drafting never continues past it),
  // or the context is full. gamma = 0 only applies the delta.
  virtual absl::Status Propose(const DraftDelta& delta, int gamma, DraftProposal* out) = 0;
  // Length of S after the last Propose's delta (prompt included).
  virtual int64_t committed_length() const = 0;
  // True when the next drafting Propose will also prefill S (a session that
  // defers its Open, spec/lazy_draft_session.h): its time is not a draft
  // step's, and the cost model must not learn from it.
  virtual bool prefill_pending() const { return false; }
  virtual absl::Status Close() = 0;
};

class Drafter {
 public:
  virtual ~Drafter() = default;
  // "model", "ngram", ... (a metrics label).
  virtual std::string_view name() const = 0;
  // `params` must equal the verifier's so that q is processed like p.
  virtual absl::StatusOr<std::unique_ptr<DraftSession>> Open(
      std::span<const int32_t> prompt, const runtime::SamplingParams& params,
      const DraftOptions& options) = 0;
};

}  // namespace tandem::decoding
