// The device choice (--device cpu|cuda|auto) as a runtime function: parsing,
// the CPU path, and the errors a build or machine without CUDA gives. Runs
// in every build; which error kCuda gives depends on how tandem was built
// and whether a GPU is visible, and the test checks the one that applies.
#include <cstdlib>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/backend/backend_factory.h"

#if defined(TANDEM_TEST_HAVE_CUDA)
#include <cuda_runtime_api.h>
#endif

namespace tandem::runtime {
namespace {

using ::testing::HasSubstr;

bool GpuVisible() {
#if defined(TANDEM_TEST_HAVE_CUDA)
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
#else
  return false;
#endif
}

TEST(BackendFactory, ParsesDeviceNames) {
  EXPECT_EQ(*ParseDeviceKind("cpu"), DeviceKind::kCpu);
  EXPECT_EQ(*ParseDeviceKind("cuda"), DeviceKind::kCuda);
  EXPECT_EQ(*ParseDeviceKind("auto"), DeviceKind::kAuto);
  for (const char* bad : {"", "CUDA", "gpu", "cuda:0"}) {
    absl::StatusOr<DeviceKind> k = ParseDeviceKind(bad);
    ASSERT_FALSE(k.ok()) << bad;
    EXPECT_EQ(k.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(k.status().message(), HasSubstr("cpu, cuda or auto"));
  }
  EXPECT_EQ(DeviceKindName(DeviceKind::kCuda), "cuda");
}

TEST(BackendFactory, CpuIsTheCpuBackend) {
  absl::StatusOr<std::unique_ptr<Backend>> b = CreateBackend(DeviceKind::kCpu, 2);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ((*b)->name(), "cpu");
  EXPECT_EQ((*b)->n_threads(), 2);
  EXPECT_FALSE(CreateBackend(DeviceKind::kCpu, -1).ok());
}

TEST(BackendFactory, CudaRequestedGivesTheBackendOrAClearError) {
  absl::StatusOr<std::unique_ptr<Backend>> b = CreateBackend(DeviceKind::kCuda, 1);
  if (!BuiltWithCuda()) {
    ASSERT_FALSE(b.ok());
    EXPECT_EQ(b.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(b.status().message(), HasSubstr("CUDA requested but tandem was built without CUDA"));
  } else if (!GpuVisible()) {
    ASSERT_FALSE(b.ok());
    EXPECT_EQ(b.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_THAT(b.status().message(), HasSubstr("no CUDA device found"));
  } else {
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_EQ((*b)->name(), "cuda");
  }
}

TEST(BackendFactory, AutoFallsBackToTheCpuWithoutAGpu) {
  absl::StatusOr<std::unique_ptr<Backend>> b = CreateBackend(DeviceKind::kAuto, 1);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ((*b)->name(), BuiltWithCuda() && GpuVisible() ? "cuda" : "cpu");
}

}  // namespace
}  // namespace tandem::runtime
