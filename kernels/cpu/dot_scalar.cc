// Scalar reference kernels: the definition of what every fast kernel must
// compute. Written for clarity; each dot recomputes everything it needs from
// the activation codes (it ignores the corr/s helper fields) so a bug in the
// quantizer's helper fields shows up as a fast/scalar mismatch.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cpu/dequantize.h"
#include "kernels/cpu/dot_kernels.h"
#include "kernels/cpu/fp16.h"

namespace tandem::kernels {

ActFormat ActFormatFor(GgmlType type) {
  switch (type) {
    case GgmlType::kQ4_0:
    case GgmlType::kQ4_1:
    case GgmlType::kQ5_0:
    case GgmlType::kQ5_1:
    case GgmlType::kQ8_0:
      return ActFormat::kQ8A;
    case GgmlType::kQ4_K:
    case GgmlType::kQ5_K:
    case GgmlType::kQ6_K:
      return ActFormat::kQ8K;
    default:
      return ActFormat::kF32;
  }
}

int32_t Q8ACorrK(GgmlType type) {
  if (type == GgmlType::kQ4_0) return 8;
  if (type == GgmlType::kQ5_0) return 16;
  // The AVX-512 Q8_0 kernels multiply w + 128 (see Pair<DecQ8_0>).
  if (type == GgmlType::kQ8_0) return 128;
  return 0;
}

// The 6-bit scale/min pairs of Q4_K/Q5_K, 8 sub-blocks of 32.
void UnpackScalesMinsK4(const uint8_t* s, uint8_t* sc, uint8_t* m) {
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      sc[j] = s[j] & 63;
      m[j] = s[j + 4] & 63;
    } else {
      sc[j] = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4);
      m[j] = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
  }
}

namespace {

struct Q8ARow {
  const int8_t* qs;
  const float* d;  // (d, s) pairs: the scale of block b is d[2 * b]
  Q8ARow(const uint8_t* x, int64_t n)
      : qs(reinterpret_cast<const int8_t*>(x)), d(reinterpret_cast<const float*>(x + n)) {}
};

inline int NearestInt(float v) { return static_cast<int>(std::nearbyint(v)); }

void QuantizeQ8AScalar(const float* x, uint8_t* out, int64_t n, int32_t corr_k) {
  const int64_t nb = n / 32;
  int8_t* qs = reinterpret_cast<int8_t*>(out);
  float* ds = reinterpret_cast<float*>(out + n);
  int32_t* corr = reinterpret_cast<int32_t*>(out + n + 8 * nb);
  for (int64_t b = 0; b < nb; ++b) {
    const float* xb = x + b * 32;
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(xb[j]));
    const float db = amax / 127.0f;
    const float id = db != 0.0f ? 1.0f / db : 0.0f;
    int32_t sum = 0;
    for (int j = 0; j < 32; ++j) {
      const int q = std::clamp(NearestInt(xb[j] * id), -127, 127);
      qs[b * 32 + j] = static_cast<int8_t>(q);
      sum += q;
    }
    ds[2 * b] = db;
    ds[2 * b + 1] = db * static_cast<float>(sum);
    corr[b] = -corr_k * sum;
  }
}

void QuantizeQ8KScalar(const float* x, uint8_t* out, int64_t n, int32_t /*corr_k*/) {
  BlockQ8_K* y = reinterpret_cast<BlockQ8_K*>(out);
  for (int64_t b = 0; b < n / 256; ++b) {
    const float* xb = x + b * 256;
    float amax = 0.0f;
    for (int j = 0; j < 256; ++j) amax = std::max(amax, std::fabs(xb[j]));
    const float db = amax / 127.0f;
    const float id = db != 0.0f ? 1.0f / db : 0.0f;
    y[b].d = db;
    for (int g = 0; g < 16; ++g) {
      int sum = 0;
      for (int j = 0; j < 16; ++j) {
        const int q = std::clamp(NearestInt(xb[g * 16 + j] * id), -127, 127);
        y[b].qs[g * 16 + j] = static_cast<int8_t>(q);
        sum += q;
      }
      y[b].bsums[g] = static_cast<int16_t>(sum);
    }
  }
}

// --- 32-element blocks against Q8A ----------------------------------------

float DotQ4_0Row(int64_t n, const BlockQ4_0* w, Q8ARow x) {
  float sum = 0.0f;
  for (int64_t b = 0; b < n / 32; ++b) {
    const int8_t* xq = x.qs + b * 32;
    int isum = 0;
    for (int j = 0; j < 16; ++j) {
      isum += ((w[b].qs[j] & 0x0F) - 8) * xq[j];
      isum += ((w[b].qs[j] >> 4) - 8) * xq[j + 16];
    }
    sum += Fp16ToFp32(w[b].d) * x.d[2 * b] * static_cast<float>(isum);
  }
  return sum;
}

float DotQ4_1Row(int64_t n, const BlockQ4_1* w, Q8ARow x) {
  float sum = 0.0f;
  for (int64_t b = 0; b < n / 32; ++b) {
    const int8_t* xq = x.qs + b * 32;
    int isum = 0, xsum = 0;
    for (int j = 0; j < 16; ++j) {
      isum += (w[b].qs[j] & 0x0F) * xq[j] + (w[b].qs[j] >> 4) * xq[j + 16];
      xsum += xq[j] + xq[j + 16];
    }
    sum += Fp16ToFp32(w[b].d) * x.d[2 * b] * static_cast<float>(isum) +
           Fp16ToFp32(w[b].m) * (x.d[2 * b] * static_cast<float>(xsum));
  }
  return sum;
}

inline uint32_t LoadU32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

float DotQ5_0Row(int64_t n, const BlockQ5_0* w, Q8ARow x) {
  float sum = 0.0f;
  for (int64_t b = 0; b < n / 32; ++b) {
    const int8_t* xq = x.qs + b * 32;
    const uint32_t qh = LoadU32(w[b].qh);
    int isum = 0;
    for (int j = 0; j < 16; ++j) {
      const int q0 = ((w[b].qs[j] & 0x0F) | (((qh >> j) & 1) << 4)) - 16;
      const int q1 = ((w[b].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - 16;
      isum += q0 * xq[j] + q1 * xq[j + 16];
    }
    sum += Fp16ToFp32(w[b].d) * x.d[2 * b] * static_cast<float>(isum);
  }
  return sum;
}

float DotQ5_1Row(int64_t n, const BlockQ5_1* w, Q8ARow x) {
  float sum = 0.0f;
  for (int64_t b = 0; b < n / 32; ++b) {
    const int8_t* xq = x.qs + b * 32;
    const uint32_t qh = LoadU32(w[b].qh);
    int isum = 0, xsum = 0;
    for (int j = 0; j < 16; ++j) {
      const int q0 = (w[b].qs[j] & 0x0F) | (((qh >> j) & 1) << 4);
      const int q1 = (w[b].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
      isum += q0 * xq[j] + q1 * xq[j + 16];
      xsum += xq[j] + xq[j + 16];
    }
    sum += Fp16ToFp32(w[b].d) * x.d[2 * b] * static_cast<float>(isum) +
           Fp16ToFp32(w[b].m) * (x.d[2 * b] * static_cast<float>(xsum));
  }
  return sum;
}

float DotQ8_0Row(int64_t n, const BlockQ8_0* w, Q8ARow x) {
  float sum = 0.0f;
  for (int64_t b = 0; b < n / 32; ++b) {
    const int8_t* xq = x.qs + b * 32;
    int isum = 0;
    for (int j = 0; j < 32; ++j) isum += w[b].qs[j] * xq[j];
    sum += Fp16ToFp32(w[b].d) * x.d[2 * b] * static_cast<float>(isum);
  }
  return sum;
}

// --- K-quants against Q8K -------------------------------------------------


float DotQ4_KRow(int64_t n, const BlockQ4_K* w, const BlockQ8_K* x) {
  float sum = 0.0f;
  for (int64_t b = 0; b < n / 256; ++b) {
    uint8_t sc[8], m[8];
    UnpackScalesMinsK4(w[b].scales, sc, m);
    int isum = 0, msum = 0;
    for (int c = 0; c < 4; ++c) {  // 64 elements: low nibbles, then high nibbles
      const uint8_t* q = w[b].qs + 32 * c;
      const int8_t* xq = x[b].qs + 64 * c;
      int lo = 0, hi = 0, xlo = 0, xhi = 0;
      for (int l = 0; l < 32; ++l) {
        lo += (q[l] & 0x0F) * xq[l];
        hi += (q[l] >> 4) * xq[l + 32];
        xlo += xq[l];
        xhi += xq[l + 32];
      }
      isum += sc[2 * c] * lo + sc[2 * c + 1] * hi;
      msum += m[2 * c] * xlo + m[2 * c + 1] * xhi;
    }
    sum += x[b].d * Fp16ToFp32(w[b].d) * static_cast<float>(isum) -
           x[b].d * Fp16ToFp32(w[b].dmin) * static_cast<float>(msum);
  }
  return sum;
}

float DotQ5_KRow(int64_t n, const BlockQ5_K* w, const BlockQ8_K* x) {
  float sum = 0.0f;
  for (int64_t b = 0; b < n / 256; ++b) {
    uint8_t sc[8], m[8];
    UnpackScalesMinsK4(w[b].scales, sc, m);
    int isum = 0, msum = 0;
    for (int c = 0; c < 4; ++c) {
      const uint8_t* q = w[b].qs + 32 * c;
      const int8_t* xq = x[b].qs + 64 * c;
      int lo = 0, hi = 0, xlo = 0, xhi = 0;
      for (int l = 0; l < 32; ++l) {
        const int h0 = (w[b].qh[l] >> (2 * c)) & 1;
        const int h1 = (w[b].qh[l] >> (2 * c + 1)) & 1;
        lo += ((q[l] & 0x0F) | (h0 << 4)) * xq[l];
        hi += ((q[l] >> 4) | (h1 << 4)) * xq[l + 32];
        xlo += xq[l];
        xhi += xq[l + 32];
      }
      isum += sc[2 * c] * lo + sc[2 * c + 1] * hi;
      msum += m[2 * c] * xlo + m[2 * c + 1] * xhi;
    }
    sum += x[b].d * Fp16ToFp32(w[b].d) * static_cast<float>(isum) -
           x[b].d * Fp16ToFp32(w[b].dmin) * static_cast<float>(msum);
  }
  return sum;
}

float DotQ6_KRow(int64_t n, const BlockQ6_K* w, const BlockQ8_K* x) {
  float sum = 0.0f;
  for (int64_t b = 0; b < n / 256; ++b) {
    int q[256];
    for (int h = 0; h < 2; ++h) {  // two halves of 128 elements
      const uint8_t* ql = w[b].ql + 64 * h;
      const uint8_t* qh = w[b].qh + 32 * h;
      int* qq = q + 128 * h;
      for (int l = 0; l < 32; ++l) {
        qq[l] = ((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32;
        qq[l + 32] = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
        qq[l + 64] = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        qq[l + 96] = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      }
    }
    int isum = 0;
    for (int g = 0; g < 16; ++g) {
      int gs = 0;
      for (int j = 0; j < 16; ++j) gs += q[g * 16 + j] * x[b].qs[g * 16 + j];
      isum += w[b].scales[g] * gs;
    }
    sum += x[b].d * Fp16ToFp32(w[b].d) * static_cast<float>(isum);
  }
  return sum;
}

// --- float weights against fp32 activations -------------------------------

float DotF32Row(int64_t n, const float* w, const float* x) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += w[i] * x[i];
  return sum;
}

float DotF16Row(int64_t n, const uint16_t* w, const float* x) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += Fp16ToFp32(w[i]) * x[i];
  return sum;
}

float DotBF16Row(int64_t n, const uint16_t* w, const float* x) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += Bf16ToFp32(w[i]) * x[i];
  return sum;
}

// Adapts a one-row reference to the RowDotFn shape.
template <typename Block, float (*Row)(int64_t, const Block*, Q8ARow)>
void DotQ8A(int64_t n, const void* w, const uint8_t* x, size_t xs, int nx, float* out) {
  for (int j = 0; j < nx; ++j) out[j] = Row(n, static_cast<const Block*>(w), Q8ARow(x + j * xs, n));
}

template <typename Block, float (*Row)(int64_t, const Block*, const BlockQ8_K*)>
void DotQ8K(int64_t n, const void* w, const uint8_t* x, size_t xs, int nx, float* out) {
  for (int j = 0; j < nx; ++j) {
    out[j] = Row(n, static_cast<const Block*>(w), reinterpret_cast<const BlockQ8_K*>(x + j * xs));
  }
}

template <typename T, float (*Row)(int64_t, const T*, const float*)>
void DotF(int64_t n, const void* w, const uint8_t* x, size_t xs, int nx, float* out) {
  for (int j = 0; j < nx; ++j) {
    out[j] = Row(n, static_cast<const T*>(w), reinterpret_cast<const float*>(x + j * xs));
  }
}

CpuKernels MakeScalarKernels() {
  CpuKernels k;
  k.isa = Isa::kScalar;
  k.quantize_q8a = QuantizeQ8AScalar;
  k.quantize_q8k = QuantizeQ8KScalar;
  auto set = [&k](GgmlType t, RowDotFn f) { k.dot[static_cast<int>(t)] = f; };
  set(GgmlType::kQ4_0, DotQ8A<BlockQ4_0, DotQ4_0Row>);
  set(GgmlType::kQ4_1, DotQ8A<BlockQ4_1, DotQ4_1Row>);
  set(GgmlType::kQ5_0, DotQ8A<BlockQ5_0, DotQ5_0Row>);
  set(GgmlType::kQ5_1, DotQ8A<BlockQ5_1, DotQ5_1Row>);
  set(GgmlType::kQ8_0, DotQ8A<BlockQ8_0, DotQ8_0Row>);
  set(GgmlType::kQ4_K, DotQ8K<BlockQ4_K, DotQ4_KRow>);
  set(GgmlType::kQ5_K, DotQ8K<BlockQ5_K, DotQ5_KRow>);
  set(GgmlType::kQ6_K, DotQ8K<BlockQ6_K, DotQ6_KRow>);
  set(GgmlType::kF32, DotF<float, DotF32Row>);
  set(GgmlType::kF16, DotF<uint16_t, DotF16Row>);
  set(GgmlType::kBF16, DotF<uint16_t, DotBF16Row>);
  return k;
}

}  // namespace

const CpuKernels& ScalarKernels() {
  static const CpuKernels k = MakeScalarKernels();
  return k;
}

const CpuKernels& KernelsFor(Isa isa) {
  if (isa == Isa::kAvx512 && IsaSupported(Isa::kAvx512) && Avx512Kernels() != nullptr) {
    return *Avx512Kernels();
  }
  if (isa != Isa::kScalar && IsaSupported(Isa::kAvx2) && Avx2Kernels() != nullptr) {
    return *Avx2Kernels();
  }
  return ScalarKernels();
}

void DotDequantFallback(GgmlType type, int64_t n, const void* w, const uint8_t* x,
                        size_t x_stride, int nx, float* out) {
  constexpr int64_t kPiece = 256;  // a multiple of every block size
  const size_t piece_bytes = RowBytes(type, kPiece);
  float buf[kPiece];
  for (int j = 0; j < nx; ++j) out[j] = 0.0f;
  for (int64_t i = 0; i < n; i += kPiece) {
    const int64_t len = std::min(kPiece, n - i);
    const uint8_t* src = static_cast<const uint8_t*>(w) + (i / kPiece) * piece_bytes;
    if (!DequantizeRow(type, src, buf, len)) return;  // caller checked the type
    for (int j = 0; j < nx; ++j) {
      const float* xr = reinterpret_cast<const float*>(x + j * x_stride) + i;
      float s = 0.0f;
      for (int64_t e = 0; e < len; ++e) s += buf[e] * xr[e];
      out[j] += s;
    }
  }
}

}  // namespace tandem::kernels
