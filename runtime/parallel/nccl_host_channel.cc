#include "runtime/parallel/nccl_host_channel.h"

#include <cuda_runtime_api.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace tandem::runtime::parallel {
namespace {

absl::Status CudaStatus(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(what, ": ", cudaGetErrorString(e)));
}

class NcclHostChannel final : public HostChannel {
 public:
  explicit NcclHostChannel(NcclCommunicator& comm) : comm_(comm) {}
  ~NcclHostChannel() override {
    if (device_ != nullptr) cudaFree(device_);
  }
  Communicator& comm() override { return comm_; }

  absl::Status Broadcast(void* data, size_t bytes, int root) override {
    if (bytes == 0) return absl::OkStatus();
    if (absl::Status s = Reserve(bytes); !s.ok()) return s;
    cudaStream_t stream = comm_.stream();
    if (comm_.rank() == root) {
      if (absl::Status s = CudaStatus(cudaMemcpyAsync(device_, data, bytes, cudaMemcpyHostToDevice, stream),
                                      "staging a broadcast");
          !s.ok()) {
        return s;
      }
    }
    if (absl::Status s = comm_.Broadcast(device_, bytes, root); !s.ok()) return s;
    if (comm_.rank() != root) {
      if (absl::Status s = CudaStatus(cudaMemcpyAsync(data, device_, bytes, cudaMemcpyDeviceToHost, stream),
                                      "reading a broadcast");
          !s.ok()) {
        return s;
      }
    }
    return CudaStatus(cudaStreamSynchronize(stream), "broadcast");
  }

  absl::Status AllGather(const void* send, void* recv, size_t bytes) override {
    if (bytes == 0) return absl::OkStatus();
    const size_t total = bytes * static_cast<size_t>(comm_.world_size());
    // recv part first, then this rank's send part after it.
    if (absl::Status s = Reserve(total + bytes); !s.ok()) return s;
    cudaStream_t stream = comm_.stream();
    char* send_dev = static_cast<char*>(device_) + total;
    if (absl::Status s = CudaStatus(cudaMemcpyAsync(send_dev, send, bytes, cudaMemcpyHostToDevice, stream),
                                    "staging an all-gather");
        !s.ok()) {
      return s;
    }
    if (absl::Status s = comm_.AllGather(send_dev, device_, bytes); !s.ok()) return s;
    if (absl::Status s = CudaStatus(cudaMemcpyAsync(recv, device_, total, cudaMemcpyDeviceToHost, stream),
                                    "reading an all-gather");
        !s.ok()) {
      return s;
    }
    return CudaStatus(cudaStreamSynchronize(stream), "all-gather");
  }

 private:
  // Grows the staging buffer; the stream is synchronised after every call,
  // so the old buffer is idle when it is freed.
  absl::Status Reserve(size_t bytes) {
    if (bytes <= capacity_) return absl::OkStatus();
    if (device_ != nullptr) cudaFree(device_);
    device_ = nullptr;
    capacity_ = 0;
    if (absl::Status s = CudaStatus(cudaMalloc(&device_, bytes), "allocating the staging buffer"); !s.ok()) return s;
    capacity_ = bytes;
    return absl::OkStatus();
  }

  NcclCommunicator& comm_;
  void* device_ = nullptr;
  size_t capacity_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<HostChannel>> MakeNcclHostChannel(NcclCommunicator& comm) {
  return std::unique_ptr<HostChannel>(new NcclHostChannel(comm));
}

}  // namespace tandem::runtime::parallel
