// Row and elementwise kernels of a transformer layer. Reductions run in one
// fixed order per row (thread t sums elements t, t + blockDim, ..., then a
// fixed shuffle tree), so a row's result never depends on how many rows the
// pass has. Explicit __f*_rn intrinsics keep the compiler from re-associating.
#include <cuda_fp16.h>

#include "kernels/cuda/launch.h"

namespace tandem::kernels::cuda::launch {
namespace {

// 1024 threads: a 4096-wide row is 4 loads a thread, all in flight (256
// threads took 15 us a row on the H200, ncu).
constexpr int kNormThreads = 1024;

__device__ float BlockSum(float v, float* shared) {
#pragma unroll
  for (int off = 16; off > 0; off /= 2) v = __fadd_rn(v, __shfl_xor_sync(0xffffffffu, v, off));
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  float total = 0.0f;
  for (int i = 0; i < static_cast<int>(blockDim.x / 32); ++i) total = __fadd_rn(total, shared[i]);
  __syncthreads();  // shared is reused by the caller's next reduction
  return total;
}

// residual != nullptr: x_out = x + residual (the layer's residual add) and
// the norm is taken of that sum; x_out may alias x.
__global__ void RmsNormKernel(const float* x, const float* residual, float* x_out, const float* __restrict__ w,
                              float eps, int64_t cols, float* __restrict__ out) {
  __shared__ float shared[32];
  const int64_t r = blockIdx.x;
  const float* xr = x + r * cols;
  float ss = 0.0f;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
    float v = xr[j];
    if (residual != nullptr) {
      v = __fadd_rn(v, residual[r * cols + j]);
      x_out[r * cols + j] = v;
    }
    ss = __fadd_rn(ss, __fmul_rn(v, v));
  }
  ss = BlockSum(ss, shared);
  const float inv = __fdiv_rn(1.0f, __fsqrt_rn(__fadd_rn(__fdiv_rn(ss, static_cast<float>(cols)), eps)));
  const float* src = residual != nullptr ? x_out + r * cols : xr;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
    out[r * cols + j] = __fmul_rn(__fmul_rn(src[j], inv), w[j]);
  }
}

// cos/sin of position * scale * inv_freq[i], in double like the CPU backend.
__global__ void RopeTablesKernel(const int32_t* positions, int64_t rows, const float* inv_freq, int half,
                                 float position_scale, float* cos_out, float* sin_out) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= rows * half) return;
  const int64_t r = idx / half;
  const int i = static_cast<int>(idx % half);
  const double pos = static_cast<double>(positions[r]) * static_cast<double>(position_scale);
  const double theta = pos * static_cast<double>(inv_freq[i]);
  cos_out[idx] = static_cast<float>(cos(theta));
  sin_out[idx] = static_cast<float>(sin(theta));
}

__global__ void RopeKernel(float* x, int64_t rows, int64_t ld, int n_heads, int head_dim, int half, bool adjacent,
                           const float* cos_t, const float* sin_t) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= rows * n_heads * half) return;
  const int i = static_cast<int>(idx % half);
  const int64_t rh = idx / half;
  const int h = static_cast<int>(rh % n_heads);
  const int64_t r = rh / n_heads;
  float* v = x + r * ld + static_cast<int64_t>(h) * head_dim;
  const int a = adjacent ? 2 * i : i;
  const int b = adjacent ? 2 * i + 1 : i + half;
  const float c = cos_t[r * half + i], s = sin_t[r * half + i];
  const float x0 = v[a], x1 = v[b];
  v[a] = __fsub_rn(__fmul_rn(x0, c), __fmul_rn(x1, s));
  v[b] = __fadd_rn(__fmul_rn(x0, s), __fmul_rn(x1, c));
}

__global__ void SiluMulKernel(const float* gate, const float* up, float* out, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float g = gate[i];
  // expf, not __expf: the fast intrinsic is off by a few ulp more than the CPU's libm.
  out[i] = __fmul_rn(__fdiv_rn(g, __fadd_rn(1.0f, expf(-g))), up[i]);
}

__global__ void AddKernel(float* x, const float* y, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) x[i] = __fadd_rn(x[i], y[i]);
}

__global__ void AddBiasKernel(float* y, int64_t rows, int64_t ld, const float* bias, int64_t cols) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= rows * cols) return;
  const int64_t r = i / cols, c = i % cols;
  y[r * ld + c] = __fadd_rn(y[r * ld + c], bias[c]);
}

__global__ void GatherRowsKernel(const float* x, int64_t ld_x, const int32_t* rows, int64_t n, int64_t cols,
                                 float* out, int64_t ld_out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n * cols) return;
  const int64_t r = i / cols, c = i % cols;
  out[r * ld_out + c] = x[static_cast<int64_t>(rows[r]) * ld_x + c];
}

// slots: (page, slot) pairs. fp16 with round-to-nearest-even, as the CPU's
// F16C path and Fp32ToFp16 store it.
__global__ void StoreKvKernel(const float* k, int64_t ld_k, const float* v, int64_t ld_v, const int32_t* slots,
                              int64_t n, uint16_t* kv_base, size_t page_elems, size_t layer_off, size_t v_off,
                              int kv_dim) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n * kv_dim) return;
  const int64_t r = i / kv_dim;
  const int c = static_cast<int>(i % kv_dim);
  uint16_t* base = kv_base + static_cast<size_t>(slots[2 * r]) * page_elems + layer_off +
                   static_cast<size_t>(slots[2 * r + 1]) * kv_dim;
  base[c] = __half_as_ushort(__float2half_rn(k[r * ld_k + c]));
  base[v_off + c] = __half_as_ushort(__float2half_rn(v[r * ld_v + c]));
}

unsigned Blocks(int64_t n, int threads) { return static_cast<unsigned>((n + threads - 1) / threads); }

}  // namespace

cudaError_t RmsNorm(const float* x, const float* residual, float* x_out, const float* w, float eps, int64_t rows,
                    int64_t cols, float* out, cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  RmsNormKernel<<<static_cast<unsigned>(rows), kNormThreads, 0, stream>>>(x, residual, x_out, w, eps, cols, out);
  return cudaGetLastError();
}

cudaError_t RopeTables(const int32_t* positions, int64_t rows, const float* inv_freq, int half, float position_scale,
                       float* cos_out, float* sin_out, cudaStream_t stream) {
  if (rows * half == 0) return cudaSuccess;
  RopeTablesKernel<<<Blocks(rows * half, 256), 256, 0, stream>>>(positions, rows, inv_freq, half, position_scale,
                                                                  cos_out, sin_out);
  return cudaGetLastError();
}

cudaError_t Rope(float* x, int64_t rows, int64_t ld, int n_heads, int head_dim, int half, bool adjacent,
                 const float* cos_t, const float* sin_t, cudaStream_t stream) {
  const int64_t n = rows * n_heads * half;
  if (n == 0) return cudaSuccess;
  RopeKernel<<<Blocks(n, 256), 256, 0, stream>>>(x, rows, ld, n_heads, head_dim, half, adjacent, cos_t, sin_t);
  return cudaGetLastError();
}

cudaError_t SiluMul(const float* gate, const float* up, float* out, int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  SiluMulKernel<<<Blocks(n, 256), 256, 0, stream>>>(gate, up, out, n);
  return cudaGetLastError();
}

cudaError_t Add(float* x, const float* y, int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  AddKernel<<<Blocks(n, 256), 256, 0, stream>>>(x, y, n);
  return cudaGetLastError();
}

cudaError_t AddBias(float* y, int64_t rows, int64_t ld, const float* bias, int64_t cols, cudaStream_t stream) {
  if (rows * cols == 0) return cudaSuccess;
  AddBiasKernel<<<Blocks(rows * cols, 256), 256, 0, stream>>>(y, rows, ld, bias, cols);
  return cudaGetLastError();
}

cudaError_t GatherRows(const float* x, int64_t ld_x, const int32_t* rows, int64_t n, int64_t cols, float* out,
                       int64_t ld_out, cudaStream_t stream) {
  if (n * cols == 0) return cudaSuccess;
  GatherRowsKernel<<<Blocks(n * cols, 256), 256, 0, stream>>>(x, ld_x, rows, n, cols, out, ld_out);
  return cudaGetLastError();
}

cudaError_t StoreKv(const float* k, int64_t ld_k, const float* v, int64_t ld_v, const int32_t* slots, int64_t n,
                    uint16_t* kv_base, size_t page_elems, size_t layer_off, size_t v_off, int kv_dim,
                    cudaStream_t stream) {
  if (n * kv_dim == 0) return cudaSuccess;
  StoreKvKernel<<<Blocks(n * kv_dim, 256), 256, 0, stream>>>(k, ld_k, v, ld_v, slots, n, kv_base, page_elems,
                                                              layer_off, v_off, kv_dim);
  return cudaGetLastError();
}

}  // namespace tandem::kernels::cuda::launch
