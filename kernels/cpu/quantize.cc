#include "kernels/cpu/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cpu/fp16.h"

namespace tandem::kernels {
namespace {

void QuantizeQ4_0(const float* x, BlockQ4_0* out, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, x += kQK4_0) {
    float amax = 0.0f, max = 0.0f;  // largest magnitude, with its sign
    for (int j = 0; j < kQK4_0; ++j) {
      if (std::fabs(x[j]) > amax) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    out[b].d = Fp32ToFp16(d);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      // Truncation of v + 8.5 (v >= -8.5 up to rounding) is round-half-up of v + 8.
      const int lo = std::min(15, static_cast<int>(x[j] * id + 8.5f));
      const int hi = std::min(15, static_cast<int>(x[j + kQK4_0 / 2] * id + 8.5f));
      out[b].qs[j] = static_cast<uint8_t>(lo | hi << 4);
    }
  }
}

void QuantizeQ8_0(const float* x, BlockQ8_0* out, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, x += kQK8_0) {
    float amax = 0.0f;
    for (int j = 0; j < kQK8_0; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    out[b].d = Fp32ToFp16(d);
    for (int j = 0; j < kQK8_0; ++j) out[b].qs[j] = static_cast<int8_t>(std::lround(x[j] * id));
  }
}

}  // namespace

bool CanQuantize(GgmlType type) { return type == GgmlType::kQ4_0 || type == GgmlType::kQ8_0; }

bool QuantizeTypeFromName(std::string_view name, GgmlType* type) {
  if (name == "q4_0") {
    *type = GgmlType::kQ4_0;
  } else if (name == "q8_0") {
    *type = GgmlType::kQ8_0;
  } else {
    return false;
  }
  return true;
}

bool QuantizeRow(GgmlType type, const float* x, void* dst, int64_t n) {
  switch (type) {
    case GgmlType::kQ4_0:
      if (n % kQK4_0 != 0) return false;
      QuantizeQ4_0(x, static_cast<BlockQ4_0*>(dst), n / kQK4_0);
      return true;
    case GgmlType::kQ8_0:
      if (n % kQK8_0 != 0) return false;
      QuantizeQ8_0(x, static_cast<BlockQ8_0*>(dst), n / kQK8_0);
      return true;
    default:
      return false;
  }
}

}  // namespace tandem::kernels
