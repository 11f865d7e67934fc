#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "kernels/cuda/random_fill.h"

namespace tandem::kernels::cuda {
namespace {

// splitmix64: a counter-based generator, so every thread draws its own
// values without state and the result does not depend on the launch shape.
__device__ uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

__device__ float Uniform(uint64_t seed, uint64_t i) {  // [-1, 1)
  return static_cast<float>(Mix(seed ^ Mix(i)) >> 40) * (2.0f / 16777216.0f) - 1.0f;
}

// Scale fields are kept out of the fp16 subnormal range: on the H200 the
// device conversion gave +-0 for such values (first gpu_matvec_test
// RandomFill run: whole Q6_K rows, whose scales are ~typical / 2048, came
// out zero, and with them the Llama-3-8B Q4_K benchmark's logits). Reading
// subnormal scales is unaffected: gpu_matvec_test feeds the kernels host
// data with subnormal scales and gets the CPU's values bit for bit.
__device__ void PutHalf(uint8_t* p, float v) {
  constexpr float kMinNormal = 6.2e-5f;  // just above 2^-14
  if (v != 0.0f && fabsf(v) < kMinNormal) v = copysignf(kMinNormal, v);
  const uint16_t h = __half_as_ushort(__float2half_rn(v));
  p[0] = static_cast<uint8_t>(h & 0xff);
  p[1] = static_cast<uint8_t>(h >> 8);
}

// One thread per byte of code data...
__global__ void RandomBytesKernel(uint8_t* w, size_t n, uint64_t seed) {
  const size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) w[i] = static_cast<uint8_t>(Mix(seed ^ (i * 0x2545f4914f6cdd1dull)) >> 56);
}

// ...then one thread per block rewrites the block's scale fields.
__global__ void ScalesKernel(GgmlType type, uint8_t* w, size_t n_blocks, size_t block_bytes, uint64_t seed,
                             float typical) {
  const size_t b = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (b >= n_blocks) return;
  uint8_t* blk = w + b * block_bytes;
  const float u = Uniform(seed + 1, b), v = Uniform(seed + 2, b);
  switch (type) {
    case GgmlType::kQ4_0: PutHalf(blk, typical / 8 * u); break;
    case GgmlType::kQ5_0: PutHalf(blk, typical / 16 * u); break;
    case GgmlType::kQ8_0: PutHalf(blk, typical / 128 * u); break;
    // The offset types get a block minimum that centres the codes: with
    // uniform codes the mean weight is then zero, as in a trained model (a
    // free minimum gave every row a mean of about half its spread).
    case GgmlType::kQ4_1:  // x = d q + m, q in 0..15
      PutHalf(blk, typical / 8 * u);
      PutHalf(blk + 2, -7.5f * (typical / 8 * u) * (1.0f + 0.1f * v));
      break;
    // The K-quants also get small sub-block scales (1..8 instead of random
    // 6-bit or 8-bit ones), so that d for a typical magnitude stays a
    // normal fp16 number.
    case GgmlType::kQ4_K:  // x = d sc q - dmin m, q in 0..15
    case GgmlType::kQ5_K: {  // q in 0..31
      // sc_j, m_j in 1..8: bytes 0..3 hold sc_0..3, bytes 4..7 m_0..3 (top
      // two bits, which extend sc_4..7 and m_4..7, zero), bytes 8..11 hold
      // sc_j | m_j << 4 for j = 4..7 (ScaleMinK4's packing).
      for (int k = 0; k < 12; ++k) {
        const uint64_t r = Mix((seed + 3) ^ Mix(b * 16 + k));
        const uint8_t lo = static_cast<uint8_t>(1 + (r & 7)), hi = static_cast<uint8_t>(1 + ((r >> 3) & 7));
        blk[4 + k] = k < 8 ? lo : static_cast<uint8_t>(lo | hi << 4);
      }
      const bool q4 = type == GgmlType::kQ4_K;
      const float d = typical / (q4 ? 32 : 64) * fabsf(u);
      PutHalf(blk, d);
      PutHalf(blk + 2, (q4 ? 7.5f : 15.5f) * d * (1.0f + 0.1f * v));
      break;
    }
    case GgmlType::kQ6_K: {  // x = d scale (q - 32), scale int8
      auto* scales = reinterpret_cast<int8_t*>(blk + offsetof(BlockQ6_K, scales));
      for (int k = 0; k < 16; ++k) {
        const uint64_t r = Mix((seed + 3) ^ Mix(b * 16 + k));
        scales[k] = static_cast<int8_t>((1 + (r & 7)) * ((r & 8) != 0 ? -1 : 1));
      }
      PutHalf(blk + offsetof(BlockQ6_K, d), typical / 64 * u);
      break;
    }
    default: break;
  }
}

__global__ void PlainKernel(GgmlType type, uint8_t* w, size_t n, uint64_t seed, float typical) {
  const size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float x = typical * Uniform(seed, i);
  if (type == GgmlType::kF32) {
    reinterpret_cast<float*>(w)[i] = x;
  } else if (type == GgmlType::kF16) {
    reinterpret_cast<__half*>(w)[i] = __float2half_rn(x);
  } else {
    reinterpret_cast<__nv_bfloat16*>(w)[i] = __float2bfloat16_rn(x);
  }
}

__global__ void FloatsKernel(float* x, int64_t n, uint64_t seed, float scale, float offset) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) x[i] = offset + scale * Uniform(seed, static_cast<uint64_t>(i));
}

unsigned Blocks(size_t n) { return static_cast<unsigned>((n + 255) / 256); }

}  // namespace

cudaError_t FillRandomWeights(GgmlType type, void* w, int64_t rows, int64_t cols, size_t row_bytes, uint64_t seed,
                              float typical, cudaStream_t stream) {
  auto* p = static_cast<uint8_t*>(w);
  const size_t bytes = row_bytes * static_cast<size_t>(rows);
  switch (type) {
    case GgmlType::kF32:
    case GgmlType::kF16:
    case GgmlType::kBF16: {
      const size_t n = static_cast<size_t>(rows) * static_cast<size_t>(cols);
      PlainKernel<<<Blocks(n), 256, 0, stream>>>(type, p, n, seed, typical);
      return cudaGetLastError();
    }
    case GgmlType::kQ4_0:
    case GgmlType::kQ4_1:
    case GgmlType::kQ5_0:
    case GgmlType::kQ8_0:
    case GgmlType::kQ4_K:
    case GgmlType::kQ5_K:
    case GgmlType::kQ6_K: {
      const bool k = type == GgmlType::kQ4_K || type == GgmlType::kQ5_K || type == GgmlType::kQ6_K;
      const size_t block_elems = k ? 256 : 32;
      const size_t n_blocks = static_cast<size_t>(rows) * static_cast<size_t>(cols) / block_elems;
      RandomBytesKernel<<<Blocks(bytes), 256, 0, stream>>>(p, bytes, seed);
      ScalesKernel<<<Blocks(n_blocks), 256, 0, stream>>>(type, p, n_blocks, bytes / n_blocks, seed, typical);
      return cudaGetLastError();
    }
    default: return cudaErrorInvalidValue;
  }
}

cudaError_t FillRandomFloats(float* x, int64_t n, uint64_t seed, float scale, float offset, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  FloatsKernel<<<Blocks(static_cast<size_t>(n)), 256, 0, stream>>>(x, n, seed, scale, offset);
  return cudaGetLastError();
}

}  // namespace tandem::kernels::cuda
