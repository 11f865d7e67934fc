// The group-forming logic of a tensor-parallel rendezvous, without any
// transport and without NCCL: rank 0 owns a Rendezvous holding the group id
// (opaque bytes, e.g. an ncclUniqueId), every rank joins it once (rank 0
// directly, the others through the gRPC service in rendezvous_service.h),
// and every Join returns the id only once all world_size distinct ranks have
// joined. Collective libraries such as NCCL block in their init until the
// whole group calls it, so handing the id out only to a complete group turns
// a misconfigured world size or a duplicated rank into a clear error here
// instead of a hang inside ncclCommInitRank.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace tandem::services::parallel {

class Rendezvous {
 public:
  // `group`: the name joiners must present; `group_id`: the bytes handed out.
  Rendezvous(std::string group, int world_size, std::string group_id);

  // Joins as `rank` of `world_size` and waits until the group is complete,
  // `deadline` passes or `cancelled` returns true (polled; may be empty).
  // Returns the group id. InvalidArgument: rank outside [0, world_size) or
  // world_size differs from this group's; FailedPrecondition: another group
  // name; AlreadyExists: the rank already joined (or the group completed with
  // it); DeadlineExceeded / Cancelled: the group did not complete in time,
  // and the rank is forgotten so that it may join again.
  absl::StatusOr<std::string> Join(const std::string& group, int rank, int world_size, absl::Time deadline,
                                   const std::function<bool()>& cancelled = {});

  int world_size() const { return world_size_; }
  // Ranks joined so far (all of them once complete), for logs and tests.
  int joined() const;
  bool complete() const;

 private:
  const std::string group_;
  const int world_size_;
  const std::string group_id_;
  mutable absl::Mutex mu_;
  std::vector<bool> present_ ABSL_GUARDED_BY(mu_);
  int joined_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tandem::services::parallel
