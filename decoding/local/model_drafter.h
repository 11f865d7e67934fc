// In-process Drafter over a LanguageModel (the draft model; may be the same
// model as the target, which makes a correctness check easy).
//
// KV bookkeeping: the cache holds some prefix of S + the last drafted tokens.
// Each Propose applies the delta to S, truncates the cache to its longest
// common prefix with S (always leaving S's last token uncached so that there
// is a row to sample from) and drafts autoregressively: one single-row
// forward per drafted token. The last drafted token is never forwarded; if it
// is accepted it is fed with the next round.
#pragma once

#include <functional>
#include <memory>

#include "decoding/local/language_model.h"
#include "decoding/ports/drafter.h"

namespace tandem::decoding {

class ModelDrafter : public Drafter {
 public:
  // `model` must outlive the drafter and its sessions. `is_end_of_generation`
  // (optional) stops a proposal after such a token.
  explicit ModelDrafter(LanguageModel& model,
                        std::function<bool(int32_t)> is_end_of_generation = nullptr)
      : model_(model), is_eos_(std::move(is_end_of_generation)) {}

  std::string_view name() const override { return "model"; }
  absl::StatusOr<std::unique_ptr<DraftSession>> Open(std::span<const int32_t> prompt,
                                                     const runtime::SamplingParams& params,
                                                     const DraftOptions& options) override;

 private:
  LanguageModel& model_;
  std::function<bool(int32_t)> is_eos_;
};

}  // namespace tandem::decoding
