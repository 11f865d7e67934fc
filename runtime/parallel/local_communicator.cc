#include "runtime/parallel/local_communicator.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace tandem::runtime::parallel {

class LocalCommunicator final : public Communicator {
 public:
  LocalCommunicator(std::shared_ptr<LocalGroup> group, int rank) : group_(std::move(group)), rank_(rank) {}
  int rank() const override { return rank_; }
  int world_size() const override { return group_->world_; }

  // Three phases: post the buffer; once all have posted, every rank sums all
  // buffers into its own scratch (reading only); once all have read, each
  // copies its scratch back into its own buffer (nobody reads it any more).
  absl::Status AllReduceSum(float* data, size_t count) override {
    // One rank: the sum is the data itself. Returning before touching it also
    // lets a single-rank TensorParallelModel run on a device backend, whose
    // activations this host-memory communicator cannot read.
    if (group_->world_ == 1) return absl::OkStatus();
    group_->posted_[rank_] = data;
    if (absl::Status s = group_->Barrier(); !s.ok()) return s;
    scratch_.resize(count);
    const auto* first = static_cast<const float*>(group_->posted_[0]);
    std::memcpy(scratch_.data(), first, count * sizeof(float));
    for (int r = 1; r < group_->world_; ++r) {
      const auto* src = static_cast<const float*>(group_->posted_[r]);
      for (size_t i = 0; i < count; ++i) scratch_[i] += src[i];
    }
    if (absl::Status s = group_->Barrier(); !s.ok()) return s;
    std::memcpy(data, scratch_.data(), count * sizeof(float));
    return absl::OkStatus();
  }

  absl::Status AllGather(const void* send, void* recv, size_t bytes) override {
    group_->posted_[rank_] = send;
    if (absl::Status s = group_->Barrier(); !s.ok()) return s;
    for (int r = 0; r < group_->world_; ++r) {
      std::memcpy(static_cast<char*>(recv) + static_cast<size_t>(r) * bytes, group_->posted_[r], bytes);
    }
    return group_->Barrier();  // the senders' buffers stay untouched until everyone copied
  }

  absl::Status Broadcast(void* data, size_t bytes, int root) override {
    if (root < 0 || root >= group_->world_) {
      return absl::InvalidArgumentError(absl::StrCat("broadcast root ", root, " outside [0, ", group_->world_, ")"));
    }
    group_->posted_[rank_] = data;
    if (absl::Status s = group_->Barrier(); !s.ok()) return s;
    if (rank_ != root) std::memcpy(data, group_->posted_[root], bytes);
    return group_->Barrier();
  }

  void Abort(const absl::Status& reason) override { group_->Abort(reason); }

 private:
  std::shared_ptr<LocalGroup> group_;
  const int rank_;
  std::vector<float> scratch_;
};

absl::StatusOr<std::shared_ptr<LocalGroup>> LocalGroup::Create(int world_size) {
  if (world_size < 1) return absl::InvalidArgumentError(absl::StrCat("world size ", world_size, " must be >= 1"));
  return std::shared_ptr<LocalGroup>(new LocalGroup(world_size));
}

absl::StatusOr<std::unique_ptr<Communicator>> LocalGroup::Rank(int r) {
  if (r < 0 || r >= world_) return absl::InvalidArgumentError(absl::StrCat("rank ", r, " outside [0, ", world_, ")"));
  return std::unique_ptr<Communicator>(new LocalCommunicator(shared_from_this(), r));
}

absl::Status LocalGroup::Barrier() {
  std::unique_lock<std::mutex> lock(mu_);
  if (!aborted_.ok()) return aborted_;
  const long gen = generation_;
  if (++arrived_ == world_) {
    arrived_ = 0;
    ++generation_;
    cv_.notify_all();
    return absl::OkStatus();
  }
  cv_.wait(lock, [&] { return generation_ != gen || !aborted_.ok(); });
  return generation_ != gen ? absl::OkStatus() : aborted_;
}

void LocalGroup::Abort(const absl::Status& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  if (aborted_.ok()) {
    aborted_ = reason.ok() ? absl::AbortedError("tensor-parallel group aborted")
                           : absl::Status(reason.code(), absl::StrCat("tensor-parallel group aborted: ",
                                                                      reason.message()));
  }
  cv_.notify_all();
}

}  // namespace tandem::runtime::parallel
