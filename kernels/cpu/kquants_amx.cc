// AMX-INT8 tile products for Q4_K and Q6_K weights (see amx.h for the
// contract and the activation layout). Compiled with AVX-512 and AMX flags (CMakeLists.txt);
// called only when AmxUsable().
//
// Per call: the nr <= 16 weight rows are unpacked once into tile order (per
// superblock: the 8 sub-blocks' nibbles as 16 rows x 32 unsigned bytes, the
// scales and mins, d and dmin), then every group of 16 activation rows runs
// over the superblocks: per sub-block one TDPBUSD gives the 16 x 16 exact
// dot products, which are scaled by that sub-block's 6-bit scale in int32
// (vpmulld) into isum; msum = sum of mins x sub-block sums (vpdpwssd); then
// the scalar kernel's superblock term in float, lane = activation row.
// Q6_K: 16 sub-blocks of 16 (unsigned 6-bit codes, signed 8-bit scales);
// the codes' offset of 32 is -32 * sum of scales x 16-element sums.
#include "kernels/cpu/amx.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kernels/cpu/dot_kernels.h"
#include "kernels/cpu/ggml_types.h"

#if defined(__x86_64__) && defined(__AMX_INT8__) && defined(__AMX_TILE__) && defined(__AVX512F__)
// GCC 12 warns that _mm512_undefined_ps() inside its own cvtepi32_ps is
// "maybe uninitialized" (a false positive of the intrinsic header).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

namespace tandem::kernels {
namespace {

// Per weight superblock: A tiles [8][16][32] u8, scales [8][16] int32,
// min pairs [4][16] int32 (int16 mins 2p, 2p+1), d [16], dmin [16] float.
constexpr size_t kScalesOff = 8 * 16 * 32;
constexpr size_t kMinsOff = kScalesOff + 8 * 16 * 4;
constexpr size_t kDOff = kMinsOff + 4 * 16 * 4;
constexpr size_t kWeightSuperblock = kDOff + 2 * 16 * 4;

struct alignas(64) TileConfig {
  uint8_t palette_id = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// Two sets, used by even and odd sub-blocks so that one product runs while
// the other's result is stored and scaled: tiles 0 / 3: C (16 weight rows x
// 16 int32), 1 / 4: A (16 weight rows x 32 bytes), 2 / 5: B (8 x 64 bytes:
// 32 codes of 16 activation rows, VNNI order).
// k: the sub-block length (32 for Q4_K, 16 for Q6_K): A is 16 x k bytes, B
// k / 4 rows of 64 bytes.
void ConfigureTiles(int k) {
  TileConfig c;
  for (int set = 0; set < 2; ++set) {
    c.rows[3 * set] = 16;
    c.colsb[3 * set] = 64;
    c.rows[3 * set + 1] = 16;
    c.colsb[3 * set + 1] = static_cast<uint16_t>(k);
    c.rows[3 * set + 2] = static_cast<uint8_t>(k / 4);
    c.colsb[3 * set + 2] = 64;
  }
  _tile_loadconfig(&c);
}

// isum[r] += scale[r] * C[r] (C stored row r at c + 16 r).
inline void AddScaled(const int32_t* c, const int32_t* scales, __m512i* isum) {
  for (int r = 0; r < 16; ++r) {
    isum[r] = _mm512_add_epi32(isum[r], _mm512_mullo_epi32(_mm512_load_si512(c + 16 * r), _mm512_set1_epi32(scales[r])));
  }
}

void PackWeights(const uint8_t* w, size_t w_stride, int nr, int64_t nsb, uint8_t* out) {
  std::memset(out, 0, static_cast<size_t>(nsb) * kWeightSuperblock);  // rows >= nr contribute 0
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  for (int r = 0; r < nr; ++r) {
    const auto* row = reinterpret_cast<const BlockQ4_K*>(w + static_cast<size_t>(r) * w_stride);
    for (int64_t b = 0; b < nsb; ++b) {
      uint8_t* sb = out + static_cast<size_t>(b) * kWeightSuperblock;
      const BlockQ4_K& blk = row[b];
      for (int c = 0; c < 4; ++c) {  // sub-block 2c: low nibbles of qs[32c..], 2c + 1: high nibbles
        const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qs + 32 * c));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(sb + ((2 * c) * 16 + r) * 32), _mm256_and_si256(q, m4));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(sb + ((2 * c + 1) * 16 + r) * 32),
                            _mm256_and_si256(_mm256_srli_epi16(q, 4), m4));
      }
      uint8_t sc[8], mn[8];
      UnpackScalesMinsK4(blk.scales, sc, mn);
      auto* scales = reinterpret_cast<int32_t*>(sb + kScalesOff);
      auto* mins = reinterpret_cast<int32_t*>(sb + kMinsOff);
      for (int j = 0; j < 8; ++j) scales[j * 16 + r] = sc[j];
      for (int p = 0; p < 4; ++p) mins[p * 16 + r] = mn[2 * p] | (mn[2 * p + 1] << 16);
      auto* d = reinterpret_cast<float*>(sb + kDOff);
      d[r] = _cvtsh_ss(blk.d);
      d[16 + r] = _cvtsh_ss(blk.dmin);
    }
  }
}

}  // namespace

bool AmxKernelCompiled() { return true; }

void AmxQ4KRows(int64_t cols, const void* w, size_t w_stride, int nr, const uint8_t* acts, int64_t m, float* y,
                size_t ldy) {
  const int64_t nsb = cols / 256;
  std::vector<uint8_t> storage(static_cast<size_t>(nsb) * kWeightSuperblock + 64);
  uint8_t* wp = storage.data() + (64 - reinterpret_cast<uintptr_t>(storage.data()) % 64) % 64;
  PackWeights(static_cast<const uint8_t*>(w), w_stride, nr, nsb, wp);
  ConfigureTiles(32);
  alignas(64) int32_t cbuf[2][16 * 16];
  alignas(64) float acc[16][16];
  for (int64_t g = 0; g * kAmxRows < m; ++g) {
    for (auto& a : acc) _mm512_store_ps(a, _mm512_setzero_ps());
    for (int64_t b = 0; b < nsb; ++b) {
      const uint8_t* wsb = wp + static_cast<size_t>(b) * kWeightSuperblock;
      const uint8_t* asb = acts + static_cast<size_t>(g * nsb + b) * kAmxActSuperblock;
      const auto* scales = reinterpret_cast<const int32_t*>(wsb + kScalesOff);
      __m512i isum[16];
      for (auto& v : isum) v = _mm512_setzero_si512();
      // Sub-blocks in pairs on the two tile sets (tile numbers must be
      // compile-time constants); integer sums, so the pairing changes nothing.
      for (int j = 0; j < 8; j += 2) {
        _tile_loadd(1, wsb + j * 512, 32);
        _tile_loadd(2, asb + j * 512, 64);
        _tile_zero(0);
        _tile_dpbusd(0, 1, 2);
        _tile_loadd(4, wsb + (j + 1) * 512, 32);
        _tile_loadd(5, asb + (j + 1) * 512, 64);
        _tile_zero(3);
        _tile_dpbusd(3, 4, 5);
        _tile_stored(0, cbuf[0], 64);
        AddScaled(cbuf[0], scales + j * 16, isum);
        _tile_stored(3, cbuf[1], 64);
        AddScaled(cbuf[1], scales + (j + 1) * 16, isum);
      }
      const auto* xs = reinterpret_cast<const __m512i*>(asb + 4096);
      const __m512 xd = _mm512_load_ps(reinterpret_cast<const float*>(asb + 4096 + 256));
      const auto* mins = reinterpret_cast<const int32_t*>(wsb + kMinsOff);
      const auto* d = reinterpret_cast<const float*>(wsb + kDOff);
      for (int r = 0; r < 16; ++r) {
        __m512i ms = _mm512_setzero_si512();
        for (int p = 0; p < 4; ++p) ms = _mm512_dpwssd_epi32(ms, _mm512_load_si512(xs + p), _mm512_set1_epi32(mins[p * 16 + r]));
        // (d_x * d_w) * isum - (d_x * d_min) * msum, unfused (the empty asm
        // keeps GCC from contracting a product into the subtraction).
        __m512 t1 = _mm512_mul_ps(_mm512_mul_ps(xd, _mm512_set1_ps(d[r])), _mm512_cvtepi32_ps(isum[r]));
        __m512 t2 = _mm512_mul_ps(_mm512_mul_ps(xd, _mm512_set1_ps(d[16 + r])), _mm512_cvtepi32_ps(ms));
        __asm__("" : "+v"(t1), "+v"(t2));
        _mm512_store_ps(acc[r], _mm512_add_ps(_mm512_load_ps(acc[r]), _mm512_sub_ps(t1, t2)));
      }
    }
    const int64_t rows = std::min<int64_t>(kAmxRows, m - g * kAmxRows);
    for (int64_t i = 0; i < rows; ++i) {
      float* out = y + static_cast<size_t>(g * kAmxRows + i) * ldy;
      for (int r = 0; r < nr; ++r) out[r] = acc[r][i];
    }
  }
  _tile_release();
}


namespace {

// Per Q6_K weight superblock: A tiles [16][16 rows][16] u8 codes (0..63),
// scales [16][16] int32, scale pairs [8][16] int32 (int16 scales 2p, 2p+1),
// d [16] float.
constexpr size_t k6ScalesOff = 16 * 16 * 16;
constexpr size_t k6PairsOff = k6ScalesOff + 16 * 16 * 4;
constexpr size_t k6DOff = k6PairsOff + 8 * 16 * 4;
constexpr size_t k6WeightSuperblock = k6DOff + 16 * 4;

void PackWeightsQ6K(const uint8_t* w, size_t w_stride, int nr, int64_t nsb, uint8_t* out) {
  std::memset(out, 0, static_cast<size_t>(nsb) * k6WeightSuperblock);
  for (int r = 0; r < nr; ++r) {
    const auto* row = reinterpret_cast<const BlockQ6_K*>(w + static_cast<size_t>(r) * w_stride);
    for (int64_t b = 0; b < nsb; ++b) {
      uint8_t* sb = out + static_cast<size_t>(b) * k6WeightSuperblock;
      const BlockQ6_K& blk = row[b];
      uint8_t q[256];  // DotQ6_KRow's element order, without the -32
      for (int h = 0; h < 2; ++h) {
        const uint8_t* ql = blk.ql + 64 * h;
        const uint8_t* qh = blk.qh + 32 * h;
        uint8_t* qq = q + 128 * h;
        for (int l = 0; l < 32; ++l) {
          qq[l] = static_cast<uint8_t>((ql[l] & 0x0F) | ((qh[l] & 3) << 4));
          qq[l + 32] = static_cast<uint8_t>((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4));
          qq[l + 64] = static_cast<uint8_t>((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
          qq[l + 96] = static_cast<uint8_t>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
        }
      }
      for (int g = 0; g < 16; ++g) std::memcpy(sb + (g * 16 + r) * 16, q + 16 * g, 16);
      auto* scales = reinterpret_cast<int32_t*>(sb + k6ScalesOff);
      auto* pairs = reinterpret_cast<int32_t*>(sb + k6PairsOff);
      for (int g = 0; g < 16; ++g) scales[g * 16 + r] = blk.scales[g];
      for (int p = 0; p < 8; ++p) {
        pairs[p * 16 + r] = static_cast<int32_t>(static_cast<uint16_t>(static_cast<int16_t>(blk.scales[2 * p])) |
                                                 static_cast<uint32_t>(static_cast<uint16_t>(
                                                     static_cast<int16_t>(blk.scales[2 * p + 1])))
                                                     << 16);
      }
      reinterpret_cast<float*>(sb + k6DOff)[r] = _cvtsh_ss(blk.d);
    }
  }
}

}  // namespace

void AmxQ6KRows(int64_t cols, const void* w, size_t w_stride, int nr, const uint8_t* acts, int64_t m, float* y,
                size_t ldy) {
  const int64_t nsb = cols / 256;
  std::vector<uint8_t> storage(static_cast<size_t>(nsb) * k6WeightSuperblock + 64);
  uint8_t* wp = storage.data() + (64 - reinterpret_cast<uintptr_t>(storage.data()) % 64) % 64;
  PackWeightsQ6K(static_cast<const uint8_t*>(w), w_stride, nr, nsb, wp);
  ConfigureTiles(16);
  alignas(64) int32_t cbuf[2][16 * 16];
  alignas(64) float acc[16][16];
  for (int64_t g = 0; g * kAmxRows < m; ++g) {
    for (auto& a : acc) _mm512_store_ps(a, _mm512_setzero_ps());
    for (int64_t b = 0; b < nsb; ++b) {
      const uint8_t* wsb = wp + static_cast<size_t>(b) * k6WeightSuperblock;
      const uint8_t* asb = acts + static_cast<size_t>(g * nsb + b) * kAmxActSuperblock;
      const auto* scales = reinterpret_cast<const int32_t*>(wsb + k6ScalesOff);
      __m512i isum[16];
      for (auto& v : isum) v = _mm512_setzero_si512();
      // Sub-block s (16 elements) is half s % 2 of the packed 32-element
      // sub-block s / 2: rows 4 (s % 2) .. of its VNNI block.
      for (int s = 0; s < 16; s += 2) {
        _tile_loadd(1, wsb + s * 256, 16);
        _tile_loadd(2, asb + (s / 2) * 512, 64);
        _tile_zero(0);
        _tile_dpbusd(0, 1, 2);
        _tile_loadd(4, wsb + (s + 1) * 256, 16);
        _tile_loadd(5, asb + (s / 2) * 512 + 256, 64);
        _tile_zero(3);
        _tile_dpbusd(3, 4, 5);
        _tile_stored(0, cbuf[0], 64);
        AddScaled(cbuf[0], scales + s * 16, isum);
        _tile_stored(3, cbuf[1], 64);
        AddScaled(cbuf[1], scales + (s + 1) * 16, isum);
      }
      const auto* bsums = reinterpret_cast<const __m512i*>(asb + 4096 + 256 + 64);
      const __m512 xd = _mm512_load_ps(reinterpret_cast<const float*>(asb + 4096 + 256));
      const auto* pairs = reinterpret_cast<const int32_t*>(wsb + k6PairsOff);
      const auto* d = reinterpret_cast<const float*>(wsb + k6DOff);
      for (int r = 0; r < 16; ++r) {
        __m512i off = _mm512_setzero_si512();
        for (int p = 0; p < 8; ++p) {
          off = _mm512_dpwssd_epi32(off, _mm512_load_si512(bsums + p), _mm512_set1_epi32(pairs[p * 16 + r]));
        }
        const __m512i is = _mm512_sub_epi32(isum[r], _mm512_slli_epi32(off, 5));
        // (d_x * d_w) * isum, then added: DotQ6_KRow's operations, unfused.
        __m512 t = _mm512_mul_ps(_mm512_mul_ps(xd, _mm512_set1_ps(d[r])), _mm512_cvtepi32_ps(is));
        __asm__("" : "+v"(t));
        _mm512_store_ps(acc[r], _mm512_add_ps(_mm512_load_ps(acc[r]), t));
      }
    }
    const int64_t rows = std::min<int64_t>(kAmxRows, m - g * kAmxRows);
    for (int64_t i = 0; i < rows; ++i) {
      float* out = y + static_cast<size_t>(g * kAmxRows + i) * ldy;
      for (int r = 0; r < nr; ++r) out[r] = acc[r][i];
    }
  }
  _tile_release();
}

}  // namespace tandem::kernels

#else

namespace tandem::kernels {

bool AmxKernelCompiled() { return false; }

void AmxQ4KRows(int64_t, const void*, size_t, int, const uint8_t*, int64_t, float*, size_t) {
  std::abort();  // AmxUsable() is false on builds without the AMX kernel
}
void AmxQ6KRows(int64_t, const void*, size_t, int, const uint8_t*, int64_t, float*, size_t) { std::abort(); }

}  // namespace tandem::kernels

#endif
