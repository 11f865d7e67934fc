// The batching equivalence check shared by the tiny-model (unit) and the
// smollm2 (model) tests: N sequences decoded concurrently through one
// BatchingLanguageModel give bit-identical logits to each decoded alone
// through the unbatched RuntimeLanguageModel adapter.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/model/model.h"
#include "decoding/batching/batching_language_model.h"
#include "decoding/local/runtime_language_model.h"
#include "tests/services/draft_target/dt_test_util.h"

namespace tandem::dt_test {

struct Trace {
  std::vector<int32_t> tokens;               // greedy continuation
  std::vector<std::vector<float>> logits;    // one row per step
};

inline int32_t Argmax(const std::vector<float>& v) {
  int32_t best = 0;
  for (size_t i = 1; i < v.size(); ++i) {
    if (v[i] > v[best]) best = static_cast<int32_t>(i);
  }
  return best;
}

// Prefill `prompt` (no logits, so it may be chunked), then `steps` greedy
// one-token appends; the first step re-feeds the prompt's last token.
inline Trace Decode(decoding::LanguageModel& lm, const std::vector<int32_t>& prompt, int steps) {
  Trace trace;
  auto seq = lm.NewSequence();
  EXPECT_TRUE(seq.ok()) << seq.status();
  if (!seq.ok()) return trace;
  std::span<const int32_t> head(prompt.data(), prompt.size() - 1);
  if (!head.empty()) {
    absl::Status s = (*seq)->Append(head, false, nullptr);
    EXPECT_TRUE(s.ok()) << s;
  }
  int32_t next = prompt.back();
  for (int i = 0; i < steps; ++i) {
    std::vector<float> logits;
    absl::Status s = (*seq)->Append(std::span<const int32_t>(&next, 1), false, &logits);
    EXPECT_TRUE(s.ok()) << s;
    if (!s.ok()) break;
    next = Argmax(logits);
    trace.tokens.push_back(next);
    trace.logits.push_back(std::move(logits));
  }
  // Roll back half the continuation and redo one step: Truncate goes
  // through the batching model's lock too.
  // A failed append above ended the loop early; don't index past the trace.
  if (steps <= 0 || static_cast<int>(trace.tokens.size()) != steps) return trace;
  const int64_t keep = static_cast<int64_t>(prompt.size()) + steps / 2;
  EXPECT_TRUE((*seq)->Truncate(keep).ok());
  std::vector<float> logits;
  EXPECT_TRUE((*seq)->Append(std::span<const int32_t>(&trace.tokens[steps / 2], 1), true, &logits).ok());
  trace.logits.push_back(std::move(logits));
  return trace;
}

// Runs the check; `model` must have no live sessions.
inline void CheckBatchedEqualsAlone(runtime::Model& model, const std::vector<std::vector<int32_t>>& prompts,
                                    int steps, const batching::BatchingOptions& options) {
  std::vector<Trace> alone;
  {
    decoding::RuntimeLanguageModel plain(model);
    for (const auto& p : prompts) alone.push_back(Decode(plain, p, steps));
  }
  batching::BatchingLanguageModel lm(model, options);
  std::vector<Trace> together(prompts.size());
  // Hold the scheduler until every thread has queued its first append, so
  // the first round provably batches all of them.
  lm.SetPaused(true);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < prompts.size(); ++i) {
    threads.emplace_back([&, i] { together[i] = Decode(lm, prompts[i], steps); });
  }
  EXPECT_TRUE(WaitFor([&] { return lm.queued() == prompts.size(); }));
  lm.SetPaused(false);
  for (auto& t : threads) t.join();

  double worst_rel = 0;
  int bitwise_rows = 0, rows = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(together[i].tokens, alone[i].tokens) << "prompt " << i;
    ASSERT_EQ(together[i].logits.size(), alone[i].logits.size());
    for (size_t r = 0; r < alone[i].logits.size(); ++r) {
      const std::vector<float>& a = alone[i].logits[r];
      const std::vector<float>& b = together[i].logits[r];
      ASSERT_EQ(a.size(), b.size());
      double max_diff = 0, max_abs = 0;
      for (size_t v = 0; v < a.size(); ++v) {
        max_diff = std::max(max_diff, static_cast<double>(std::fabs(a[v] - b[v])));
        max_abs = std::max(max_abs, static_cast<double>(std::fabs(a[v])));
      }
      worst_rel = std::max(worst_rel, max_diff / std::max(max_abs, 1e-30));
      bitwise_rows += (a == b);
      ++rows;
      // Batched and lone rows run through different kernel variants (m == 1
      // the matvec, m > 1 the tile), which are batch-invariant by contract
      // (kernels/cpu/matmul.h): bitwise equal, not merely close.
      EXPECT_TRUE(a == b) << "prompt " << i << " row " << r << ": max |diff| " << max_diff;
    }
  }
  std::printf("batched vs alone: %d of %d logit rows bitwise equal, worst max|diff|/max|logit| = %.3g\n",
              bitwise_rows, rows, worst_rel);
  const batching::BatchingStats stats = lm.stats();
  int64_t appends = 0;
  for (const auto& p : prompts) appends += (p.size() > 1 ? 1 : 0) + steps + 1;  // prefill, steps, redo
  EXPECT_EQ(stats.appends, appends);
  // The paused first round batches every sequence (deterministic). How many
  // later rounds overlap depends on thread scheduling, so the pass count is
  // not asserted: on a loaded 2-core machine each append may run alone.
  EXPECT_EQ(stats.max_items_per_pass, static_cast<int64_t>(prompts.size())) << "no batching happened";
  EXPECT_EQ(lm.kv_bytes_in_use(), 0) << "sequences were destroyed; KV must be free";
}

}  // namespace tandem::dt_test
