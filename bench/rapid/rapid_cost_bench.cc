// The cost model behind RAPID's speed on this engine (not a test): time of one
// forward over n new tokens (all logits, as a verification needs) after a
// context of L tokens, for each L in --contexts and n in --rows. A RAPID round
// with self-speculation costs gamma' draft steps at the drafter's (short)
// context plus one verification of gamma'+1 rows at the target's (long)
// context; target-only costs one 1-row step at the long context per token.
// Each point is the best of --reps on the same session (truncated back after
// every call), because the build machine is shared.
//
// usage: tandem_rapid_cost_bench MODEL.gguf [--threads N] [--reps R]
//          [--contexts L1,L2,...] [--rows n1,n2,...]
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

namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::vector<int> ParseList(const char* s) {
  std::vector<int> out;
  for (const char* p = s; *p != '\0';) {
    out.push_back(std::atoi(p));
    while (*p != '\0' && *p != ',') ++p;
    if (*p == ',') ++p;
  }
  return out;
}

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "error: %s\n", s.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL.gguf [--threads N] [--reps R] [--contexts L,...] [--rows n,...]\n", argv[0]);
    return 2;
  }
  int threads = 2, reps = 5;
  std::vector<int> contexts = {256, 1024, 4096, 8000}, rows = {1, 2, 4, 8, 11};
  for (int i = 2; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--reps")) reps = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--contexts")) contexts = ParseList(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--rows")) rows = ParseList(argv[i + 1]);
    else { std::fprintf(stderr, "unknown flag %s\n", argv[i]); return 2; }
  }
  ModelOptions opt;
  opt.n_threads = threads;
  opt.kv_budget_bytes = size_t{1} << 30;
  auto m = Model::Load(argv[1], opt);
  if (!m.ok()) return Fail(m.status());
  Model& model = **m;
  const int vocab = model.config().vocab_size;
  std::printf("{\"model\": \"%s\", \"threads\": %d, \"points\": [\n", argv[1], model.n_threads());
  bool first = true;
  for (int context : contexts) {
    auto session = model.NewSession();
    if (!session.ok()) return Fail(session.status());
    std::vector<int32_t> prompt(context);
    for (int i = 0; i < context; ++i) prompt[i] = (i * 7919 + 13) % vocab;
    std::vector<float> logits;
    ForwardItem prefill{session->get(), prompt, false, &logits};
    if (absl::Status s = model.Forward(std::span<ForwardItem>(&prefill, 1)); !s.ok()) return Fail(s);
    for (int n : rows) {
      std::vector<int32_t> draft(n);
      for (int i = 0; i < n; ++i) draft[i] = (i * 31 + 7) % vocab;
      double best = 1e30;
      for (int r = 0; r < reps; ++r) {
        ForwardItem item{session->get(), draft, true, &logits};
        const double t0 = Now();
        if (absl::Status s = model.Forward(std::span<ForwardItem>(&item, 1)); !s.ok()) return Fail(s);
        best = std::min(best, Now() - t0);
        if (absl::Status s = (*session)->Truncate(context); !s.ok()) return Fail(s);
      }
      std::printf("%s  {\"context\": %d, \"rows\": %d, \"ms\": %.3f, \"ms_per_row\": %.3f}", first ? "" : ",\n",
                  context, n, best * 1e3, best * 1e3 / n);
      std::fflush(stdout);
      first = false;
    }
  }
  std::printf("\n]}\n");
  return 0;
}
