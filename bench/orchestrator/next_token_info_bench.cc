// NextTokenFromLogits (the next-token info of VerifySession::Append that
// CARDS and ARGS ask for every segment / token) and the per-row
// log-probability of AppendScored (the target-likelihood reward), on a
// Qwen2.5-sized logits row (151,936 entries), each side by side with the
// scalar form it replaced (kept here as the reference): a double-precision
// std::exp loop for the entropy / log Z and a heap scan comparing every id
// for the top k. The two forms alternate, best of --rounds, so both see the
// same machine state.
//
// Usage: tandem_next_token_info_bench [--iterations N] [--rounds R]   (defaults 200, 5)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "decoding/local/model_verifier.h"
#include "runtime/sampling/logprobs.h"

namespace {

template <typename Fn>
double MicrosPerCall(int iterations, Fn&& fn) {
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iterations; ++i) fn();
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / iterations;
}

// The replaced NextTokenFromLogits: double-precision entropy, then a k-heap
// with a comparison per id.
tandem::decoding::NextTokenInfo ScalarNextToken(const std::vector<float>& logits, int k) {
  tandem::decoding::NextTokenInfo info;
  const float m = *std::max_element(logits.begin(), logits.end());
  double z = 0, weighted = 0;
  for (float l : logits) {
    const double e = std::exp(static_cast<double>(l) - m);
    z += e;
    weighted += e * (static_cast<double>(l) - m);
  }
  info.entropy = static_cast<float>(std::log(z) - weighted / z);
  const auto better = [&](int32_t a, int32_t b) { return logits[a] != logits[b] ? logits[a] > logits[b] : a < b; };
  std::vector<int32_t>& heap = info.top_tokens;
  for (int32_t id = 0; id < static_cast<int32_t>(logits.size()); ++id) {
    if (heap.size() < static_cast<size_t>(k)) {
      heap.push_back(id);
      std::push_heap(heap.begin(), heap.end(), better);
    } else if (k > 0 && better(id, heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), better);
      heap.back() = id;
      std::push_heap(heap.begin(), heap.end(), better);
    }
  }
  std::sort_heap(heap.begin(), heap.end(), better);
  return info;
}

// The replaced AppendScored row: log softmax through a double exp loop.
float ScalarLogprob(const std::vector<float>& r, int32_t token) {
  const float m = *std::max_element(r.begin(), r.end());
  double z = 0;
  for (float l : r) z += std::exp(static_cast<double>(l) - m);
  return static_cast<float>(static_cast<double>(r[token]) - m - std::log(z));
}

}  // namespace

int main(int argc, char** argv) {
  int iterations = 200, rounds = 5;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--iterations") == 0 && i + 1 < argc) {
      iterations = std::max(1, std::atoi(argv[++i]));
    } else if (std::strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
      rounds = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: %s [--iterations N] [--rounds R]\n", argv[0]);
      return 2;
    }
  }
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.0f, 3.0f);
  std::vector<float> logits(151936);
  for (float& l : logits) l = dist(rng);
  volatile float sink = 0;
  std::printf("| call | scalar form (us) | now (us) | speed-up | |value difference| |\n|---|---|---|---|---|\n");
  for (int k : {0, 10, 40}) {
    const auto want = ScalarNextToken(logits, k);
    const auto got = tandem::decoding::NextTokenFromLogits(logits, k);
    if (got.top_tokens != want.top_tokens) {
      std::fprintf(stderr, "top-%d ids differ from the scalar form\n", k);
      return 1;
    }
    double before = 1e30, now = 1e30;
    for (int r = 0; r < rounds; ++r) {
      before = std::min(before, MicrosPerCall(iterations, [&] { sink = ScalarNextToken(logits, k).entropy; }));
      now = std::min(now, MicrosPerCall(iterations, [&] {
                       sink = tandem::decoding::NextTokenFromLogits(logits, k).entropy;
                     }));
    }
    std::printf("| NextTokenFromLogits, top_k %d | %.0f | %.0f | %.2fx | entropy %.2g nats |\n", k, before, now,
                before / now, std::fabs(static_cast<double>(got.entropy) - want.entropy));
  }
  tandem::runtime::LogprobScorer scorer;
  double before = 1e30, now = 1e30;
  for (int r = 0; r < rounds; ++r) {
    before = std::min(before, MicrosPerCall(iterations, [&] { sink = ScalarLogprob(logits, 5); }));
    now = std::min(now, MicrosPerCall(iterations, [&] { sink = scorer.Score(logits, 5, 0, nullptr); }));
  }
  std::printf("| AppendScored row log-probability | %.0f | %.0f | %.2fx | %.2g |\n", before, now, before / now,
              std::fabs(static_cast<double>(scorer.Score(logits, 5, 0, nullptr)) - ScalarLogprob(logits, 5)));
  return sink > 1e30f ? 1 : 0;
}
