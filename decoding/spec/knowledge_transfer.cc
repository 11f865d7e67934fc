#include "decoding/spec/knowledge_transfer.h"

#include <algorithm>
#include <cmath>
#include <span>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/sampling/sampler.h"
#include "decoding/spec/acceptance.h"

namespace tandem::decoding::spec {
namespace {

using runtime::Distribution;

absl::string_view View(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// p^ of one position in implicit form: p^(v) = p(v) * f(v) / Z with
// f(v) = exp(eta * (q(v) - p(v))) where the mask is on, 1 elsewhere. Only the
// masked entries need an exp; double keeps exp(eta) (up to e^100) finite.
class TransferRow {
 public:
  TransferRow(const Distribution& p, const Distribution& q, const KnowledgeTransfer& kt)
      : eta_(kt.eta) {
    float q_max = 0.0f;
    for (float v : q.probs()) q_max = std::max(q_max, v);
    threshold_ = kt.alpha_m * q_max;
    double z = 0.0;
    runtime::AscendingProbReader q_along_p(q);
    for (size_t i = 0; i < p.size(); ++i) {
      const float pv = p.probs()[i];
      const float qv = q_along_p.Prob(p.id_at(i));
      if (pv > 0.0f) z += Unnormalised(pv, qv);
    }
    inv_z_ = z > 0.0 ? 1.0 / z : 0.0;
  }
  // p^(v) given p(v) and q(v).
  double Hat(float pv, float qv) const { return pv > 0.0f ? Unnormalised(pv, qv) * inv_z_ : 0.0; }

 private:
  double Unnormalised(float pv, float qv) const {
    // M(v) = 1[q(v) >= alpha_m * max q]; with alpha_m = 0 every token is in.
    if (!(qv >= threshold_)) return pv;
    return static_cast<double>(pv) * std::exp(static_cast<double>(eta_) * (static_cast<double>(qv) - pv));
  }

  double eta_;
  float threshold_ = 0.0f;
  double inv_z_ = 0.0;
};

int32_t SampleResidualOfRow(const Distribution& p, const Distribution& q, const TransferRow& row,
                            runtime::Rng& rng) {
  // [p - min(q, p^)]_+ = [max(p - q, p - p^)]_+, evaluated in fp32 like
  // SampleResidual so that equal inputs round the same way.
  return SamplePositivePart(
      p, q,
      [&](size_t i, float qv) {
        const float pv = p.probs()[i];
        return pv - std::min(qv, static_cast<float>(row.Hat(pv, qv)));
      },
      rng);
}

}  // namespace

absl::Status ValidateKnowledgeTransfer(const KnowledgeTransfer& kt, std::string_view field_prefix) {
  if (!(kt.eta >= 0.0f && kt.eta <= 100.0f)) {
    return absl::InvalidArgumentError(
        absl::StrCat(View(field_prefix), ".eta: must be in [0, 100], got ", kt.eta));
  }
  if (!(kt.alpha_m >= 0.0f && kt.alpha_m <= 1.0f)) {
    return absl::InvalidArgumentError(
        absl::StrCat(View(field_prefix), ".alpha_m: must be in [0, 1], got ", kt.alpha_m));
  }
  return absl::OkStatus();
}

absl::Status AdjustTowardDraft(const Distribution& p, const Distribution& q, const KnowledgeTransfer& kt,
                               Distribution* p_hat) {
  if (p.empty() || q.empty() || p.vocab_size() != q.vocab_size()) {
    return absl::InvalidArgumentError("knowledge transfer: p and q are empty or differ in vocabulary");
  }
  const TransferRow row(p, q, kt);
  std::span<float> out;
  if (p.dense()) {
    out = p_hat->ResetDense(p.vocab_size());
  } else {
    p_hat->ResetSparse(p.vocab_size(), p.size());
    std::copy(p.ids().begin(), p.ids().end(), p_hat->mutable_ids().begin());
    out = p_hat->mutable_probs();
  }
  runtime::AscendingProbReader q_along_p(q);
  for (size_t i = 0; i < p.size(); ++i) {
    out[i] = static_cast<float>(row.Hat(p.probs()[i], q_along_p.Prob(p.id_at(i))));
  }
  return absl::OkStatus();
}

namespace {

// True when b stores its entries at a's ids, in a's order, so b.probs()[i]
// is b's probability of a.id_at(i).
bool SameLayout(const Distribution& a, const Distribution& b) {
  if (a.dense() != b.dense() || a.size() != b.size() || a.vocab_size() != b.vocab_size()) return false;
  return a.dense() || std::equal(a.ids().begin(), a.ids().end(), b.ids().begin());
}

}  // namespace

int32_t SampleTransferResidual(const Distribution& p, const Distribution& q, const Distribution& p_hat,
                               runtime::Rng& rng) {
  // The residual's weights need p_hat at p's entries. AdjustTowardDraft writes
  // p_hat in p's layout, so its probs() are read in place; a p_hat in any
  // other layout is read once along p (never a search per entry per pass).
  std::vector<float> aligned;
  std::span<const float> hat = p_hat.probs();
  if (!SameLayout(p, p_hat)) {
    aligned.resize(p.size());
    runtime::AscendingProbReader hat_along_p(p_hat);
    for (size_t i = 0; i < p.size(); ++i) aligned[i] = hat_along_p.Prob(p.id_at(i));
    hat = aligned;
  }
  return SamplePositivePart(p, q, [&](size_t i, float qv) { return p.probs()[i] - std::min(qv, hat[i]); }, rng);
}

absl::StatusOr<AcceptResult> KnowledgeTransferAccept(std::span<const int32_t> draft,
                                                     std::span<const Distribution> q,
                                                     std::span<const Distribution> p,
                                                     const KnowledgeTransfer& kt, runtime::Rng& rng) {
  if (absl::Status s = ValidateKnowledgeTransfer(kt, "knowledge_transfer"); !s.ok()) return s;
  if (!kt.enabled()) return SpeculativeAccept(draft, q, p, rng);
  if (absl::Status s = CheckTargetRows(draft, p); !s.ok()) return s;
  if (q.size() != draft.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("acceptance: ", draft.size(), " drafted tokens but ", q.size(), " q rows"));
  }
  AcceptResult result;
  for (size_t i = 0; i < draft.size(); ++i) {
    if (q[i].vocab_size() != p[i].vocab_size()) {
      return absl::InvalidArgumentError("acceptance: draft and target vocabularies differ");
    }
    const float qx = q[i].Prob(draft[i]);
    if (!(qx > 0.0f)) {
      return absl::InvalidArgumentError(
          absl::StrCat("acceptance: draft token ", draft[i], " at position ", i, " has q = 0"));
    }
    const TransferRow row(p[i], q[i], kt);
    const float hat = static_cast<float>(row.Hat(p[i].Prob(draft[i]), qx));
    const float ratio = hat / qx;
    const double r = rng.UniformOpenClosed();
    if (r <= ratio) {
      ++result.accepted;
      continue;
    }
    result.next_token = SampleResidualOfRow(p[i], q[i], row, rng);
    return result;
  }
  result.next_token = runtime::Sampler::Sample(p[draft.size()], rng);  // bonus from unadjusted p
  return result;
}

absl::StatusOr<AcceptResult> GreedyKnowledgeTransferAccept(std::span<const int32_t> draft,
                                                           std::span<const Distribution> p_greedy,
                                                           std::span<const Distribution> p_soft,
                                                           std::span<const Distribution> q_soft,
                                                           const KnowledgeTransfer& kt) {
  if (absl::Status s = ValidateKnowledgeTransfer(kt, "knowledge_transfer"); !s.ok()) return s;
  if (!kt.enabled()) return GreedyAccept(draft, p_greedy);
  if (absl::Status s = CheckTargetRows(draft, p_greedy); !s.ok()) return s;
  if (absl::Status s = CheckTargetRows(draft, p_soft); !s.ok()) return s;
  if (!q_soft.empty() && q_soft.size() != draft.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("acceptance: ", draft.size(), " drafted tokens but ", q_soft.size(), " q rows"));
  }
  AcceptResult result;
  Distribution one_hot;
  for (size_t i = 0; i < draft.size(); ++i) {
    const Distribution& p = p_soft[i];
    if (q_soft.empty()) one_hot.AssignOneHot(p.vocab_size(), draft[i]);
    const Distribution& q = q_soft.empty() ? one_hot : q_soft[i];
    if (q.vocab_size() != p.vocab_size()) {
      return absl::InvalidArgumentError("acceptance: draft and target vocabularies differ");
    }
    const TransferRow row(p, q, kt);
    // argmax p^ with ties to the lowest id (Distribution::Argmax's rule).
    const double hat_d = row.Hat(p.Prob(draft[i]), q.Prob(draft[i]));
    bool is_argmax = hat_d > 0.0;
    runtime::AscendingProbReader q_along_p(q);
    for (size_t j = 0; j < p.size() && is_argmax; ++j) {
      const int32_t id = p.id_at(j);
      if (id == draft[i]) continue;
      const double h = row.Hat(p.probs()[j], q_along_p.Prob(id));
      is_argmax = id < draft[i] ? h < hat_d : h <= hat_d;
    }
    if (!is_argmax) {
      result.next_token = p_greedy[i].Argmax();
      return result;
    }
    ++result.accepted;
  }
  result.next_token = p_greedy[draft.size()].Argmax();
  return result;
}

runtime::SamplingParams TemperatureOneParams(const runtime::SamplingParams& params) {
  runtime::SamplingParams soft = params;
  soft.temperature = 1.0f;
  soft.top_k = 0;
  soft.top_p = 1.0f;
  soft.min_p = 0.0f;
  return soft;
}

std::vector<double> TransferOutputDistribution(const Distribution& p, const Distribution& q,
                                               const KnowledgeTransfer& kt) {
  std::vector<double> out(p.vocab_size(), 0.0);
  const TransferRow row(p, q, kt);
  std::vector<double> residual(p.vocab_size(), 0.0);
  double beta = 0.0, z = 0.0;
  for (int32_t v = 0; v < p.vocab_size(); ++v) {
    const double pv = p.Prob(v), qv = q.Prob(v);
    const double hat = kt.enabled() ? row.Hat(p.Prob(v), q.Prob(v)) : pv;
    const double accepted = std::min(qv, hat);
    out[v] = accepted;
    beta += accepted;
    residual[v] = std::max(0.0, pv - accepted);
    z += residual[v];
  }
  if (z > 0.0) {
    for (int32_t v = 0; v < p.vocab_size(); ++v) out[v] += (1.0 - beta) * residual[v] / z;
  }
  return out;
}

}  // namespace tandem::decoding::spec
