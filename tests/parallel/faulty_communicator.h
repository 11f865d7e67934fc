// A Communicator that fails its `fail_at`-th all-reduce (counting from 1) the
// way a broken transport does: the call errors and the group is aborted.
// Tests of the tensor-parallel failure path use it on one rank.
#pragma once

#include <memory>

#include "runtime/parallel/communicator.h"

namespace tandem::runtime::parallel {

class FaultyCommunicator final : public Communicator {
 public:
  FaultyCommunicator(std::unique_ptr<Communicator> inner, int fail_at) : inner_(std::move(inner)), fail_at_(fail_at) {}
  int rank() const override { return inner_->rank(); }
  int world_size() const override { return inner_->world_size(); }
  absl::Status AllReduceSum(float* data, size_t count) override {
    if (++calls_ == fail_at_) {
      absl::Status s = absl::InternalError("injected transport failure");
      inner_->Abort(s);
      return s;
    }
    return inner_->AllReduceSum(data, count);
  }
  absl::Status AllGather(const void* send, void* recv, size_t bytes) override {
    return inner_->AllGather(send, recv, bytes);
  }
  absl::Status Broadcast(void* data, size_t bytes, int root) override { return inner_->Broadcast(data, bytes, root); }
  void Abort(const absl::Status& reason) override { inner_->Abort(reason); }

 private:
  std::unique_ptr<Communicator> inner_;
  const int fail_at_;
  int calls_ = 0;
};

}  // namespace tandem::runtime::parallel
