#include "runtime/sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/ops.h"
#include "runtime/sampling/penalty_window.h"
#include "runtime/sampling/top_k.h"

namespace tandem::runtime {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// The sum of p (of its positive entries) in double, with four independent
// chains: one chain is bound by the add latency, ~4 cycles an element, which
// over a 152K vocabulary was ~0.4 ms of every sampled token.
double SumInDouble(std::span<const float> p, bool positive_only) {
  double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
  auto v = [positive_only](float x) { return positive_only ? std::max(x, 0.0f) : x; };
  size_t i = 0;
  for (; i + 4 <= p.size(); i += 4) {
    s0 += v(p[i]);
    s1 += v(p[i + 1]);
    s2 += v(p[i + 2]);
    s3 += v(p[i + 3]);
  }
  for (; i < p.size(); ++i) s0 += v(p[i]);
  return (s0 + s1) + (s2 + s3);
}

// Top-p's buckets of numerators e in [0, 1] by binary exponent: 0 holds
// e = 1 (the maximum), b holds e in [2^-b, 2^(1-b)), the last one denormals
// and zeros.
constexpr int kBuckets = 128;
int NumeratorBucket(float e) {
  uint32_t bits;
  std::memcpy(&bits, &e, sizeof(bits));
  return std::clamp(127 - static_cast<int>((bits >> 23) & 0xFF), 0, kBuckets - 1);
}

// The bucket after the one where the mass counted from the top reaches
// `target` (one more for the rounding of the bucket sums); the last bucket
// when it never does.
int LastBucket(const double (&bucket_mass)[kBuckets], double target) {
  double above = 0.0;
  for (int b = 0; b < kBuckets; ++b) {
    above += bucket_mass[b];
    if (above >= target) return std::min(b + 1, kBuckets - 1);
  }
  return kBuckets - 1;
}

// Vocabularies above this size take top-p's nucleus straight from the row
// (Sampler::Process step 6); below it listing the candidates is cheap.
constexpr int32_t kNucleusFromRowMinVocab = 1024;

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

  // One vector pass finds a bad logit (the common case has none), then the
  // copy the processors below edit in place.
  if (const int64_t bad = kernels::FindNanOrPosInf(logits.data(), vocab); bad >= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampler: logit ", bad, std::isnan(logits[bad]) ? " is NaN" : " is +inf"));
  }
  work_.assign(logits.begin(), logits.end());

  // 1. Logit bias, added to the model's logits (OpenAI: "prior to sampling").
  for (const LogitBias& b : params_.logit_bias) {
    if (b.token >= vocab) {
      return absl::InvalidArgumentError(
          absl::StrCat("sampler: logit_bias token ", b.token, " outside vocabulary of ", vocab));
    }
    work_[b.token] += b.bias;
  }

  // 2. Penalties, once per distinct token of the window: the CTRL
  // repetition penalty, then the additive frequency (per occurrence) and
  // presence ones, in llama.cpp's order.
  if (params_.penalizes() && !history.empty()) {
    const float pen = params_.repetition_penalty;
    const bool additive = params_.frequency_penalty != 0.0f || params_.presence_penalty != 0.0f;
    absl::Status s = ForEachPenalizedToken(params_, history, vocab, counts_, [&](int32_t t, uint32_t c) {
      float x = work_[t];
      if (pen != 1.0f) x = x > 0.0f ? x / pen : x * pen;
      if (additive) x -= AdditivePenalty(params_, c);
      work_[t] = x;
    });
    if (!s.ok()) return s;
  }

  // 3. Max (first maximum = lowest id) for greedy (SamplingParams::greedy) and for a
  // stable softmax.
  const int32_t best = static_cast<int32_t>(kernels::Argmax(work_.data(), vocab));
  const float max_logit = work_[best];
  if (max_logit == kNegInf) return absl::InvalidArgumentError("sampler: all logits are -inf");
  if (params_.greedy()) {
    out->AssignOneHot(vocab, best);
    return absl::OkStatus();
  }

  // 4. Softmax numerators. Subtracting the max first keeps huge logits and
  // tiny temperatures finite: every exponent is <= 0 and the max maps to 1.
  // -inf (masked) logits get exactly 0. The vector exponential is a
  // polynomial within 2e-7 of std::exp (kernels/cpu/ops.h), 4-5x faster
  // over a 152K vocabulary, where the scalar loop cost ~1 ms a token.
  const float inv_t = 1.0f / params_.temperature;
  const double dense_total = kernels::ExpSum(work_.data(), max_logit, inv_t, work_.data(), vocab);
  const double top = work_[best];
  work_[best] = 1.0f;

  const bool use_top_k = params_.top_k > 0 && params_.top_k < vocab;
  const bool use_top_p = params_.top_p < 1.0f;
  const bool use_min_p = params_.min_p > 0.0f;
  if (!use_top_k && !use_top_p && !use_min_p) {
    const double total = dense_total - top + 1.0;
    auto probs = out->ResetDense(vocab);
    const float inv = static_cast<float>(1.0 / total);
    for (int32_t i = 0; i < vocab; ++i) probs[i] = work_[i] * inv;
    return absl::OkStatus();
  }

  const float* e = work_.data();
  auto more_probable = [e](int32_t a, int32_t b) { return e[a] > e[b] || (e[a] == e[b] && a < b); };
  order_.clear();
  // Top-p over the whole row (no top-k) on a large vocabulary finds its
  // nucleus from the numerators themselves (step 6); everything else starts
  // from a candidate list.
  const bool nucleus_from_row = use_top_p && !use_top_k && vocab > kNucleusFromRowMinVocab;
  if (use_top_k) {
    // 5. Top-k: the k first under more_probable, as a full selection gives,
    // through the vector-filtered scan, best first; then without the
    // zero-mass ids it took when fewer than k have mass. Process with
    // top_k = 20 or 40 at T = 0.7 over 151936 normal(0, 3) logits: 203-208 us,
    // where the heap scan with a comparison per id made it 597-610 us (best
    // of 50, side by side, Sapphire Rapids VM, 2026-12-06).
    TopKValues(std::span<const float>(e, static_cast<size_t>(vocab)), static_cast<size_t>(params_.top_k), order_);
    while (!order_.empty() && e[order_.back()] == 0.0f) order_.pop_back();
  } else if (!nucleus_from_row) {
    // Candidates: every id with non-zero mass.
    order_.reserve(vocab);
    for (int32_t i = 0; i < vocab; ++i) {
      if (e[i] > 0.0f) order_.push_back(i);
    }
  }
  size_t m = order_.size();

  // 6. Top-p. Sorts only as much of the candidate list as the mass requires:
  // chunks of doubling size, each selected with nth_element then sorted, so a
  // peaked distribution over a big vocabulary costs O(V), not O(V log V).
  if (use_top_p) {
    double mass = 0.0;
    if (nucleus_from_row) {
      mass = dense_total - top + 1.0;  // every numerator, from step 4
    } else {
      for (size_t i = 0; i < m; ++i) mass += e[order_[i]];
    }
    const double target = static_cast<double>(params_.top_p) * mass;
    double cum = 0.0;
    size_t sorted = 0, keep = m;
    bool found = false;
    // Adds the sorted ids [from, to) to the running mass until it reaches
    // the target; then keep = the ids up to that one.
    auto scan = [&](size_t from, size_t to) {
      for (size_t i = from; i < to && !found; ++i) {
        cum += e[order_[i]];
        if (cum >= target) {
          keep = i + 1;
          found = true;
        }
      }
    };
    // The nucleus lies among the most probable ids: bucket the mass by the
    // binary exponent of the numerator, find the bucket where the mass from
    // the top reaches the target, and sort only the ids down to the bucket
    // after it (one more for the rounding of bucket sums). The sorted prefix
    // is the one a full sort gives, summed in the same order, so the cut is
    // a full sort's; if the rounding still left it short, the chunks below
    // go on.
    // Bucket 0: e = 1 (the maximum), b: e in [2^-b, 2^(1-b)), 127: denormals
    // and zeros.
    if (nucleus_from_row) {
      // Straight from the row: four histograms, so ids of one bucket in a
      // row do not wait on each other's add. With top_p = 0.95 over 151936
      // logits Process + Sample cost 0.40-0.55 ms instead of 0.87-1.27 ms
      // through the candidate list (tandem_sampler_bench, 2026-12-06).
      double hist[4][kBuckets] = {};
      int32_t i = 0;
      for (; i + 4 <= vocab; i += 4) {
        for (int k = 0; k < 4; ++k) hist[k][NumeratorBucket(e[i + k])] += e[i + k];
      }
      for (; i < vocab; ++i) hist[0][NumeratorBucket(e[i])] += e[i];
      double bucket_mass[kBuckets];
      for (int b = 0; b < kBuckets; ++b) bucket_mass[b] = (hist[0][b] + hist[1][b]) + (hist[2][b] + hist[3][b]);
      const int last = LastBucket(bucket_mass, target);
      // Buckets up to `last` hold the numerators >= 2^-last (every positive
      // one for the last bucket): listed by the vector filter, in id order.
      const float above = last >= kBuckets - 1 ? 0.0f : std::nextafter(std::ldexp(1.0f, -last), 0.0f);
      for (int64_t from = 0; from < vocab;) {
        const int64_t id = from + kernels::FindGreater(e + from, vocab - from, above);
        if (id >= vocab) break;
        order_.push_back(static_cast<int32_t>(id));
        from = id + 1;
      }
      const size_t n_top = order_.size();
      std::sort(order_.begin(), order_.end(), more_probable);
      scan(0, n_top);
      sorted = n_top;
      if (!found) {  // the rounding left it short: the other candidates for the chunks below
        for (int32_t id = 0; id < vocab; ++id) {
          if (e[id] > 0.0f && !(e[id] > above)) order_.push_back(id);
        }
      }
      m = order_.size();
      if (!found) keep = m;
    } else if (m > 1024) {
      double bucket_mass[kBuckets] = {};
      for (size_t i = 0; i < m; ++i) bucket_mass[NumeratorBucket(e[order_[i]])] += e[order_[i]];
      const int last = LastBucket(bucket_mass, target);
      const auto top = std::partition(order_.begin(), order_.begin() + m,
                                      [&](int32_t id) { return NumeratorBucket(e[id]) <= last; });
      const size_t n_top = static_cast<size_t>(top - order_.begin());
      std::sort(order_.begin(), top, more_probable);
      scan(0, n_top);
      sorted = n_top;
    }
    while (!found && sorted < m) {
      const size_t end = std::min(m, std::max<size_t>(64, 2 * sorted));
      if (end < m) {
        std::nth_element(order_.begin() + sorted, order_.begin() + end, order_.begin() + m,
                         more_probable);
      }
      std::sort(order_.begin() + sorted, order_.begin() + end, more_probable);
      scan(sorted, end);
      sorted = end;
    }
    m = keep;
  }

  // 7. Min-p, relative to the most probable token (numerator 1 at `best`,
  // which top-k and top-p always keep).
  if (use_min_p) {
    const float threshold = params_.min_p * 1.0f;
    size_t w = 0;
    for (size_t i = 0; i < m; ++i) {
      if (e[order_[i]] >= threshold) order_[w++] = order_[i];
    }
    m = w;
  }

  // 8. Renormalise into the output layout.
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
  const double target = rng.Uniform() * SumInDouble(probs, /*positive_only=*/false);
  // Whole blocks while the running sum stays at or below target, then element
  // by element through the block where it passes target.
  constexpr size_t kBlock = 256;
  double cum = 0.0;
  size_t i = 0;
  for (; i < probs.size(); i += kBlock) {
    const double next = cum + SumInDouble(probs.subspan(i, std::min(kBlock, probs.size() - i)), true);
    if (next > target) break;
    cum = next;
  }
  for (; i < probs.size(); ++i) {
    if (probs[i] <= 0.0f) continue;
    cum += probs[i];
    if (cum > target) return dist.id_at(i);
  }
  // Rounding left target at the very top: the last id with positive mass.
  for (size_t j = probs.size(); j-- > 0;) {
    if (probs[j] > 0.0f) return dist.id_at(j);
  }
  return dist.id_at(0);
}

}  // namespace tandem::runtime
