#include "runtime/backend/cuda/pass_graphs.h"

#include "absl/strings/str_cat.h"
#include "kernels/cuda/cuda_status.h"

namespace tandem::runtime::cuda {

using kernels::cuda::CudaStatus;

StagingArena::~StagingArena() {
  if (done_ != nullptr) {
    cudaEventSynchronize(done_);
    cudaEventDestroy(done_);
  }
  if (data_ != nullptr) cudaFreeHost(data_);
}

absl::Status StagingArena::Reserve(size_t bytes) {
  if (done_ == nullptr) {
    if (absl::Status s = CudaStatus(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming), "cudaEventCreate");
        !s.ok()) {
      return s;
    }
  }
  if (bytes <= capacity_) return absl::OkStatus();
  if (absl::Status s = WaitIdleAndReset(); !s.ok()) return s;
  if (data_ != nullptr) cudaFreeHost(data_);
  data_ = nullptr;
  capacity_ = 0;
  if (absl::Status s = CudaStatus(cudaHostAlloc(&data_, bytes, cudaHostAllocDefault),
                                  absl::StrCat("cudaHostAlloc ", bytes, " bytes of pass staging"));
      !s.ok()) {
    data_ = nullptr;
    return s;
  }
  capacity_ = bytes;
  return absl::OkStatus();
}

absl::Status StagingArena::MarkInUse(cudaStream_t stream) {
  return CudaStatus(cudaEventRecord(done_, stream), "cudaEventRecord (pass staging)");
}

absl::Status StagingArena::WaitIdleAndReset() {
  // An event never recorded counts as complete.
  if (done_ != nullptr) {
    if (absl::Status s = CudaStatus(cudaEventSynchronize(done_), "waiting for the previous pass' graph"); !s.ok()) {
      return s;
    }
  }
  used_ = 0;
  return absl::OkStatus();
}

absl::StatusOr<void*> StagingArena::Take(size_t bytes) {
  const size_t aligned = (bytes + 15) / 16 * 16;
  if (used_ + aligned > capacity_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("pass staging: ", bytes, " bytes requested, ", capacity_ - used_, " left"));
  }
  void* p = static_cast<char*>(data_) + used_;
  used_ += aligned;
  return p;
}

PassGraphs::~PassGraphs() {
  for (auto& [rows, exec] : execs_) cudaGraphExecDestroy(exec);
}

absl::Status PassGraphs::Begin(cudaStream_t stream) {
  return CudaStatus(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
}

void PassGraphs::Abandon(cudaStream_t stream) {
  cudaGraph_t graph = nullptr;
  cudaStreamEndCapture(stream, &graph);
  if (graph != nullptr) cudaGraphDestroy(graph);
  cudaGetLastError();  // the capture's error belongs to the abandoned pass
}

absl::Status PassGraphs::EndAndLaunch(cudaStream_t stream, int64_t rows) {
  cudaGraph_t graph = nullptr;
  if (absl::Status s = CudaStatus(cudaStreamEndCapture(stream, &graph), "cudaStreamEndCapture"); !s.ok()) {
    if (graph != nullptr) cudaGraphDestroy(graph);
    return s;
  }
  absl::Status status;
  auto it = execs_.find(rows);
  bool updated = false;
  if (it != execs_.end()) {
    cudaGraphExecUpdateResultInfo info{};
    if (cudaGraphExecUpdate(it->second, graph, &info) == cudaSuccess) {
      updated = true;
      ++updates_;
    } else {
      // Another topology (a different op sequence): instantiate afresh.
      cudaGetLastError();
      cudaGraphExecDestroy(it->second);
      execs_.erase(it);
    }
  }
  if (!updated) {
    cudaGraphExec_t exec = nullptr;
    status = CudaStatus(cudaGraphInstantiate(&exec, graph, 0), "cudaGraphInstantiate");
    if (status.ok()) {
      execs_[rows] = exec;
      ++instantiations_;
    }
  }
  cudaGraphDestroy(graph);
  if (!status.ok()) return status;
  return CudaStatus(cudaGraphLaunch(execs_[rows], stream), "cudaGraphLaunch");
}

}  // namespace tandem::runtime::cuda
