#include "runtime/backend/backend_factory.h"

#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"

#if defined(TANDEM_HAVE_CUDA)
#include "runtime/backend/cuda/cuda_backend.h"
#endif

namespace tandem::runtime {

absl::StatusOr<DeviceKind> ParseDeviceKind(std::string_view name) {
  if (name == "cpu") return DeviceKind::kCpu;
  if (name == "cuda") return DeviceKind::kCuda;
  if (name == "auto") return DeviceKind::kAuto;
  return absl::InvalidArgumentError(absl::StrCat("unknown device '", std::string(name), "' (cpu, cuda or auto)"));
}

std::string_view DeviceKindName(DeviceKind kind) {
  switch (kind) {
    case DeviceKind::kCpu: return "cpu";
    case DeviceKind::kCuda: return "cuda";
    case DeviceKind::kAuto: return "auto";
  }
  return "?";
}

bool BuiltWithCuda() {
#if defined(TANDEM_HAVE_CUDA)
  return true;
#else
  return false;
#endif
}

absl::StatusOr<std::unique_ptr<Backend>> CreateBackend(DeviceKind kind, int n_threads) {
  if (n_threads < 0) return absl::InvalidArgumentError("n_threads must be >= 0");
  if (kind == DeviceKind::kCpu) return MakeCpuBackend(n_threads);
#if defined(TANDEM_HAVE_CUDA)
  CudaBackendOptions options;
  // TANDEM_CUDA_GRAPHS=0 launches every kernel eagerly (to compare or to
  // rule graphs out when debugging).
  const char* graphs = std::getenv("TANDEM_CUDA_GRAPHS");
  options.cuda_graphs = graphs == nullptr || std::string(graphs) != "0";
  // TANDEM_CUDA_INT8=0 keeps fp32 activations for the Q4_K products too.
  const char* int8 = std::getenv("TANDEM_CUDA_INT8");
  options.int8_activations = int8 == nullptr || std::string(int8) != "0";
  absl::StatusOr<std::unique_ptr<Backend>> cuda = MakeCudaBackend(options);
  if (cuda.ok() || kind == DeviceKind::kCuda) return cuda;
  // kAuto: only the absence of a GPU falls back; any other CUDA failure
  // (out of memory, a broken driver) is worth surfacing.
  if (cuda.status().code() == absl::StatusCode::kUnavailable) return MakeCpuBackend(n_threads);
  return cuda.status();
#else
  if (kind == DeviceKind::kCuda) {
    return absl::FailedPreconditionError(
        "CUDA requested but tandem was built without CUDA (rebuild with -DTANDEM_CUDA=ON)");
  }
  return MakeCpuBackend(n_threads);
#endif
}

}  // namespace tandem::runtime
