#include "runtime/parallel/distributed_topk.h"

#include <algorithm>
#include <climits>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace tandem::runtime::parallel {
namespace {

// Value descending, id ascending; NaN never wins (it sorts last).
bool Better(const Candidate& a, const Candidate& b) {
  if (std::isnan(a.value) != std::isnan(b.value)) return !std::isnan(a.value);
  if (a.value != b.value) return a.value > b.value;
  return a.id < b.id;
}

// A slot no real candidate loses to: padding when a slice has fewer than k ids.
constexpr Candidate kNone{-INFINITY, INT32_MAX};

}  // namespace

absl::StatusOr<std::vector<Candidate>> DistributedTopK(Communicator& comm, std::span<const float> local,
                                                       int64_t offset, int k) {
  if (k <= 0) return absl::InvalidArgumentError(absl::StrCat("top-k needs k >= 1, got ", k));
  std::vector<Candidate> mine;
  mine.reserve(local.size());
  for (size_t i = 0; i < local.size(); ++i) mine.push_back({local[i], static_cast<int32_t>(offset + i)});
  const size_t kk = std::min(static_cast<size_t>(k), mine.size());
  std::partial_sort(mine.begin(), mine.begin() + kk, mine.end(), Better);
  mine.resize(static_cast<size_t>(k), kNone);  // truncate to k or pad up to k
  std::vector<Candidate> all(static_cast<size_t>(k) * comm.world_size());
  if (absl::Status s = comm.AllGather(mine.data(), all.data(), sizeof(Candidate) * static_cast<size_t>(k)); !s.ok()) {
    return s;
  }
  std::sort(all.begin(), all.end(), Better);
  std::vector<Candidate> out;
  for (const Candidate& c : all) {
    if (out.size() == static_cast<size_t>(k)) break;
    if (c.id != INT32_MAX) out.push_back(c);
  }
  return out;
}

absl::StatusOr<int32_t> DistributedArgmax(Communicator& comm, std::span<const float> local, int64_t offset) {
  absl::StatusOr<std::vector<Candidate>> top = DistributedTopK(comm, local, offset, 1);
  if (!top.ok()) return top.status();
  if (top->empty()) return absl::InvalidArgumentError("argmax of an empty vocabulary");
  return (*top)[0].id;
}

}  // namespace tandem::runtime::parallel
