#include "services/model_host/model_host.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "runtime/model_store/model_store.h"

namespace tandem::services {

absl::StatusOr<std::string> ResolveServiceModelPath(const ServiceConfig& service,
                                                    const DeploymentConfig& deployment) {
  if (!service.model_path.empty()) return service.model_path;
  if (service.model.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("services.", service.name, ": needs model or model_path"));
  }
  if (!deployment.model_dir.empty()) {
    const std::string candidate = absl::StrCat(deployment.model_dir, "/", service.model, ".gguf");
    if (std::filesystem::exists(candidate)) return candidate;
  }
  return runtime::ResolveModelPath(service.model);
}

absl::StatusOr<std::unique_ptr<batching::BatchedModel>> LoadServiceModel(const ServiceConfig& service,
                                                                        const DeploymentConfig& deployment) {
  auto path = ResolveServiceModelPath(service, deployment);
  if (!path.ok()) return path.status();
  runtime::ModelOptions options;
  options.n_threads = service.threads;
  options.device = service.device;
  options.kv_budget_bytes = static_cast<size_t>(service.kv_budget_mb) << 20;
  options.head_vocab = service.head_vocab;
  options.requantize = service.requantize;
  return batching::BatchedModel::Load(*path, options);
}

tandem::v1::ModelInfo ModelInfoOf(const runtime::Model& model, const std::string& name, const std::string& role) {
  tandem::v1::ModelInfo info;
  info.set_name(name);
  info.set_arch(model.config().arch);
  info.set_vocab_size(model.config().vocab_size);
  info.set_context_length(model.max_context());
  info.set_role(role);
  info.set_eos_token_id(model.tokenizer().eos_id());
  info.set_parameters(static_cast<uint64_t>(model.parameter_count()));
  return info;
}

}  // namespace tandem::services
