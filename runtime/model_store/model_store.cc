#include "runtime/model_store/model_store.h"

#include <cstdlib>
#include <filesystem>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tandem::runtime {

std::string ModelCacheDir() {
  if (const char* dir = std::getenv("TANDEM_MODEL_DIR"); dir != nullptr && *dir != '\0') return dir;
  const char* home = std::getenv("HOME");
  return absl::StrCat(home != nullptr ? home : ".", "/.cache/tandem/models");
}

const std::vector<std::string>& BundledModelNames() {
  // Keep in sync with scripts/models.tsv (the fetcher's catalog).
  static const std::vector<std::string> kNames = {"smollm2-135m", "qwen2.5-coder-1.5b",
                                                  "qwen2.5-coder-0.5b"};
  return kNames;
}

absl::StatusOr<std::string> ResolveModelPath(std::string_view name_or_path) {
  namespace fs = std::filesystem;
  if (name_or_path.empty()) return absl::InvalidArgumentError("model: empty name");
  std::error_code ec;
  const std::string as_path(name_or_path);
  if (fs::is_regular_file(as_path, ec)) return as_path;
  for (const std::string& name : BundledModelNames()) {
    if (name != name_or_path) continue;
    std::string path = absl::StrCat(ModelCacheDir(), "/", name, ".gguf");
    if (fs::is_regular_file(path, ec)) return path;
    return absl::NotFoundError(absl::StrCat("model '", name, "' is not in the cache (", path,
                                            "); fetch it with: scripts/fetch_models.py ", name));
  }
  return absl::NotFoundError(absl::StrCat("model '", std::string(name_or_path),
                                          "' is neither a file nor a bundled model (known: ",
                                          absl::StrJoin(BundledModelNames(), ", "), ")"));
}

}  // namespace tandem::runtime
