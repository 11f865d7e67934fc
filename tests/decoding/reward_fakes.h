// Test doubles for the reward-guided strategies (cards, best_of_n, args):
// a verifier over a logits function that models a KV cache (it counts the
// positions each forward computes, so re-prefills and recomputed prefixes
// show) and logs every Append / Truncate / Fork, and a reward scorer that
// scores with a scripted function and logs every call.
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <mutex>
#include <numeric>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/sampling/rng.h"
#include "runtime/sampling/sampler.h"
#include "decoding/ports/reward_scorer.h"
#include "decoding/ports/verifier.h"

namespace tandem::decoding::testing {

using TableLogitsFn = std::function<void(std::span<const int32_t> context, std::span<float> out)>;

// Entropy (nats) and top-k of one raw logits row; computed here
// independently of the verifier under test.
inline NextTokenInfo InfoFromRow(std::span<const float> row, int top_k) {
  NextTokenInfo info;
  const float mx = *std::max_element(row.begin(), row.end());
  double z = 0, ez = 0;
  for (float x : row) {
    const double e = std::exp(static_cast<double>(x) - mx);
    z += e;
    ez += e * (static_cast<double>(x) - mx);
  }
  info.entropy = static_cast<float>(std::log(z) - ez / z);
  std::vector<int32_t> ids(row.size());
  std::iota(ids.begin(), ids.end(), 0);
  const size_t k = std::min<size_t>(row.size(), static_cast<size_t>(top_k));
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(),
                    [&](int32_t a, int32_t b) { return row[a] > row[b] || (row[a] == row[b] && a < b); });
  for (size_t i = 0; i < k; ++i) {
    info.top_tokens.push_back(ids[i]);
    info.top_logits.push_back(row[ids[i]]);
  }
  return info;
}

struct TableLog {
  int64_t forwards = 0;          // forward passes
  int64_t computed_positions = 0;  // positions those passes computed
  int64_t appended_tokens = 0;   // tokens passed to Append
  int64_t forks = 0;
  std::vector<int64_t> truncations;  // lengths passed to Truncate
  std::vector<std::vector<int32_t>> closed;  // S of each session at Close
};

class TableVerifier : public Verifier {
 public:
  TableVerifier(int32_t vocab, TableLogitsFn fn) : vocab_(vocab), fn_(std::move(fn)) {}
  absl::StatusOr<std::unique_ptr<VerifySession>> Open(std::span<const int32_t> prompt,
                                                      const runtime::SamplingParams& params,
                                                      const VerifyOptions&) override;
  TableLog log;
  // Guards log: sessions of one verifier may run on different threads
  // (best_of_n samples its forks concurrently).
  std::mutex log_mu;
  int32_t vocab() const { return vocab_; }
  void Row(std::span<const int32_t> ctx, std::vector<float>* out) const {
    out->assign(vocab_, 0.0f);
    fn_(ctx, *out);
  }

 private:
  int32_t vocab_;
  TableLogitsFn fn_;
};

// KV model: positions [0, cached_) are "in the cache"; the logits after S
// need positions [cached_, |S|) computed (one forward). Like the real
// verifier, the prompt minus its last token is prefilled at Open.
class TableSession : public VerifySession {
 public:
  TableSession(TableVerifier& v, std::vector<int32_t> s, int64_t cached, const runtime::SamplingParams& params,
               uint64_t seed)
      : v_(v), s_(std::move(s)), cached_(cached), sampler_(params), rng_(seed) {}

  absl::Status Verify(std::span<const int32_t> draft, std::span<const runtime::Distribution>,
                      VerifyResult* out) override {
    if (!draft.empty()) return absl::UnimplementedError("fake: drafts");
    std::vector<float> row;
    Forward(&row);
    runtime::Distribution p;
    if (absl::Status s = sampler_.Process(row, s_, &p); !s.ok()) return s;
    const int32_t t = runtime::Sampler::Sample(p, rng_);
    s_.push_back(t);
    out->accepted = 0;
    out->next_token = t;
    out->committed_length = committed_length();
    return absl::OkStatus();
  }
  int64_t committed_length() const override { return static_cast<int64_t>(s_.size()); }
  absl::Status Close() override {
    std::lock_guard<std::mutex> lock(v_.log_mu);
    if (!closed_) v_.log.closed.push_back(s_);
    closed_ = true;
    return absl::OkStatus();
  }
  absl::Status Append(std::span<const int32_t> tokens, int top_k, NextTokenInfo* next) override {
    if (top_k < 1) return absl::InvalidArgumentError("fake: top_k");
    for (int32_t t : tokens) {
      if (t < 0 || t >= v_.vocab()) return absl::InvalidArgumentError("fake: token");
    }
    s_.insert(s_.end(), tokens.begin(), tokens.end());
    {
      std::lock_guard<std::mutex> lock(v_.log_mu);
      v_.log.appended_tokens += static_cast<int64_t>(tokens.size());
    }
    if (next != nullptr) {
      std::vector<float> row;
      Forward(&row);
      *next = InfoFromRow(row, top_k);
    }
    return absl::OkStatus();
  }
  absl::Status Truncate(int64_t length) override {
    if (length < 1 || length > committed_length()) return absl::OutOfRangeError("fake: truncate");
    {
      std::lock_guard<std::mutex> lock(v_.log_mu);
      v_.log.truncations.push_back(length);
    }
    s_.resize(length);
    cached_ = std::min(cached_, length);
    return absl::OkStatus();
  }
  absl::StatusOr<std::unique_ptr<VerifySession>> Fork(uint64_t seed) override {
    {
      std::lock_guard<std::mutex> lock(v_.log_mu);
      ++v_.log.forks;
    }
    return std::unique_ptr<VerifySession>(
        std::make_unique<TableSession>(v_, s_, cached_, sampler_.params(), seed));
  }
  ~TableSession() override { Close().IgnoreError(); }

 private:
  void Forward(std::vector<float>* row) {
    {
      std::lock_guard<std::mutex> lock(v_.log_mu);
      ++v_.log.forwards;
      v_.log.computed_positions += committed_length() - cached_;
    }
    cached_ = committed_length();
    v_.Row(s_, row);
  }

  TableVerifier& v_;
  std::vector<int32_t> s_;
  int64_t cached_;
  runtime::Sampler sampler_;
  runtime::Rng rng_;
  bool closed_ = false;
};

inline absl::StatusOr<std::unique_ptr<VerifySession>> TableVerifier::Open(std::span<const int32_t> prompt,
                                                                         const runtime::SamplingParams& params,
                                                                         const VerifyOptions&) {
  if (prompt.empty()) return absl::InvalidArgumentError("fake: empty prompt");
  std::lock_guard<std::mutex> lock(log_mu);
  log.forwards += prompt.size() > 1 ? 1 : 0;
  log.computed_positions += static_cast<int64_t>(prompt.size()) - 1;
  return std::unique_ptr<VerifySession>(std::make_unique<TableSession>(
      *this, std::vector<int32_t>(prompt.begin(), prompt.end()), static_cast<int64_t>(prompt.size()) - 1, params,
      params.seed));
}

// Reward = fn(prompt, response); every call logged.
class ScriptedReward : public RewardScorer {
 public:
  using Fn = std::function<float(const std::string& prompt, const std::string& response)>;
  explicit ScriptedReward(Fn fn) : fn_(std::move(fn)) {}
  absl::StatusOr<std::vector<float>> Score(const RewardSpec& spec, std::span<const RewardItem> items) override {
    specs.push_back(spec);
    calls.emplace_back();
    std::vector<float> out;
    for (const RewardItem& item : items) {
      calls.back().push_back(item.response);
      out.push_back(fn_(item.prompt, item.response));
    }
    if (drop_one && !out.empty()) out.pop_back();
    return out;
  }
  absl::StatusOr<std::vector<float>> ScoreSteps(const RewardSpec&, std::string_view,
                                                std::span<const std::string>) override {
    return absl::UnimplementedError("fake: steps");
  }
  std::vector<std::string> Backends() const override { return {"scripted"}; }

  std::vector<std::vector<std::string>> calls;  // responses of each call
  std::vector<RewardSpec> specs;
  bool drop_one = false;  // misbehave: return one score too few

 private:
  Fn fn_;
};

}  // namespace tandem::decoding::testing
