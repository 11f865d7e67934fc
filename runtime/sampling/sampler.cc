#include "runtime/sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"

namespace tandem::runtime {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

}  // namespace

absl::Status Sampler::Process(std::span<const float> logits, std::span<const int32_t> history,
                              Distribution* out) {
  if (out == nullptr) return absl::InvalidArgumentError("sampler: null output distribution");
  if (logits.empty()) return absl::InvalidArgumentError("sampler: empty logits");
  if (logits.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    return absl::InvalidArgumentError("sampler: vocabulary too large");
  }
  if (absl::Status s = params_.Validate(); !s.ok()) return s;
  const int32_t vocab = static_cast<int32_t>(logits.size());

  work_.resize(vocab);
  for (int32_t i = 0; i < vocab; ++i) {
    const float x = logits[i];
    if (std::isnan(x)) return absl::InvalidArgumentError(absl::StrCat("sampler: logit ", i, " is NaN"));
    if (x == std::numeric_limits<float>::infinity()) {
      return absl::InvalidArgumentError(absl::StrCat("sampler: logit ", i, " is +inf"));
    }
    work_[i] = x;
  }

  // 1. Repetition penalty, once per distinct token of the window.
  if (params_.repetition_penalty != 1.0f && !history.empty()) {
    size_t window = history.size();
    if (params_.repetition_window > 0) {
      window = std::min(window, static_cast<size_t>(params_.repetition_window));
    }
    auto recent = history.last(window);
    for (int32_t t : recent) {
      if (t < 0 || t >= vocab) {
        return absl::InvalidArgumentError(absl::StrCat("sampler: history token ", t,
                                                       " outside vocabulary of ", vocab));
      }
    }
    marks_.resize(vocab, 0);
    const float pen = params_.repetition_penalty;
    for (int32_t t : recent) {
      if (marks_[t]) continue;
      marks_[t] = 1;
      work_[t] = work_[t] > 0.0f ? work_[t] / pen : work_[t] * pen;
    }
    for (int32_t t : recent) marks_[t] = 0;  // leave marks_ all-zero for next call
  }

  // 2. Max (first maximum = lowest id) for greedy and for a stable softmax.
  int32_t best = 0;
  for (int32_t i = 1; i < vocab; ++i) {
    if (work_[i] > work_[best]) best = i;
  }
  const float max_logit = work_[best];
  if (max_logit == kNegInf) return absl::InvalidArgumentError("sampler: all logits are -inf");
  if (params_.temperature == 0.0f) {
    out->AssignOneHot(vocab, best);
    return absl::OkStatus();
  }

  // 3. Softmax numerators. Subtracting the max first keeps huge logits and
  // tiny temperatures finite: every exponent is <= 0 and the max maps to 1.
  const float inv_t = 1.0f / params_.temperature;
  for (int32_t i = 0; i < vocab; ++i) {
    work_[i] = work_[i] == kNegInf ? 0.0f : std::exp((work_[i] - max_logit) * inv_t);
  }
  work_[best] = 1.0f;

  const bool use_top_k = params_.top_k > 0 && params_.top_k < vocab;
  const bool use_top_p = params_.top_p < 1.0f;
  const bool use_min_p = params_.min_p > 0.0f;
  if (!use_top_k && !use_top_p && !use_min_p) {
    double total = 0.0;
    for (float e : work_) total += e;
    auto probs = out->ResetDense(vocab);
    const float inv = static_cast<float>(1.0 / total);
    for (int32_t i = 0; i < vocab; ++i) probs[i] = work_[i] * inv;
    return absl::OkStatus();
  }

  // Candidates: every id with non-zero mass.
  order_.clear();
  order_.reserve(vocab);
  for (int32_t i = 0; i < vocab; ++i) {
    if (work_[i] > 0.0f) order_.push_back(i);
  }
  const float* e = work_.data();
  auto more_probable = [e](int32_t a, int32_t b) { return e[a] > e[b] || (e[a] == e[b] && a < b); };
  size_t m = order_.size();

  // 4. Top-k.
  if (use_top_k && static_cast<size_t>(params_.top_k) < m) {
    std::nth_element(order_.begin(), order_.begin() + params_.top_k, order_.begin() + m,
                     more_probable);
    m = params_.top_k;
  }

  // 5. Top-p. Sorts only as much of the candidate list as the mass requires:
  // chunks of doubling size, each selected with nth_element then sorted, so a
  // peaked distribution over a big vocabulary costs O(V), not O(V log V).
  if (use_top_p) {
    double mass = 0.0;
    for (size_t i = 0; i < m; ++i) mass += e[order_[i]];
    const double target = static_cast<double>(params_.top_p) * mass;
    double cum = 0.0;
    size_t sorted = 0, keep = m;
    bool found = false;
    while (!found && sorted < m) {
      const size_t end = std::min(m, std::max<size_t>(64, 2 * sorted));
      if (end < m) {
        std::nth_element(order_.begin() + sorted, order_.begin() + end, order_.begin() + m,
                         more_probable);
      }
      std::sort(order_.begin() + sorted, order_.begin() + end, more_probable);
      for (size_t i = sorted; i < end; ++i) {
        cum += e[order_[i]];
        if (cum >= target) {
          keep = i + 1;
          found = true;
          break;
        }
      }
      sorted = end;
    }
    m = keep;
  }

  // 6. Min-p, relative to the most probable token (numerator 1 at `best`,
  // which top-k and top-p always keep).
  if (use_min_p) {
    const float threshold = params_.min_p * 1.0f;
    size_t w = 0;
    for (size_t i = 0; i < m; ++i) {
      if (e[order_[i]] >= threshold) order_[w++] = order_[i];
    }
    m = w;
  }

  // 7. Renormalise into the output layout.
  double total = 0.0;
  for (size_t i = 0; i < m; ++i) total += e[order_[i]];
  const float inv = static_cast<float>(1.0 / total);
  if (2 * m > static_cast<size_t>(vocab)) {
    auto probs = out->ResetDense(vocab);
    std::fill(probs.begin(), probs.end(), 0.0f);
    for (size_t i = 0; i < m; ++i) probs[order_[i]] = e[order_[i]] * inv;
  } else {
    std::sort(order_.begin(), order_.begin() + m);
    out->ResetSparse(vocab, m);
    auto ids = out->mutable_ids();
    auto probs = out->mutable_probs();
    for (size_t i = 0; i < m; ++i) {
      ids[i] = order_[i];
      probs[i] = e[order_[i]] * inv;
    }
  }
  return absl::OkStatus();
}

int32_t Sampler::Sample(const Distribution& dist, Rng& rng) {
  auto probs = dist.probs();
  if (probs.empty()) return -1;
  double total = 0.0;
  for (float p : probs) total += p;
  const double target = rng.Uniform() * total;
  double cum = 0.0;
  size_t last_positive = 0;
  for (size_t i = 0; i < probs.size(); ++i) {
    if (probs[i] <= 0.0f) continue;
    cum += probs[i];
    last_positive = i;
    if (cum > target) return dist.id_at(i);
  }
  return dist.id_at(last_positive);  // rounding left target at the very top
}

}  // namespace tandem::runtime
