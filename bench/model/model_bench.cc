// Prefill and decode throughput of one model (not a test). Prefill: one
// Forward over --prompt tokens (last logits only). Decode: --decode single-
// token Forwards, greedy, logits for each. Each measurement repeats --reps
// times on fresh sessions and reports the best, because the build machine is
// shared and the best run is the least disturbed.
//
// usage: tandem_model_bench MODEL.gguf [--threads N] [--prompt P] [--decode D] [--reps R] [--batch B]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "runtime/model/model.h"

using tandem::runtime::ForwardItem;
using tandem::runtime::Model;
using tandem::runtime::ModelOptions;
using tandem::runtime::Session;

namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "error: %s\n", s.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL.gguf [--threads N] [--prompt P] [--decode D] [--reps R] [--batch B]\n", argv[0]);
    return 2;
  }
  int threads = 0, prompt = 128, decode = 64, reps = 3, batch = 1;
  for (int i = 2; i + 1 < argc; i += 2) {
    const int v = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--threads")) threads = v;
    else if (!std::strcmp(argv[i], "--prompt")) prompt = v;
    else if (!std::strcmp(argv[i], "--decode")) decode = v;
    else if (!std::strcmp(argv[i], "--reps")) reps = v;
    else if (!std::strcmp(argv[i], "--batch")) batch = v;
    else { std::fprintf(stderr, "unknown flag %s\n", argv[i]); return 2; }
  }
  ModelOptions opt;
  opt.n_threads = threads;
  auto m = Model::Load(argv[1], opt);
  if (!m.ok()) return Fail(m.status());
  Model& model = **m;
  const int vocab = model.config().vocab_size;
  std::vector<int32_t> tokens(prompt);
  for (int i = 0; i < prompt; ++i) tokens[i] = (i * 7919 + 13) % vocab;

  double best_prefill = 1e30, best_decode = 1e30;
  std::vector<float> logits;
  for (int r = 0; r < reps; ++r) {
    std::vector<std::unique_ptr<Session>> sessions;
    std::vector<ForwardItem> items;
    std::vector<std::vector<float>> outs(batch);
    for (int b = 0; b < batch; ++b) {
      auto s = model.NewSession();
      if (!s.ok()) return Fail(s.status());
      sessions.push_back(std::move(*s));
      items.push_back(ForwardItem{sessions.back().get(), tokens, false, &outs[b]});
    }
    double t0 = Now();
    if (absl::Status s = model.Forward(items); !s.ok()) return Fail(s);
    best_prefill = std::min(best_prefill, Now() - t0);

    std::vector<int32_t> next(batch);
    t0 = Now();
    for (int d = 0; d < decode; ++d) {
      for (int b = 0; b < batch; ++b) {
        const float* row = outs[b].data();
        int32_t best = 0;
        for (int v = 1; v < vocab; ++v) {
          if (row[v] > row[best]) best = v;
        }
        next[b] = best;
        items[b].tokens = std::span<const int32_t>(&next[b], 1);
        items[b].all_logits = true;
      }
      if (absl::Status s = model.Forward(items); !s.ok()) return Fail(s);
    }
    best_decode = std::min(best_decode, Now() - t0);
  }
  std::printf("model=%s threads=%d batch=%d prompt=%d decode=%d\n", argv[1], model.n_threads(), batch, prompt,
              decode);
  std::printf("prefill_tokens_per_s=%.1f decode_tokens_per_s=%.1f\n", batch * prompt / best_prefill,
              batch * decode / best_decode);
  return 0;
}
