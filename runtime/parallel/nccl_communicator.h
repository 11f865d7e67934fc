// The NCCL Communicator: one rank per GPU, buffers in that GPU's memory,
// collectives enqueued on the rank's stream (the CUDA backend's stream, so
// they are ordered after the kernels that produced the data and before the
// ones that consume it; the calls return without waiting for the GPU).
//
// Bootstrap: rank 0 creates a unique id (NewUniqueId) and every rank must
// receive its bytes before Create; tandem's gRPC control plane carries them
// (the service side is wired by services/, not here). Reduction order:
// NCCL's ring/tree algorithms reduce each element once and broadcast the
// result, so all ranks hold identical sums; the order is fixed for a given
// topology and NCCL version, not the rank order of LocalCommunicator.
#pragma once

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/parallel/communicator.h"

namespace tandem::runtime::parallel {

class NcclCommunicator final : public Communicator {
 public:
  // The NCCL_UNIQUE_ID_BYTES (128) bytes of a fresh ncclUniqueId.
  static absl::StatusOr<std::string> NewUniqueId();
  // Joins the group identified by unique_id (bytes from NewUniqueId on rank
  // 0) as `rank` of `world`, on the current CUDA device, enqueueing on
  // `stream` (not owned). Blocks until all ranks joined (NCCL's bootstrap).
  static absl::StatusOr<std::unique_ptr<NcclCommunicator>> Create(const std::string& unique_id, int rank, int world,
                                                                  cudaStream_t stream);
  ~NcclCommunicator() override;

  int rank() const override { return rank_; }
  int world_size() const override { return world_; }
  // The stream collectives are enqueued on (the backend's).
  cudaStream_t stream() const { return stream_; }
  absl::Status AllReduceSum(float* data, size_t count) override;
  absl::Status AllGather(const void* send, void* recv, size_t bytes) override;
  absl::Status Broadcast(void* data, size_t bytes, int root) override;
  void Abort(const absl::Status& reason) override;

 private:
  NcclCommunicator(ncclComm_t comm, int rank, int world, cudaStream_t stream)
      : comm_(comm), rank_(rank), world_(world), stream_(stream) {}
  ncclComm_t comm_;
  const int rank_, world_;
  cudaStream_t stream_;
  bool aborted_ = false;
};

}  // namespace tandem::runtime::parallel
