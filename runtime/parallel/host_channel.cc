#include "runtime/parallel/host_channel.h"

namespace tandem::runtime::parallel {
namespace {

class DirectHostChannel final : public HostChannel {
 public:
  explicit DirectHostChannel(Communicator& comm) : comm_(comm) {}
  Communicator& comm() override { return comm_; }
  absl::Status Broadcast(void* data, size_t bytes, int root) override { return comm_.Broadcast(data, bytes, root); }
  absl::Status AllGather(const void* send, void* recv, size_t bytes) override {
    return comm_.AllGather(send, recv, bytes);
  }

 private:
  Communicator& comm_;
};

}  // namespace

std::unique_ptr<HostChannel> MakeDirectHostChannel(Communicator& comm) {
  return std::make_unique<DirectHostChannel>(comm);
}

}  // namespace tandem::runtime::parallel
