#include "runtime/parallel/nccl_communicator.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace tandem::runtime::parallel {
namespace {

absl::Status NcclStatus(ncclResult_t r, const char* what) {
  if (r == ncclSuccess) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(what, ": ", ncclGetErrorString(r)));
}

}  // namespace

absl::StatusOr<std::string> NcclCommunicator::NewUniqueId() {
  ncclUniqueId id;
  if (absl::Status s = NcclStatus(ncclGetUniqueId(&id), "ncclGetUniqueId"); !s.ok()) return s;
  return std::string(id.internal, sizeof id.internal);
}

absl::StatusOr<std::unique_ptr<NcclCommunicator>> NcclCommunicator::Create(const std::string& unique_id, int rank,
                                                                           int world, cudaStream_t stream) {
  ncclUniqueId id;
  if (unique_id.size() != sizeof id.internal) {
    return absl::InvalidArgumentError(absl::StrCat("NCCL unique id must be ", sizeof id.internal, " bytes, got ",
                                                   unique_id.size()));
  }
  if (world < 1 || rank < 0 || rank >= world) {
    return absl::InvalidArgumentError(absl::StrCat("rank ", rank, " / world size ", world, " is not a valid rank"));
  }
  std::memcpy(id.internal, unique_id.data(), sizeof id.internal);
  ncclComm_t comm = nullptr;
  if (absl::Status s = NcclStatus(ncclCommInitRank(&comm, world, id, rank), "ncclCommInitRank"); !s.ok()) return s;
  return std::unique_ptr<NcclCommunicator>(new NcclCommunicator(comm, rank, world, stream));
}

NcclCommunicator::~NcclCommunicator() {
  if (comm_ == nullptr) return;
  if (aborted_) {
    ncclCommAbort(comm_);
  } else {
    ncclCommDestroy(comm_);
  }
}

absl::Status NcclCommunicator::AllReduceSum(float* data, size_t count) {
  if (aborted_) return absl::AbortedError("NCCL communicator aborted");
  return NcclStatus(ncclAllReduce(data, data, count, ncclFloat32, ncclSum, comm_, stream_), "ncclAllReduce");
}

absl::Status NcclCommunicator::AllGather(const void* send, void* recv, size_t bytes) {
  if (aborted_) return absl::AbortedError("NCCL communicator aborted");
  return NcclStatus(ncclAllGather(send, recv, bytes, ncclUint8, comm_, stream_), "ncclAllGather");
}

absl::Status NcclCommunicator::Broadcast(void* data, size_t bytes, int root) {
  if (aborted_) return absl::AbortedError("NCCL communicator aborted");
  if (root < 0 || root >= world_) return absl::InvalidArgumentError("broadcast root outside the group");
  return NcclStatus(ncclBroadcast(data, data, bytes, ncclUint8, root, comm_, stream_), "ncclBroadcast");
}

void NcclCommunicator::Abort(const absl::Status& /*reason*/) {
  // ncclCommAbort makes the other ranks' pending collectives fail (they see
  // a remote error) instead of waiting forever; the handle is released in
  // the destructor.
  if (!aborted_ && comm_ != nullptr) {
    aborted_ = true;
    ncclCommAbort(comm_);
    comm_ = nullptr;
  }
}

}  // namespace tandem::runtime::parallel
