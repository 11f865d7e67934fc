// NextTokenFromLogits (the next-token info of VerifySession::Append that
// CARDS and ARGS ask for every segment / token) on a Qwen2.5-sized logits
// row (151,936 entries): its full cost, its entropy pass alone (top_k = 0),
// hence the top-k selection's share, against the selection it replaced (a
// vocabulary-sized index array + partial_sort per call).
//
// Usage: tandem_next_token_info_bench [--iterations N]   (default 300)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "decoding/local/model_verifier.h"

namespace {

template <typename Fn>
double MicrosPerCall(int iterations, Fn&& fn) {
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iterations; ++i) fn();
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / iterations;
}

}  // namespace

int main(int argc, char** argv) {
  int iterations = 300;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--iterations") == 0 && i + 1 < argc) {
      iterations = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: %s [--iterations N]\n", argv[0]);
      return 2;
    }
  }
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.0f, 3.0f);
  std::vector<float> logits(151936);
  for (float& l : logits) l = dist(rng);
  volatile int32_t sink = 0;
  std::printf("| top_k | index array + partial_sort (us) | k-heap selection (us) | selection ratio | entropy pass (us) | whole call (us) |\n");
  std::printf("|---|---|---|---|---|---|\n");
  const double entropy = MicrosPerCall(iterations, [&] {
    sink = static_cast<int32_t>(tandem::decoding::NextTokenFromLogits(logits, 0).top_tokens.size());
  });
  for (int k : {10, 40}) {
    const double old_selection = MicrosPerCall(iterations, [&] {
      std::vector<int32_t> ids(logits.size());
      std::iota(ids.begin(), ids.end(), 0);
      std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), [&](int32_t a, int32_t b) {
        return logits[a] != logits[b] ? logits[a] > logits[b] : a < b;
      });
      sink = ids[0];
    });
    const double whole = MicrosPerCall(iterations, [&] {
      sink = tandem::decoding::NextTokenFromLogits(logits, k).top_tokens[0];
    });
    const double selection = whole - entropy;
    std::printf("| %d | %.0f | %.0f | %.2fx | %.0f | %.0f |\n", k, old_selection, selection,
                old_selection / selection, entropy, whole);
  }
  return sink < 0 ? 1 : 0;
}
