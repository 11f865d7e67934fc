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

bool HasInt8Kernel(GgmlType type) { return launch::HasInt8Kernel(type); }

namespace {
constexpr size_t Align16(size_t v) { return (v + 15) & ~size_t{15}; }
}  // namespace

size_t Int8ScratchBytes(int64_t cols) {
  const auto c = static_cast<size_t>(cols), m = static_cast<size_t>(kRowsPerLaunch);
  return Align16(m * c) + Align16(m * (c / 256) * sizeof(float)) + Align16(m * (c / 32) * sizeof(int32_t));
}

absl::Status MatVecInt8(const DeviceWeight& w, const float* x, int64_t m, int64_t ldx, float* y, int64_t ldy,
                        const float* bias, void* scratch, size_t scratch_bytes, cudaStream_t stream) {
  if (absl::Status s = CheckWeight(w); !s.ok()) return s;
  if (!launch::HasInt8Kernel(w.type) || w.cols % 256 != 0) {
    return absl::InvalidArgumentError(absl::StrCat("MatVecInt8: no int8-activation kernel for ggml type ",
                                                   static_cast<int>(w.type), " with ", w.cols, " columns"));
  }
  if (m < 0 || ldx < w.cols || ldy < w.rows || ldx % 4 != 0 || reinterpret_cast<uintptr_t>(x) % 16 != 0) {
    return absl::InvalidArgumentError(absl::StrCat("MatVecInt8: bad activation shape (m ", m, ", ldx ", ldx,
                                                   ", ldy ", ldy, ") or a misaligned x"));
  }
  if (scratch == nullptr || scratch_bytes < Int8ScratchBytes(w.cols) ||
      reinterpret_cast<uintptr_t>(scratch) % 16 != 0) {
    return absl::InvalidArgumentError(absl::StrCat("MatVecInt8: scratch of ", scratch_bytes, " bytes, needs ",
                                                   Int8ScratchBytes(w.cols), " (16-byte aligned)"));
  }
  auto* base = static_cast<uint8_t*>(scratch);
  const auto c = static_cast<size_t>(w.cols), rows = static_cast<size_t>(kRowsPerLaunch);
  Int8Rows q;
  q.cols = w.cols;
  auto* qs = reinterpret_cast<int8_t*>(base);
  auto* d = reinterpret_cast<float*>(base + Align16(rows * c));
  auto* sums = reinterpret_cast<int32_t*>(base + Align16(rows * c) + Align16(rows * (c / 256) * sizeof(float)));
  q.qs = qs, q.d = d, q.sums = sums;
  for (int64_t r0 = 0; r0 < m; r0 += kRowsPerLaunch) {
    const int n = static_cast<int>(std::min(kRowsPerLaunch, m - r0));
    if (absl::Status s = CudaStatus(launch::QuantizeQ8K(x + r0 * ldx, ldx, n, w.cols, qs, d, sums, stream),
                                    "QuantizeQ8K kernel");
        !s.ok()) {
      return s;
    }
    if (absl::Status s = CudaStatus(launch::MatVecInt8(w.type, w.data, w.row_bytes, w.rows, q, n, y + r0 * ldy, ldy,
                                                       bias, stream),
                                    "MatVecInt8 kernel");
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
