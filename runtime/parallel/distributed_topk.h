// Greedy and top-k selection over vocabulary-parallel logits without
// gathering them: each rank reduces its own slice to k (value, id)
// candidates, the candidates are all-gathered (8 bytes each) and merged. The
// global top-k is contained in the union of the local top-ks, so the result
// equals the top-k of the full row; ties go to the lowest id, like
// runtime::Sampler and Distribution::Argmax.
//
// Buffers are host memory (LocalCommunicator). With NCCL the 8 * k candidate
// bytes have to be staged through device memory by the caller.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/parallel/communicator.h"

namespace tandem::runtime::parallel {

struct Candidate {
  float value;
  int32_t id;  // global vocabulary id
};

// local: this rank's slice (padding excluded) of one logits row, whose first
// entry is global id `offset`. Every rank gets the same answer.
absl::StatusOr<int32_t> DistributedArgmax(Communicator& comm, std::span<const float> local, int64_t offset);

// The k best (value descending, id ascending on ties) of the whole row; fewer
// when the vocabulary has fewer than k ids.
absl::StatusOr<std::vector<Candidate>> DistributedTopK(Communicator& comm, std::span<const float> local,
                                                       int64_t offset, int k);

}  // namespace tandem::runtime::parallel
