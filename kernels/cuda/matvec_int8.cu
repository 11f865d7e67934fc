// Int8-activation products for Q4_K weights (ggml's "mmvq" idea, the CPU
// kernels' numerics): activations are quantized once per call to int8 with
// one scale per 256 elements (QuantizeQ8K), and the weight codes meet them in
// dp4a integer dot products. The fp32-activation kernel (matvec.cu) read 4
// bytes of activation per weight against 0.56 bytes of Q4_K and was bound by
// L1 throughput on the H200 (ncu: 93-97 % busy, DRAM 9-11 %); here a weight
// costs 1 byte of activation, and each 32-byte run of codes is read once for
// both its nibbles (the unit kernel read it once per nibble).
//
// Order of operations, output (r, o): lane L = 4g + c (g < 8, c < 4) takes
// pair c of blocks g, g + 8, g + 16, ...; the four lanes of a block add their
// exact integer sums by shuffles, lane 4g adds the block's float term
// (Q4KBlockTerm, DotQ4_KRow's formula) to its accumulator in block order, and
// the 32 lanes end in a fixed butterfly. Nothing depends on m or on where row
// r sits in the call: batch-invariant. Each block's term is bitwise the CPU
// scalar kernel's; only the order the block terms are summed in differs.
#include "kernels/cuda/int8_blocks.cuh"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/warp_sums.cuh"

namespace tandem::kernels::cuda::launch {
namespace {

constexpr int kQuantWarps = 4;  // 256-element blocks per thread block

// One warp per 256-element block of one row; lane L quantizes elements
// 8L..8L+7 with QuantizeQ8KScalar's formula: amax (fmaxf, exact in any
// order), d = amax / 127, id = 1 / d (0 for an all-zero block),
// q = clamp(nearest-even(x * id), -127, 127).
__global__ void __launch_bounds__(32 * kQuantWarps)
QuantizeQ8KKernel(const float* __restrict__ x, int64_t ldx, int64_t cols, int64_t blocks_per_row, int64_t n_blocks,
                  int8_t* __restrict__ qs, float* __restrict__ d, int32_t* __restrict__ sums) {
  const int64_t blk = static_cast<int64_t>(blockIdx.x) * kQuantWarps + threadIdx.x / 32;
  if (blk >= n_blocks) return;  // warp-uniform
  const int lane = threadIdx.x % 32;
  const int64_t r = blk / blocks_per_row, b = blk % blocks_per_row;
  const float4* src = reinterpret_cast<const float4*>(x + r * ldx + b * 256 + 8 * lane);
  const float4 a = __ldg(src), c = __ldg(src + 1);
  const float v[8] = {a.x, a.y, a.z, a.w, c.x, c.y, c.z, c.w};
  float amax = 0.0f;
#pragma unroll
  for (int i = 0; i < 8; ++i) amax = fmaxf(amax, fabsf(v[i]));
#pragma unroll
  for (int off = 16; off > 0; off /= 2) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, off));
  const float db = __fdiv_rn(amax, 127.0f);
  const float id = db != 0.0f ? __fdiv_rn(1.0f, db) : 0.0f;
  uint32_t packed[2] = {0, 0};
  int sum = 0;
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const int q = min(127, max(-127, __float2int_rn(__fmul_rn(v[i], id))));
    packed[i / 4] |= (static_cast<uint32_t>(q) & 0xffu) << (8 * (i % 4));
    sum += q;
  }
  *reinterpret_cast<uint2*>(qs + r * cols + b * 256 + 8 * lane) = make_uint2(packed[0], packed[1]);
  // A 32-element sub-block is 4 lanes.
  sum += __shfl_xor_sync(0xffffffffu, sum, 1);
  sum += __shfl_xor_sync(0xffffffffu, sum, 2);
  if (lane % 4 == 0) sums[r * (cols / 32) + b * 8 + lane / 4] = sum;
  if (lane == 0) d[r * blocks_per_row + b] = db;
}

constexpr int kWarpsPerBlock = 4;

template <int kM>
__global__ void __launch_bounds__(32 * kWarpsPerBlock)
MatVecQ4KInt8Kernel(const uint8_t* __restrict__ w, size_t row_bytes, int64_t rows, int64_t blocks_per_row,
                    Int8Rows x, int m, float* __restrict__ y, int64_t ldy, const float* __restrict__ bias) {
  const int lane = threadIdx.x % 32, g = lane / 4, c = lane % 4;
  const int64_t o = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  if (o >= rows) return;  // warp-uniform
  const uint8_t* row = w + static_cast<size_t>(o) * row_bytes;
  const int64_t sub_per_row = x.cols / 32;
  float acc[kM];
#pragma unroll
  for (int r = 0; r < kM; ++r) acc[r] = 0.0f;
  // The loop bound is warp-uniform so every lane reaches the shuffles; lanes
  // past the last block add zeros.
  for (int64_t b0 = 0; b0 < blocks_per_row; b0 += 8) {
    const int64_t b = b0 + g;
    const bool valid = b < blocks_per_row;
    const uint8_t* blk = row + (valid ? b : 0) * sizeof(BlockQ4_K);
    const Q4KPair pair = LoadQ4KPair(blk, c);  // once for all m rows
#pragma unroll
    for (int r = 0; r < kM; ++r) {
      if (r < m) {
        int isum = 0, msum = 0;
        if (valid) {
          const int32_t* s = x.sums + r * sub_per_row + b * 8 + 2 * c;
          Q4KPairDot(pair, x.qs + r * x.cols + b * 256 + 64 * c, __ldg(s), __ldg(s + 1), &isum, &msum);
        }
        isum += __shfl_xor_sync(0xffffffffu, isum, 1);
        msum += __shfl_xor_sync(0xffffffffu, msum, 1);
        isum += __shfl_xor_sync(0xffffffffu, isum, 2);
        msum += __shfl_xor_sync(0xffffffffu, msum, 2);
        if (valid && c == 0) {
          acc[r] = __fadd_rn(acc[r], Q4KBlockTerm(blk, __ldg(x.d + r * blocks_per_row + b), isum, msum));
        }
      }
    }
  }
  StoreWarpRowSums<kM>(acc, m, lane, y, ldy, o, bias);
}

}  // namespace

bool HasInt8Kernel(GgmlType type) { return type == GgmlType::kQ4_K; }

cudaError_t QuantizeQ8K(const float* x, int64_t ldx, int64_t m, int64_t cols, int8_t* qs, float* d, int32_t* sums,
                        cudaStream_t stream) {
  if (cols % 256 != 0 || ldx % 4 != 0) return cudaErrorInvalidValue;
  const int64_t blocks_per_row = cols / 256, n_blocks = m * blocks_per_row;
  if (n_blocks == 0) return cudaSuccess;
  const unsigned grid = static_cast<unsigned>((n_blocks + kQuantWarps - 1) / kQuantWarps);
  QuantizeQ8KKernel<<<grid, 32 * kQuantWarps, 0, stream>>>(x, ldx, cols, blocks_per_row, n_blocks, qs, d, sums);
  return cudaGetLastError();
}

cudaError_t MatVecInt8(GgmlType type, const void* w, size_t row_bytes, int64_t rows, const Int8Rows& x, int m,
                       float* y, int64_t ldy, const float* bias, cudaStream_t stream) {
  if (type != GgmlType::kQ4_K || x.cols % 256 != 0 || m < 1 || m > 16) return cudaErrorInvalidValue;
  const unsigned blocks = static_cast<unsigned>((rows + kWarpsPerBlock - 1) / kWarpsPerBlock);
  const auto* wb = static_cast<const uint8_t*>(w);
  const int64_t bpr = x.cols / 256;
  auto go = [&]<int kM>() {
    MatVecQ4KInt8Kernel<kM><<<blocks, 32 * kWarpsPerBlock, 0, stream>>>(wb, row_bytes, rows, bpr, x, m, y, ldy, bias);
  };
  if (m <= 1) go.operator()<1>();
  else if (m <= 2) go.operator()<2>();
  else if (m <= 4) go.operator()<4>();
  else if (m <= 8) go.operator()<8>();
  else go.operator()<16>();
  return cudaGetLastError();
}

}  // namespace tandem::kernels::cuda::launch
