// The last step of the warp-per-row matrix-vector kernels (matvec.cu,
// matvec_int8.cu): each lane holds a partial sum per activation row; a fixed
// butterfly over the 32 lanes combines them (every lane ends with the same
// sum, so the order is one tree whatever the lane), and lane 0 writes
// y[r][o] (+ bias[o]). One definition, so the kernels' final order is the same.
#pragma once

#include <cstdint>

namespace tandem::kernels::cuda {

template <int kM>
__device__ __forceinline__ void StoreWarpRowSums(const float* acc, int m, int lane, float* __restrict__ y,
                                                 int64_t ldy, int64_t o, const float* __restrict__ bias) {
#pragma unroll
  for (int r = 0; r < kM; ++r) {
    if (r < m) {
      float v = acc[r];
#pragma unroll
      for (int off = 16; off > 0; off /= 2) v = __fadd_rn(v, __shfl_xor_sync(0xffffffffu, v, off));
      if (lane == 0) y[r * ldy + o] = bias != nullptr ? __fadd_rn(v, bias[o]) : v;
    }
  }
}

}  // namespace tandem::kernels::cuda
