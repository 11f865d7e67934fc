// The accept/reject math of speculative sampling (algorithms.md section 0) as
// pure functions, shared by the in-process verifier and the target service so
// that it runs wherever p lives.
//
// Indexing (the classic off-by-one): p[i] is the target's processed
// distribution of the token at draft position i, i.e. after prefix + d_0..d_{i-1};
// p has draft.size() + 1 rows, the last one for the bonus token. q[i] is the
// draft distribution d_i was sampled from.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

#include "absl/status/statusor.h"
#include "runtime/sampling/distribution.h"
#include "runtime/sampling/rng.h"
#include "runtime/sampling/sampler.h"

namespace tandem::decoding::spec {

struct AcceptResult {
  int accepted = 0;         // n: leading drafted tokens kept
  int32_t next_token = -1;  // residual sample (n < draft.size()) or bonus token
};

// Lossless rejection sampling. For each i in order: r ~ U(0,1], accept d_i iff
// r <= p_i(d_i) / q_i(d_i) (ratio in fp32). At the first rejection the next
// token is drawn from norm(max(0, p_i - q_i)) (fp32); on full acceptance from
// p_n (the bonus token). Randomness: one uniform per tested position plus one
// for the next token. InvalidArgument on mismatched sizes or vocabularies, on
// ids out of range, or when q_i(d_i) = 0 (d_i cannot have been sampled from q_i).
absl::StatusOr<AcceptResult> SpeculativeAccept(std::span<const int32_t> draft,
                                               std::span<const runtime::Distribution> q,
                                               std::span<const runtime::Distribution> p,
                                               runtime::Rng& rng);

// Greedy degenerate case (temperature 0): accept while d_i == argmax p_i; the
// next token is argmax p at the first mismatch, or of the bonus row. Uses no
// randomness and ignores q.
absl::StatusOr<AcceptResult> GreedyAccept(std::span<const int32_t> draft,
                                          std::span<const runtime::Distribution> p);

// Draws from norm(max(0, p - q)), walking p's support only (the residual is
// zero outside it). If rounding leaves no positive mass (p and q equal to
// fp32 precision, so a rejection was a rounding artefact), falls back to p.
int32_t SampleResidual(const runtime::Distribution& p, const runtime::Distribution& q,
                       runtime::Rng& rng);

// Draws an id of p's support with probability proportional to
// max(0, weight(i, q(id_i))) for stored entry i of p, q read at p's ids
// (two passes, double sums, one Uniform()); falls back to sampling p when no
// weight is positive. The residual rules (SampleResidual and RAPID's
// transfer residuals) differ only in weight(). Each pass reads q with its
// own AscendingProbReader, so a sparse q (a drafter's row without its tail)
// costs a merge of the two id lists, not a binary search per entry of p.
//
// The sums and the target are doubles, as in Sampler::Sample: in float a
// uniform within 2^-25 of 1 rounded to 1.0 (target = total, so the walk fell
// through to the last id) and small weights vanished from a sum near 1, which
// gave the last positive id up to ~3e-8 more probability than its weight.
template <typename Weight>
int32_t SamplePositivePart(const runtime::Distribution& p, const runtime::Distribution& q, Weight&& weight,
                           runtime::Rng& rng) {
  double total = 0.0;
  {
    runtime::AscendingProbReader q_along_p(q);
    for (size_t i = 0; i < p.size(); ++i) {
      const float r = weight(i, q_along_p.Prob(p.id_at(i)));
      if (r > 0.0f) total += r;
    }
  }
  if (!(total > 0.0)) return runtime::Sampler::Sample(p, rng);
  // Below total: the second pass adds the same terms in the same order, so
  // its sum reaches total and passes the target.
  const double target = rng.Uniform() * total;
  double cum = 0.0;
  int32_t last = -1;
  runtime::AscendingProbReader q_along_p(q);
  for (size_t i = 0; i < p.size(); ++i) {
    const float r = weight(i, q_along_p.Prob(p.id_at(i)));
    if (r <= 0.0f) continue;
    cum += r;
    last = p.id_at(i);
    if (cum > target) return last;
  }
  return last;  // not reached: cum ends at total > target
}

// Checks the target rows of one verification: draft.size() + 1 non-empty
// rows of one vocabulary, draft ids inside it (InvalidArgument otherwise).
absl::Status CheckTargetRows(std::span<const int32_t> draft, std::span<const runtime::Distribution> p);

// Number of leading draft tokens to verify: up to and including the first
// end-of-generation token (nothing after it may be drafted or verified).
size_t DraftLengthUpToEos(std::span<const int32_t> draft,
                          const std::function<bool(int32_t)>& is_eos);

// Signature shared by the two acceptance rules, so a verifier can take the
// rule as a parameter (later strategies, e.g. RSD, bring their own).
using AcceptFn = std::function<absl::StatusOr<AcceptResult>(
    std::span<const int32_t>, std::span<const runtime::Distribution>,
    std::span<const runtime::Distribution>, runtime::Rng&)>;

}  // namespace tandem::decoding::spec
