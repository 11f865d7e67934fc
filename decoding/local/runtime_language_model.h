// Adapters from the runtime engine to the orchestrator's in-process ports:
// runtime::Model -> LanguageModel, runtime Tokenizer -> Vocabulary.
#pragma once

#include <memory>

#include "absl/synchronization/mutex.h"
#include "runtime/model/model.h"
#include "runtime/tokenizer/tokenizer.h"
#include "decoding/local/language_model.h"
#include "decoding/ports/vocabulary.h"

namespace tandem::decoding {

// One adapter per runtime::Model: it serialises Forward calls (the model
// requires it), so a drafter and a verifier sharing one model must share one
// adapter. Each Append is its own forward pass; cross-session batching is the
// target service's scheduler's job.
class RuntimeLanguageModel : public LanguageModel {
 public:
  explicit RuntimeLanguageModel(runtime::Model& model) : model_(model) {}
  int32_t vocab_size() const override { return model_.config().vocab_size; }
  absl::StatusOr<std::unique_ptr<LmSequence>> NewSequence() override;

  runtime::Model& model() { return model_; }

 private:
  friend class RuntimeSequence;
  runtime::Model& model_;
  absl::Mutex forward_mu_;
};

class TokenizerVocabulary : public Vocabulary {
 public:
  // The tokenizer must outlive this object and its decoders.
  explicit TokenizerVocabulary(const runtime::Tokenizer& tokenizer) : tokenizer_(tokenizer) {}
  int32_t vocab_size() const override { return tokenizer_.vocab_size(); }
  bool IsEndOfGeneration(int32_t token) const override { return tokenizer_.IsEndOfGeneration(token); }
  std::unique_ptr<TokenDecoder> NewDecoder() const override;

 private:
  const runtime::Tokenizer& tokenizer_;
};

}  // namespace tandem::decoding
