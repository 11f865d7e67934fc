#include "decoding/batching/batched_model.h"

namespace tandem::batching {

absl::StatusOr<std::unique_ptr<BatchedModel>> BatchedModel::Load(
    const std::string& path, const runtime::ModelOptions& model_options,
    const BatchingOptions& batching_options) {
  auto model = runtime::Model::Load(path, model_options);
  if (!model.ok()) return model.status();
  return std::make_unique<BatchedModel>(std::move(*model), batching_options);
}

BatchedModel::BatchedModel(std::unique_ptr<runtime::Model> model, const BatchingOptions& batching_options)
    : model_(std::move(model)), lm_(std::make_unique<BatchingLanguageModel>(*model_, batching_options)) {}

}  // namespace tandem::batching
