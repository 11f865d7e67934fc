// Prefill, decode and verify throughput of one model (not a test).
//   Prefill: one Forward over --prompt tokens (last logits only).
//   Decode:  --decode single-token Forwards after the prompt, greedy, logits
//            for each (llama-bench's tg when --prompt 1).
//   Verify:  with --verify N, the cost of one Forward of N tokens with logits
//            for all N (speculative verification of gamma = N - 1 drafted
//            tokens) against one single-token Forward, both at the same
//            context (--prompt tokens), each rolled back after it is timed,
//            alternating so both see the same machine load.
// logits_fnv: an FNV-1a hash of the bytes of every logits row the first
// repetition produced (prefill, then each decode step): two builds with the
// same hash computed bitwise-identical results (a kernel change that claims
// to keep the numbers can be checked with it).
// Each measurement repeats --reps times on fresh sessions and reports the
// best (the build machine is shared; the best run is the least disturbed)
// and, for verify, also the median.
//
// usage: tandem_model_bench MODEL.gguf [flags]; --help lists the flags.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/quantize.h"
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

uint64_t Fnv1a(uint64_t h, const std::vector<float>& v) {
  const auto* p = reinterpret_cast<const unsigned char*>(v.data());
  for (size_t i = 0; i < v.size() * sizeof(float); ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

constexpr char kUsage[] =
    "usage: %s MODEL.gguf [flags]\n"
    "  --threads N       worker threads (default 0: one per core)\n"
    "  --prompt P        prompt tokens of the prefill, and the context of decode and verify (default 128)\n"
    "  --decode D        single-token decode steps after the prompt (default 64; 0: none)\n"
    "  --reps R          repetitions on fresh sessions; the best is reported (default 3)\n"
    "  --batch B         sessions stepped together in each Forward (default 1)\n"
    "  --verify N        also time one N-token forward against one 1-token forward (default 0: off)\n"
    "  --head-vocab K    logits for token ids below K only (default 0: the whole vocabulary)\n"
    "  --requantize T    requantize the weights at load, T one of %s\n"
    "  --json            one JSON object instead of key=value text\n";

int Usage(const char* argv0, FILE* to, int rc) {
  std::fprintf(to, kUsage, argv0, tandem::kernels::kQuantizeTypeNames);
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && (!std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h"))) return Usage(argv[0], stdout, 0);
  if (argc < 2 || argv[1][0] == '-') return Usage(argv[0], stderr, 2);
  int threads = 0, prompt = 128, decode = 64, reps = 3, batch = 1, verify = 0, head_vocab = 0;
  bool json = false;
  std::optional<tandem::kernels::GgmlType> requantize;
  for (int i = 2; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) return Usage(argv[0], stdout, 0);
    if (!std::strcmp(argv[i], "--json")) {
      json = true;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "flag %s needs a value\n", argv[i]);
      return 2;
    }
    if (!std::strcmp(argv[i], "--requantize")) {
      tandem::kernels::GgmlType type;
      if (!tandem::kernels::QuantizeTypeFromName(argv[++i], &type)) {
        std::fprintf(stderr, "--requantize: %s, not %s\n", tandem::kernels::kQuantizeTypeNames, argv[i]);
        return 2;
      }
      requantize = type;
      continue;
    }
    const char* flag = argv[i];
    int* target = !std::strcmp(flag, "--threads")      ? &threads
                  : !std::strcmp(flag, "--prompt")     ? &prompt
                  : !std::strcmp(flag, "--decode")     ? &decode
                  : !std::strcmp(flag, "--reps")       ? &reps
                  : !std::strcmp(flag, "--batch")      ? &batch
                  : !std::strcmp(flag, "--verify")     ? &verify
                  : !std::strcmp(flag, "--head-vocab") ? &head_vocab
                                                       : nullptr;
    if (target == nullptr) {
      std::fprintf(stderr, "unknown flag %s\n", flag);
      return Usage(argv[0], stderr, 2);
    }
    // atoi would read "12x" as 12 and "x" as 0 (for --threads: one per core).
    if (!absl::SimpleAtoi(argv[++i], target)) {
      std::fprintf(stderr, "%s: not an integer: '%s'\n", flag, argv[i]);
      return 2;
    }
  }
  if (threads < 0 || prompt < 1 || decode < 0 || reps < 1 || batch < 1 || verify < 0 || head_vocab < 0) {
    std::fprintf(stderr,
                 "need --threads >= 0, --prompt >= 1, --decode >= 0, --reps >= 1, --batch >= 1, --verify >= 0, "
                 "--head-vocab >= 0\n");
    return 2;
  }
  ModelOptions opt;
  opt.n_threads = threads;
  opt.head_vocab = head_vocab;
  opt.requantize = requantize;
  auto m = Model::Load(argv[1], opt);
  if (!m.ok()) return Fail(m.status());
  Model& model = **m;
  const int vocab = model.config().vocab_size;
  std::vector<int32_t> tokens(prompt);
  for (int i = 0; i < prompt; ++i) tokens[i] = (i * 7919 + 13) % vocab;

  double best_prefill = 1e30, best_decode = 1e30;
  uint64_t fnv = 1469598103934665603ull;
  std::vector<double> t_verify, t_one;
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
    if (r == 0) fnv = Fnv1a(fnv, outs[0]);

    if (verify > 0) {
      // Session 0 only: one N-token forward vs one 1-token forward at the
      // same context, alternating, each rolled back.
      Session& s0 = *sessions[0];
      const int64_t base = s0.length();
      std::vector<int32_t> block(verify);
      for (int i = 0; i < verify; ++i) block[i] = (base * 31 + i * 104729 + 7) % vocab;
      std::vector<float> lv;
      for (int k = 0; k < 3; ++k) {
        for (int n : {1, verify}) {
          ForwardItem it{&s0, std::span<const int32_t>(block.data(), n), true, &lv};
          t0 = Now();
          if (absl::Status s = model.Forward(std::span<ForwardItem>(&it, 1)); !s.ok()) return Fail(s);
          (n == 1 ? t_one : t_verify).push_back(Now() - t0);
          if (absl::Status s = s0.Truncate(base); !s.ok()) return Fail(s);
        }
      }
    }

    if (decode == 0) continue;
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
      if (r == 0) fnv = Fnv1a(fnv, outs[0]);
    }
    best_decode = std::min(best_decode, Now() - t0);
  }
  const double prefill_tps = batch * prompt / best_prefill;
  const double decode_tps = decode > 0 ? batch * decode / best_decode : 0.0;
  const double v_best = t_verify.empty() ? 0 : *std::min_element(t_verify.begin(), t_verify.end());
  const double o_best = t_one.empty() ? 0 : *std::min_element(t_one.begin(), t_one.end());
  if (json) {
    std::printf(
        "{\"model\": \"%s\", \"threads\": %d, \"batch\": %d, \"prompt\": %d, \"decode\": %d, \"reps\": %d, "
        "\"isa\": \"%s\", \"prefill_tokens_per_s\": %.3f, \"decode_tokens_per_s\": %.3f, "
        "\"logits_fnv\": \"%016llx\"",
        argv[1], model.n_threads(), batch, prompt, decode, reps, tandem::kernels::MatMulIsaName(), prefill_tps,
        decode_tps, static_cast<unsigned long long>(fnv));
    if (verify > 0) {
      std::printf(
          ", \"verify\": %d, \"verify_ms_best\": %.3f, \"one_ms_best\": %.3f, \"verify_ms_median\": %.3f, "
          "\"one_ms_median\": %.3f, \"verify_over_one_best\": %.4f, \"verify_over_one_median\": %.4f",
          verify, 1e3 * v_best, 1e3 * o_best, 1e3 * Median(t_verify), 1e3 * Median(t_one), v_best / o_best,
          Median(t_verify) / Median(t_one));
    }
    std::printf("}\n");
    return 0;
  }
  std::printf("model=%s threads=%d batch=%d prompt=%d decode=%d isa=%s\n", argv[1], model.n_threads(), batch,
              prompt, decode, tandem::kernels::MatMulIsaName());
  std::printf("prefill_tokens_per_s=%.1f decode_tokens_per_s=%.1f logits_fnv=%016llx\n", prefill_tps, decode_tps,
              static_cast<unsigned long long>(fnv));
  if (verify > 0) {
    std::printf("verify_%d_ms best=%.2f median=%.2f one_token_ms best=%.2f median=%.2f ratio best=%.3f median=%.3f\n",
                verify, 1e3 * v_best, 1e3 * Median(t_verify), 1e3 * o_best, 1e3 * Median(t_one), v_best / o_best,
                Median(t_verify) / Median(t_one));
  }
  return 0;
}
