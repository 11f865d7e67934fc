// The in-process Communicator: world_size ranks on threads of one process,
// host buffers. Used by the CPU tests of the sharding math and usable for
// CPU tensor parallelism across sockets.
//
// Determinism: AllReduceSum adds the ranks' values in rank order,
// ((r0 + r1) + r2) + ..., starting from rank 0's value, and every rank
// computes that same sum, so all ranks hold identical results. At world size
// 1 AllReduceSum is the identity and does not touch the buffer (so one rank
// works with any backend, device memory included).
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/parallel/communicator.h"

namespace tandem::runtime::parallel {

// The shared state of one group. Create it once, hand Rank(r) to thread r.
class LocalGroup : public std::enable_shared_from_this<LocalGroup> {
 public:
  static absl::StatusOr<std::shared_ptr<LocalGroup>> Create(int world_size);
  int world_size() const { return world_; }
  // The communicator of rank r (0 <= r < world_size); it keeps the group
  // alive. Call once per rank.
  absl::StatusOr<std::unique_ptr<Communicator>> Rank(int r);

 private:
  friend class LocalCommunicator;
  explicit LocalGroup(int world) : world_(world), posted_(static_cast<size_t>(world), nullptr) {}
  // Waits until all ranks arrived; an error once the group is aborted.
  absl::Status Barrier();
  void Abort(const absl::Status& reason);

  const int world_;
  std::mutex mu_;
  std::condition_variable cv_;
  int arrived_ = 0;
  long generation_ = 0;
  absl::Status aborted_;
  std::vector<const void*> posted_;  // per rank: its buffer for the current collective
};

}  // namespace tandem::runtime::parallel
