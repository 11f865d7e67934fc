// Vocabulary of a remote model: what the strategies need, from the target's
// ModelInfo (vocab_size, eos_token_id), plus text from a local tokenizer when
// the orchestrator has one.
//
// Gap: ModelInfo carries a single eos_token_id; chat models also end turns
// with other ids (<|im_end|>). Pass `text` (a TokenizerVocabulary of the same
// model) so that its end-of-generation set is used too.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "decoding/ports/vocabulary.h"
#include "services/orchestrator/remote/remote_options.h"
#include "tandem/v1/common.pb.h"
#include "services/orchestrator/decoding_names.h"

namespace tandem::orchestrator {

class RemoteVocabulary : public Vocabulary {
 public:
  explicit RemoteVocabulary(tandem::v1::ModelInfo info, std::shared_ptr<const Vocabulary> text = nullptr)
      : info_(std::move(info)), text_(std::move(text)) {}
  int32_t vocab_size() const override { return info_.vocab_size(); }
  bool IsEndOfGeneration(int32_t token) const override {
    return (info_.eos_token_id() >= 0 && token == info_.eos_token_id()) ||
           (text_ != nullptr && text_->IsEndOfGeneration(token));
  }
  std::unique_ptr<TokenDecoder> NewDecoder() const override {
    return text_ != nullptr ? text_->NewDecoder() : nullptr;
  }
  const tandem::v1::ModelInfo& info() const { return info_; }

 private:
  tandem::v1::ModelInfo info_;
  std::shared_ptr<const Vocabulary> text_;
};

}  // namespace tandem::orchestrator
