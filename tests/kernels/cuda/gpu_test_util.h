// Shared by the GPU tests: the runtime skip without a GPU, and device
// vectors for test data.
#pragma once

#include <cuda_runtime_api.h>

#include <vector>

#include "gtest/gtest.h"

namespace tandem::gpu_testing {

inline bool HaveGpu() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

// First statement of every GPU test: without a device the test is skipped
// (visible as SKIPPED with this reason), never silently passed.
#define TANDEM_REQUIRE_GPU()                                                 \
  do {                                                                       \
    if (!::tandem::gpu_testing::HaveGpu()) GTEST_SKIP() << "no CUDA device"; \
  } while (0)

template <typename T>
class DeviceVector {
 public:
  explicit DeviceVector(size_t n) : n_(n) { EXPECT_EQ(cudaMalloc(&p_, n * sizeof(T) + 16), cudaSuccess); }
  explicit DeviceVector(const std::vector<T>& host) : DeviceVector(host.size()) {
    EXPECT_EQ(cudaMemcpy(p_, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  }
  ~DeviceVector() { cudaFree(p_); }
  DeviceVector(const DeviceVector&) = delete;
  DeviceVector& operator=(const DeviceVector&) = delete;
  T* get() const { return static_cast<T*>(p_); }
  std::vector<T> Read() const {
    std::vector<T> h(n_);
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(h.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
    return h;
  }

 private:
  void* p_ = nullptr;
  size_t n_;
};

}  // namespace tandem::gpu_testing
