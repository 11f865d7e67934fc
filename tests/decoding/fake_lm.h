// Deterministic synthetic language models for the orchestrator tests: a
// small vocabulary, logits a fixed function of the context, recomputed per
// position (no real KV cache, but the same Append/Truncate contract).
#pragma once

#include <atomic>
#include <cmath>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "decoding/local/language_model.h"
#include "decoding/ports/vocabulary.h"

namespace tandem::decoding::testing {

// Writes the logits of the token that follows `context` into `out`.
using LogitsFn = std::function<void(std::span<const int32_t> context, std::span<float> out)>;

class FakeLm : public LanguageModel {
 public:
  FakeLm(int32_t vocab, LogitsFn fn, int64_t max_context = 1 << 20)
      : vocab_(vocab), fn_(std::move(fn)), max_context_(max_context) {}
  int32_t vocab_size() const override { return vocab_; }
  absl::StatusOr<std::unique_ptr<LmSequence>> NewSequence() override;
  void Logits(std::span<const int32_t> context, std::span<float> out) const { fn_(context, out); }

  // Atomic: different sequences may run on different threads (best_of_n
  // samples its forks concurrently).
  std::atomic<int64_t> appends = 0;          // Append calls (forward passes)
  std::atomic<int64_t> appended_tokens = 0;  // positions computed
  std::atomic<int64_t> forks = 0;            // LmSequence::Fork calls

 private:
  int32_t vocab_;
  LogitsFn fn_;
  int64_t max_context_;
  friend class FakeSequence;
};

class FakeSequence : public LmSequence {
 public:
  explicit FakeSequence(FakeLm& lm) : lm_(lm) {}
  std::span<const int32_t> tokens() const override { return tokens_; }
  absl::Status Truncate(int64_t n) override {
    if (n < 0 || n > static_cast<int64_t>(tokens_.size())) {
      return absl::OutOfRangeError(absl::StrCat("truncate to ", n, " of ", tokens_.size()));
    }
    tokens_.resize(n);
    return absl::OkStatus();
  }
  absl::Status Append(std::span<const int32_t> tokens, bool all_logits,
                      std::vector<float>* logits) override {
    if (tokens.empty()) return absl::InvalidArgumentError("empty append");
    if (static_cast<int64_t>(tokens_.size() + tokens.size()) > lm_.max_context_) {
      return absl::OutOfRangeError("context full");
    }
    for (int32_t t : tokens) {
      if (t < 0 || t >= lm_.vocab_) return absl::InvalidArgumentError("token out of range");
    }
    ++lm_.appends;
    lm_.appended_tokens += tokens.size();
    const size_t rows = all_logits ? tokens.size() : 1;
    if (logits != nullptr) logits->resize(rows * lm_.vocab_);
    const size_t first_row = tokens.size() - rows;
    for (size_t i = 0; i < tokens.size(); ++i) {
      tokens_.push_back(tokens[i]);
      if (logits != nullptr && i >= first_row) {
        lm_.Logits(tokens_, std::span<float>(logits->data() + (i - first_row) * lm_.vocab_, lm_.vocab_));
      }
    }
    return absl::OkStatus();
  }
  // No real KV to share: the copy's tokens are the whole state.
  absl::StatusOr<std::unique_ptr<LmSequence>> Fork() const override {
    auto fork = std::make_unique<FakeSequence>(lm_);
    fork->tokens_ = tokens_;
    ++lm_.forks;
    return std::unique_ptr<LmSequence>(std::move(fork));
  }

 private:
  FakeLm& lm_;
  std::vector<int32_t> tokens_;
};

inline absl::StatusOr<std::unique_ptr<LmSequence>> FakeLm::NewSequence() {
  return std::make_unique<FakeSequence>(*this);
}

// Vocabulary of single letters 'a' + id; id 0 is EOS.
class FakeVocabulary : public Vocabulary {
 public:
  explicit FakeVocabulary(int32_t vocab, bool with_text = true) : vocab_(vocab), with_text_(with_text) {}
  int32_t vocab_size() const override { return vocab_; }
  bool IsEndOfGeneration(int32_t t) const override { return t == 0; }
  std::unique_ptr<TokenDecoder> NewDecoder() const override {
    if (!with_text_) return nullptr;
    struct Letters : TokenDecoder {
      std::string Push(int32_t t) override { return std::string(1, static_cast<char>('a' + t)); }
      std::string Flush() override { return {}; }
    };
    return std::make_unique<Letters>();
  }

 private:
  int32_t vocab_;
  bool with_text_;
};

// The target: depends on the last two tokens and the length, so rows at
// different positions really differ (an off-by-one in row indexing shows).
// EOS (0) is boosted after some token pairs so greedy runs end both ways.
inline void TargetLogits(std::span<const int32_t> ctx, std::span<float> out) {
  const int last = ctx.empty() ? 0 : ctx.back();
  const int prev = ctx.size() < 2 ? 0 : ctx[ctx.size() - 2];
  for (size_t v = 0; v < out.size(); ++v) {
    out[v] = 1.6f * std::sin(1.7f * v + 0.9f * last + 0.4f * prev + 0.3f * ctx.size()) +
             (v == 0 ? ((last + prev) % 5 == 0 ? 1.2f : -0.5f) : 0.0f);
  }
}

// A deliberately different draft model.
inline void DraftLogits(std::span<const int32_t> ctx, std::span<float> out) {
  const int last = ctx.empty() ? 0 : ctx.back();
  for (size_t v = 0; v < out.size(); ++v) {
    out[v] = 1.2f * std::cos(1.1f * v + 0.5f * last) + 0.4f * std::sin(2.3f * v);
  }
}

}  // namespace tandem::decoding::testing
