// cudaError_t -> absl::Status, so every CUDA failure surfaces as a Status that
// names the operation instead of an abort or a silently wrong result.
#pragma once

#include <cuda_runtime_api.h>

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tandem::kernels::cuda {

inline absl::Status CudaStatus(cudaError_t err, std::string_view what) {
  if (err == cudaSuccess) return absl::OkStatus();
  const absl::StatusCode code = err == cudaErrorMemoryAllocation ? absl::StatusCode::kResourceExhausted
                                : err == cudaErrorNoDevice       ? absl::StatusCode::kUnavailable
                                                                 : absl::StatusCode::kInternal;
  return absl::Status(code, absl::StrCat(std::string(what), ": ", cudaGetErrorName(err), " (", cudaGetErrorString(err), ")"));
}

// The status of the most recent kernel launch on this thread (bad launch
// configuration, missing kernel image for this GPU).
inline absl::Status LaunchStatus(std::string_view kernel) { return CudaStatus(cudaGetLastError(), kernel); }

}  // namespace tandem::kernels::cuda
