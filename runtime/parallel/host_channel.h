// Broadcast and all-gather of host memory between the ranks of a group: what
// the tensor-parallel step protocol (tp_engine.h) sends, i.e. each step's
// command and tokens and the logits rows rank 0 returns to its clients.
//
// Communicator buffers live where the implementation wants them (host memory
// for LocalCommunicator, the GPU for NcclCommunicator), so the protocol talks
// to a HostChannel instead: DirectHostChannel passes host pointers straight
// through (communicators on host memory), NcclHostChannel
// (nccl_host_channel.h, CUDA builds) stages them through device memory.
#pragma once

#include <cstddef>
#include <memory>

#include "absl/status/status.h"
#include "runtime/parallel/communicator.h"

namespace tandem::runtime::parallel {

class HostChannel {
 public:
  virtual ~HostChannel() = default;
  // The communicator underneath (rank, world size, Abort).
  virtual Communicator& comm() = 0;
  // As Communicator::Broadcast / AllGather, on host buffers; the data is in
  // host memory when the call returns.
  virtual absl::Status Broadcast(void* data, size_t bytes, int root) = 0;
  virtual absl::Status AllGather(const void* send, void* recv, size_t bytes) = 0;
};

// For communicators whose buffers are host memory (LocalCommunicator).
// `comm` must outlive the channel.
std::unique_ptr<HostChannel> MakeDirectHostChannel(Communicator& comm);

}  // namespace tandem::runtime::parallel
