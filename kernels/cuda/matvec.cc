#include "kernels/cuda/matvec.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/launch.h"

namespace tandem::kernels::cuda {
namespace {

// Activation rows per launch (the kernels' register tile); more are chunked.
constexpr int64_t kRowsPerLaunch = 16;

absl::Status CheckWeight(const DeviceWeight& w) {
  if (!HasDeviceKernel(w.type)) {
    return absl::InvalidArgumentError(absl::StrCat("no CUDA kernel for ggml type ", static_cast<int>(w.type)));
  }
  if (w.rows <= 0 || w.cols <= 0 || w.cols % 32 != 0 || RowBytes(w.type, w.cols) == 0 ||
      w.row_bytes < RowBytes(w.type, w.cols) || w.data == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("bad device weight shape ", w.rows, " x ", w.cols));
  }
  // The kernels read F16/BF16/F32 units and K-quant code bytes with 16-byte
  // loads: the base and the row stride must keep them aligned.
  const bool wide_loads = w.type == GgmlType::kF16 || w.type == GgmlType::kBF16 || w.type == GgmlType::kF32 ||
                          w.type == GgmlType::kQ4_K || w.type == GgmlType::kQ5_K;
  if (reinterpret_cast<uintptr_t>(w.data) % 16 != 0 || (wide_loads && w.row_bytes % 16 != 0)) {
    return absl::InvalidArgumentError("device weight not 16-byte aligned (base or row stride)");
  }
  return absl::OkStatus();
}

}  // namespace

bool HasDeviceKernel(GgmlType type) { return launch::HasKernel(type); }

absl::Status MatVec(const DeviceWeight& w, const float* x, int64_t m, int64_t ldx, float* y, int64_t ldy,
                    const float* bias, cudaStream_t stream, MatVecLayout layout) {
  if (absl::Status s = CheckWeight(w); !s.ok()) return s;
  // The kernels read x with 16-byte loads: rows must start 16-byte aligned.
  if (m < 0 || ldx < w.cols || ldy < w.rows || ldx % 4 != 0 || reinterpret_cast<uintptr_t>(x) % 16 != 0) {
    return absl::InvalidArgumentError(absl::StrCat("MatVec: bad activation shape (m ", m, ", ldx ", ldx, ", ldy ",
                                                   ldy, ") or a misaligned x"));
  }
  for (int64_t r0 = 0; r0 < m; r0 += kRowsPerLaunch) {
    const int n = static_cast<int>(std::min(kRowsPerLaunch, m - r0));
    if (absl::Status s = CudaStatus(launch::MatVec(w.type, w.data, w.row_bytes, w.rows, w.cols, x + r0 * ldx, ldx, n,
                                                   y + r0 * ldy, ldy, bias, stream,
                                                   layout == MatVecLayout::kRowGroups),
                                    "MatVec kernel");
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status DequantizeRows(const DeviceWeight& w, const int32_t* row_ids, int64_t n, float* out, int64_t ld_out,
                            cudaStream_t stream) {
  if (absl::Status s = CheckWeight(w); !s.ok()) return s;
  if (n < 0 || ld_out < w.cols) return absl::InvalidArgumentError("DequantizeRows: bad output shape");
  if (n == 0) return absl::OkStatus();
  return CudaStatus(launch::DequantizeRows(w.type, w.data, w.row_bytes, w.cols, row_ids, n, out, ld_out, stream),
                    "DequantizeRows kernel");
}

}  // namespace tandem::kernels::cuda
