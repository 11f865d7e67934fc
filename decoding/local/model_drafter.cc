#include "decoding/local/model_drafter.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/sampling/sampler.h"
#include "decoding/drafters/ngram_drafter.h"
#include "decoding/local/model_verifier.h"
#include "decoding/spec/acceptance.h"
#include "decoding/spec/knowledge_transfer.h"

namespace tandem::decoding {
namespace {

using runtime::Distribution;

// The lookup of staged drafting: n-grams of 3 down to 2 tokens over the last
// 8192 tokens. One-token matches guess wrong too often for a multi-row
// forward to pay: Qwen2.5-Coder 1.5B <- 0.5B, greedy, 2 threads
// (bench_speculative.py, Sapphire Rapids VM) ran 0.97x target-only staged
// with them and 1.00x without them (unstaged 0.99-1.01x).
constexpr int kStagedMaxNgram = 3;
constexpr int kStagedMinNgram = 2;
constexpr int kStagedMaxSearch = 8192;

bool OutOfRoom(const absl::Status& s) {
  return s.code() == absl::StatusCode::kOutOfRange || s.code() == absl::StatusCode::kResourceExhausted;
}

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
        staged_(options.staged_ngram),
        q_tail_(options.q_tail_mass),
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
    q_used_ = 0;  // out->q's rows are overwritten in place (NextQ), then trimmed

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
    bool stop = false;
    while (!stop && static_cast<int>(out->tokens.size()) < gamma) {
      const int room = gamma - static_cast<int>(out->tokens.size());
      // Staged: guesses for all but the last token of the room (a forward
      // of 1 + k rows yields up to k + 1 tokens).
      guess_.clear();
      if (staged_ > 0 && room > 1) {
        // A copy: the lookup's span points into history_, which grows below.
        const std::span<const int32_t> found =
            NgramDrafter::Lookup(history_, std::min(staged_, room - 1), kStagedMaxNgram, kStagedMinNgram, kStagedMaxSearch);
        guess_.assign(found.begin(), found.end());
      }
      absl::Status s = guess_.empty() ? Step(out, &stop) : StagedStep(guess_, out, &stop);
      if (!s.ok()) {
        // Out of context or KV memory: propose what we have (possibly
        // nothing); the target decides whether generation can go on.
        if (OutOfRoom(s)) break;
        return s;
      }
    }
    out->q.resize(q_used_);
    last_proposal_ = out->tokens;
    return absl::OkStatus();
  }

  int64_t committed_length() const override { return static_cast<int64_t>(committed_.size()); }

  absl::Status Close() override {
    seq_.reset();
    return absl::OkStatus();
  }

 private:
  // Drafts x from `logits` (the row after history_): the processed q (into
  // out->q when it returns distributions) and, for greedy sessions that
  // need it, the temperature-1 confidence; `forced` >= 0: x was already
  // chosen from q (a staged step's acceptance), else x is sampled here.
  // Sets *stop after an end-of-generation token or one c_conf doubts.
  // `processed` (staged steps) is swapped into out->q, not copied.
  absl::Status Emit(std::span<const float> logits, Distribution* processed, int32_t forced, DraftProposal* out,
                    bool* stop) {
    Distribution* q = processed != nullptr ? processed : &scratch_q_;
    if (return_q_ && !greedy_) {
      Distribution& slot = NextQ(out);
      // The staged row's buffers go to out->q, the slot's old ones back to
      // rows_q_, which the next staged forward overwrites.
      if (processed != nullptr) std::swap(slot, *processed);
      q = &slot;
    }
    if (processed == nullptr) {
      if (absl::Status s = sampler_.Process(logits, history_, q); !s.ok()) return s;
      if (!greedy_) q->DropTail(q_tail_);  // before sampling: x must be a sample of the q reported
    }
    const int32_t x = forced >= 0 ? forced : greedy_ ? q->Argmax() : runtime::Sampler::Sample(*q, rng_);
    // A greedy q is one-hot and carries no confidence: c_conf reads the
    // temperature-1 distribution, and so does RAPID's greedy transfer (the
    // q rows a greedy session returns are these).
    const bool soft = greedy_ && (return_q_ || stop_below_ > 0.0f);
    if (soft) {
      if (absl::Status s = soft_sampler_.Process(logits, history_, &soft_q_); !s.ok()) return s;
    }
    // c_conf (RAPID): a token the drafter itself doubts ends the proposal
    // after it.
    bool doubtful = false;
    if (stop_below_ > 0.0f) doubtful = (greedy_ ? soft_q_.Prob(x) : q->Prob(x)) < stop_below_;
    if (return_q_ && greedy_) NextQ(out) = soft_q_;  // copy-assigned into the slot's buffers
    out->tokens.push_back(x);
    history_.push_back(x);
    if ((is_eos_ && is_eos_(x)) || doubtful) *stop = true;
    return absl::OkStatus();
  }

  // The next row of out->q: one the caller's proposal already holds (its
  // buffers reused: a dense row is a vocabulary of floats) or a new one.
  Distribution& NextQ(DraftProposal* out) {
    if (q_used_ == out->q.size()) out->q.emplace_back();
    return out->q[q_used_++];
  }

  // One single-row forward (pending_: the cache catch-up and the last token).
  absl::Status Step(DraftProposal* out, bool* stop) {
    if (absl::Status s = seq_->Append(pending_, /*all_logits=*/false, &logits_); !s.ok()) return s;
    if (absl::Status s = Emit(logits_, nullptr, -1, out, stop); !s.ok()) return s;
    pending_.assign(1, out->tokens.back());
    return absl::OkStatus();
  }

  // One staged forward: pending_'s last token and the lookup's guesses, a
  // row for each. The guesses the draft model's rows accept (spec::
  // SpeculativeAccept with one-hot proposals; greedy: while they are the
  // argmax) are drafted, then the residual or bonus token; each is exactly a
  // draft-model sample. The cache then keeps the drafted tokens but the last
  // (never forwarded, as in Step).
  absl::Status StagedStep(std::span<const int32_t> guess, DraftProposal* out, bool* stop) {
    if (pending_.size() > 1) {  // catch-up without rows: only the last token's is needed
      auto head = std::span<const int32_t>(pending_).first(pending_.size() - 1);
      if (absl::Status s = seq_->Append(head, /*all_logits=*/false, nullptr); !s.ok()) return s;
      pending_.erase(pending_.begin(), pending_.end() - 1);
    }
    const size_t cached = seq_->tokens().size();
    block_.assign(pending_.begin(), pending_.end());
    block_.insert(block_.end(), guess.begin(), guess.end());
    if (absl::Status s = seq_->Append(block_, /*all_logits=*/true, &rows_); !s.ok()) return s;
    const size_t k = guess.size();
    rows_q_.resize(k + 1);
    one_hot_.resize(k);
    const size_t h = history_.size();
    for (size_t j = 0; j <= k; ++j) {
      const auto row = std::span<const float>(rows_).subspan(j * static_cast<size_t>(vocab_), static_cast<size_t>(vocab_));
      if (absl::Status s = sampler_.Process(row, history_, &rows_q_[j]); !s.ok()) return s;
      if (!greedy_) rows_q_[j].DropTail(q_tail_);  // the row both the acceptance and the proposal use
      if (j < k) {
        history_.push_back(guess[j]);
        one_hot_[j].AssignOneHot(vocab_, guess[j]);
      }
    }
    history_.resize(h);
    auto accept = greedy_ ? spec::GreedyAccept(guess, rows_q_) : spec::SpeculativeAccept(guess, one_hot_, rows_q_, rng_);
    if (!accept.ok()) return accept.status();
    size_t emitted = 0;
    for (size_t j = 0; j <= static_cast<size_t>(accept->accepted) && !*stop; ++j) {
      const int32_t x = j < static_cast<size_t>(accept->accepted) ? guess[j] : accept->next_token;
      const auto row = std::span<const float>(rows_).subspan(j * static_cast<size_t>(vocab_), static_cast<size_t>(vocab_));
      if (absl::Status s = Emit(row, &rows_q_[j], x, out, stop); !s.ok()) return s;
      ++emitted;
    }
    // Cached: pending_ + the guesses; keep pending_ + the drafted tokens
    // before the last one (those equal the first guesses).
    const size_t keep = cached + emitted;
    if (seq_->tokens().size() > keep) {
      if (absl::Status s = seq_->Truncate(static_cast<int64_t>(keep)); !s.ok()) return s;
    }
    pending_.assign(1, out->tokens.back());
    return absl::OkStatus();
  }

  const int32_t vocab_;
  std::unique_ptr<LmSequence> seq_;
  runtime::Sampler sampler_;
  runtime::Sampler soft_sampler_;  // greedy c_conf: temperature-1 confidence
  const float stop_below_;         // c_conf; 0 = off
  const int staged_;               // staged lookup guesses per forward; 0 = off
  const float q_tail_;             // DraftOptions::q_tail_mass; 0 = the exact processed q
  runtime::Rng rng_;
  const bool greedy_;
  const bool return_q_;
  const std::function<bool(int32_t)> is_eos_;
  std::vector<int32_t> committed_;  // S
  std::vector<int32_t> last_proposal_, history_, pending_;
  std::vector<float> logits_;
  Distribution scratch_q_, soft_q_;
  size_t q_used_ = 0;  // rows of the current proposal's q written so far
  std::vector<int32_t> guess_, block_;     // a staged forward's lookup guesses and tokens
  std::vector<float> rows_;                // ... and its rows
  std::vector<Distribution> rows_q_, one_hot_;
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
  if (absl::Status s = ValidateDraftOptions(options); !s.ok()) return s;
  auto seq = model_.NewSequence();
  if (!seq.ok()) return seq.status();
  auto session = std::make_unique<ModelDraftSession>(model_, std::move(*seq), params, options,
                                                     is_eos_, prompt);
  if (absl::Status s = session->Prefill(); !s.ok()) return s;
  return session;
}

}  // namespace tandem::decoding
