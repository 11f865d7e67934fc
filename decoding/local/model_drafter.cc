#include "decoding/local/model_drafter.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "runtime/sampling/sampler.h"
#include "decoding/local/model_verifier.h"
#include "decoding/spec/knowledge_transfer.h"

namespace tandem::decoding {
namespace {

using runtime::Distribution;

class ModelDraftSession : public DraftSession {
 public:
  ModelDraftSession(LanguageModel& model, std::unique_ptr<LmSequence> seq,
                    const runtime::SamplingParams& params, const DraftOptions& options,
                    std::function<bool(int32_t)> is_eos, std::span<const int32_t> prompt)
      : vocab_(model.vocab_size()),
        seq_(std::move(seq)),
        sampler_(params),
        soft_sampler_(spec::TemperatureOneParams(params)),
        stop_below_(options.stop_below_probability),
        rng_(runtime::Rng(params.seed).Split(kDraftRngStream)),
        greedy_(params.greedy()),
        return_q_(options.return_distributions),
        is_eos_(std::move(is_eos)),
        committed_(prompt.begin(), prompt.end()) {}

  absl::Status Prefill() {
    auto head = std::span<const int32_t>(committed_).first(committed_.size() - 1);
    if (head.empty()) return absl::OkStatus();
    return seq_->Append(head, /*all_logits=*/false, /*logits=*/nullptr);
  }

  absl::Status Propose(const DraftDelta& delta, int gamma, DraftProposal* out) override {
    if (seq_ == nullptr) return absl::FailedPreconditionError("drafter: session closed");
    if (delta.accepted < 0 || static_cast<size_t>(delta.accepted) > last_proposal_.size()) {
      return absl::InvalidArgumentError(absl::StrCat("accepted_count ", delta.accepted,
                                                     " exceeds the last proposal of ",
                                                     last_proposal_.size()));
    }
    if (delta.next_token.has_value() && (*delta.next_token < 0 || *delta.next_token >= vocab_)) {
      return absl::InvalidArgumentError(absl::StrCat("next_token ", *delta.next_token,
                                                     " outside vocabulary of ", vocab_));
    }
    for (size_t i = 0; i < delta.append.size(); ++i) {
      if (delta.append[i] < 0 || delta.append[i] >= vocab_) {
        return absl::InvalidArgumentError(absl::StrCat("append[", i, "] = ", delta.append[i],
                                                       " outside vocabulary of ", vocab_));
      }
    }
    if (gamma < 0) return absl::InvalidArgumentError("gamma must be >= 0");
    if (delta.truncate_to.has_value()) {
      if (absl::Status s = ValidateTruncate(delta, committed_.size()); !s.ok()) return s;
      // The cache catch-up below crops the KV cache to the common prefix.
      committed_.resize(static_cast<size_t>(*delta.truncate_to));
    }
    committed_.insert(committed_.end(), last_proposal_.begin(),
                      last_proposal_.begin() + delta.accepted);
    if (delta.next_token.has_value()) committed_.push_back(*delta.next_token);
    // Text the draft did not write is only prefilled lazily, with the next
    // drafting forward (the cache catch-up below), not here.
    committed_.insert(committed_.end(), delta.append.begin(), delta.append.end());
    last_proposal_.clear();
    out->tokens.clear();
    out->q.clear();

    // Roll the cache back to what S still shares with it.
    auto cached = seq_->tokens();
    const size_t limit = std::min(cached.size(), committed_.size() - 1);
    const size_t common = std::mismatch(cached.begin(), cached.begin() + limit, committed_.begin()).first -
                          cached.begin();
    if (common < cached.size()) {
      if (absl::Status s = seq_->Truncate(static_cast<int64_t>(common)); !s.ok()) return s;
    }

    history_.assign(committed_.begin(), committed_.end());
    pending_.assign(committed_.begin() + common, committed_.end());
    for (int i = 0; i < gamma; ++i) {
      if (absl::Status s = seq_->Append(pending_, /*all_logits=*/false, &logits_); !s.ok()) {
        // Out of context or KV memory: propose what we have (possibly
        // nothing); the target decides whether generation can go on.
        if (s.code() == absl::StatusCode::kOutOfRange ||
            s.code() == absl::StatusCode::kResourceExhausted) {
          break;
        }
        return s;
      }
      Distribution* q = &scratch_q_;
      if (return_q_ && !greedy_) {
        out->q.emplace_back();
        q = &out->q.back();
      }
      if (absl::Status s = sampler_.Process(logits_, history_, q); !s.ok()) return s;
      const int32_t x = greedy_ ? q->Argmax() : runtime::Sampler::Sample(*q, rng_);
      // A greedy q is one-hot and carries no confidence: c_conf reads the
      // temperature-1 distribution, and so does RAPID's greedy transfer (the
      // q rows a greedy session returns are these).
      const bool soft = greedy_ && (return_q_ || stop_below_ > 0.0f);
      if (soft) {
        if (absl::Status s = soft_sampler_.Process(logits_, history_, &soft_q_); !s.ok()) return s;
      }
      // c_conf (RAPID): a token the drafter itself doubts ends the proposal
      // after it.
      bool doubtful = false;
      if (stop_below_ > 0.0f) doubtful = (greedy_ ? soft_q_.Prob(x) : q->Prob(x)) < stop_below_;
      if (return_q_ && greedy_) out->q.push_back(soft_q_);
      out->tokens.push_back(x);
      history_.push_back(x);
      pending_.assign(1, x);
      if ((is_eos_ && is_eos_(x)) || doubtful) break;
    }
    last_proposal_ = out->tokens;
    return absl::OkStatus();
  }

  int64_t committed_length() const override { return static_cast<int64_t>(committed_.size()); }

  absl::Status Close() override {
    seq_.reset();
    return absl::OkStatus();
  }

 private:
  const int32_t vocab_;
  std::unique_ptr<LmSequence> seq_;
  runtime::Sampler sampler_;
  runtime::Sampler soft_sampler_;  // greedy c_conf: temperature-1 confidence
  const float stop_below_;         // c_conf; 0 = off
  runtime::Rng rng_;
  const bool greedy_;
  const bool return_q_;
  const std::function<bool(int32_t)> is_eos_;
  std::vector<int32_t> committed_;  // S
  std::vector<int32_t> last_proposal_, history_, pending_;
  std::vector<float> logits_;
  Distribution scratch_q_, soft_q_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<DraftSession>> ModelDrafter::Open(
    std::span<const int32_t> prompt, const runtime::SamplingParams& params,
    const DraftOptions& options) {
  if (absl::Status s = params.Validate(); !s.ok()) return s;
  if (prompt.empty()) return absl::InvalidArgumentError("prompt must not be empty");
  for (int32_t t : prompt) {
    if (t < 0 || t >= model_.vocab_size()) {
      return absl::InvalidArgumentError(absl::StrCat("prompt token ", t, " outside vocabulary"));
    }
  }
  if (!(options.stop_below_probability >= 0.0f && options.stop_below_probability <= 1.0f)) {
    return absl::InvalidArgumentError(absl::StrCat("stop_below_probability must be in [0, 1], got ",
                                                   options.stop_below_probability));
  }
  auto seq = model_.NewSequence();
  if (!seq.ok()) return seq.status();
  auto session = std::make_unique<ModelDraftSession>(model_, std::move(*seq), params, options,
                                                     is_eos_, prompt);
  if (absl::Status s = session->Prefill(); !s.ok()) return s;
  return session;
}

}  // namespace tandem::decoding
