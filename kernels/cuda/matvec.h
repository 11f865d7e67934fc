// Matrix products against GGUF weights resident in device memory, for the
// decode / verify shapes (a few activation rows), with the dequantization
// fused into the product, plus the dequantizer the prefill GEMM path and the
// embedding lookup use.
//
// Numerics and batch invariance: in the default layout, output (r, o) of a
// quantized matrix is computed by one warp as
//   sum over lanes L (fixed butterfly tree) of
//     sum over units u = L, L + 32, ... (in order) of
//       sum over i < 32 (in order, fused multiply-add) of w[o][32u + i] * x[r][32u + i]
// with w dequantized exactly as kernels/cpu/dequantize.cc does; F16/BF16/F32
// rows are read contiguously instead (lane L takes elements 8L..8L+7 of each
// 256-element span, matvec.cu). Nothing in
// these orders depends on how many activation rows the call has or where row r
// sits among them, so a row's result is bitwise the same for m = 1 (decode),
// m = 5 (verify) or any batch. Activations stay fp32 (no activation
// quantization), so the GPU is closer to the exact product than the CPU
// kernels, which quantize activations to 8 bits; the two agree within the
// bound tests/kernels/cuda states, not bitwise.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "kernels/cpu/ggml_types.h"

namespace tandem::kernels::cuda {

// A weight matrix in device memory: rows x cols in ggml layout. data must be
// 16-byte aligned (cudaMalloc's is); for F16/BF16/F32/Q4_K/Q5_K so must
// row_bytes be (always true for whole rows of 32-element multiples).
struct DeviceWeight {
  GgmlType type = GgmlType::kF32;
  const void* data = nullptr;  // device pointer
  int64_t rows = 0;
  int64_t cols = 0;
  size_t row_bytes = 0;
};

// True for the types with device kernels: Q4_0, Q4_1, Q5_0, Q8_0, Q4_K,
// Q5_K, Q6_K, F16, BF16, F32.
bool HasDeviceKernel(GgmlType type);

// How the product's work maps onto threads; both are batch-invariant, each
// with its own (fixed) summation order, so one deployment uses one layout.
//  kWarpPerRow: one warp per output row, lanes strided over the units (the
//    order above; contiguous 8-element runs for F16/BF16/F32).
//  kRowGroups: blocks of 8 warps compute 4 rows; each row gets 8 lanes of
//    every warp, the warps split the row's units into 8 contiguous ranges,
//    and the 4 rows of a warp share each activation load (matvec.cu).
enum class MatVecLayout { kWarpPerRow, kRowGroups };

// y[r][o] = sum_c x[r][c] * W[o][c] (+ bias[o]) for r < m, o < w.rows.
// x, y, bias are device fp32; ldx / ldy are row strides in elements. Any m;
// rows are processed in chunks of 16 with the per-row order above.
// InvalidArgument for a type without kernels or inconsistent shapes.
absl::Status MatVec(const DeviceWeight& w, const float* x, int64_t m, int64_t ldx, float* y, int64_t ldy,
                    const float* bias, cudaStream_t stream, MatVecLayout layout = MatVecLayout::kWarpPerRow);

// Int8 activations (matvec_int8.cu), for the weight types HasInt8Kernel
// accepts (Q4_K): each call quantizes x like the CPU kernels' Q8_K (one
// scale per 256 elements) into `scratch`, then multiplies with dp4a integer
// dot products. Each 256-element block's term is bitwise the CPU scalar
// kernel's (DotQ4_KRow); the blocks are summed in another order. A row's
// result does not depend on m (batch-invariant). fp32 activations read 4
// bytes per weight against Q4_K's 0.56, which bound MatVec's Q4_K kernel by
// L1 throughput on the H200; these read 1.
bool HasInt8Kernel(GgmlType type);
// Device scratch bytes MatVecInt8 needs for rows of `cols` elements.
size_t Int8ScratchBytes(int64_t cols);
// As MatVec (any m: rows go 16 at a time through the scratch); scratch is a
// device buffer of at least Int8ScratchBytes(w.cols) bytes, 16-byte aligned,
// not used by another stream meanwhile. InvalidArgument for a type without
// int8 kernels, cols not a multiple of 256, or a small or misaligned scratch.
absl::Status MatVecInt8(const DeviceWeight& w, const float* x, int64_t m, int64_t ldx, float* y, int64_t ldy,
                        const float* bias, void* scratch, size_t scratch_bytes, cudaStream_t stream);

// out[i][:] = dequantized row (row_ids ? row_ids[i] : i) of w, for i < n;
// ld_out in elements. row_ids is a device pointer (embedding lookup).
absl::Status DequantizeRows(const DeviceWeight& w, const int32_t* row_ids, int64_t n, float* out,
                            int64_t ld_out, cudaStream_t stream);

}  // namespace tandem::kernels::cuda
