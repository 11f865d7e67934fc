#include "decoding/local/model_verifier.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/ops.h"
#include "runtime/sampling/sampler.h"
#include "runtime/sampling/top_k.h"
#include "decoding/spec/knowledge_transfer.h"

namespace tandem::decoding {

NextTokenInfo NextTokenFromLogits(std::span<const float> logits, int top_k) {
  NextTokenInfo info;
  if (logits.empty()) return info;
  // Entropy of softmax(logits) in nats: H = log Z - sum e (l - m) / Z with
  // e = exp(l - m), through the vector exponential and dot product
  // (kernels/cpu/ops.h), where a double-precision std::exp loop cost ~1.1 ms
  // a Qwen row (bench/orchestrator/next_token_info_bench.cc). In blocks on the
  // stack: no per-call allocation, and each block's float sums are added in
  // double, which keeps H within 1e-4 nats of the double computation on
  // 152K-entry rows (tests/decoding/session_ports_test.cc). A masked (-inf)
  // logit enters as l - m = -100, where e is 0 (or below 4e-44), not as
  // 0 * -inf = NaN.
  const auto n = static_cast<int64_t>(logits.size());
  const float m = logits[static_cast<size_t>(kernels::Argmax(logits.data(), n))];
  constexpr int64_t kBlock = 1024;
  float e[kBlock], shifted[kBlock];
  double z = 0, weighted = 0;
  for (int64_t from = 0; from < n; from += kBlock) {
    const int64_t len = std::min(kBlock, n - from);
    const float* l = logits.data() + from;
    z += kernels::ExpSum(l, m, 1.0f, e, len);
    for (int64_t i = 0; i < len; ++i) shifted[i] = std::max(l[i] - m, -100.0f);
    weighted += kernels::DotF32(e, shifted, len);
  }
  info.entropy = static_cast<float>(std::log(z) - weighted / z);
  const size_t k = std::min(static_cast<size_t>(std::max(top_k, 0)), logits.size());
  if (k == 0) return info;
  // Best first; equal logits by lower id so the order is deterministic.
  runtime::TopKValues(logits, k, info.top_tokens);
  info.top_logits.reserve(k);
  for (int32_t id : info.top_tokens) info.top_logits.push_back(logits[id]);
  return info;
}

namespace {

using runtime::Distribution;

class ModelVerifySession : public VerifySession {
 public:
  ModelVerifySession(int32_t vocab, std::unique_ptr<LmSequence> seq,
                     const runtime::SamplingParams& params, const VerifyOptions& options,
                     const spec::AcceptFn& accept, std::span<const int32_t> prompt, uint64_t seed)
      : vocab_(vocab),
        seq_(std::move(seq)),
        params_(params),
        sampler_(params),
        soft_sampler_(spec::TemperatureOneParams(params)),
        rng_(runtime::Rng(seed).Split(kTargetRngStream)),
        greedy_(params.greedy()),
        options_(options),
        accept_(accept),
        committed_(prompt.begin(), prompt.end()) {}

  absl::Status Prefill() {
    auto head = std::span<const int32_t>(committed_).first(committed_.size() - 1);
    if (head.empty()) return absl::OkStatus();
    return seq_->Append(head, /*all_logits=*/false, /*logits=*/nullptr);
  }

  absl::Status Verify(std::span<const int32_t> draft, std::span<const Distribution> q,
                      VerifyResult* out) override {
    if (seq_ == nullptr) return absl::FailedPreconditionError("verifier: session closed");
    if (!greedy_ && q.size() != draft.size()) {
      return absl::InvalidArgumentError(absl::StrCat("verifier: ", draft.size(),
                                                     " drafted tokens need as many q rows, got ",
                                                     q.size()));
    }
    for (int32_t t : draft) {
      if (t < 0 || t >= vocab_) {
        return absl::InvalidArgumentError(absl::StrCat("verifier: draft token ", t,
                                                       " outside vocabulary of ", vocab_));
      }
    }
    const size_t base = committed_.size();  // |S|
    const size_t cached = CachedLength();     // base - 1, or base after Append reported next-token info
    const size_t rows = draft.size() + 1;
    if (cached_all_) {
      // Row 0 (after S) is already known: only the drafted tokens are new.
      logits_.assign(last_logits_.begin(), last_logits_.end());
      if (!draft.empty()) {
        if (absl::Status s = seq_->Append(draft, /*all_logits=*/true, &scratch_); !s.ok()) {
          return RollBack(cached, s);
        }
        logits_.insert(logits_.end(), scratch_.begin(), scratch_.end());
      }
    } else {
      feed_.assign(1, committed_.back());
      feed_.insert(feed_.end(), draft.begin(), draft.end());
      if (absl::Status s = seq_->Append(feed_, /*all_logits=*/true, &logits_); !s.ok()) {
        return RollBack(cached, s);
      }
    }
    if (logits_.size() != rows * static_cast<size_t>(vocab_)) {
      return RollBack(cached, absl::InternalError("verifier: model returned a wrong logits size"));
    }
    // p_i is processed with the history it follows: S + d_1..d_{i-1}.
    history_.assign(committed_.begin(), committed_.end());
    history_.insert(history_.end(), draft.begin(), draft.end());
    if (p_.size() < rows) p_.resize(rows);
    for (size_t i = 0; i < rows; ++i) {
      std::span<const float> row(logits_.data() + i * vocab_, vocab_);
      absl::Status s = sampler_.Process(row, std::span<const int32_t>(history_).first(base + i), &p_[i]);
      if (!s.ok()) return RollBack(cached, s);
    }
    std::span<const Distribution> p(p_.data(), rows);
    absl::StatusOr<spec::AcceptResult> verdict;
    const spec::KnowledgeTransfer& kt = options_.knowledge_transfer;
    if (greedy_ && kt.enabled()) {
      // RAPID's greedy variant scores the transfer on the temperature-1 rows.
      if (soft_.size() < rows) soft_.resize(rows);
      for (size_t i = 0; i < rows; ++i) {
        std::span<const float> row(logits_.data() + i * vocab_, vocab_);
        absl::Status s = soft_sampler_.Process(row, std::span<const int32_t>(history_).first(base + i), &soft_[i]);
        if (!s.ok()) return RollBack(cached, s);
      }
      // q: the drafter's temperature-1 rows when it sent them (a model
      // drafter, RAPID), else none (a deterministic drafter: one-hot).
      const std::span<const Distribution> q_soft = q.size() == draft.size() ? q : std::span<const Distribution>();
      verdict = spec::GreedyKnowledgeTransferAccept(draft, p, std::span<const Distribution>(soft_.data(), rows),
                                                    q_soft, kt);
    } else if (greedy_) {
      verdict = spec::GreedyAccept(draft, p);
    } else if (kt.enabled()) {
      verdict = spec::KnowledgeTransferAccept(draft, q, p, kt, rng_);
    } else {
      verdict = accept_(draft, q, p, rng_);
    }
    if (!verdict.ok()) return RollBack(cached, verdict.status());
    const int k = verdict->accepted;
    // Cache S + d_1..d_k; the next token stays pending.
    if (absl::Status s = seq_->Truncate(static_cast<int64_t>(base + k)); !s.ok()) return s;
    committed_.insert(committed_.end(), draft.begin(), draft.begin() + k);
    committed_.push_back(verdict->next_token);
    cached_all_ = false;

    out->accepted = k;
    out->next_token = verdict->next_token;
    out->committed_length = static_cast<int64_t>(committed_.size());
    out->logprobs.clear();
    out->top_logprobs.resize(options_.return_logprobs && options_.top_logprobs > 0 ? static_cast<size_t>(k) + 1 : 0);
    if (options_.return_logprobs) {
      // Row i of logits_ is the raw row the i-th emitted token was decided on.
      for (int i = 0; i <= k; ++i) {
        std::span<const float> row(logits_.data() + static_cast<size_t>(i) * vocab_, vocab_);
        const int32_t token = i < k ? draft[i] : out->next_token;
        out->logprobs.push_back(scorer_.Score(row, token, options_.top_logprobs,
                                              out->top_logprobs.empty() ? nullptr : &out->top_logprobs[i]));
      }
    }
    return absl::OkStatus();
  }

  int64_t committed_length() const override { return static_cast<int64_t>(committed_.size()); }

  absl::Status Append(std::span<const int32_t> tokens, int top_k, NextTokenInfo* next) override {
    if (seq_ == nullptr) return absl::FailedPreconditionError("verifier: session closed");
    if (next != nullptr && top_k < 1) {
      return absl::InvalidArgumentError(absl::StrCat("verifier: top_k must be >= 1, got ", top_k));
    }
    for (int32_t t : tokens) {
      if (t < 0 || t >= vocab_) {
        return absl::InvalidArgumentError(absl::StrCat("verifier: appended token ", t,
                                                       " outside vocabulary of ", vocab_));
      }
    }
    const size_t cached = CachedLength();
    const size_t old_size = committed_.size();
    if (tokens.empty() && (next == nullptr || cached_all_)) {
      if (next != nullptr) FillNextTokenInfo(top_k, next);
      return absl::OkStatus();
    }
    committed_.insert(committed_.end(), tokens.begin(), tokens.end());
    // Without next-token info the last token stays pending (the next Verify
    // feeds it with the draft). With it, the whole S is cached and the last
    // row kept, so the next Verify/Append does not compute it again.
    const size_t end = next != nullptr ? committed_.size() : committed_.size() - 1;
    std::span<const int32_t> feed = std::span<const int32_t>(committed_).subspan(cached, end - cached);
    if (!feed.empty()) {
      absl::Status s = seq_->Append(feed, /*all_logits=*/false, next != nullptr ? &scratch_ : nullptr);
      if (s.ok() && next != nullptr && scratch_.size() != static_cast<size_t>(vocab_)) {
        s = absl::InternalError("verifier: model returned a wrong logits size");
      }
      if (!s.ok()) {
        committed_.resize(old_size);
        return RollBack(cached, s);
      }
    }
    cached_all_ = next != nullptr;
    if (cached_all_) {
      last_logits_.swap(scratch_);
      FillNextTokenInfo(top_k, next);
    }
    return absl::OkStatus();
  }

  absl::Status AppendScoredWithAlternatives(std::span<const int32_t> tokens, int top_n, std::vector<float>* log_probs,
                                            std::vector<std::vector<runtime::TokenLogprob>>* top) override {
    if (seq_ == nullptr) return absl::FailedPreconditionError("verifier: session closed");
    if (log_probs == nullptr) return absl::InvalidArgumentError("verifier: AppendScored needs an output");
    if (auto s = CheckAlternativesRequest(top_n, top != nullptr); !s.ok()) return s;
    for (int32_t t : tokens) {
      if (t < 0 || t >= vocab_) {
        return absl::InvalidArgumentError(absl::StrCat("verifier: appended token ", t,
                                                       " outside vocabulary of ", vocab_));
      }
    }
    log_probs->clear();
    if (top != nullptr) top->clear();
    if (tokens.empty()) return absl::OkStatus();
    const size_t cached = CachedLength();
    const size_t vocab = static_cast<size_t>(vocab_);
    // One forward per kScoredRowsPerForward tokens, so at most that many
    // vocabulary rows are held at once (a whole context in one forward would
    // be n x vocab floats: 5 GB for 8K tokens of Qwen). The row that
    // predicts a chunk's first token: for the first chunk kept from the last
    // Append when the whole S is cached, else computed by feeding S's pending
    // last token in front; for the next chunks the previous chunk's last row.
    // S, committed_ and last_logits_ change only once every chunk is in, so an
    // error in any chunk leaves the session as it was.
    bool have_first_row = cached_all_;
    // The row before the chunk: read in place (last_logits_, which changes
    // only at the end), then the previous chunk's last row, kept in prev_row_.
    std::span<const float> first_row(last_logits_);
    log_probs->resize(tokens.size());
    if (top_n > 0) top->resize(tokens.size());
    for (size_t done = 0; done < tokens.size();) {
      const std::span<const int32_t> chunk = tokens.subspan(done, std::min(kScoredRowsPerForward, tokens.size() - done));
      if (have_first_row) {
        feed_.assign(chunk.begin(), chunk.end());
      } else {
        feed_.assign(1, committed_.back());
        feed_.insert(feed_.end(), chunk.begin(), chunk.end());
      }
      absl::Status s = seq_->Append(feed_, /*all_logits=*/true, &logits_);
      if (s.ok() && logits_.size() != feed_.size() * vocab) {
        s = absl::InternalError("verifier: model returned a wrong logits size");
      }
      if (!s.ok()) {
        log_probs->clear();
        if (top != nullptr) top->clear();
        return RollBack(cached, s);
      }
      // The vector log-softmax of runtime/sampling/logprobs.h: ~110 us a
      // Qwen row, where a double-precision std::exp loop cost ~1 ms
      // (bench/orchestrator/next_token_info_bench.cc).
      for (size_t i = 0; i < chunk.size(); ++i) {
        const std::span<const float> row =
            have_first_row ? (i == 0 ? first_row : std::span<const float>(logits_.data() + (i - 1) * vocab, vocab))
                           : std::span<const float>(logits_.data() + i * vocab, vocab);
        (*log_probs)[done + i] = scorer_.Score(row, chunk[i], top_n, top_n > 0 ? &(*top)[done + i] : nullptr);
      }
      prev_row_.assign(logits_.end() - static_cast<std::ptrdiff_t>(vocab), logits_.end());
      first_row = prev_row_;
      have_first_row = true;
      done += chunk.size();
    }
    committed_.insert(committed_.end(), tokens.begin(), tokens.end());
    last_logits_.swap(prev_row_);
    cached_all_ = true;
    return absl::OkStatus();
  }

  absl::Status Truncate(int64_t length) override {
    if (seq_ == nullptr) return absl::FailedPreconditionError("verifier: session closed");
    if (length < 1 || length > committed_length()) {
      return absl::InvalidArgumentError(absl::StrCat("verifier: truncate length ", length,
                                                     " outside [1, ", committed_.size(), "]"));
    }
    if (length == committed_length()) return absl::OkStatus();
    // The cache holds at least |S| - 1 >= length tokens of S, so cropping it
    // to length - 1 restores the invariant (last kept token pending) without
    // recomputing anything; the kept last-row logits belonged to the old end.
    if (absl::Status s = seq_->Truncate(length - 1); !s.ok()) return s;
    committed_.resize(static_cast<size_t>(length));
    cached_all_ = false;
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<VerifySession>> Fork(uint64_t seed) override {
    if (seq_ == nullptr) return absl::FailedPreconditionError("verifier: session closed");
    auto seq = seq_->Fork();
    if (!seq.ok()) return seq.status();
    auto fork = std::make_unique<ModelVerifySession>(vocab_, std::move(*seq), params_, options_, accept_,
                                                     committed_, seed);
    fork->cached_all_ = cached_all_;
    fork->last_logits_ = last_logits_;
    return fork;
  }

  absl::Status Close() override {
    seq_.reset();
    return absl::OkStatus();
  }

 private:
  size_t CachedLength() const { return committed_.size() - (cached_all_ ? 0 : 1); }

  void FillNextTokenInfo(int top_k, NextTokenInfo* next) const {
    *next = NextTokenFromLogits(last_logits_, top_k);
  }

  absl::Status RollBack(size_t cached, absl::Status error) {
    absl::Status s = seq_->Truncate(static_cast<int64_t>(cached));
    return s.ok() ? error : s;
  }

  const int32_t vocab_;
  std::unique_ptr<LmSequence> seq_;
  const runtime::SamplingParams params_;  // for forks
  runtime::Sampler sampler_;
  runtime::Sampler soft_sampler_;  // RAPID greedy variant: temperature-1 rows
  runtime::Rng rng_;
  const bool greedy_;
  const VerifyOptions options_;
  const spec::AcceptFn accept_;  // a copy: sessions may outlive the verifier object
  std::vector<int32_t> committed_;  // S
  std::vector<int32_t> feed_, history_;
  std::vector<float> logits_, scratch_;
  // KV invariant: the cache holds S minus its last token, except right after
  // an Append that reported next-token info: then it holds all of S and
  // last_logits_ is the raw logits row after S.
  bool cached_all_ = false;
  std::vector<float> last_logits_;
  std::vector<Distribution> p_, soft_;
  runtime::LogprobScorer scorer_;  // logprobs (return_logprobs) and AppendScored
  std::vector<float> prev_row_;     // AppendScored: the row before the chunk being scored
};

}  // namespace

absl::StatusOr<std::unique_ptr<VerifySession>> ModelVerifier::Open(
    std::span<const int32_t> prompt, const runtime::SamplingParams& params,
    const VerifyOptions& options) {
  if (absl::Status s = params.Validate(); !s.ok()) return s;
  if (prompt.empty()) return absl::InvalidArgumentError("prompt must not be empty");
  for (int32_t t : prompt) {
    if (t < 0 || t >= model_.vocab_size()) {
      return absl::InvalidArgumentError(absl::StrCat("prompt token ", t, " outside vocabulary"));
    }
  }
  if (absl::Status s = spec::ValidateKnowledgeTransfer(options.knowledge_transfer, "knowledge_transfer");
      !s.ok()) {
    return s;
  }
  if (options.top_logprobs < 0 || options.top_logprobs > runtime::kMaxTopLogprobs ||
      (options.top_logprobs > 0 && !options.return_logprobs)) {
    return absl::InvalidArgumentError(absl::StrCat("top_logprobs: must be in [0, ", runtime::kMaxTopLogprobs,
                                                   "] and needs return_logprobs, got ", options.top_logprobs));
  }
  auto seq = model_.NewSequence();
  if (!seq.ok()) return seq.status();
  auto session = std::make_unique<ModelVerifySession>(model_.vocab_size(), std::move(*seq), params,
                                                      options, accept_, prompt, params.seed);
  if (absl::Status s = session->Prefill(); !s.ok()) return s;
  return session;
}

}  // namespace tandem::decoding
