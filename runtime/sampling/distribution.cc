#include "runtime/sampling/distribution.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace tandem::runtime {

float Distribution::Prob(int32_t id) const {
  if (id < 0 || id >= vocab_size_) return 0.0f;
  if (dense_) return id < static_cast<int32_t>(probs_.size()) ? probs_[id] : 0.0f;
  auto it = std::lower_bound(ids_.begin(), ids_.end(), id);
  if (it == ids_.end() || *it != id) return 0.0f;
  return probs_[it - ids_.begin()];
}

int32_t Distribution::Argmax() const {
  if (probs_.empty()) return -1;
  // Entries are in ascending id order in both layouts, so the first maximum
  // is the lowest id.
  size_t best = 0;
  for (size_t i = 1; i < probs_.size(); ++i) {
    if (probs_[i] > probs_[best]) best = i;
  }
  return id_at(best);
}

std::span<float> Distribution::ResetDense(int32_t vocab_size) {
  vocab_size_ = vocab_size;
  dense_ = true;
  ids_.clear();
  probs_.resize(static_cast<size_t>(std::max(vocab_size, 0)));
  return probs_;
}

void Distribution::ResetSparse(int32_t vocab_size, size_t n) {
  vocab_size_ = vocab_size;
  dense_ = false;
  ids_.resize(n);
  probs_.resize(n);
}

void Distribution::AssignDense(std::span<const float> probs) {
  auto out = ResetDense(static_cast<int32_t>(probs.size()));
  std::copy(probs.begin(), probs.end(), out.begin());
}

void Distribution::AssignSparse(int32_t vocab_size, std::span<const int32_t> ids,
                                std::span<const float> probs) {
  ResetSparse(vocab_size, std::min(ids.size(), probs.size()));
  std::copy_n(ids.begin(), ids_.size(), ids_.begin());
  std::copy_n(probs.begin(), probs_.size(), probs_.begin());
}

void Distribution::AssignOneHot(int32_t vocab_size, int32_t id) {
  ResetSparse(vocab_size, 1);
  ids_[0] = id;
  probs_[0] = 1.0f;
}

float Distribution::DropTail(float max_mass) {
  if (!(max_mass > 0.0f) || probs_.empty()) return 0.0f;
  const float floor = max_mass / static_cast<float>(probs_.size());
  // Branch-free over 16 independent lanes, so that the compiler vectorizes
  // the pass (a drafter runs it over the vocabulary for every token); float
  // lanes are exact enough for at most max_mass <= 0.01 of small terms.
  constexpr size_t kLanes = 16;
  float lane_dropped[kLanes] = {};
  uint32_t lane_kept[kLanes] = {};
  const size_t n = probs_.size(), whole = n - n % kLanes;
  const float* p = probs_.data();
  for (size_t i = 0; i < whole; i += kLanes) {
    for (size_t l = 0; l < kLanes; ++l) {
      const bool below = p[i + l] < floor;
      lane_dropped[l] += below ? p[i + l] : 0.0f;
      lane_kept[l] += below ? 0u : 1u;
    }
  }
  double dropped = 0.0;
  size_t kept = 0;
  for (size_t l = 0; l < kLanes; ++l) {
    dropped += lane_dropped[l];
    kept += lane_kept[l];
  }
  for (size_t i = whole; i < n; ++i) {
    if (p[i] < floor) {
      dropped += p[i];
    } else {
      ++kept;
    }
  }
  // Nothing to drop, or (a row that does not sum to 1) nothing would remain.
  if (kept == probs_.size() || kept == 0) return 0.0f;
  const auto scale = static_cast<float>(1.0 / (1.0 - dropped));
  if (dense_ && kept * 2 >= probs_.size()) {
    for (float& p : probs_) p = p < floor ? 0.0f : p * scale;
    return static_cast<float>(dropped);
  }
  // Compacted in place, ids ascending: entry j <= i is written only after i
  // was read. Branch-free (every entry is written, j advances only past a
  // kept one): which entries survive is close to random, and a branch on it
  // mispredicted often enough to cost more than the writes.
  // A language model's row is mostly tail: blocks with nothing kept are
  // skipped after one vectorizable test.
  size_t j = 0;
  float* q = probs_.data();
  if (dense_) {
    // j never passes kept, so kept + 1 slots take every write (the last one
    // may land just past the kept entries); capacity stays across rows.
    ids_.resize(kept + 1);
    int32_t* id = ids_.data();
    constexpr size_t kBlock = 16;
    for (size_t b = 0; b < n; b += kBlock) {
      const size_t end = std::min(n, b + kBlock);
      bool any = false;
      for (size_t i = b; i < end; ++i) any |= q[i] >= floor;
      if (!any) continue;
      for (size_t i = b; i < end; ++i) {
        const float v = q[i];
        id[j] = static_cast<int32_t>(i);
        q[j] = v * scale;
        j += v < floor ? 0 : 1;
      }
    }
  } else {
    int32_t* id = ids_.data();
    for (size_t i = 0; i < n; ++i) {
      const float v = q[i];
      const int32_t t = id[i];
      id[j] = t;
      q[j] = v * scale;
      j += v < floor ? 0 : 1;
    }
  }
  ids_.resize(kept);
  probs_.resize(kept);
  dense_ = false;
  return static_cast<float>(dropped);
}

absl::Status Distribution::Validate(float tolerance) const {
  if (vocab_size_ <= 0) return absl::InvalidArgumentError("distribution: vocab_size must be > 0");
  if (dense_) {
    if (probs_.size() != static_cast<size_t>(vocab_size_)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "distribution: dense probs has ", probs_.size(), " entries, vocab_size is ", vocab_size_));
    }
  } else {
    if (ids_.size() != probs_.size()) {
      return absl::InvalidArgumentError("distribution: ids and probs differ in length");
    }
    if (ids_.empty()) return absl::InvalidArgumentError("distribution: empty support");
    for (size_t i = 0; i < ids_.size(); ++i) {
      if (ids_[i] < 0 || ids_[i] >= vocab_size_) {
        return absl::InvalidArgumentError(absl::StrCat("distribution: id ", ids_[i],
                                                       " outside vocabulary of ", vocab_size_));
      }
      if (i > 0 && ids_[i] <= ids_[i - 1]) {
        return absl::InvalidArgumentError("distribution: ids must be strictly ascending");
      }
    }
  }
  double total = 0.0;
  for (float p : probs_) {
    if (!std::isfinite(p) || p < 0.0f) {
      return absl::InvalidArgumentError("distribution: probabilities must be finite and >= 0");
    }
    total += p;
  }
  if (std::fabs(total - 1.0) > tolerance) {
    return absl::InvalidArgumentError(
        absl::StrCat("distribution: probabilities sum to ", total, ", not 1"));
  }
  return absl::OkStatus();
}

}  // namespace tandem::runtime
