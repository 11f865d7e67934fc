#include "services/orchestrator/local/model_verifier.h"

#include "absl/strings/str_cat.h"
#include "runtime/sampling/sampler.h"

namespace tandem::orchestrator {
namespace {

using runtime::Distribution;

class ModelVerifySession : public VerifySession {
 public:
  ModelVerifySession(LanguageModel& model, std::unique_ptr<LmSequence> seq,
                     const runtime::SamplingParams& params, const VerifyOptions& options,
                     const spec::AcceptFn& accept, std::span<const int32_t> prompt)
      : vocab_(model.vocab_size()),
        seq_(std::move(seq)),
        sampler_(params),
        rng_(runtime::Rng(params.seed).Split(kTargetRngStream)),
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
    const size_t base = committed_.size();  // |S|; the cache holds base - 1 tokens
    const size_t rows = draft.size() + 1;
    feed_.assign(1, committed_.back());
    feed_.insert(feed_.end(), draft.begin(), draft.end());
    if (absl::Status s = seq_->Append(feed_, /*all_logits=*/true, &logits_); !s.ok()) {
      return RollBack(base - 1, s);
    }
    if (logits_.size() != rows * static_cast<size_t>(vocab_)) {
      return RollBack(base - 1, absl::InternalError("verifier: model returned a wrong logits size"));
    }
    // p_i is processed with the history it follows: S + d_1..d_{i-1}.
    history_.assign(committed_.begin(), committed_.end());
    history_.insert(history_.end(), draft.begin(), draft.end());
    if (p_.size() < rows) p_.resize(rows);
    for (size_t i = 0; i < rows; ++i) {
      std::span<const float> row(logits_.data() + i * vocab_, vocab_);
      absl::Status s = sampler_.Process(row, std::span<const int32_t>(history_).first(base + i), &p_[i]);
      if (!s.ok()) return RollBack(base - 1, s);
    }
    std::span<const Distribution> p(p_.data(), rows);
    auto verdict = greedy_ ? spec::GreedyAccept(draft, p) : accept_(draft, q, p, rng_);
    if (!verdict.ok()) return RollBack(base - 1, verdict.status());
    const int k = verdict->accepted;
    // Cache S + d_1..d_k; the next token stays pending.
    if (absl::Status s = seq_->Truncate(static_cast<int64_t>(base + k)); !s.ok()) return s;
    committed_.insert(committed_.end(), draft.begin(), draft.begin() + k);
    committed_.push_back(verdict->next_token);

    out->accepted = k;
    out->next_token = verdict->next_token;
    out->committed_length = static_cast<int64_t>(committed_.size());
    out->p.clear();
    if (options_.return_distributions) out->p.assign(p_.begin(), p_.begin() + k + 1);
    return absl::OkStatus();
  }

  int64_t committed_length() const override { return static_cast<int64_t>(committed_.size()); }

  absl::Status Close() override {
    seq_.reset();
    return absl::OkStatus();
  }

 private:
  absl::Status RollBack(size_t cached, absl::Status error) {
    absl::Status s = seq_->Truncate(static_cast<int64_t>(cached));
    return s.ok() ? error : s;
  }

  const int32_t vocab_;
  std::unique_ptr<LmSequence> seq_;
  runtime::Sampler sampler_;
  runtime::Rng rng_;
  const bool greedy_;
  const VerifyOptions options_;
  const spec::AcceptFn accept_;  // a copy: sessions may outlive the verifier object
  std::vector<int32_t> committed_;  // S
  std::vector<int32_t> feed_, history_;
  std::vector<float> logits_;
  std::vector<Distribution> p_;
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
  auto seq = model_.NewSequence();
  if (!seq.ok()) return seq.status();
  auto session = std::make_unique<ModelVerifySession>(model_, std::move(*seq), params, options,
                                                      accept_, prompt);
  if (absl::Status s = session->Prefill(); !s.ok()) return s;
  return session;
}

}  // namespace tandem::orchestrator
