// Fast row kernels and activation quantizers against the scalar reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/dequantize.h"
#include "kernels/cpu/dot_kernels.h"
#include "kernels/cpu/fp16.h"
#include "tests/kernels/random_weights.h"

namespace tandem::kernels {
namespace {

using testing::RandomWeights;

std::vector<const CpuKernels*> FastTables() {
  std::vector<const CpuKernels*> v;
  if (IsaSupported(Isa::kAvx2) && Avx2Kernels() != nullptr) v.push_back(Avx2Kernels());
  if (IsaSupported(Isa::kAvx512) && Avx512Kernels() != nullptr) v.push_back(Avx512Kernels());
  return v;
}

// Activation rows with the awkward cases a quantizer must agree on: zero
// blocks, round-half ties, huge and tiny magnitudes, negative maxima.
std::vector<float> NastyActivations(int64_t n, std::mt19937& rng) {
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> x(n);
  for (auto& v : x) v = nd(rng);
  const int64_t nb = n / 32;
  for (int64_t b = 0; b < nb; ++b) {
    float* xb = x.data() + 32 * b;
    switch (b % 6) {
      case 0: for (int j = 0; j < 32; ++j) xb[j] = 0.0f; break;
      case 1:  // d == 1 exactly: x * id lands on .5 ties
        for (int j = 0; j < 32; ++j) xb[j] = static_cast<float>(j) - 15.5f;
        xb[7] = -127.0f;
        break;
      case 2: for (int j = 0; j < 32; ++j) xb[j] *= 1e30f; break;
      case 3: for (int j = 0; j < 32; ++j) xb[j] *= 1e-30f; break;
      case 4: xb[3] = -1000.0f; break;
      default: break;
    }
  }
  return x;
}

TEST(Quantize, Q8AFastEqualsScalarBytewise) {
  std::mt19937 rng(1);
  for (const CpuKernels* fast : FastTables()) {
    for (int64_t n : {32, 96, 576, 1536}) {
      const std::vector<float> x = NastyActivations(n, rng);
      for (int32_t k : {0, 8, 16}) {
        const size_t used = static_cast<size_t>(n) + 12 * static_cast<size_t>(n / 32);
        std::vector<uint8_t> a(Q8ARowBytes(n), 0xAA), b(Q8ARowBytes(n), 0xAA);
        ScalarKernels().quantize_q8a(x.data(), a.data(), n, k);
        fast->quantize_q8a(x.data(), b.data(), n, k);
        ASSERT_EQ(0, std::memcmp(a.data(), b.data(), used)) << IsaName(fast->isa) << " n=" << n;
      }
    }
  }
}

TEST(Quantize, Q8AValues) {
  // The ties block: d = 1, codes are round-half-even of j - 15.5.
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j) - 15.5f;
  x[0] = -127.0f;
  std::vector<uint8_t> q(Q8ARowBytes(32));
  ScalarKernels().quantize_q8a(x.data(), q.data(), 32, 8);
  const auto* qs = reinterpret_cast<const int8_t*>(q.data());
  float d, s;
  int32_t corr;
  std::memcpy(&d, q.data() + 32, 4);
  std::memcpy(&s, q.data() + 36, 4);
  std::memcpy(&corr, q.data() + 40, 4);
  EXPECT_EQ(d, 1.0f);
  EXPECT_EQ(qs[0], -127);
  EXPECT_EQ(qs[1], -14);  // -14.5 -> -14 (even)
  EXPECT_EQ(qs[2], -14);  // -13.5 -> -14 (even)
  EXPECT_EQ(qs[31], 16);  // 15.5 -> 16
  int sum = 0;
  for (int j = 0; j < 32; ++j) sum += qs[j];
  EXPECT_EQ(corr, -8 * sum);
  EXPECT_EQ(s, static_cast<float>(sum));
}

TEST(Quantize, Q8KFastEqualsScalarBytewise) {
  std::mt19937 rng(2);
  for (const CpuKernels* fast : FastTables()) {
    for (int64_t n : {256, 1536}) {
      const std::vector<float> x = NastyActivations(n, rng);
      std::vector<uint8_t> a(Q8KRowBytes(n), 0xAA), b(Q8KRowBytes(n), 0xAA);
      ScalarKernels().quantize_q8k(x.data(), a.data(), n, 0);
      fast->quantize_q8k(x.data(), b.data(), n, 0);
      ASSERT_EQ(0, std::memcmp(a.data(), b.data(), (n / 256) * sizeof(BlockQ8_K))) << IsaName(fast->isa);
      const auto* blk = reinterpret_cast<const BlockQ8_K*>(a.data());
      for (int g = 0; g < 16; ++g) {  // bsums are the group sums
        int s = 0;
        for (int j = 0; j < 16; ++j) s += blk->qs[16 * g + j];
        EXPECT_EQ(blk->bsums[g], s);
      }
    }
  }
}

struct TypeCase {
  GgmlType type;
  std::vector<int64_t> ns;
};

const std::vector<TypeCase>& Cases() {
  static const std::vector<TypeCase> c = {
      // 32-blocks: 352 = eleven blocks, two full groups of four and a
      // partial one for the AVX2 Q4_0/Q5_0 group kernels (Dot32G, Dot32GT).
      {GgmlType::kQ4_0, {32, 96, 352, 512}}, {GgmlType::kQ4_1, {32, 96, 512}},
      {GgmlType::kQ5_0, {32, 96, 352, 512}}, {GgmlType::kQ5_1, {32, 96, 512}},
      // K-quants: 1280 = five superblocks, so the kernels that take
      // superblocks in fours run that path and their remainder path; Q4_K's
      // 2304 is past the width where the AVX2 tile switches from the
      // transposed to the natural form (kQ4KTransposedMaxCols).
      {GgmlType::kQ8_0, {32, 96, 512}}, {GgmlType::kQ4_K, {256, 768, 1280, 2304}},
      {GgmlType::kQ5_K, {256, 768, 1280}}, {GgmlType::kQ6_K, {256, 768, 1280}},
      {GgmlType::kF32, {1, 7, 16, 100, 512}}, {GgmlType::kF16, {1, 7, 16, 100, 512}},
      {GgmlType::kBF16, {1, 7, 16, 100, 512}},
  };
  return c;
}

// Quantized activations for up to kMaxTileNx rows plus their dequantized values.
struct Acts {
  std::vector<uint8_t> bytes;
  size_t stride = 0;
  std::vector<std::vector<float>> deq;
};

// `tail`: the kernel table's Q8_K tail for the type (its tile kernel reads
// it), written after each row as MatMul does; nullptr: none.
Acts MakeActs(GgmlType type, int64_t n, int nx, const std::vector<std::vector<float>>& rows,
              ActTailFn tail) {
  Acts a;
  const ActFormat fmt = ActFormatFor(type);
  a.stride = fmt == ActFormat::kQ8A   ? Q8ARowBytes(n) + (tail != nullptr ? Q8ATailBytes(n) : 0)
             : fmt == ActFormat::kQ8K ? Q8KRowBytes(n) + (tail != nullptr ? Q8KTailBytes(n) : 0)
                                      : AlignUp64(4 * n);
  a.bytes.assign(a.stride * nx, 0);
  for (int j = 0; j < nx; ++j) {
    uint8_t* dst = a.bytes.data() + j * a.stride;
    std::vector<float> deq(n);
    if (fmt == ActFormat::kQ8A) {
      ScalarKernels().quantize_q8a(rows[j].data(), dst, n, Q8ACorrK(type));
      if (tail != nullptr) tail(dst, n);
      for (int64_t i = 0; i < n; ++i) {
        float d;
        std::memcpy(&d, dst + n + 8 * (i / 32), 4);
        deq[i] = static_cast<float>(reinterpret_cast<const int8_t*>(dst)[i]) * d;
      }
    } else if (fmt == ActFormat::kQ8K) {
      ScalarKernels().quantize_q8k(rows[j].data(), dst, n, 0);
      if (tail != nullptr) tail(dst, n);
      const auto* blk = reinterpret_cast<const BlockQ8_K*>(dst);
      for (int64_t i = 0; i < n; ++i) deq[i] = blk[i / 256].qs[i % 256] * blk[i / 256].d;
    } else {
      std::memcpy(dst, rows[j].data(), 4 * n);
      deq = rows[j];
    }
    a.deq.push_back(std::move(deq));
  }
  return a;
}

TEST(Dot, FastMatchesScalarOnRandomBlocks) {
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (const CpuKernels* fast : FastTables()) {
    for (const TypeCase& tc : Cases()) {
      const int t = static_cast<int>(tc.type);
      ASSERT_NE(fast->dot[t], nullptr);
      for (int64_t n : tc.ns) {
        for (int rep = 0; rep < 20; ++rep) {
          const std::vector<uint8_t> w = RandomWeights(tc.type, kMaxNr, n, rng);  // row 0 for dot
          std::vector<float> wd(n * kMaxNr);
          ASSERT_TRUE(DequantizeRow(tc.type, w.data(), wd.data(), n * kMaxNr));
          const int64_t be = FindTypeTraits(t)->block_elems;
          std::vector<std::vector<float>> rows(kMaxTileNx, std::vector<float>(n));
          for (auto& r : rows) for (auto& v : r) v = nd(rng);
          if (rep == 0) rows[1].assign(n, 0.0f);
          const Acts a = MakeActs(tc.type, n, kMaxTileNx, rows, fast->act_tail[t]);
          for (int nx = 1; nx <= kMaxNx; ++nx) {
            float ref[kMaxNx], got[kMaxNx];
            ScalarKernels().dot[t](n, w.data(), a.bytes.data(), a.stride, nx, ref);
            fast->dot[t](n, w.data(), a.bytes.data(), a.stride, nx, got);
            for (int j = 0; j < nx; ++j) {
              // Both sum the same exact integer block products in a different
              // order: the difference is bounded by a few ulps of the sum of
              // term magnitudes. Block-min terms (Q4_1, K-quants) can exceed
              // |w|, hence the block maximum M in the bound.
              double mag = 0.0;
              for (int64_t b0 = 0; b0 < n; b0 += be) {
                double m = 0.0;
                for (int64_t i = b0; i < b0 + be; ++i) m = std::max(m, std::fabs((double)wd[i]));
                for (int64_t i = b0; i < b0 + be; ++i) mag += (std::fabs(wd[i]) + 2 * m) * std::fabs(a.deq[j][i]);
              }
              ASSERT_NEAR(got[j], ref[j], 1e-5 * mag + 1e-30)
                  << IsaName(fast->isa) << " " << FindTypeTraits(t)->name << " n=" << n << " nx=" << nx << " j=" << j;
              // The K-quants add the scalar kernel's superblock terms in its
              // order (dot_simd.inc, KBlockTerm / Q6BlockTerm): bitwise.
              if (tc.type == GgmlType::kQ4_K || tc.type == GgmlType::kQ5_K || tc.type == GgmlType::kQ6_K) {
                ASSERT_EQ(std::memcmp(&got[j], &ref[j], sizeof(float)), 0)
                    << IsaName(fast->isa) << " " << FindTypeTraits(t)->name << " n=" << n << " nx=" << nx << ": "
                    << got[j] << " vs " << ref[j];
              }
            }
          }
          if (fast->dot_rows[t] != nullptr) {  // the matvec form against activation row 0
            const size_t rb = RowBytes(tc.type, n);
            for (int nr = 1; nr <= kMaxNr; ++nr) {
              float got[kMaxNr];
              fast->dot_rows[t](n, w.data(), rb, nr, a.bytes.data(), got);
              for (int r = 0; r < nr; ++r) {
                float ref;
                ScalarKernels().dot[t](n, w.data() + r * rb, a.bytes.data(), a.stride, 1, &ref);
                double mag = 0.0;
                const float* wr = wd.data() + r * n;
                for (int64_t b0 = 0; b0 < n; b0 += be) {
                  double m = 0.0;
                  for (int64_t i = b0; i < b0 + be; ++i) m = std::max(m, std::fabs((double)wr[i]));
                  for (int64_t i = b0; i < b0 + be; ++i) mag += (std::fabs(wr[i]) + 2 * m) * std::fabs(a.deq[0][i]);
                }
                ASSERT_NEAR(got[r], ref, 1e-5 * mag + 1e-30)
                    << IsaName(fast->isa) << " rows " << FindTypeTraits(t)->name << " n=" << n << " nr=" << nr;
              }
            }
          }
          if (fast->dot_tile[t] != nullptr) {  // the matmul tile form
            const size_t rb = RowBytes(tc.type, n);
            for (int nr = 1; nr <= kTileRows; ++nr) {
              for (int nx = 1; nx <= kMaxTileNx; ++nx) {
                float got[kMaxTileNx * kTileRows];
                fast->dot_tile[t](n, w.data(), rb, nr, a.bytes.data(), a.stride, nx, got, kTileRows);
                for (int r = 0; r < nr; ++r) {
                  const float* wr = wd.data() + r * n;
                  for (int j = 0; j < nx; ++j) {
                    float ref;
                    ScalarKernels().dot[t](n, w.data() + r * rb, a.bytes.data() + j * a.stride, a.stride, 1, &ref);
                    double mag = 0.0;
                    for (int64_t b0 = 0; b0 < n; b0 += be) {
                      double m = 0.0;
                      for (int64_t i = b0; i < b0 + be; ++i) m = std::max(m, std::fabs((double)wr[i]));
                      for (int64_t i = b0; i < b0 + be; ++i) mag += (std::fabs(wr[i]) + 2 * m) * std::fabs(a.deq[j][i]);
                    }
                    ASSERT_NEAR(got[j * kTileRows + r], ref, 1e-5 * mag + 1e-30)
                        << IsaName(fast->isa) << " tile " << FindTypeTraits(t)->name << " n=" << n << " nr=" << nr
                        << " nx=" << nx;
                    if (tc.type == GgmlType::kQ4_K || tc.type == GgmlType::kQ5_K || tc.type == GgmlType::kQ6_K) {
                      ASSERT_EQ(std::memcmp(&got[j * kTileRows + r], &ref, sizeof(float)), 0)
                          << IsaName(fast->isa) << " tile " << FindTypeTraits(t)->name << " n=" << n;
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
  }
}

// With every scale 1 (weights and activations) the results are integers below
// 2^24, so any float summation order is exact: the fast kernels must equal the
// scalar ones bit for bit, which checks their integer arithmetic exactly.
TEST(Dot, IntegerPartsExact) {
  std::mt19937 rng(4);
  const uint16_t one = Fp32ToFp16(1.0f);
  for (const CpuKernels* fast : FastTables()) {
    for (const TypeCase& tc : Cases()) {
      const int t = static_cast<int>(tc.type);
      if (tc.type == GgmlType::kF32 || tc.type == GgmlType::kF16 || tc.type == GgmlType::kBF16) continue;
      for (int64_t n : tc.ns) {
        for (int rep = 0; rep < 20; ++rep) {
          std::vector<uint8_t> w = RandomWeights(tc.type, kMaxNr, n, rng);  // row 0 for dot
          const size_t bb = FindTypeTraits(t)->block_bytes;
          for (size_t off = 0; off < w.size(); off += bb) {
            uint8_t* blk = w.data() + off;
            switch (tc.type) {
              case GgmlType::kQ4_1: case GgmlType::kQ5_1: {
                std::memcpy(blk, &one, 2);
                const uint16_t m = Fp32ToFp16(static_cast<float>(static_cast<int>(rng() % 17) - 8));
                std::memcpy(blk + 2, &m, 2);
                break;
              }
              case GgmlType::kQ4_K: case GgmlType::kQ5_K:
                std::memcpy(blk, &one, 2);
                std::memcpy(blk + 2, &one, 2);
                for (int s = 0; s < kKScaleSize; ++s) blk[4 + s] &= 0x03;  // scales, mins <= 3
                break;
              case GgmlType::kQ6_K: {
                auto* b6 = reinterpret_cast<BlockQ6_K*>(blk);
                std::memcpy(&b6->d, &one, 2);
                for (int s = 0; s < 16; ++s) b6->scales[s] = static_cast<int8_t>(static_cast<int>(rng() % 9) - 4);
                break;
              }
              default:
                std::memcpy(blk, &one, 2);
                break;
            }
          }
          // Integer activations with one +-127 per quantization block: d = 1.
          const int64_t qb = ActFormatFor(tc.type) == ActFormat::kQ8K ? 256 : 32;
          std::vector<std::vector<float>> rows(kMaxTileNx, std::vector<float>(n));
          for (auto& r : rows) {
            for (int64_t i = 0; i < n; ++i) r[i] = static_cast<float>(static_cast<int>(rng() % 15) - 7);
            for (int64_t b0 = 0; b0 < n; b0 += qb) r[b0 + rng() % qb] = (rng() & 1) ? 127.0f : -127.0f;
          }
          const Acts a = MakeActs(tc.type, n, kMaxTileNx, rows, fast->act_tail[t]);
          for (int nx = 1; nx <= kMaxNx; ++nx) {
            float ref[kMaxNx], got[kMaxNx];
            ScalarKernels().dot[t](n, w.data(), a.bytes.data(), a.stride, nx, ref);
            fast->dot[t](n, w.data(), a.bytes.data(), a.stride, nx, got);
            for (int j = 0; j < nx; ++j) {
              double exact = 0.0;
              std::vector<float> wd(n);
              ASSERT_TRUE(DequantizeRow(tc.type, w.data(), wd.data(), n));
              for (int64_t i = 0; i < n; ++i) exact += static_cast<double>(wd[i]) * rows[j][i];
              ASSERT_LT(std::fabs(exact), 1 << 24);
              ASSERT_EQ(ref[j], exact) << FindTypeTraits(t)->name;
              ASSERT_EQ(got[j], ref[j]) << IsaName(fast->isa) << " " << FindTypeTraits(t)->name << " n=" << n;
            }
          }
          if (fast->dot_rows[t] != nullptr) {  // the matvec form, all kMaxNr rows
            const size_t rb = RowBytes(tc.type, n);
            for (int nr = 1; nr <= kMaxNr; ++nr) {
              float got[kMaxNr];
              fast->dot_rows[t](n, w.data(), rb, nr, a.bytes.data(), got);
              for (int r = 0; r < nr; ++r) {
                float ref;
                ScalarKernels().dot[t](n, w.data() + r * rb, a.bytes.data(), a.stride, 1, &ref);
                ASSERT_EQ(got[r], ref) << IsaName(fast->isa) << " rows " << FindTypeTraits(t)->name << " n=" << n
                                       << " nr=" << nr << " r=" << r;
              }
            }
          }
          if (fast->dot_tile[t] != nullptr) {  // the matmul tile form
            const size_t rb = RowBytes(tc.type, n);
            for (int nr = 1; nr <= kTileRows; ++nr) {
              for (int nx = 1; nx <= kMaxTileNx; ++nx) {
                float got[kMaxTileNx * kTileRows];
                fast->dot_tile[t](n, w.data(), rb, nr, a.bytes.data(), a.stride, nx, got, kTileRows);
                for (int r = 0; r < nr; ++r) {
                  for (int j = 0; j < nx; ++j) {
                    float ref;
                    ScalarKernels().dot[t](n, w.data() + r * rb, a.bytes.data() + j * a.stride, a.stride, 1, &ref);
                    ASSERT_EQ(got[j * kTileRows + r], ref) << IsaName(fast->isa) << " tile " << FindTypeTraits(t)->name
                                                           << " n=" << n << " nr=" << nr << " nx=" << nx;
                  }
                }
              }
            }
          }
        }
      }
    }
  }
}

// kMaxTileNx activation rows of n values, all +-127: sign 0 all positive,
// 1 all negative, 2 alternating by 32-element block (and row), 3 by element.
std::vector<std::vector<float>> ExtremeActivationRows(int64_t n, int sign) {
  std::vector<std::vector<float>> rows(kMaxTileNx, std::vector<float>(n));
  for (int j = 0; j < kMaxTileNx; ++j) {
    for (int64_t i = 0; i < n; ++i) {
      const bool neg = sign == 1 || (sign == 2 && (i / 32 + j) % 2) || (sign == 3 && (i + j) % 2);
      rows[j][i] = neg ? -127.0f : 127.0f;
    }
  }
  return rows;
}

// The type's tile over kTileRows weight rows `w` of n elements against
// ExtremeActivationRows of every sign pattern, nx = 1 .. kMaxTileNx:
// check(acts, output, weight row, activation row, description) for every
// output; stops at the first fatal failure.
template <class Check>
void ForEachExtremeTileOutput(const CpuKernels& fast, GgmlType type, int64_t n, const std::vector<uint8_t>& w,
                              const std::string& what, Check check) {
  const int t = static_cast<int>(type);
  const size_t rb = RowBytes(type, n);
  for (int sign = 0; sign < 4; ++sign) {
    const Acts a = MakeActs(type, n, kMaxTileNx, ExtremeActivationRows(n, sign), fast.act_tail[t]);
    for (int nx = 1; nx <= kMaxTileNx; ++nx) {
      float got[kMaxTileNx * kTileRows];
      fast.dot_tile[t](n, w.data(), rb, kTileRows, a.bytes.data(), a.stride, nx, got, kTileRows);
      for (int r = 0; r < kTileRows; ++r) {
        for (int j = 0; j < nx; ++j) {
          const std::string where = std::string(IsaName(fast.isa)) + " " + FindTypeTraits(t)->name + " " + what +
                                    " sign " + std::to_string(sign) + " nx=" + std::to_string(nx) +
                                    " r=" + std::to_string(r);
          check(a, got[j * kTileRows + r], r, j, where);
          if (::testing::Test::HasFatalFailure()) return;
        }
      }
    }
  }
}

// Within one level the matvec and tile forms must give the row form's bits
// for every output, whatever nr, nx and the output's position (MatMul picks
// the form by m, so this is what makes decode == verify and a session's rows
// independent of the batch; tests/kernels/matmul_invariance_test.cc checks
// the same through MatMul). Random scales and activations, so any change of
// float order shows in the last bits.
// The K-quant tile kernels keep partial sums in 16-bit words (a lane of
// four Q6_K products, of sixteen Q4_K products, dot_simd.inc) on the
// strength of the code and activation ranges: at the extremes (every code at
// its maximum or zero, the largest scales, activations all +-127 with the
// sign of a chunk, sub-block or element) a grouping that overflowed int16
// would change the exact integer, and the outputs must still be the scalar
// kernel's bit for bit.
TEST(Dot, KQuantTilesAtTheExtremes) {
  constexpr int64_t n = 512;
  const uint16_t one = Fp32ToFp16(1.0f);
  for (const CpuKernels* fast : FastTables()) {
    for (GgmlType type : {GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K}) {
      const int t = static_cast<int>(type);
      if (fast->dot_tile[t] == nullptr) continue;
      const size_t rb = RowBytes(type, n);
      for (int codes = 0; codes < 2; ++codes) {  // 0: every code at its maximum, 1: alternating max / 0
        std::vector<uint8_t> w(rb * kTileRows, 0);
        for (int r = 0; r < kTileRows; ++r) {
          for (int64_t b = 0; b < n / 256; ++b) {
            uint8_t* blk = w.data() + r * rb + b * FindTypeTraits(t)->block_bytes;
            const uint8_t byte = codes == 0 ? 0xFF : 0x0F;
            if (type == GgmlType::kQ6_K) {
              auto* b6 = reinterpret_cast<BlockQ6_K*>(blk);
              std::memset(b6->ql, byte, sizeof(b6->ql));
              std::memset(b6->qh, codes == 0 ? 0xFF : 0x33, sizeof(b6->qh));
              for (int g = 0; g < 16; ++g) b6->scales[g] = static_cast<int8_t>(r == 0 ? 127 : (g % 2 ? -128 : 127));
              std::memcpy(&b6->d, &one, 2);
            } else {
              auto* b4 = reinterpret_cast<BlockQ4_K*>(blk);  // Q5_K shares the header
              std::memcpy(&b4->d, &one, 2);
              std::memcpy(&b4->dmin, &one, 2);
              std::memset(b4->scales, r == 0 ? 0xFF : 0xBF, kKScaleSize);  // 6-bit scales and mins 63 (or mixed)
              uint8_t* qs = blk + (type == GgmlType::kQ5_K ? offsetof(BlockQ5_K, qs) : offsetof(BlockQ4_K, qs));
              std::memset(qs, byte, 128);
              if (type == GgmlType::kQ5_K) std::memset(reinterpret_cast<BlockQ5_K*>(blk)->qh, 0xFF, 32);
            }
          }
        }
        ForEachExtremeTileOutput(*fast, type, n, w, "codes " + std::to_string(codes),
                                 [&](const Acts& a, float got, int r, int j, const std::string& where) {
                                   float ref;
                                   ScalarKernels().dot[t](n, w.data() + r * rb, a.bytes.data() + j * a.stride,
                                                          a.stride, 1, &ref);
                                   ASSERT_EQ(std::memcmp(&got, &ref, sizeof(float)), 0)
                                       << where << ": " << got << " vs " << ref;
                                 });
        if (HasFatalFailure()) return;
      }
    }
  }
}

// The AVX2 Q4_0/Q5_0 tile adds four vpmaddubsw results as 16-bit words
// (dot_simd.inc, Dot32GT) on the strength of the code range (0..31) and the
// activation range (+-127): at the extremes (every code 31 or 0, activations
// all +-127 with the sign of a block, a row or an element) an overflow would
// change the exact block integer, which the tolerance below (far under one
// 2^16 wrap) and the bitwise comparison with the row form would both catch.
TEST(Dot, Q32GroupTilesAtTheExtremes) {
  constexpr int64_t n = 352;  // two full groups of four blocks and a partial one
  const uint16_t one = Fp32ToFp16(1.0f);
  int checked = 0;
  for (const CpuKernels* fast : FastTables()) {
    for (GgmlType type : {GgmlType::kQ4_0, GgmlType::kQ5_0}) {
      const int t = static_cast<int>(type);
      if (fast->dot_tile[t] == nullptr) continue;
      const size_t rb = RowBytes(type, n);
      const size_t bb = FindTypeTraits(t)->block_bytes;
      for (int codes = 0; codes < 2; ++codes) {  // 0: every code at its maximum, 1: alternating max / 0
        std::vector<uint8_t> w(rb * kTileRows, 0);
        for (int r = 0; r < kTileRows; ++r) {
          for (int64_t b = 0; b < n / 32; ++b) {
            uint8_t* blk = w.data() + r * rb + b * bb;
            std::memcpy(blk, &one, 2);  // d is the first field of both
            const uint8_t byte = codes == 0 ? 0xFF : 0x0F;
            if (type == GgmlType::kQ5_0) {
              auto* b5 = reinterpret_cast<BlockQ5_0*>(blk);
              std::memset(b5->qh, codes == 0 ? 0xFF : 0x55, sizeof(b5->qh));
              std::memset(b5->qs, byte, sizeof(b5->qs));
            } else {
              std::memset(reinterpret_cast<BlockQ4_0*>(blk)->qs, byte, sizeof(BlockQ4_0::qs));
            }
          }
        }
        std::vector<float> wd(n * kTileRows);
        ASSERT_TRUE(DequantizeRow(type, w.data(), wd.data(), n * kTileRows));
        ForEachExtremeTileOutput(*fast, type, n, w, "codes " + std::to_string(codes),
                                 [&](const Acts& a, float got, int r, int j, const std::string& where) {
                                   float row_form, ref;
                                   const uint8_t* x = a.bytes.data() + j * a.stride;
                                   fast->dot[t](n, w.data() + r * rb, x, a.stride, 1, &row_form);
                                   ScalarKernels().dot[t](n, w.data() + r * rb, x, a.stride, 1, &ref);
                                   double exact = 0.0;
                                   for (int64_t i = 0; i < n; ++i) exact += static_cast<double>(wd[r * n + i]) * a.deq[j][i];
                                   ASSERT_EQ(std::memcmp(&got, &row_form, sizeof(float)), 0)
                                       << where << ": " << got << " vs " << row_form;
                                   ASSERT_NEAR(got, exact, 1.0) << where;
                                   ASSERT_NEAR(ref, exact, 1.0) << where;
                                   ++checked;
                                 });
        if (HasFatalFailure()) return;
      }
    }
  }
  if (checked == 0) GTEST_SKIP() << "no fast level with a Q4_0/Q5_0 tile on this CPU";
}

TEST(Dot, MultiRowFormsEqualRowFormBitwise) {
  std::mt19937 rng(6);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::uniform_real_distribution<float> mag(0.01f, 30.0f);
  int checked = 0;
  for (const CpuKernels* fast : FastTables()) {
    for (const TypeCase& tc : Cases()) {
      const int t = static_cast<int>(tc.type);
      if (fast->dot_rows[t] == nullptr && fast->dot_tile[t] == nullptr) continue;
      for (int64_t n : tc.ns) {
        for (int rep = 0; rep < 5; ++rep) {
          const int nw = std::max(kMaxNr, kTileRows);
          const std::vector<uint8_t> w = RandomWeights(tc.type, nw, n, rng);
          const size_t rb = RowBytes(tc.type, n);
          std::vector<std::vector<float>> rows(kMaxTileNx, std::vector<float>(n));
          for (auto& r : rows) {
            const float s = mag(rng);
            for (auto& v : r) v = s * nd(rng);
          }
          const Acts a = MakeActs(tc.type, n, kMaxTileNx, rows, fast->act_tail[t]);
          // ref[j][r]: the row form, one weight row and one activation row.
          std::vector<std::vector<float>> ref(kMaxTileNx, std::vector<float>(nw));
          for (int j = 0; j < kMaxTileNx; ++j) {
            for (int r = 0; r < nw; ++r) {
              fast->dot[t](n, w.data() + r * rb, a.bytes.data() + j * a.stride, a.stride, 1, &ref[j][r]);
            }
          }
          const std::string where = std::string(IsaName(fast->isa)) + " " + FindTypeTraits(t)->name +
                                    " n=" + std::to_string(n);
          if (fast->dot_rows[t] != nullptr) {
            for (int nr = 1; nr <= kMaxNr; ++nr) {
              for (int j : {0, kMaxTileNx - 1}) {
                float got[kMaxNr];
                fast->dot_rows[t](n, w.data(), rb, nr, a.bytes.data() + j * a.stride, got);
                for (int r = 0; r < nr; ++r) {
                  ASSERT_EQ(0, std::memcmp(&got[r], &ref[j][r], sizeof(float)))
                      << where << " rows nr=" << nr << " r=" << r << ": " << got[r] << " vs " << ref[j][r];
                  ++checked;
                }
              }
            }
          }
          if (fast->dot_tile[t] != nullptr) {
            for (int nr = 1; nr <= kTileRows; ++nr) {
              for (int nx = 1; nx <= kMaxTileNx; ++nx) {
                // Start at activation row kMaxTileNx - nx, so each row is
                // seen at several positions within the tile.
                const int j0 = kMaxTileNx - nx;
                float got[kMaxTileNx * kTileRows];
                fast->dot_tile[t](n, w.data(), rb, nr, a.bytes.data() + j0 * a.stride, a.stride, nx, got, kTileRows);
                for (int r = 0; r < nr; ++r) {
                  for (int j = 0; j < nx; ++j) {
                    ASSERT_EQ(0, std::memcmp(&got[j * kTileRows + r], &ref[j0 + j][r], sizeof(float)))
                        << where << " tile nr=" << nr << " nx=" << nx << " r=" << r << " j=" << j;
                    ++checked;
                  }
                }
              }
            }
          }
        }
      }
    }
  }
  if (!FastTables().empty()) {
    EXPECT_GT(checked, 0);
  }
}

TEST(Dot, FallbackMatchesDequantizedDot) {
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (GgmlType type : {GgmlType::kQ2_K, GgmlType::kQ3_K, GgmlType::kQ4_1}) {
    const int64_t n = 512;
    const std::vector<uint8_t> w = RandomWeights(type, 1, n, rng);
    std::vector<float> wd(n);
    ASSERT_TRUE(DequantizeRow(type, w.data(), wd.data(), n));
    std::vector<float> x(2 * n);
    for (auto& v : x) v = nd(rng);
    float out[2];
    DotDequantFallback(type, n, w.data(), reinterpret_cast<const uint8_t*>(x.data()), 4 * n, 2, out);
    for (int j = 0; j < 2; ++j) {
      double ref = 0.0, mag = 0.0;
      for (int64_t i = 0; i < n; ++i) {
        ref += static_cast<double>(wd[i]) * x[j * n + i];
        mag += std::fabs(static_cast<double>(wd[i]) * x[j * n + i]);
      }
      EXPECT_NEAR(out[j], ref, 1e-5 * mag);
    }
  }
}

TEST(Dispatch, ActiveLevelIsSupported) {
  EXPECT_TRUE(IsaSupported(ActiveIsa()));
  EXPECT_TRUE(IsaSupported(Isa::kScalar));
  EXPECT_EQ(KernelsFor(Isa::kScalar).isa, Isa::kScalar);
}

}  // namespace
}  // namespace tandem::kernels
