// AMX-INT8 tile products for Q4_K and Q6_K weights (see amx.h for the
// contract and the activation layout). Compiled with AVX-512 and AMX flags (CMakeLists.txt);
// called only when AmxUsable().
//
// Per call: every group of 16 activation rows runs over the superblocks of
// the nr <= 16 weight rows, which the first group unpacks into tile order
// as it goes. Both types fold their sub-block scales into byte planes of the
// weight codes (Q4K and Q6K below), so a superblock is two or three C tiles
// accumulated by TDPBUSD / TDPBSSD and read back once, then the scalar
// kernel's superblock term in float, lane = activation row.
#include "kernels/cpu/amx.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "kernels/cpu/ggml_types.h"
#include "kernels/cpu/prefetch.h"

#if defined(__x86_64__) && defined(__AMX_INT8__) && defined(__AMX_TILE__) && defined(__AVX512F__)
// GCC 12 warns that _mm512_undefined_ps() inside its own cvtepi32_ps is
// "maybe uninitialized" (a false positive of the intrinsic header).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

namespace tandem::kernels {
namespace {

struct alignas(64) TileConfig {
  uint8_t palette_id = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// UnpackScalesMinsK4 on whole words (byte j of *sc / *mn = sc[j] / m[j]):
// the byte-wise version's eight byte stores and the vector load after them
// stall store forwarding in the pack loop.
inline void UnpackScalesMinsK4Swar(const uint8_t* s, uint64_t* sc, uint64_t* mn) {
  uint64_t a = 0;
  uint32_t b = 0;
  std::memcpy(&a, s, 8);
  std::memcpy(&b, s + 8, 4);
  const auto a_lo = static_cast<uint32_t>(a), a_hi = static_cast<uint32_t>(a >> 32);
  const uint32_t sc_lo = a_lo & 0x3F3F3F3Fu, mn_lo = a_hi & 0x3F3F3F3Fu;
  const uint32_t sc_hi = (b & 0x0F0F0F0Fu) | ((a_lo & 0xC0C0C0C0u) >> 2);
  const uint32_t mn_hi = ((b >> 4) & 0x0F0F0F0Fu) | ((a_hi & 0xC0C0C0C0u) >> 2);
  *sc = sc_lo | static_cast<uint64_t>(sc_hi) << 32;
  *mn = mn_lo | static_cast<uint64_t>(mn_hi) << 32;
}

// Both types fold their sub-block scales into byte planes of the weight
// codes. Applying a scale after each sub-block's product needs the C tile
// stored and reloaded per sub-block (a serial tile-store -> vector-load
// chain plus 16 vpmulld), which bounded the first version of these kernels;
// with the scales folded in, one C tile per plane accumulates the whole
// superblock and is read back once. A plane is [4 chunks][16 rows][64] bytes:
// chunk t is elements 64t .. 64t + 63, the activations' VNNI blocks 2t and
// 2t + 1, which lie back to back (amx.h), so B is read in place.
constexpr size_t kPlane = 4 * 16 * 64;

// Q4_K: sc = lo + 16 hi (lo 0..15, hi 0..3); plane 0 holds code * lo, plane
// 1 code * hi (<= 225, unsigned bytes: TDPBUSD), so isum = C_0 + 16 C_1,
// exactly the scalar kernel's integer. After the planes: min pairs [16][4]
// int32 (row r's int16 mins 2p, 2p + 1), d [16] and dmin [16] float.
struct Q4K {
  using Block = BlockQ4_K;
  static constexpr int kPlanes = 2;
  static constexpr size_t kMinsOff = kPlanes * kPlane;
  static constexpr size_t kDOff = kMinsOff + 4 * 16 * 4;
  static constexpr size_t kSuperblock = kDOff + 2 * 16 * 4;
  // Pack superblock b + 1 before b's products (RunRows). 16- and 32-row
  // products 0.94-0.98x the time of packing just before them (bench_kernels
  // MatMul/q4_K 8960x1536 and 1536x8960, 1 thread, best of 10 alternating
  // runs, Sapphire Rapids VM, 2026-12-06).
  static constexpr bool kPackAhead = true;

  // Weight row r's superblock b (at w_row) into its tile rows of `sb`. The
  // pack is the fixed cost of a product of few rows, so it is kept short:
  // each chunk's codes are one broadcast load, a variable shift and a mask,
  // and the mins one widening store. 12-32-row products took 0.95-0.99x the
  // time of four-instruction codes and scalar min pairs, with the unchanged
  // 5-row VNNI product at 0.99-1.02x in the same runs (bench_kernels, 1
  // thread, Sapphire Rapids VM, bench/results/amx_pack_q4k).
  static void Pack(const uint8_t* w_row, int r, int64_t b, uint8_t* sb) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    // Words 16..31 shift right by 4: the high nibbles of the same 32 bytes.
    const __m512i nibble_shift = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(4), 1);
    // Word indices into the scale vector [lo_0..lo_7, hi_0..hi_7]: chunk c's
    // 32 low-nibble codes (sub-block 2c) come first, its high nibbles
    // (2c + 1) second.
    __m512i lo_idx[4], hi_idx[4];
    for (int c = 0; c < 4; ++c) {
      lo_idx[c] = _mm512_mask_set1_epi16(_mm512_set1_epi16(static_cast<int16_t>(2 * c)), 0xFFFF0000u,
                                         static_cast<int16_t>(2 * c + 1));
      hi_idx[c] = _mm512_add_epi16(lo_idx[c], _mm512_set1_epi16(8));
    }
    const BlockQ4_K& blk = reinterpret_cast<const BlockQ4_K*>(w_row)[b];
    uint64_t sc = 0, mn = 0;
    UnpackScalesMinsK4Swar(blk.scales, &sc, &mn);
    const __m128i s8 = _mm_cvtsi64_si128(static_cast<long long>(sc));
    const __m128i lo8 = _mm_and_si128(s8, _mm_set1_epi8(0x0F));
    const __m128i hi8 = _mm_and_si128(_mm_srli_epi16(s8, 4), _mm_set1_epi8(0x03));  // sc <= 63
    const __m512i scale_words = _mm512_cvtepu8_epi16(_mm256_castsi128_si256(_mm_unpacklo_epi64(lo8, hi8)));
    for (int c = 0; c < 4; ++c) {
      const __m512i q = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qs + 32 * c)));
      const __m512i codes = _mm512_and_si512(_mm512_srlv_epi16(q, nibble_shift), m4);
      // Byte products through 16-bit multiplies: a code times a scale
      // <= 15 stays below 256, so neither byte of a word carries into the
      // other.
      const __m512i lo = _mm512_mullo_epi16(codes, _mm512_permutexvar_epi16(lo_idx[c], scale_words));
      const __m512i hi = _mm512_mullo_epi16(codes, _mm512_permutexvar_epi16(hi_idx[c], scale_words));
      _mm512_store_si512(sb + c * 1024 + r * 64, lo);
      _mm512_store_si512(sb + kPlane + c * 1024 + r * 64, hi);
    }
    // Bytes m_0..m_7 widened to words: dword p is the pair (m_2p, m_2p+1).
    _mm_store_si128(reinterpret_cast<__m128i*>(sb + kMinsOff + 16 * r),
                    _mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<long long>(mn))));
    auto* d = reinterpret_cast<float*>(sb + kDOff);
    d[r] = _cvtsh_ss(blk.d);
    d[16 + r] = _cvtsh_ss(blk.dmin);
  }

  // acc[r] += (d_x * d_w) * isum - (d_x * d_min) * msum, DotQ4_KRow's
  // operations, unfused (the empty asm keeps GCC from contracting a product
  // into the subtraction); msum = mins x 32-element sums (vpdpwssd).
  static void Finish(const uint8_t* wsb, const uint8_t* asb, const int32_t (*c)[256], float (*acc)[16]) {
    const auto* xs = reinterpret_cast<const __m512i*>(asb + 4096);
    const __m512 xd = _mm512_load_ps(reinterpret_cast<const float*>(asb + 4096 + 256));
    const auto* mins = reinterpret_cast<const int32_t*>(wsb + kMinsOff);
    const auto* d = reinterpret_cast<const float*>(wsb + kDOff);
    for (int r = 0; r < 16; ++r) {
      const __m512i isum =
          _mm512_add_epi32(_mm512_load_si512(c[0] + 16 * r), _mm512_slli_epi32(_mm512_load_si512(c[1] + 16 * r), 4));
      __m512i ms = _mm512_setzero_si512();
      for (int p = 0; p < 4; ++p) ms = _mm512_dpwssd_epi32(ms, _mm512_load_si512(xs + p), _mm512_set1_epi32(mins[4 * r + p]));
      __m512 t1 = _mm512_mul_ps(_mm512_mul_ps(xd, _mm512_set1_ps(d[r])), _mm512_cvtepi32_ps(isum));
      __m512 t2 = _mm512_mul_ps(_mm512_mul_ps(xd, _mm512_set1_ps(d[16 + r])), _mm512_cvtepi32_ps(ms));
      __asm__("" : "+v"(t1), "+v"(t2));
      _mm512_store_ps(acc[r], _mm512_add_ps(_mm512_load_ps(acc[r]), _mm512_sub_ps(t1, t2)));
    }
  }
};

// Q6_K: codes q in 0..63 with an offset of 32, signed 8-bit scales s per 16
// elements. s = d0 + 8 d1 + 64 d2 with balanced digits d_i in -3..4 (d2 in
// -2..2 for s in -128..127); plane i holds (q - 32) * d_i, in -128..124
// (signed bytes: TDPBSSD), so isum = C_0 + 8 C_1 + 64 C_2 = sum over
// sub-blocks of s * sum((q - 32) x), exactly the scalar kernel's integer (the
// offset needs no separate term). After the planes: d [16] float.
struct Q6K {
  using Block = BlockQ6_K;
  static constexpr int kPlanes = 3;
  static constexpr size_t kDOff = kPlanes * kPlane;
  static constexpr size_t kSuperblock = kDOff + 16 * 4;
  // Packing ahead measured 1.06-1.16x the time here (same runs as Q4K's):
  // two superblocks of three planes (25 KB) in flight crowd L1.
  static constexpr bool kPackAhead = false;

  // Weight row r's superblock b (at w_row) into its tile rows of `sb`.
  static void Pack(const uint8_t* w_row, int r, int64_t b, uint8_t* sb) {
    const __m512i m0f = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    const __m512i low_bytes = _mm512_set1_epi16(0x00FF);
    // The high bits of the codes: qh << 4 | qh << 2 for chunk 2h (elements
    // l and l + 32 take qh bits 0-1 and 2-3), qh | qh >> 2 for chunk 2h + 1
    // (bits 4-5 and 6-7); shifting whole words is fine, the mask keeps bits
    // 4-5 of each byte, which come from that byte alone.
    const __m512i shl = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
    const __m512i shr = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
    // Word w of chunk t belongs to sub-block 4t + w / 8.
    __m512i idx[4];
    for (int t = 0; t < 4; ++t) {
      alignas(64) int16_t v[32];
      for (int k = 0; k < 32; ++k) v[k] = static_cast<int16_t>(4 * t + k / 8);
      idx[t] = _mm512_load_si512(v);
    }
    const BlockQ6_K& blk = reinterpret_cast<const BlockQ6_K*>(w_row)[b];
    // Balanced base-8 digits of the 16 scales, as words.
    const __m256i s = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.scales)));
    const __m256i three = _mm256_set1_epi16(3), seven = _mm256_set1_epi16(7);
    const __m256i d0 = _mm256_sub_epi16(_mm256_and_si256(_mm256_add_epi16(s, three), seven), three);
    const __m256i s1 = _mm256_srai_epi16(_mm256_sub_epi16(s, d0), 3);
    const __m256i d1 = _mm256_sub_epi16(_mm256_and_si256(_mm256_add_epi16(s1, three), seven), three);
    const __m256i d2 = _mm256_srai_epi16(_mm256_sub_epi16(s1, d1), 3);
    const __m512i digits[3] = {_mm512_castsi256_si512(d0), _mm512_castsi256_si512(d1), _mm512_castsi256_si512(d2)};
    for (int h = 0; h < 2; ++h) {
      const __m512i ql = _mm512_loadu_si512(blk.ql + 64 * h);
      const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qh + 32 * h));
      const __m512i qh2 = _mm512_inserti64x4(_mm512_castsi256_si512(qh), qh, 1);
      const __m512i q[2] = {
          _mm512_or_si512(_mm512_and_si512(ql, m0f), _mm512_and_si512(_mm512_sllv_epi16(qh2, shl), m30)),
          _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m0f),
                          _mm512_and_si512(_mm512_srlv_epi16(qh2, shr), m30))};
      for (int k = 0; k < 2; ++k) {
        const int t = 2 * h + k;
        const __m512i centred = _mm512_sub_epi8(q[k], _mm512_set1_epi8(32));
        // Signed byte products through 16-bit multiplies, even and odd
        // bytes apart (a negative low product would borrow from the high
        // byte); each product fits a byte.
        const __m512i even = _mm512_and_si512(centred, low_bytes);
        const __m512i odd = _mm512_andnot_si512(low_bytes, centred);
        for (int i = 0; i < kPlanes; ++i) {
          const __m512i dw = _mm512_permutexvar_epi16(idx[t], digits[i]);
          const __m512i plane = _mm512_ternarylogic_epi32(_mm512_mullo_epi16(even, dw), low_bytes,
                                                          _mm512_mullo_epi16(odd, dw), 0xEA);  // (a & b) | c
          _mm512_store_si512(sb + i * kPlane + t * 1024 + r * 64, plane);
        }
      }
    }
    reinterpret_cast<float*>(sb + kDOff)[r] = _cvtsh_ss(blk.d);
  }

  // acc[r] += (d_x * d_w) * isum: DotQ6_KRow's operations, unfused.
  static void Finish(const uint8_t* wsb, const uint8_t* asb, const int32_t (*c)[256], float (*acc)[16]) {
    const __m512 xd = _mm512_load_ps(reinterpret_cast<const float*>(asb + 4096 + 256));
    const auto* d = reinterpret_cast<const float*>(wsb + kDOff);
    for (int r = 0; r < 16; ++r) {
      const __m512i isum = _mm512_add_epi32(
          _mm512_add_epi32(_mm512_load_si512(c[0] + 16 * r), _mm512_slli_epi32(_mm512_load_si512(c[1] + 16 * r), 3)),
          _mm512_slli_epi32(_mm512_load_si512(c[2] + 16 * r), 6));
      __m512 t = _mm512_mul_ps(_mm512_mul_ps(xd, _mm512_set1_ps(d[r])), _mm512_cvtepi32_ps(isum));
      __asm__("" : "+v"(t));
      _mm512_store_ps(acc[r], _mm512_add_ps(_mm512_load_ps(acc[r]), t));
    }
  }
};

// A superblock's plane products into C tiles 0, 1 (and 2 for Q6_K), stored
// to cbuf[0..]. Each chunk's weight planes and activations get tiles of
// their own, alternating between even and odd chunks (Q6_K: per plane), so
// a tile load need not wait for the product that last read its tile (4 %
// on a 16-row Q4_K product). Macros because GCC's tile intrinsics paste the
// tile number into the instruction text.
#define TANDEM_Q4K_CHUNK(c, B, A0, A1, wsb, asb)      \
  do {                                                \
    _tile_loadd(B, (asb) + (c) * 1024, 64);           \
    _tile_loadd(A0, (wsb) + (c) * 1024, 64);          \
    _tile_loadd(A1, (wsb) + kPlane + (c) * 1024, 64); \
    _tile_dpbusd(0, A0, B);                           \
    _tile_dpbusd(1, A1, B);                           \
  } while (false)
#define TANDEM_Q6K_CHUNK(c, B, wsb, asb)                  \
  do {                                                    \
    _tile_loadd(B, (asb) + (c) * 1024, 64);               \
    _tile_loadd(3, (wsb) + (c) * 1024, 64);               \
    _tile_loadd(4, (wsb) + kPlane + (c) * 1024, 64);      \
    _tile_loadd(5, (wsb) + 2 * kPlane + (c) * 1024, 64);  \
    _tile_dpbssd(0, 3, B);                                \
    _tile_dpbssd(1, 4, B);                                \
    _tile_dpbssd(2, 5, B);                                \
  } while (false)

inline void Products(Q4K, const uint8_t* wsb, const uint8_t* asb, int32_t (*cbuf)[256]) {
  _tile_zero(0);
  _tile_zero(1);
  TANDEM_Q4K_CHUNK(0, 6, 2, 4, wsb, asb);
  TANDEM_Q4K_CHUNK(1, 7, 3, 5, wsb, asb);
  TANDEM_Q4K_CHUNK(2, 6, 2, 4, wsb, asb);
  TANDEM_Q4K_CHUNK(3, 7, 3, 5, wsb, asb);
  _tile_stored(0, cbuf[0], 64);
  _tile_stored(1, cbuf[1], 64);
}
inline void Products(Q6K, const uint8_t* wsb, const uint8_t* asb, int32_t (*cbuf)[256]) {
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  TANDEM_Q6K_CHUNK(0, 6, wsb, asb);
  TANDEM_Q6K_CHUNK(1, 7, wsb, asb);
  TANDEM_Q6K_CHUNK(2, 6, wsb, asb);
  TANDEM_Q6K_CHUNK(3, 7, wsb, asb);
  _tile_stored(0, cbuf[0], 64);
  _tile_stored(1, cbuf[1], 64);
  _tile_stored(2, cbuf[2], 64);
}

// All eight tiles 16 rows x 64 bytes (see Products for their roles).
void ConfigureTiles() {
  TileConfig c;
  for (int t = 0; t < 8; ++t) {
    c.rows[t] = 16;
    c.colsb[t] = 64;
  }
  _tile_loadconfig(&c);
}

// The 16 weight rows are read a superblock of each at a time, 16 streams
// kAmxRows rows apart that the hardware prefetchers did not follow: perf
// put half of a 16-row Q4_K product on the first loads of each superblock.
// So each row's next superblock is requested while this one is packed, and
// past the last one the same row of the next 16 (the next chunk of the
// matrix; a prefetch past its end never faults).
template <class Block>
inline void PrefetchNextBlock(const uint8_t* row, size_t w_stride, int64_t b, int64_t nsb) {
  const uint8_t* next = b + 1 < nsb ? row + static_cast<size_t>(b + 1) * sizeof(Block)
                                    : row + static_cast<size_t>(kAmxRows) * w_stride;
  PrefetchLines(next, sizeof(Block));
}

// Superblock b of the nr weight rows into `scratch` (tile order).
template <class T>
inline void PackSuperblock(const void* w, size_t w_stride, int nr, int64_t b, int64_t nsb, uint8_t* scratch) {
  for (int r = 0; r < nr; ++r) {
    const uint8_t* row = static_cast<const uint8_t*>(w) + static_cast<size_t>(r) * w_stride;
    PrefetchNextBlock<typename T::Block>(row, w_stride, b, nsb);
    T::Pack(row, r, b, scratch + static_cast<size_t>(b) * T::kSuperblock);
  }
}

// Every group of 16 activation rows over the superblocks: superblock b's
// products, then b - 1's float term (in superblock order, as the scalar
// kernel adds them). The first group packs the weight rows into `scratch`
// as it goes, so the vector units pack while the tile unit multiplies;
// later groups read the packed rows. Q4_K packs one superblock ahead of its
// products (T::kPackAhead), so its tile loads do not read lines whose
// stores may still be in flight; Q6_K packs just before them (see
// kPackAhead for both measurements).
template <class T>
void RunRows(int64_t cols, const void* w, size_t w_stride, int nr, const uint8_t* acts, int64_t m, float* y,
             size_t ldy, uint8_t* scratch) {
  const int64_t nsb = cols / 256;
  if (nr < kAmxRows) std::memset(scratch, 0, static_cast<size_t>(nsb) * T::kSuperblock);  // rows >= nr give 0
  ConfigureTiles();
  alignas(64) int32_t cbuf[2][3][256];  // [superblock parity][plane][16 x 16]
  alignas(64) float acc[16][16];
  constexpr int64_t ahead = T::kPackAhead ? 1 : 0;
  for (int64_t g = 0; g * kAmxRows < m; ++g) {
    for (auto& a : acc) _mm512_store_ps(a, _mm512_setzero_ps());
    const uint8_t* act = acts + static_cast<size_t>(g * nsb) * kAmxActSuperblock;
    if (g == 0 && ahead == 1) PackSuperblock<T>(w, w_stride, nr, 0, nsb, scratch);
    for (int64_t b = 0; b <= nsb; ++b) {
      if (b < nsb) {
        if (g == 0 && b + ahead < nsb) PackSuperblock<T>(w, w_stride, nr, b + ahead, nsb, scratch);
        Products(T{}, scratch + static_cast<size_t>(b) * T::kSuperblock,
                 act + static_cast<size_t>(b) * kAmxActSuperblock, cbuf[b % 2]);
      }
      if (b > 0) {
        const int64_t p = b - 1;
        T::Finish(scratch + static_cast<size_t>(p) * T::kSuperblock, act + static_cast<size_t>(p) * kAmxActSuperblock,
                  cbuf[p % 2], acc);
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

}  // namespace

bool AmxKernelCompiled() { return true; }

size_t AmxWeightScratchBytes(int64_t cols) {
  return static_cast<size_t>(cols / 256) * std::max(Q4K::kSuperblock, Q6K::kSuperblock);
}

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
