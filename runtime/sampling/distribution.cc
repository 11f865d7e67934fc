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
