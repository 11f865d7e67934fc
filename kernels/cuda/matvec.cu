// Matrix-vector kernels with fused dequantization; see matvec.h for the
// numerics and batch-invariance contract.
#include "kernels/cuda/launch.h"
#include "kernels/cuda/warp_sums.cuh"
#include "kernels/cuda/quant_blocks.cuh"

namespace tandem::kernels::cuda::launch {
namespace {

// Activation rows per launch, at most; each kernel is instantiated for a
// register tile of kM = 1, 2, 4, 8 or 16 rows and a launch takes the smallest
// that holds m. A row's operations are the same in every instantiation (the
// tile only decides how many accumulators exist), so the result of a row is
// bitwise the same whichever tile computed it: batch invariance holds. A
// 16-row tile for one row cost ~100 registers a thread and capped occupancy
// at 25 % (ncu, first H200 runs).
constexpr int kMaxRows = 16;

template <typename F>
void DispatchRows(int m, F&& f) {
  if (m <= 1) f.template operator()<1>();
  else if (m <= 2) f.template operator()<2>();
  else if (m <= 4) f.template operator()<4>();
  else if (m <= 8) f.template operator()<8>();
  else f.template operator()<kMaxRows>();
}
constexpr int kWarpsPerBlock = 4;

// A unit's contribution to each activation row: the 32-term FMA chain over
// the unit's elements in order, then added into acc[r]. Shared by the
// unit-based kernels, so their per-unit order is one definition.
template <int kM>
__device__ __forceinline__ void UnitDot(const float* wu, const float* __restrict__ x, int64_t ldx, int m, int64_t u,
                                        float* acc) {
#pragma unroll
  for (int r = 0; r < kM; ++r) {
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

// One warp per output row o; lane L owns units L, L + 32, ... of the row. The
// register accumulators are indexed by compile-time r (unrolled, guarded by
// r < m) so one instantiation per type serves every m without spilling.
template <GgmlType T, int kM>
__global__ void __launch_bounds__(32 * kWarpsPerBlock)
MatVecKernel(const uint8_t* __restrict__ w, size_t row_bytes, int64_t rows, int64_t units,
             const float* __restrict__ x, int64_t ldx, int m, float* __restrict__ y, int64_t ldy,
             const float* __restrict__ bias) {
  const int lane = threadIdx.x % 32;
  const int64_t o = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  if (o >= rows) return;  // o is warp-uniform: the whole warp leaves together
  const uint8_t* row = w + static_cast<size_t>(o) * row_bytes;
  float acc[kM];
#pragma unroll
  for (int r = 0; r < kM; ++r) acc[r] = 0.0f;
  float wu[32];
  for (int64_t u = lane; u < units; u += 32) {
    Unit<T>::Load(row, u, wu);
    UnitDot<kM>(wu, x, ldx, m, u, acc);
  }
  StoreWarpRowSums<kM>(acc, m, lane, y, ldy, o, bias);
}

// Plain (F16/BF16/F32) weights in the warp-per-row layout read contiguously:
// lane L takes elements 8L..8L+7 of every 256-element span of the row, so a
// warp's weight load is one 512-byte run (F16/BF16; two for F32) and its
// activation loads two 512-byte runs. The unit kernel above hands each lane
// a 64-byte unit instead, so each of its loads touched 16-32 cache lines and
// the first H200 run was bound by L1 throughput (ncu: L1/TEX 86 %, DRAM 23 %
// on the Llama-3-8B q projection). kPlainUnroll spans are loaded before they
// are used, to keep enough bytes in flight. Output (r, o) is
//   butterfly over lanes L of
//     (sum over spans s, in order, of the 8-term FMA chain over 8L..8L+7 of s)
//     then the tail: (cols % 256) / 32 chunks with one element per lane,
// independent of m: batch-invariant.
template <GgmlType T>
__device__ __forceinline__ void LoadPlain8(const uint8_t* row, int64_t e, float* v) {
  if constexpr (T == GgmlType::kF32) {
    const float4 a = __ldg(reinterpret_cast<const float4*>(row + e * 4));
    const float4 b = __ldg(reinterpret_cast<const float4*>(row + e * 4 + 16));
    v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
  } else {
    const uint4 h = __ldg(reinterpret_cast<const uint4*>(row + e * 2));
    const uint32_t words[4] = {h.x, h.y, h.z, h.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const uint16_t lo = static_cast<uint16_t>(words[i] & 0xffffu), hi = static_cast<uint16_t>(words[i] >> 16);
      if constexpr (T == GgmlType::kF16) {
        v[2 * i] = __half2float(__ushort_as_half(lo));
        v[2 * i + 1] = __half2float(__ushort_as_half(hi));
      } else {
        v[2 * i] = Bf16Bits(lo);
        v[2 * i + 1] = Bf16Bits(hi);
      }
    }
  }
}

template <GgmlType T>
__device__ __forceinline__ float LoadPlain1(const uint8_t* row, int64_t e) {
  if constexpr (T == GgmlType::kF32) {
    return __ldg(reinterpret_cast<const float*>(row) + e);
  } else {
    const uint16_t b = __ldg(reinterpret_cast<const unsigned short*>(row) + e);
    if constexpr (T == GgmlType::kF16) return __half2float(__ushort_as_half(b));
    else return Bf16Bits(b);
  }
}

// One span's contribution of a lane: the 8-term chain, then into acc[r].
template <int kM>
__device__ __forceinline__ void PlainSpan(const float* wv, const float* __restrict__ x, int64_t ldx, int m,
                                          int64_t e, float* acc) {
#pragma unroll
  for (int r = 0; r < kM; ++r) {
    if (r < m) {
      const float4 a = __ldg(reinterpret_cast<const float4*>(x + r * ldx + e));
      const float4 b = __ldg(reinterpret_cast<const float4*>(x + r * ldx + e + 4));
      float part = __fmul_rn(wv[0], a.x);
      part = __fmaf_rn(wv[1], a.y, part);
      part = __fmaf_rn(wv[2], a.z, part);
      part = __fmaf_rn(wv[3], a.w, part);
      part = __fmaf_rn(wv[4], b.x, part);
      part = __fmaf_rn(wv[5], b.y, part);
      part = __fmaf_rn(wv[6], b.z, part);
      part = __fmaf_rn(wv[7], b.w, part);
      acc[r] = __fadd_rn(acc[r], part);
    }
  }
}

constexpr int kPlainUnroll = 4;

template <GgmlType T, int kM>
__global__ void __launch_bounds__(32 * kWarpsPerBlock)
MatVecPlainKernel(const uint8_t* __restrict__ w, size_t row_bytes, int64_t rows, int64_t cols,
                  const float* __restrict__ x, int64_t ldx, int m, float* __restrict__ y, int64_t ldy,
                  const float* __restrict__ bias) {
  const int lane = threadIdx.x % 32;
  const int64_t o = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  if (o >= rows) return;  // warp-uniform
  const uint8_t* row = w + static_cast<size_t>(o) * row_bytes;
  float acc[kM];
#pragma unroll
  for (int r = 0; r < kM; ++r) acc[r] = 0.0f;
  const int64_t spans = cols / 256;
  int64_t s = 0;
  for (; s + kPlainUnroll <= spans; s += kPlainUnroll) {
    float wv[kPlainUnroll][8];
#pragma unroll
    for (int k = 0; k < kPlainUnroll; ++k) LoadPlain8<T>(row, (s + k) * 256 + 8 * lane, wv[k]);
#pragma unroll
    for (int k = 0; k < kPlainUnroll; ++k) PlainSpan<kM>(wv[k], x, ldx, m, (s + k) * 256 + 8 * lane, acc);
  }
  for (; s < spans; ++s) {
    float wv[8];
    LoadPlain8<T>(row, s * 256 + 8 * lane, wv);
    PlainSpan<kM>(wv, x, ldx, m, s * 256 + 8 * lane, acc);
  }
  for (int64_t e = spans * 256 + lane; e < cols; e += 32) {  // cols % 256 is a multiple of 32
    const float wv = LoadPlain1<T>(row, e);
#pragma unroll
    for (int r = 0; r < kM; ++r) {
      if (r < m) acc[r] = __fmaf_rn(wv, __ldg(x + r * ldx + e), acc[r]);
    }
  }
  StoreWarpRowSums<kM>(acc, m, lane, y, ldy, o, bias);
}

// Row-group layout: a block of 8 warps computes 4 output rows. In every warp
// lane L serves row 4 * block + L / 8, and the 8 lanes of a row stride over
// the units of the warp's share of the row (warp k takes the k-th of 8
// contiguous ranges). The four rows of a warp read the same activation
// chunks at the same time, so each activation load serves 4 rows and an
// instruction touches 8 consecutive 128-byte chunks instead of 32 scattered
// ones: the warp-per-row layout reads 4 bytes of fp32 activations per weight
// (against ~0.56 bytes of Q4_K weight), and the first H200 runs showed it
// bound by L1 throughput (ncu: L1/TEX 93-97 %, DRAM 10 %, Llama-3-8B Q4_K).
// The split over 8 warps keeps 8 warps per 4 rows in flight even for the
// 256-row K/V projections. Output (r, o) is
//   sum over warps k (in order, via shared memory) of
//     (butterfly over the row's 8 lanes of
//        sum over the lane's units in range k, in order, of the unit dot product)
// which depends on cols only: batch-invariant.
constexpr int kGroupWarps = 8;
constexpr int kGroupLanes = 8;
constexpr int kGroupRows = 32 / kGroupLanes;

template <GgmlType T, int kM>
__global__ void __launch_bounds__(32 * kGroupWarps)
MatVecGroupsKernel(const uint8_t* __restrict__ w, size_t row_bytes, int64_t rows, int64_t units,
                   const float* __restrict__ x, int64_t ldx, int m, float* __restrict__ y, int64_t ldy,
                   const float* __restrict__ bias) {
  __shared__ float partial[kGroupWarps][kM][kGroupRows];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int g = lane / kGroupLanes, j = lane % kGroupLanes;
  const int64_t o = static_cast<int64_t>(blockIdx.x) * kGroupRows + g;
  // Rows past the end compute on the last row and write nothing, so every
  // lane reaches the shuffles.
  const uint8_t* row = w + static_cast<size_t>(o < rows ? o : rows - 1) * row_bytes;
  const int64_t per = (units + kGroupWarps - 1) / kGroupWarps;
  const int64_t u0 = warp * per;
  const int64_t u1 = u0 + per < units ? u0 + per : units;
  float acc[kM];
#pragma unroll
  for (int r = 0; r < kM; ++r) acc[r] = 0.0f;
  float wu[32];
  for (int64_t u = u0 + j; u < u1; u += kGroupLanes) {
    Unit<T>::Load(row, u, wu);
    UnitDot<kM>(wu, x, ldx, m, u, acc);
  }
#pragma unroll
  for (int r = 0; r < kM; ++r) {
    if (r < m) {
      float v = acc[r];
#pragma unroll
      for (int off = kGroupLanes / 2; off > 0; off /= 2) v = __fadd_rn(v, __shfl_xor_sync(0xffffffffu, v, off));
      if (j == 0) partial[warp][r][g] = v;
    }
  }
  __syncthreads();
  if (threadIdx.x < kGroupRows) {
    const int64_t out = static_cast<int64_t>(blockIdx.x) * kGroupRows + threadIdx.x;
    if (out < rows) {
#pragma unroll
      for (int r = 0; r < kM; ++r) {
        if (r < m) {
          float v = partial[0][r][threadIdx.x];
#pragma unroll
          for (int k = 1; k < kGroupWarps; ++k) v = __fadd_rn(v, partial[k][r][threadIdx.x]);
          y[r * ldy + out] = bias != nullptr ? __fadd_rn(v, bias[out]) : v;
        }
      }
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
                   int64_t ldx, int m, float* y, int64_t ldy, const float* bias, cudaStream_t stream,
                   bool row_groups) {
  const int64_t units = cols / 32;
  const auto* wb = static_cast<const uint8_t*>(w);
  if (row_groups) {
    const unsigned group_blocks = static_cast<unsigned>((rows + kGroupRows - 1) / kGroupRows);
    auto groups = [&]<GgmlType T>() {
      DispatchRows(m, [&]<int kM>() {
        MatVecGroupsKernel<T, kM><<<group_blocks, 32 * kGroupWarps, 0, stream>>>(wb, row_bytes, rows, units, x, ldx,
                                                                                 m, y, ldy, bias);
      });
    };
    if (!DispatchType(type, groups)) return cudaErrorInvalidValue;
    return cudaGetLastError();
  }
  const unsigned blocks = static_cast<unsigned>((rows + kWarpsPerBlock - 1) / kWarpsPerBlock);
  auto run = [&]<GgmlType T>() {
    DispatchRows(m, [&]<int kM>() {
      if constexpr (T == GgmlType::kF16 || T == GgmlType::kBF16 || T == GgmlType::kF32) {
        MatVecPlainKernel<T, kM><<<blocks, 32 * kWarpsPerBlock, 0, stream>>>(wb, row_bytes, rows, cols, x, ldx, m, y,
                                                                             ldy, bias);
      } else {
        MatVecKernel<T, kM><<<blocks, 32 * kWarpsPerBlock, 0, stream>>>(wb, row_bytes, rows, units, x, ldx, m, y,
                                                                        ldy, bias);
      }
    });
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
