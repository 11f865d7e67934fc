// Picks the compute backend for a model: `--device cuda|cpu|auto` and the
// deployment config's `device:` key map onto DeviceKind.
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "runtime/backend/backend.h"

namespace tandem::runtime {

enum class DeviceKind {
  kCpu,   // kernels/cpu
  kCuda,  // the CUDA backend on GPU 0; an error when there is none
  kAuto,  // CUDA when tandem was built with it and a GPU is visible, else CPU
};

// "cpu", "cuda", "auto" (exact, lower case); InvalidArgument otherwise.
absl::StatusOr<DeviceKind> ParseDeviceKind(std::string_view name);
std::string_view DeviceKindName(DeviceKind kind);

// True when this binary was built with -DTANDEM_CUDA=ON.
bool BuiltWithCuda();

// A backend of the requested kind. n_threads: CPU worker threads (0 = all
// cores); the CUDA backend uses it for nothing. Errors:
//   kCuda without TANDEM_CUDA: FailedPrecondition "CUDA requested but tandem
//     was built without CUDA (rebuild with -DTANDEM_CUDA=ON)";
//   kCuda with no usable GPU: Unavailable "no CUDA device found: ..." (the
//     driver's reason);
//   kAuto never fails for lack of a GPU: it falls back to the CPU.
absl::StatusOr<std::unique_ptr<Backend>> CreateBackend(DeviceKind kind, int n_threads);

}  // namespace tandem::runtime
