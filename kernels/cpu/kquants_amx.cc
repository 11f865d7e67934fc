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

#include "kernels/cpu/dot_kernels.h"
#include "kernels/cpu/ggml_types.h"

#if defined(__x86_64__) && defined(__AMX_INT8__) && defined(__AMX_TILE__) && defined(__AVX512F__)
// GCC 12 warns that _mm512_undefined_ps() inside its own cvtepi32_ps is
// "maybe uninitialized" (a false positive of the intrinsic header).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

namespace tandem::kernels {
namespace {

// isum[r] += scale[r] * C[r] (C stored row r at c + 16 r).
inline void AddScaled(const int32_t* c, const int32_t* scales, __m512i* isum) {
  for (int r = 0; r < 16; ++r) {
    isum[r] = _mm512_add_epi32(isum[r], _mm512_mullo_epi32(_mm512_load_si512(c + 16 * r), _mm512_set1_epi32(scales[r])));
  }
}

struct alignas(64) TileConfig {
  uint8_t palette_id = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// Q4_K: 8 sub-blocks of 32. Per weight superblock: A tiles [8][16 rows][32]
// u8 nibbles, scales [8][16] int32, min pairs [4][16] int32 (int16 mins 2p,
// 2p+1), d [16] and dmin [16] float.
struct Q4K {
  static constexpr int kSub = 8, kK = 32;
  static constexpr size_t kScalesOff = kSub * 16 * kK;
  static constexpr size_t kMinsOff = kScalesOff + kSub * 16 * 4;
  static constexpr size_t kDOff = kMinsOff + 4 * 16 * 4;
  static constexpr size_t kSuperblock = kDOff + 2 * 16 * 4;

  // The activation sub-block s: the packed 32-element block s.
  static size_t BOffset(int s) { return static_cast<size_t>(s) * 512; }

  static void Pack(const uint8_t* w, size_t w_stride, int r, int64_t nsb, uint8_t* out) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const auto* row = reinterpret_cast<const BlockQ4_K*>(w + static_cast<size_t>(r) * w_stride);
    for (int64_t b = 0; b < nsb; ++b) {
      uint8_t* sb = out + static_cast<size_t>(b) * kSuperblock;
      const BlockQ4_K& blk = row[b];
      for (int c = 0; c < 4; ++c) {  // sub-block 2c: low nibbles of qs[32c..], 2c + 1: high nibbles
        const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qs + 32 * c));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(sb + ((2 * c) * 16 + r) * kK), _mm256_and_si256(q, m4));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(sb + ((2 * c + 1) * 16 + r) * kK),
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

  // acc[r] += (d_x * d_w) * isum - (d_x * d_min) * msum, DotQ4_KRow's
  // operations, unfused (the empty asm keeps GCC from contracting a product
  // into the subtraction); msum = mins x 32-element sums (vpdpwssd).
  static void Finish(const uint8_t* wsb, const uint8_t* asb, const __m512i* isum, float (*acc)[16]) {
    const auto* xs = reinterpret_cast<const __m512i*>(asb + 4096);
    const __m512 xd = _mm512_load_ps(reinterpret_cast<const float*>(asb + 4096 + 256));
    const auto* mins = reinterpret_cast<const int32_t*>(wsb + kMinsOff);
    const auto* d = reinterpret_cast<const float*>(wsb + kDOff);
    for (int r = 0; r < 16; ++r) {
      __m512i ms = _mm512_setzero_si512();
      for (int p = 0; p < 4; ++p) ms = _mm512_dpwssd_epi32(ms, _mm512_load_si512(xs + p), _mm512_set1_epi32(mins[p * 16 + r]));
      __m512 t1 = _mm512_mul_ps(_mm512_mul_ps(xd, _mm512_set1_ps(d[r])), _mm512_cvtepi32_ps(isum[r]));
      __m512 t2 = _mm512_mul_ps(_mm512_mul_ps(xd, _mm512_set1_ps(d[16 + r])), _mm512_cvtepi32_ps(ms));
      __asm__("" : "+v"(t1), "+v"(t2));
      _mm512_store_ps(acc[r], _mm512_add_ps(_mm512_load_ps(acc[r]), _mm512_sub_ps(t1, t2)));
    }
  }
};

// Q6_K: 16 sub-blocks of 16. Per weight superblock: A tiles [16][16 rows][16]
// u8 codes (0..63), scales [16][16] int32, scale pairs [8][16] int32 (int16
// scales 2p, 2p+1), d [16] float.
struct Q6K {
  static constexpr int kSub = 16, kK = 16;
  static constexpr size_t kScalesOff = kSub * 16 * kK;
  static constexpr size_t kPairsOff = kScalesOff + kSub * 16 * 4;
  static constexpr size_t kDOff = kPairsOff + 8 * 16 * 4;
  static constexpr size_t kSuperblock = kDOff + 16 * 4;

  // Sub-block s (16 elements) is half s % 2 of the packed 32-element block
  // s / 2: rows 4 (s % 2) .. of its VNNI block.
  static size_t BOffset(int s) { return static_cast<size_t>(s / 2) * 512 + (s % 2) * 256; }

  static void Pack(const uint8_t* w, size_t w_stride, int r, int64_t nsb, uint8_t* out) {
    const auto* row = reinterpret_cast<const BlockQ6_K*>(w + static_cast<size_t>(r) * w_stride);
    for (int64_t b = 0; b < nsb; ++b) {
      uint8_t* sb = out + static_cast<size_t>(b) * kSuperblock;
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
      for (int g = 0; g < kSub; ++g) std::memcpy(sb + (g * 16 + r) * kK, q + kK * g, kK);
      auto* scales = reinterpret_cast<int32_t*>(sb + kScalesOff);
      auto* pairs = reinterpret_cast<int32_t*>(sb + kPairsOff);
      for (int g = 0; g < kSub; ++g) scales[g * 16 + r] = blk.scales[g];
      for (int p = 0; p < 8; ++p) {
        const auto lo = static_cast<uint16_t>(static_cast<int16_t>(blk.scales[2 * p]));
        const auto hi = static_cast<uint16_t>(static_cast<int16_t>(blk.scales[2 * p + 1]));
        pairs[p * 16 + r] = static_cast<int32_t>(lo | static_cast<uint32_t>(hi) << 16);
      }
      reinterpret_cast<float*>(sb + kDOff)[r] = _cvtsh_ss(blk.d);
    }
  }

  // isum -= 32 * scales x 16-element sums (the codes' offset), then
  // acc[r] += (d_x * d_w) * isum: DotQ6_KRow's operations, unfused.
  static void Finish(const uint8_t* wsb, const uint8_t* asb, const __m512i* isum, float (*acc)[16]) {
    const auto* bsums = reinterpret_cast<const __m512i*>(asb + 4096 + 256 + 64);
    const __m512 xd = _mm512_load_ps(reinterpret_cast<const float*>(asb + 4096 + 256));
    const auto* pairs = reinterpret_cast<const int32_t*>(wsb + kPairsOff);
    const auto* d = reinterpret_cast<const float*>(wsb + kDOff);
    for (int r = 0; r < 16; ++r) {
      __m512i off = _mm512_setzero_si512();
      for (int p = 0; p < 8; ++p) {
        off = _mm512_dpwssd_epi32(off, _mm512_load_si512(bsums + p), _mm512_set1_epi32(pairs[p * 16 + r]));
      }
      const __m512i is = _mm512_sub_epi32(isum[r], _mm512_slli_epi32(off, 5));
      __m512 t = _mm512_mul_ps(_mm512_mul_ps(xd, _mm512_set1_ps(d[r])), _mm512_cvtepi32_ps(is));
      __asm__("" : "+v"(t));
      _mm512_store_ps(acc[r], _mm512_add_ps(_mm512_load_ps(acc[r]), t));
    }
  }
};

constexpr size_t kMaxSuperblock = Q4K::kSuperblock > Q6K::kSuperblock ? Q4K::kSuperblock : Q6K::kSuperblock;

// Two tile sets, used by even and odd sub-blocks so that one product runs
// while the other's result is stored and scaled: tiles 0 / 3: C (16 weight
// rows x 16 int32), 1 / 4: A (16 weight rows x kK bytes), 2 / 5: B (kK / 4
// rows of 64 bytes: kK codes of 16 activation rows, VNNI order).
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

// The weight rows into `scratch` (tile order), then every group of 16
// activation rows over the superblocks: per sub-block one TDPBUSD, its 16 x
// 16 exact products scaled into isum (integer sums: the pairing of
// sub-blocks on the two tile sets changes nothing), then T::Finish's float
// term, superblock after superblock.
template <class T>
void RunRows(int64_t cols, const void* w, size_t w_stride, int nr, const uint8_t* acts, int64_t m, float* y,
             size_t ldy, uint8_t* scratch) {
  const int64_t nsb = cols / 256;
  std::memset(scratch, 0, static_cast<size_t>(nsb) * T::kSuperblock);  // rows >= nr contribute 0
  for (int r = 0; r < nr; ++r) T::Pack(static_cast<const uint8_t*>(w), w_stride, r, nsb, scratch);
  ConfigureTiles(T::kK);
  alignas(64) int32_t cbuf[2][16 * 16];
  alignas(64) float acc[16][16];
  for (int64_t g = 0; g * kAmxRows < m; ++g) {
    for (auto& a : acc) _mm512_store_ps(a, _mm512_setzero_ps());
    for (int64_t b = 0; b < nsb; ++b) {
      const uint8_t* wsb = scratch + static_cast<size_t>(b) * T::kSuperblock;
      const uint8_t* asb = acts + static_cast<size_t>(g * nsb + b) * kAmxActSuperblock;
      const auto* scales = reinterpret_cast<const int32_t*>(wsb + T::kScalesOff);
      __m512i isum[16];
      for (auto& v : isum) v = _mm512_setzero_si512();
      for (int s = 0; s < T::kSub; s += 2) {  // tile numbers must be compile-time constants
        _tile_loadd(1, wsb + s * 16 * T::kK, T::kK);
        _tile_loadd(2, asb + T::BOffset(s), 64);
        _tile_zero(0);
        _tile_dpbusd(0, 1, 2);
        _tile_loadd(4, wsb + (s + 1) * 16 * T::kK, T::kK);
        _tile_loadd(5, asb + T::BOffset(s + 1), 64);
        _tile_zero(3);
        _tile_dpbusd(3, 4, 5);
        _tile_stored(0, cbuf[0], 64);
        AddScaled(cbuf[0], scales + s * 16, isum);
        _tile_stored(3, cbuf[1], 64);
        AddScaled(cbuf[1], scales + (s + 1) * 16, isum);
      }
      T::Finish(wsb, asb, isum, acc);
    }
    const int64_t rows = std::min<int64_t>(kAmxRows, m - g * kAmxRows);
    for (int64_t i = 0; i < rows; ++i) {
      float* out = y + static_cast<size_t>(g * kAmxRows + i) * ldy;
      for (int r = 0; r < nr; ++r) out[r] = acc[r][i];
    }
  }
  _tile_release();
}

}  // namespace

bool AmxKernelCompiled() { return true; }

size_t AmxWeightScratchBytes(int64_t cols) { return static_cast<size_t>(cols / 256) * kMaxSuperblock; }

void AmxQ4KRows(int64_t cols, const void* w, size_t w_stride, int nr, const uint8_t* acts, int64_t m, float* y,
                size_t ldy, uint8_t* scratch) {
  RunRows<Q4K>(cols, w, w_stride, nr, acts, m, y, ldy, scratch);
}

void AmxQ6KRows(int64_t cols, const void* w, size_t w_stride, int nr, const uint8_t* acts, int64_t m, float* y,
                size_t ldy, uint8_t* scratch) {
  RunRows<Q6K>(cols, w, w_stride, nr, acts, m, y, ldy, scratch);
}

}  // namespace tandem::kernels

#else

namespace tandem::kernels {

bool AmxKernelCompiled() { return false; }

// AmxUsable() is false on builds without the AMX kernel: never called.
size_t AmxWeightScratchBytes(int64_t) { return 0; }
void AmxQ4KRows(int64_t, const void*, size_t, int, const uint8_t*, int64_t, float*, size_t, uint8_t*) { std::abort(); }
void AmxQ6KRows(int64_t, const void*, size_t, int, const uint8_t*, int64_t, float*, size_t, uint8_t*) { std::abort(); }

}  // namespace tandem::kernels

#endif
