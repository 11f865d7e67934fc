// AMX-INT8 tile product for Q4_K weights (see amx.h for the contract and the
// activation layout). Compiled with AVX-512 and AMX flags (CMakeLists.txt);
// called only when AmxUsable().
//
// Per call: the nr <= 16 weight rows are unpacked once into tile order (per
// superblock: the 8 sub-blocks' nibbles as 16 rows x 32 unsigned bytes, the
// scales and mins, d and dmin), then every group of 16 activation rows runs
// over the superblocks: per sub-block one TDPBUSD gives the 16 x 16 exact
// dot products, which are scaled by that sub-block's 6-bit scale in int32
// (vpmulld) into isum; msum = sum of mins x sub-block sums (vpdpwssd); then
// the scalar kernel's superblock term in float, lane = activation row.
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
void ConfigureTiles() {
  TileConfig c;
  for (int set = 0; set < 2; ++set) {
    c.rows[3 * set] = 16;
    c.colsb[3 * set] = 64;
    c.rows[3 * set + 1] = 16;
    c.colsb[3 * set + 1] = 32;
    c.rows[3 * set + 2] = 8;
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
  ConfigureTiles();
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

}  // namespace tandem::kernels

#else

namespace tandem::kernels {

bool AmxKernelCompiled() { return false; }

void AmxQ4KRows(int64_t, const void*, size_t, int, const uint8_t*, int64_t, float*, size_t) {
  std::abort();  // AmxUsable() is false on builds without the AMX kernel
}

}  // namespace tandem::kernels

#endif
