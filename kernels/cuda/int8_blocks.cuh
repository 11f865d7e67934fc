// The integer side of the int8-activation products (matvec_int8.cu): Q4_K
// weights against activations quantized like the CPU kernels' Q8_K (one
// scale per 256 elements, symmetric 127, kernels/cpu/dot_scalar.cc). Integer
// sums are exact, so how the lanes split a block cannot change them; each
// block's float term is then the CPU's formula with the CPU's operations in
// the CPU's order. Host and device code (host_dequantize.cu runs it on the
// CPU for CI), like quant_blocks.cuh.
#pragma once

#include "kernels/cuda/launch.h"
#include "kernels/cuda/quant_blocks.cuh"

namespace tandem::kernels::cuda {

// dot of four packed int8 pairs plus c (dp4a).
TANDEM_HD int Dp4a(int a, int b, int c) {
#if defined(__CUDA_ARCH__)
  return __dp4a(a, b, c);
#else
  for (int k = 0; k < 4; ++k) {
    c += static_cast<int8_t>(static_cast<uint32_t>(a) >> (8 * k)) * static_cast<int8_t>(static_cast<uint32_t>(b) >> (8 * k));
  }
  return c;
#endif
}

// Pair c < 4 of Q4_K block b: sub-blocks 2c and 2c + 1, the low and the
// high nibbles of qs[32c, 32c + 32), as packed codes, with their 6-bit scales
// and mins.
struct Q4KPair {
  uint32_t lo[8], hi[8];
  int sc0, sc1, m0, m1;
};

TANDEM_HD Q4KPair LoadQ4KPair(const uint8_t* b, int c) {
  uint32_t hdr[4], w[8];
  Load16(b, hdr);
  Load16(b + 4 + kKScaleSize + 32 * c, w);
  Load16(b + 4 + kKScaleSize + 32 * c + 16, w + 4);
  Q4KPair p;
  float d, dmin;
  HeaderK4(hdr, 2 * c, &d, &dmin, &p.sc0, &p.m0);
  HeaderK4(hdr, 2 * c + 1, &d, &dmin, &p.sc1, &p.m1);
TANDEM_UNROLL
  for (int i = 0; i < 8; ++i) {
    p.lo[i] = w[i] & 0x0f0f0f0fu;
    p.hi[i] = (w[i] >> 4) & 0x0f0f0f0fu;
  }
  return p;
}

// The pair against the 64 activation codes of its sub-blocks (16-byte
// aligned) and their two sums:
//   isum += sc0 * lo + sc1 * hi,  msum += m0 * xs0 + m1 * xs1
// exactly DotQ4_KRow's integer terms of that pair.
TANDEM_HD void Q4KPairDot(const Q4KPair& p, const int8_t* xq, int32_t xs0, int32_t xs1, int* isum, int* msum) {
  uint32_t x[16];
  const auto* xb = reinterpret_cast<const uint8_t*>(xq);
  Load16(xb, x);
  Load16(xb + 16, x + 4);
  Load16(xb + 32, x + 8);
  Load16(xb + 48, x + 12);
  int lo = 0, hi = 0;
TANDEM_UNROLL
  for (int i = 0; i < 8; ++i) {
    lo = Dp4a(static_cast<int>(p.lo[i]), static_cast<int>(x[i]), lo);
    hi = Dp4a(static_cast<int>(p.hi[i]), static_cast<int>(x[8 + i]), hi);
  }
  *isum += p.sc0 * lo + p.sc1 * hi;
  *msum += p.m0 * xs0 + p.m1 * xs1;
}

// A Q4_K block's float term from its exact integer sums: DotQ4_KRow's
//   x.d * d * isum - x.d * dmin * msum
// with the same operations in the same order (no contraction).
TANDEM_HD float Q4KBlockTerm(const uint8_t* b, float xd, int isum, int msum) {
  const float d = HalfAt(b), dmin = HalfAt(b + 2);
#if defined(__CUDA_ARCH__)
  return __fsub_rn(__fmul_rn(__fmul_rn(xd, d), __int2float_rn(isum)),
                   __fmul_rn(__fmul_rn(xd, dmin), __int2float_rn(msum)));
#else
  return xd * d * static_cast<float>(isum) - xd * dmin * static_cast<float>(msum);
#endif
}

}  // namespace tandem::kernels::cuda
