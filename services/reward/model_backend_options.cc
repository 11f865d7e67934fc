#include "services/reward/model_backend_options.h"

#include "absl/strings/str_cat.h"
#include "runtime/model_store/model_store.h"
#include "runtime/util/absl_compat.h"

namespace tandem::reward {

absl::StatusOr<std::unique_ptr<runtime::Model>> LoadBackendModel(const ModelBackendOptions& options,
                                                                 std::string_view backend) {
  auto path = runtime::ResolveModelPath(options.model);
  if (!path.ok()) return path.status();
  runtime::ModelOptions mo;
  mo.n_threads = options.threads;
  mo.kv_budget_bytes = options.kv_budget_bytes;
  mo.max_context = options.max_context;
  auto model = runtime::Model::Load(*path, mo);
  if (!model.ok()) {
    return absl::Status(model.status().code(), absl::StrCat(AbslView(backend), ": loading ", *path, ": ",
                                                            model.status().message()));
  }
  return model;
}

}  // namespace tandem::reward
