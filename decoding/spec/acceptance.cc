#include "decoding/spec/acceptance.h"

#include "absl/strings/str_cat.h"

namespace tandem::decoding::spec {

using runtime::Distribution;


absl::Status CheckTargetRows(std::span<const int32_t> draft, std::span<const Distribution> p) {
  if (p.size() != draft.size() + 1) {
    return absl::InvalidArgumentError(absl::StrCat("acceptance: need ", draft.size() + 1,
                                                   " target rows, got ", p.size()));
  }
  const int32_t vocab = p[0].vocab_size();
  for (const Distribution& row : p) {
    if (row.empty() || row.vocab_size() != vocab) {
      return absl::InvalidArgumentError("acceptance: target rows are empty or differ in vocabulary");
    }
  }
  for (size_t i = 0; i < draft.size(); ++i) {
    if (draft[i] < 0 || draft[i] >= vocab) {
      return absl::InvalidArgumentError(
          absl::StrCat("acceptance: draft token ", draft[i], " at position ", i,
                       " outside vocabulary of ", vocab));
    }
  }
  return absl::OkStatus();
}

int32_t SampleResidual(const Distribution& p, const Distribution& q, runtime::Rng& rng) {
  return SamplePositivePart(p, q, [&](size_t i, float qv) { return p.probs()[i] - qv; }, rng);
}

absl::StatusOr<AcceptResult> SpeculativeAccept(std::span<const int32_t> draft,
                                               std::span<const Distribution> q,
                                               std::span<const Distribution> p,
                                               runtime::Rng& rng) {
  if (absl::Status s = CheckTargetRows(draft, p); !s.ok()) return s;
  if (q.size() != draft.size()) {
    return absl::InvalidArgumentError(absl::StrCat("acceptance: ", draft.size(),
                                                   " drafted tokens but ", q.size(), " q rows"));
  }
  AcceptResult result;
  for (size_t i = 0; i < draft.size(); ++i) {
    if (q[i].vocab_size() != p[i].vocab_size()) {
      return absl::InvalidArgumentError("acceptance: draft and target vocabularies differ");
    }
    const float qx = q[i].Prob(draft[i]);
    if (!(qx > 0.0f)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "acceptance: draft token ", draft[i], " at position ", i, " has q = 0"));
    }
    const float ratio = p[i].Prob(draft[i]) / qx;
    const double r = rng.UniformOpenClosed();  // (0,1]: p(x) = 0 never accepts
    if (r <= ratio) {
      ++result.accepted;
      continue;
    }
    result.next_token = SampleResidual(p[i], q[i], rng);
    return result;
  }
  result.next_token = runtime::Sampler::Sample(p[draft.size()], rng);  // bonus token
  return result;
}

absl::StatusOr<AcceptResult> GreedyAccept(std::span<const int32_t> draft,
                                          std::span<const Distribution> p) {
  if (absl::Status s = CheckTargetRows(draft, p); !s.ok()) return s;
  AcceptResult result;
  for (size_t i = 0; i < draft.size(); ++i) {
    const int32_t best = p[i].Argmax();
    if (draft[i] != best) {
      result.next_token = best;
      return result;
    }
    ++result.accepted;
  }
  result.next_token = p[draft.size()].Argmax();
  return result;
}

size_t DraftLengthUpToEos(std::span<const int32_t> draft,
                          const std::function<bool(int32_t)>& is_eos) {
  if (!is_eos) return draft.size();
  for (size_t i = 0; i < draft.size(); ++i) {
    if (is_eos(draft[i])) return i + 1;
  }
  return draft.size();
}

}  // namespace tandem::decoding::spec
