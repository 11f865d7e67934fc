#include "runtime/backend/cuda/device_buffer.h"

#include <cuda_runtime_api.h>

#include "absl/strings/str_cat.h"
#include "kernels/cuda/cuda_status.h"

namespace tandem::runtime::cuda {

DeviceBuffer::~DeviceBuffer() {
  if (ptr_ != nullptr) cudaFree(ptr_);
}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
  if (this != &o) {
    if (ptr_ != nullptr) cudaFree(ptr_);
    ptr_ = o.ptr_;
    bytes_ = o.bytes_;
    o.ptr_ = nullptr;
    o.bytes_ = 0;
  }
  return *this;
}

absl::StatusOr<DeviceBuffer> DeviceBuffer::Allocate(size_t bytes, const char* what) {
  DeviceBuffer b;
  if (bytes == 0) return b;
  if (absl::Status s = kernels::cuda::CudaStatus(cudaMalloc(&b.ptr_, bytes), absl::StrCat("cudaMalloc ", bytes,
                                                                                          " bytes for ", what));
      !s.ok()) {
    b.ptr_ = nullptr;
    return s;
  }
  b.bytes_ = bytes;
  return b;
}

}  // namespace tandem::runtime::cuda
