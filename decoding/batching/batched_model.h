// A loaded runtime::Model together with the BatchingLanguageModel that owns
// its forward passes: what a draft or target service process serves.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/model/model.h"
#include "decoding/batching/batching_language_model.h"

namespace tandem::batching {

class BatchedModel {
 public:
  // Loads the GGUF at `path` and starts the scheduler.
  static absl::StatusOr<std::unique_ptr<BatchedModel>> Load(const std::string& path,
                                                            const runtime::ModelOptions& model_options,
                                                            const BatchingOptions& batching_options = {});
  // Takes an already loaded model.
  BatchedModel(std::unique_ptr<runtime::Model> model, const BatchingOptions& batching_options);

  runtime::Model& model() { return *model_; }
  BatchingLanguageModel& lm() { return *lm_; }

 private:
  std::unique_ptr<runtime::Model> model_;
  std::unique_ptr<BatchingLanguageModel> lm_;  // destroyed before the model
};

}  // namespace tandem::batching
