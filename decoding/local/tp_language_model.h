// A tensor-parallel model as a LanguageModel: the sequences of rank 0's
// TpLeader (runtime/parallel/tp_engine.h), so the target service's verifier
// runs unchanged over a model sharded across ranks. Append returns full
// vocabulary rows, exactly the format RuntimeLanguageModel returns.
//
// Every Append is one collective step of the whole group (serialised by the
// leader); sessions are not batched into one pass and cannot fork.
#pragma once

#include <memory>

#include "decoding/local/language_model.h"
#include "runtime/parallel/tp_engine.h"

namespace tandem::decoding {

class TpLanguageModel : public LanguageModel {
 public:
  // `leader` outlives this object and its sequences.
  explicit TpLanguageModel(runtime::parallel::TpLeader& leader) : leader_(leader) {}
  int32_t vocab_size() const override { return leader_.vocab_size(); }
  absl::StatusOr<std::unique_ptr<LmSequence>> NewSequence() override;

 private:
  runtime::parallel::TpLeader& leader_;
};

}  // namespace tandem::decoding
