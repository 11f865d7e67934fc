// Collectives between the ranks of a tensor-parallel group (one rank per
// GPU, or per thread in the CPU tests). Every rank calls the same sequence of
// collectives with the same sizes (SPMD); a call returns once this rank's
// part of the collective is done.
//
// Buffers live where the implementation says: host memory for the
// in-process LocalCommunicator, device memory of the rank's GPU for the
// NcclCommunicator (enqueued on the rank's stream, stream-ordered after the
// kernels that produced the data).
#pragma once

#include <cstddef>

#include "absl/status/status.h"

namespace tandem::runtime::parallel {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;

  // In place: data[i] = the sum of every rank's data[i]. Every rank receives
  // bitwise the same values (see each implementation for the order).
  virtual absl::Status AllReduceSum(float* data, size_t count) = 0;
  // recv[r * bytes, (r + 1) * bytes) = rank r's send, for every r; recv holds
  // world_size() * bytes.
  virtual absl::Status AllGather(const void* send, void* recv, size_t bytes) = 0;
  // Every rank's data = root's data.
  virtual absl::Status Broadcast(void* data, size_t bytes, int root) = 0;
  // Fails the group: collectives in progress or later on any rank return an
  // error instead of waiting for a rank that will never arrive.
  virtual void Abort(const absl::Status& reason) = 0;
};

}  // namespace tandem::runtime::parallel
