// Sampler::Process + Sampler::Sample over one Qwen-sized row of logits (151936
// ids, normal with sigma 3, fixed seed), for the processor settings a serving
// request commonly uses, and a drafter's Distribution::DropTail after the
// processors (q_tail_mass). Prints ms per sampled token, a checksum of the
// sampled ids (equal checksums: the same tokens were drawn) and the entries
// the row kept. The penalty settings process the row after a 64-token
// history (ids drawn from the vocabulary, some repeated), as a request at
// the default repetition_window does every step.
//
//   tandem_sampler_bench [--vocab N] [--tokens N]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "runtime/sampling/sampler.h"

namespace {

struct Setting {
  const char* name;
  tandem::runtime::SamplingParams params;
  float tail = 0.0f;  // DropTail(tail) before sampling; 0 = not
  bool with_history = false;
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

  std::vector<int32_t> history(64);
  std::uniform_int_distribution<int32_t> pick(0, std::min(vocab, 2000) - 1);  // small range: repeats
  for (int32_t& t : history) t = pick(rng);

  std::vector<Setting> settings(8);
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
  settings[5].name = "T=0.7 rep=1.1";
  settings[5].params.temperature = 0.7f;
  settings[5].params.repetition_penalty = 1.1f;
  settings[5].with_history = true;
  settings[6].name = "T=0.7 rep+pres+freq";
  settings[6].params = settings[5].params;
  settings[6].params.presence_penalty = 0.5f;
  settings[6].params.frequency_penalty = 0.5f;
  settings[7].name = "T=0.7 bias x300";
  settings[7].params.temperature = 0.7f;
  const int32_t step = std::max(1, vocab / 300);  // 300 distinct ids, ascending
  for (int32_t t = 0; t < 300 && t < vocab; ++t) settings[7].params.logit_bias.push_back({t * step, -5.0f});
  settings[6].with_history = true;
  settings[7].with_history = true;
  std::printf("vocab %d, %d tokens per setting\n", vocab, tokens);
  for (const Setting& s : settings) {
    tandem::runtime::Sampler sampler(s.params);
    tandem::runtime::Distribution dist;
    tandem::runtime::Rng draw(7);
    long long checksum = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (int t = 0; t < tokens; ++t) {
      const std::span<const int32_t> h = s.with_history ? std::span<const int32_t>(history) : std::span<const int32_t>();
      if (absl::Status st = sampler.Process(logits, h, &dist); !st.ok()) {
        std::fprintf(stderr, "%s: %s\n", s.name, std::string(st.message()).c_str());
        return 1;
      }
      if (s.tail > 0.0f) dist.DropTail(s.tail);
      checksum += tandem::runtime::Sampler::Sample(dist, draw);
    }
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%-20s %.3f ms per token  checksum %lld  entries kept %zu\n", s.name, ms / tokens, checksum,
                dist.size());
  }
  return 0;
}
