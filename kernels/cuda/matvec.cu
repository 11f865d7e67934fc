// Matrix-vector kernels with fused dequantization; see matvec.h for the
// numerics and batch-invariance contract.
#include "kernels/cuda/launch.h"
#include "kernels/cuda/quant_blocks.cuh"

namespace tandem::kernels::cuda::launch {
namespace {

constexpr int kMaxRows = 16;
constexpr int kWarpsPerBlock = 4;

// One warp per output row o; lane L owns units L, L + 32, ... of the row. The
// register accumulators are indexed by compile-time r (unrolled, guarded by
// r < m) so one instantiation per type serves every m without spilling.
template <GgmlType T>
__global__ void __launch_bounds__(32 * kWarpsPerBlock)
MatVecKernel(const uint8_t* __restrict__ w, size_t row_bytes, int64_t rows, int64_t units,
             const float* __restrict__ x, int64_t ldx, int m, float* __restrict__ y, int64_t ldy,
             const float* __restrict__ bias) {
  const int lane = threadIdx.x % 32;
  const int64_t o = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  if (o >= rows) return;  // o is warp-uniform: the whole warp leaves together
  const uint8_t* row = w + static_cast<size_t>(o) * row_bytes;
  float acc[kMaxRows];
#pragma unroll
  for (int r = 0; r < kMaxRows; ++r) acc[r] = 0.0f;
  float wu[32];
  for (int64_t u = lane; u < units; u += 32) {
    Unit<T>::Load(row, u, wu);
#pragma unroll
    for (int r = 0; r < kMaxRows; ++r) {
      if (r < m) {
        const float4* xr = reinterpret_cast<const float4*>(x + r * ldx + u * 32);
        float part = 0.0f;
#pragma unroll
        for (int q = 0; q < 8; ++q) {
          const float4 xv = __ldg(xr + q);
          part = __fmaf_rn(wu[4 * q + 0], xv.x, part);
          part = __fmaf_rn(wu[4 * q + 1], xv.y, part);
          part = __fmaf_rn(wu[4 * q + 2], xv.z, part);
          part = __fmaf_rn(wu[4 * q + 3], xv.w, part);
        }
        acc[r] = __fadd_rn(acc[r], part);
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kMaxRows; ++r) {
    if (r < m) {
      float v = acc[r];
      // Butterfly: every lane ends with the same sum, combined in a fixed tree.
#pragma unroll
      for (int off = 16; off > 0; off /= 2) v = __fadd_rn(v, __shfl_xor_sync(0xffffffffu, v, off));
      if (lane == 0) y[r * ldy + o] = bias != nullptr ? __fadd_rn(v, bias[o]) : v;
    }
  }
}

template <GgmlType T>
__global__ void DequantizeRowsKernel(const uint8_t* __restrict__ w, size_t row_bytes, const int32_t* row_ids,
                                     int64_t n, int64_t units, float* __restrict__ out, int64_t ld_out) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= n * units) return;
  const int64_t i = idx / units, u = idx % units;
  const int64_t src = row_ids != nullptr ? row_ids[i] : i;
  float v[32];
  Unit<T>::Load(w + static_cast<size_t>(src) * row_bytes, u, v);
  float* dst = out + i * ld_out + u * 32;
#pragma unroll
  for (int k = 0; k < 32; ++k) dst[k] = v[k];
}

struct NoOp {
  template <GgmlType T>
  void operator()() const {}
};

}  // namespace

bool HasKernel(GgmlType type) { return DispatchType(type, NoOp{}); }

cudaError_t MatVec(GgmlType type, const void* w, size_t row_bytes, int64_t rows, int64_t cols, const float* x,
                   int64_t ldx, int m, float* y, int64_t ldy, const float* bias, cudaStream_t stream) {
  const int64_t units = cols / 32;
  const unsigned blocks = static_cast<unsigned>((rows + kWarpsPerBlock - 1) / kWarpsPerBlock);
  auto run = [&]<GgmlType T>() {
    MatVecKernel<T><<<blocks, 32 * kWarpsPerBlock, 0, stream>>>(static_cast<const uint8_t*>(w), row_bytes, rows,
                                                                units, x, ldx, m, y, ldy, bias);
  };
  if (!DispatchType(type, run)) return cudaErrorInvalidValue;
  return cudaGetLastError();
}

cudaError_t DequantizeRows(GgmlType type, const void* w, size_t row_bytes, int64_t cols, const int32_t* row_ids,
                           int64_t n, float* out, int64_t ld_out, cudaStream_t stream) {
  const int64_t units = cols / 32;
  constexpr int kThreads = 128;
  const unsigned blocks = static_cast<unsigned>((n * units + kThreads - 1) / kThreads);
  auto run = [&]<GgmlType T>() {
    DequantizeRowsKernel<T><<<blocks, kThreads, 0, stream>>>(static_cast<const uint8_t*>(w), row_bytes, row_ids, n,
                                                             units, out, ld_out);
  };
  if (!DispatchType(type, run)) return cudaErrorInvalidValue;
  return cudaGetLastError();
}

}  // namespace tandem::kernels::cuda::launch
