// How many 256-bit integer multiplies this core issues per cycle, and what
// the K-quant tiles' inner product patterns reach with their operands in L1.
// It settles whether a tile kernel is bound by the multiplier (the question
// behind the AVX2 prefill numbers in docs/benchmarks.md) without hardware
// counters, which the development VMs do not expose to `perf`.
//
//   build/bench/kernels/int_multiply_probe [--seconds S]
//
// Cycles come from a chain of dependent scalar adds (one per cycle on every
// x86 core since the Pentium 4), so "per cycle" numbers assume the clock
// stays put between the probes; each probe is run three times and the best
// kept. Prints one line per probe.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a) { return std::chrono::duration<double>(Clock::now() - a).count(); }

// Iterations of one dependent `add` each: iterations per second is the clock.
double ClockHz(double seconds) {
  int64_t iters = 1 << 24;
  for (;;) {
    uint64_t x = 0;
    const auto t0 = Clock::now();
    for (int64_t i = 0; i < iters; ++i) __asm__ volatile("add $1, %0" : "+r"(x));
    const double s = Seconds(t0);
    if (s >= seconds) return static_cast<double>(iters) / s;
    iters *= 2;
  }
}

#if defined(__x86_64__)
// Eight independent chains of one instruction: its issue rate, not latency.
template <int kOp>
__attribute__((target("avx2"))) double OpsPerSecond(double seconds) {
  __m256i a0 = _mm256_set1_epi8(1), a1 = _mm256_set1_epi8(2), a2 = _mm256_set1_epi8(3), a3 = _mm256_set1_epi8(4);
  __m256i a4 = _mm256_set1_epi8(5), a5 = _mm256_set1_epi8(6), a6 = _mm256_set1_epi8(7), a7 = _mm256_set1_epi8(8);
  const __m256i b = _mm256_set1_epi8(3);
  int64_t iters = 1 << 20;
  for (;;) {
    const auto t0 = Clock::now();
    for (int64_t i = 0; i < iters; ++i) {
#define TANDEM_PROBE_OP(v) v = kOp == 0 ? _mm256_maddubs_epi16(v, b) : _mm256_madd_epi16(v, b)
      TANDEM_PROBE_OP(a0); TANDEM_PROBE_OP(a1); TANDEM_PROBE_OP(a2); TANDEM_PROBE_OP(a3);
      TANDEM_PROBE_OP(a4); TANDEM_PROBE_OP(a5); TANDEM_PROBE_OP(a6); TANDEM_PROBE_OP(a7);
#undef TANDEM_PROBE_OP
      __asm__ volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5), "+x"(a6), "+x"(a7));
    }
    const double s = Seconds(t0);
    if (s >= seconds) return 8.0 * static_cast<double>(iters) / s;
    iters *= 2;
  }
}

__attribute__((target("avx2"))) inline __m256i load(const uint8_t* p) {
  return _mm256_load_si256(reinterpret_cast<const __m256i*>(p));
}

// A tile's inner products for 8 activation rows against one decoded weight
// vector per 32-byte chunk, the activations (8 x 256 bytes) in L1.
// kS16 = false: DotQ45K's pattern, vpmaddubsw then vpmaddwd with the
// sub-block scale and an add per 32 products. true: four vpmaddubsw summed
// as int16, then one vpmaddwd (possible when every int16 lane of the four
// belongs to one sub-block, the transposed order of DotQ4KT).
template <bool kS16>
__attribute__((target("avx2"))) double MacsPerSecond(double seconds) {
  alignas(64) static uint8_t x[8][256];
  for (int j = 0; j < 8; ++j) {
    for (int i = 0; i < 256; ++i) x[j][i] = static_cast<uint8_t>(i * (j + 1));
  }
  __m256i acc[8];
  for (auto& a : acc) a = _mm256_setzero_si256();
  const __m256i w0 = _mm256_set1_epi8(3), s = _mm256_set1_epi16(2);
  int64_t iters = 1 << 14;
  for (;;) {
    const auto t0 = Clock::now();
    for (int64_t i = 0; i < iters; ++i) {
      if constexpr (!kS16) {
        for (int c = 0; c < 8; ++c) {
          const __m256i w = _mm256_add_epi8(w0, _mm256_set1_epi8(static_cast<char>(c)));
          for (int j = 0; j < 8; ++j) {
            acc[j] = _mm256_add_epi32(acc[j], _mm256_madd_epi16(_mm256_maddubs_epi16(w, load(x[j] + 32 * c)), s));
          }
        }
      } else {
        for (int c = 0; c < 8; c += 4) {
          const __m256i w = _mm256_add_epi8(w0, _mm256_set1_epi8(static_cast<char>(c)));
          for (int j = 0; j < 8; ++j) {
            __m256i p = _mm256_maddubs_epi16(w, load(x[j] + 32 * c));
            for (int k = 1; k < 4; ++k) p = _mm256_add_epi16(p, _mm256_maddubs_epi16(w, load(x[j] + 32 * (c + k))));
            acc[j] = _mm256_add_epi32(acc[j], _mm256_madd_epi16(p, s));
          }
        }
      }
      __asm__ volatile("" : "+x"(acc[0]), "+x"(acc[1]), "+x"(acc[2]), "+x"(acc[3]), "+x"(acc[4]), "+x"(acc[5]),
                       "+x"(acc[6]), "+x"(acc[7]));
    }
    const double sec = Seconds(t0);
    if (sec >= seconds) return 8.0 * 256.0 * static_cast<double>(iters) / sec;
    iters *= 2;
  }
}
#endif

template <class F>
double Best(F f) {
  double best = 0;
  for (int r = 0; r < 3; ++r) {
    const double v = f();
    if (v > best) best = v;
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 0.3;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
      if (!(seconds > 0)) {
        std::fprintf(stderr, "error: --seconds wants a positive number, got '%s'\n", argv[i]);
        return 2;
      }
    } else {
      std::fprintf(stderr, "usage: %s [--seconds S]  (S: length of each timed probe, default 0.3)\n", argv[0]);
      return std::strcmp(argv[i], "--help") == 0 ? 0 : 2;
    }
  }
#if defined(__x86_64__)
  if (!__builtin_cpu_supports("avx2")) {
    std::fprintf(stderr, "error: this CPU has no AVX2; the probes are AVX2 instructions\n");
    return 1;
  }
  const double hz = Best([&] { return ClockHz(seconds); });
  std::printf("clock (dependent adds)            %.2f GHz\n", hz / 1e9);
  const double maddubs = Best([&] { return OpsPerSecond<0>(seconds); });
  const double madd = Best([&] { return OpsPerSecond<1>(seconds); });
  std::printf("vpmaddubsw ymm                    %.2f per cycle\n", maddubs / hz);
  std::printf("vpmaddwd ymm                      %.2f per cycle\n", madd / hz);
  const double natural = Best([&] { return MacsPerSecond<false>(seconds); });
  const double s16 = Best([&] { return MacsPerSecond<true>(seconds); });
  std::printf("8-row products, maddubs+madd/32   %.1f GMAC/s (%.1f per cycle)\n", natural / 1e9, natural / hz);
  std::printf("8-row products, int16 sums of 4   %.1f GMAC/s (%.1f per cycle)\n", s16 / 1e9, s16 / hz);
  return 0;
#else
  std::fprintf(stderr, "error: the probes are x86 instructions\n");
  return 1;
#endif
}
