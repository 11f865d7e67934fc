// Prompt-lookup / n-gram drafter: needs no model. It looks for the most
// recent earlier occurrence of the last n tokens of the sequence (n from
// max_ngram down to min_ngram) and proposes the tokens that followed it.
//
// Why this stays lossless at temperature > 0: the proposal is deterministic
// given the sequence, so its q is one-hot on the proposed token x. The accept
// test r <= p(x)/q(x) then accepts with probability p(x), and the residual
// norm(max(0, p - q)) is p with x's mass removed, renormalised: p(y)/(1-p(x))
// for y != x. The emitted token is x with probability p(x) and y with
// probability (1-p(x)) * p(y)/(1-p(x)) = p(y): exactly p.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "decoding/ports/drafter.h"

namespace tandem::decoding {

struct NgramDrafterOptions {
  int32_t vocab_size = 0;  // of the target; required (q rows carry it)
  int max_ngram = 4;
  int min_ngram = 1;
  // Only the most recent `max_search` tokens are searched (bounds the cost
  // per proposal on long contexts).
  int max_search = 8192;
  // Optional: stops a proposal after an end-of-generation token.
  std::function<bool(int32_t)> is_end_of_generation = nullptr;
};

class NgramDrafter : public Drafter {
 public:
  explicit NgramDrafter(NgramDrafterOptions options) : options_(std::move(options)) {}
  std::string_view name() const override { return "ngram"; }
  absl::StatusOr<std::unique_ptr<DraftSession>> Open(std::span<const int32_t> prompt,
                                                     const runtime::SamplingParams& params,
                                                     const DraftOptions& options) override;

  // The lookup itself: the continuation (up to `gamma` tokens) after the most
  // recent earlier match of the sequence's last n tokens, longest n first.
  // Empty when nothing matches.
  static std::span<const int32_t> Lookup(std::span<const int32_t> sequence, int gamma,
                                         int max_ngram, int min_ngram, int max_search);

 private:
  NgramDrafterOptions options_;
};

}  // namespace tandem::decoding
