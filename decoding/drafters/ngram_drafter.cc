#include "decoding/drafters/ngram_drafter.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace tandem::decoding {
namespace {

class NgramSession : public DraftSession {
 public:
  NgramSession(const NgramDrafterOptions& options, std::span<const int32_t> prompt,
               bool return_distributions)
      : options_(options),
        sequence_(prompt.begin(), prompt.end()),
        return_distributions_(return_distributions) {}

  absl::Status Propose(const DraftDelta& delta, int gamma, DraftProposal* out) override {
    if (closed_) return absl::FailedPreconditionError("ngram drafter: session closed");
    if (delta.accepted < 0 || static_cast<size_t>(delta.accepted) > last_proposal_.size()) {
      return absl::InvalidArgumentError(absl::StrCat("accepted_count ", delta.accepted,
                                                     " exceeds the last proposal of ",
                                                     last_proposal_.size()));
    }
    if (delta.next_token.has_value() &&
        (*delta.next_token < 0 || *delta.next_token >= options_.vocab_size)) {
      return absl::InvalidArgumentError(absl::StrCat("next_token ", *delta.next_token,
                                                     " outside vocabulary"));
    }
    for (size_t i = 0; i < delta.append.size(); ++i) {
      if (delta.append[i] < 0 || delta.append[i] >= options_.vocab_size) {
        return absl::InvalidArgumentError(absl::StrCat("append[", i, "] = ", delta.append[i],
                                                       " outside vocabulary"));
      }
    }
    if (gamma < 0) return absl::InvalidArgumentError("gamma must be >= 0");
    if (delta.truncate_to.has_value()) {
      if (absl::Status s = ValidateTruncate(delta, sequence_.size()); !s.ok()) return s;
      sequence_.resize(static_cast<size_t>(*delta.truncate_to));
    }
    sequence_.insert(sequence_.end(), last_proposal_.begin(),
                     last_proposal_.begin() + delta.accepted);
    if (delta.next_token.has_value()) sequence_.push_back(*delta.next_token);
    sequence_.insert(sequence_.end(), delta.append.begin(), delta.append.end());

    auto found = NgramDrafter::Lookup(sequence_, gamma, options_.max_ngram, options_.min_ngram,
                                      options_.max_search);
    size_t n = found.size();
    if (options_.is_end_of_generation) {
      for (size_t i = 0; i < n; ++i) {
        if (options_.is_end_of_generation(found[i])) {
          n = i + 1;
          break;
        }
      }
    }
    last_proposal_.assign(found.begin(), found.begin() + n);
    out->tokens = last_proposal_;
    out->q.clear();
    if (return_distributions_) {
      out->q.resize(n);
      for (size_t i = 0; i < n; ++i) out->q[i].AssignOneHot(options_.vocab_size, last_proposal_[i]);
    }
    return absl::OkStatus();
  }

  int64_t committed_length() const override { return static_cast<int64_t>(sequence_.size()); }
  absl::Status Close() override {
    closed_ = true;
    return absl::OkStatus();
  }

 private:
  NgramDrafterOptions options_;  // a copy: a session may outlive its drafter
  std::vector<int32_t> sequence_;
  std::vector<int32_t> last_proposal_;
  bool return_distributions_;
  bool closed_ = false;
};

}  // namespace

std::span<const int32_t> NgramDrafter::Lookup(std::span<const int32_t> sequence, int gamma,
                                              int max_ngram, int min_ngram, int max_search) {
  const size_t len = sequence.size();
  if (gamma <= 0 || len < 2) return {};
  const size_t lo = max_search > 0 && len > static_cast<size_t>(max_search) ? len - max_search : 0;
  for (int n = std::min<int>(max_ngram, static_cast<int>(len) - 1); n >= std::max(min_ngram, 1); --n) {
    auto suffix = sequence.last(n);
    // Most recent earlier occurrence: start positions j < len - n, newest first.
    for (size_t j = len - n; j-- > lo;) {
      if (std::equal(suffix.begin(), suffix.end(), sequence.begin() + j)) {
        const size_t from = j + n;
        const size_t count = std::min<size_t>(gamma, len - from);
        return sequence.subspan(from, count);
      }
    }
  }
  return {};
}

absl::StatusOr<std::unique_ptr<DraftSession>> NgramDrafter::Open(
    std::span<const int32_t> prompt, const runtime::SamplingParams& params,
    const DraftOptions& options) {
  if (options_.vocab_size <= 0) return absl::FailedPreconditionError("ngram drafter: vocab_size unset");
  if (prompt.empty()) return absl::InvalidArgumentError("prompt must not be empty");
  for (int32_t t : prompt) {
    if (t < 0 || t >= options_.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("prompt token ", t, " outside vocabulary"));
    }
  }
  if (absl::Status s = params.Validate(); !s.ok()) return s;
  return std::make_unique<NgramSession>(options_, prompt, options.return_distributions);
}

}  // namespace tandem::decoding
