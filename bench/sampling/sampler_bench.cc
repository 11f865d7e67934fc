// Sampler::Process + Sampler::Sample over one Qwen-sized row of logits (151936
// ids, normal with sigma 3, fixed seed), for the processor settings a serving
// request commonly uses, and a drafter's Distribution::DropTail after the
// processors (q_tail_mass). Prints ms per sampled token, a checksum of the
// sampled ids (equal checksums: the same tokens were drawn) and the entries
// the row kept.
//
//   tandem_sampler_bench [--vocab N] [--tokens N]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "runtime/sampling/sampler.h"

namespace {

struct Setting {
  const char* name;
  tandem::runtime::SamplingParams params;
  float tail = 0.0f;  // DropTail(tail) before sampling; 0 = not
};

}  // namespace

int main(int argc, char** argv) {
  int vocab = 151936, tokens = 300;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--vocab") == 0) {
      vocab = std::atoi(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--tokens") == 0) {
      tokens = std::atoi(argv[i + 1]);
    } else {
      std::fprintf(stderr, "usage: %s [--vocab N] [--tokens N]\n", argv[0]);
      return 2;
    }
  }
  if (vocab < 1 || tokens < 1) {
    std::fprintf(stderr, "--vocab and --tokens must be positive\n");
    return 2;
  }
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  std::vector<float> logits(vocab);
  for (float& v : logits) v = nd(rng);

  std::vector<Setting> settings(5);
  settings[0].name = "greedy";
  settings[0].params.temperature = 0.0f;
  settings[1].name = "T=0.7";
  settings[1].params.temperature = 0.7f;
  settings[2].name = "T=0.7 top_p=0.95";
  settings[2].params.temperature = 0.7f;
  settings[2].params.top_p = 0.95f;
  settings[3].name = "T=0.7 top_k=40";
  settings[3].params.temperature = 0.7f;
  settings[3].params.top_k = 40;
  settings[4].name = "T=0.7 tail=1e-3";
  settings[4].params.temperature = 0.7f;
  settings[4].tail = 1e-3f;
  std::printf("vocab %d, %d tokens per setting\n", vocab, tokens);
  for (const Setting& s : settings) {
    tandem::runtime::Sampler sampler(s.params);
    tandem::runtime::Distribution dist;
    tandem::runtime::Rng draw(7);
    long long checksum = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (int t = 0; t < tokens; ++t) {
      if (absl::Status st = sampler.Process(logits, {}, &dist); !st.ok()) {
        std::fprintf(stderr, "%s: %s\n", s.name, std::string(st.message()).c_str());
        return 1;
      }
      if (s.tail > 0.0f) dist.DropTail(s.tail);
      checksum += tandem::runtime::Sampler::Sample(dist, draw);
    }
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%-18s %.3f ms per token  checksum %lld  entries kept %zu\n", s.name, ms / tokens, checksum,
                dist.size());
  }
  return 0;
}
