// RAPID's acceptance with knowledge transfer (algorithms.md section 1, steps
// c-e): the target distribution is pulled toward the drafter's before the
// accept test,
//   l^ = l + eta * M (.) (q - p),   M(v) = 1[q(v) >= alpha_m * max_u q(u)],
//   p^ = softmax(l^),
// where l are the target's *processed* logits (already divided by the
// temperature; tokens truncated away by top-k/top-p/min-p have l = -inf).
// Because p = softmax(l), l = log p + const, so p^ is computed from the
// processed p alone: p^(v) proportional to p(v) * exp(eta * M(v) * (q(v) - p(v)))
// over p's support, 0 elsewhere. The temperature is never applied a second
// time. alpha_m = 0 makes M = 1 everywhere: the paper's unmasked form
// p^ = softmax(z/T + eta * (q - p)).
//
// Accept d_i while r_i <= p^_i(d_i) / q_i(d_i); at the first rejection draw
// the next token from norm([max(p - q, p - p^)]_+) built from the ORIGINAL
// p (= norm([p - min(q, p^)]_+)); on full acceptance the bonus token comes
// from the unadjusted p. The emitted token per position is then distributed as
//   P(x) = min(q, p^)(x) + (1 - beta) [p - min(q, p^)]_+(x) / Z,
//   beta = sum_x min(q, p^)(x),
// which is not p for eta > 0: RAPID deliberately leans toward the drafter,
// which read the retrieved chunks. eta = 0 is exactly SpeculativeAccept
// (same arithmetic, same random draws).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/sampling/distribution.h"
#include "runtime/sampling/rng.h"
#include "runtime/sampling/sampling_params.h"
#include "decoding/spec/acceptance.h"

namespace tandem::decoding::spec {

struct KnowledgeTransfer {
  float eta = 0.0f;      // strength, [0, 100]; 0 = off (lossless)
  float alpha_m = 0.1f;  // mask threshold relative to max q, [0, 1]; 0 = no mask (paper form)
  bool enabled() const { return eta > 0.0f; }
};

// Valid ranges: eta in [0, 100], alpha_m in [0, 1] (InvalidArgument naming
// `field_prefix`.eta / .alpha_m otherwise; NaN is rejected).
absl::Status ValidateKnowledgeTransfer(const KnowledgeTransfer& kt, std::string_view field_prefix);

// p^ for one position, written into *p_hat with p's layout (p's support).
// InvalidArgument when p and q differ in vocabulary or p is empty.
absl::Status AdjustTowardDraft(const runtime::Distribution& p, const runtime::Distribution& q,
                               const KnowledgeTransfer& kt, runtime::Distribution* p_hat);

// Draws from norm([p - min(q, p^)]_+) over p's support. Falls back to p when
// rounding leaves no positive mass (as SampleResidual does). One Uniform().
int32_t SampleTransferResidual(const runtime::Distribution& p, const runtime::Distribution& q,
                               const runtime::Distribution& p_hat, runtime::Rng& rng);

// The rule above for temperature > 0. Same indexing and errors as
// SpeculativeAccept; randomness: one UniformOpenClosed per tested position and
// one Uniform for the next token. kt.eta == 0 calls SpeculativeAccept.
absl::StatusOr<AcceptResult> KnowledgeTransferAccept(std::span<const int32_t> draft,
                                                     std::span<const runtime::Distribution> q,
                                                     std::span<const runtime::Distribution> p,
                                                     const KnowledgeTransfer& kt, runtime::Rng& rng);

// Greedy variant (temperature 0). The greedy processed distributions of both
// sides are one-hot and carry no confidence, so the transfer is applied to
// the temperature-1 distributions, as the reference does: p_soft_i =
// softmax(target logits after the repetition penalty), q_soft_i the same of
// the drafter (the drafter's own confidence in d_i), p^_i from those; accept
// d_i while d_i == argmax p^_i. The next token is the target's greedy token
// (argmax of p_greedy, which equals argmax p_soft). A one-hot q would let any
// drafted token win: with eta = 5 a token at p = 0.01 beats an argmax at 0.9.
// q_soft empty: the drafter is deterministic (no distribution, e.g. n-gram),
// q = onehot(d_i) is then its true q. eta == 0 is exactly GreedyAccept.
// p_greedy and p_soft have draft.size() + 1 rows, q_soft draft.size() or 0.
absl::StatusOr<AcceptResult> GreedyKnowledgeTransferAccept(std::span<const int32_t> draft,
                                                           std::span<const runtime::Distribution> p_greedy,
                                                           std::span<const runtime::Distribution> p_soft,
                                                           std::span<const runtime::Distribution> q_soft,
                                                           const KnowledgeTransfer& kt);

// The processing that the greedy variants score with: temperature 1, no
// truncation, the same repetition penalty (a greedy session's processed
// distribution is one-hot, which carries no confidence).
runtime::SamplingParams TemperatureOneParams(const runtime::SamplingParams& params);

// Closed form of the per-position output distribution (dense, vocab_size
// entries, in double) for tests and documentation.
std::vector<double> TransferOutputDistribution(const runtime::Distribution& p,
                                               const runtime::Distribution& q,
                                               const KnowledgeTransfer& kt);

}  // namespace tandem::decoding::spec
