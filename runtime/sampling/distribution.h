// The exact processed distribution a token is sampled from.
//
// Speculative sampling is only lossless if the accept test and the residual
// use the very distribution each side sampled from, after temperature and
// truncation. A Distribution is that object, in one of two layouts:
//   dense  - probs()[id] for every id of the vocabulary (no truncation applied,
//            or truncation kept most of the vocabulary); Prob() is O(1).
//   sparse - the truncated support: ids() strictly ascending, probs() aligned;
//            Prob() is a binary search, O(log n).
// Probabilities are fp32 and sum to 1 (within rounding). Buffers keep their
// capacity across Reset* calls, so a Distribution reused per position
// allocates nothing in steady state.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"

namespace tandem::runtime {

class Distribution {
 public:
  Distribution() = default;

  int32_t vocab_size() const { return vocab_size_; }
  bool dense() const { return dense_; }
  bool empty() const { return probs_.empty(); }
  // Number of stored entries: vocab_size() for dense, the support for sparse.
  size_t size() const { return probs_.size(); }
  // Sparse only (empty for dense): the support ids, strictly ascending.
  std::span<const int32_t> ids() const { return ids_; }
  std::span<const float> probs() const { return probs_; }
  // Token id of stored entry i.
  int32_t id_at(size_t i) const { return dense_ ? static_cast<int32_t>(i) : ids_[i]; }

  // p(id); 0 for ids outside the support or the vocabulary.
  float Prob(int32_t id) const;
  // Highest-probability id; ties go to the lowest id. -1 when empty.
  int32_t Argmax() const;

  // Layout setters. They reuse capacity; callers fill mutable_probs()/ids().
  std::span<float> ResetDense(int32_t vocab_size);
  void ResetSparse(int32_t vocab_size, size_t n);
  std::span<int32_t> mutable_ids() { return ids_; }
  std::span<float> mutable_probs() { return probs_; }

  // Convenience builders (they copy).
  void AssignDense(std::span<const float> probs);
  void AssignSparse(int32_t vocab_size, std::span<const int32_t> ids,
                    std::span<const float> probs);
  void AssignOneHot(int32_t vocab_size, int32_t id);

  // Drops the tail: every entry below max_mass / size() (together at most
  // max_mass of probability) leaves the support and the rest is scaled back
  // to a total of 1; the row becomes sparse when fewer than half its entries
  // remain. Returns the mass dropped. For a drafter this keeps speculative
  // sampling lossless as long as it samples from, and reports, the row
  // after the call (the target's output distribution does not depend on
  // which q proposed), while a row that crosses the network shrinks from
  // the vocabulary to its head: acceptance falls by at most max_mass per
  // token. max_mass <= 0 leaves the row as it is.
  float DropTail(float max_mass);

  // Checks the invariants above: ids in range and strictly ascending, probs
  // finite and >= 0, total within `tolerance` of 1. Use on untrusted input
  // (e.g. a q received over the network).
  absl::Status Validate(float tolerance = 1e-3f) const;

 private:
  int32_t vocab_size_ = 0;
  bool dense_ = true;
  std::vector<int32_t> ids_;
  std::vector<float> probs_;
};

// Reads a row's probabilities at ascending ids, as a walk over another row's
// stored entries asks for them (ids ascend in both layouts): O(1) per id for
// a dense row, and for a sparse one a cursor that only moves forward, where
// Prob() would binary-search per id (a vocabulary's worth of searches per
// walk). One reader per walk: an id below the previous one is a caller bug.
class AscendingProbReader {
 public:
  explicit AscendingProbReader(const Distribution& row) : row_(row) {}

  float Prob(int32_t id) {
    if (row_.dense()) return row_.Prob(id);
    const std::span<const int32_t> ids = row_.ids();
    while (cursor_ < ids.size() && ids[cursor_] < id) ++cursor_;
    return cursor_ < ids.size() && ids[cursor_] == id ? row_.probs()[cursor_] : 0.0f;
  }

 private:
  const Distribution& row_;
  size_t cursor_ = 0;
};

}  // namespace tandem::runtime
