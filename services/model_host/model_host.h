// What a draft or target service process serves: its model, loaded from the
// deployment-config entry, behind a BatchingLanguageModel.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "decoding/batching/batched_model.h"
#include "services/common/deploy_config.h"
#include "tandem/v1/common.pb.h"

namespace tandem::services {

// model_path if set, else `model` as a catalog name in deployment.model_dir
// (or the model cache when that is empty), else `model` as a path.
absl::StatusOr<std::string> ResolveServiceModelPath(const ServiceConfig& service,
                                                    const DeploymentConfig& deployment);

// Loads the service's model with its threads and KV budget.
absl::StatusOr<std::unique_ptr<batching::BatchedModel>> LoadServiceModel(
    const ServiceConfig& service, const DeploymentConfig& deployment);

// ModelInfo of a loaded model (`name` is what clients pass as `model`).
tandem::v1::ModelInfo ModelInfoOf(const runtime::Model& model, const std::string& name,
                                  const std::string& role);

}  // namespace tandem::services
