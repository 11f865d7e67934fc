#include "services/parallel/rendezvous.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace tandem::services::parallel {

Rendezvous::Rendezvous(std::string group, int world_size, std::string group_id)
    : group_(std::move(group)),
      world_size_(world_size),
      group_id_(std::move(group_id)),
      present_(static_cast<size_t>(std::max(world_size, 0)), false) {}

int Rendezvous::joined() const {
  absl::MutexLock lock(&mu_);
  return joined_;
}

bool Rendezvous::complete() const {
  absl::MutexLock lock(&mu_);
  return joined_ == world_size_;
}

absl::StatusOr<std::string> Rendezvous::Join(const std::string& group, int rank, int world_size,
                                             absl::Time deadline, const std::function<bool()>& cancelled) {
  if (group != group_) {
    return absl::FailedPreconditionError(
        absl::StrCat("tensor-parallel group '", group, "' joined the rendezvous of group '", group_, "'"));
  }
  if (world_size != world_size_) {
    return absl::InvalidArgumentError(absl::StrCat("rank ", rank, " expects world size ", world_size,
                                                   ", but the group '", group_, "' has ", world_size_));
  }
  if (rank < 0 || rank >= world_size_) {
    return absl::InvalidArgumentError(absl::StrCat("rank ", rank, " is outside [0, ", world_size_, ")"));
  }
  absl::MutexLock lock(&mu_);
  if (present_[rank]) {
    return absl::AlreadyExistsError(
        absl::StrCat("rank ", rank, " already joined group '", group_, "' (two processes with the same rank?)"));
  }
  present_[rank] = true;
  ++joined_;
  const auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return joined_ == world_size_; };
  // gRPC offers no wake-up on cancellation to a synchronous handler, so the
  // wait is sliced to notice a cancelled call within a fraction of a second.
  constexpr absl::Duration kPoll = absl::Milliseconds(100);
  while (!done()) {
    if (cancelled && cancelled()) {
      present_[rank] = false;
      --joined_;
      return absl::CancelledError(absl::StrCat("rank ", rank, " left the rendezvous (call cancelled)"));
    }
    const absl::Time now = absl::Now();
    if (now >= deadline) {
      // Forget the rank: a restarted process with the same rank must be able
      // to join, and the group must not complete with a rank that gave up.
      present_[rank] = false;
      --joined_;
      return absl::DeadlineExceededError(absl::StrCat("tensor-parallel group '", group_, "': ", joined_, " of ",
                                                      world_size_, " ranks joined before rank ", rank,
                                                      "'s deadline"));
    }
    mu_.AwaitWithDeadline(absl::Condition(&done), std::min(deadline, now + kPoll));
  }
  return group_id_;
}

}  // namespace tandem::services::parallel
