// Resolves what a user types after --model: a path to a GGUF file, or the
// name of a bundled model fetched into the model cache by
// scripts/fetch_models.py (e.g. "smollm2-135m").
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace tandem::runtime {

// The model cache folder: $TANDEM_MODEL_DIR, else $HOME/.cache/tandem/models.
std::string ModelCacheDir();

// Names of the bundled models tandem knows how to fetch.
const std::vector<std::string>& BundledModelNames();

// A path that exists is returned as is. A bundled name maps to
// <cache>/<name>.gguf; if that file is missing the error says which command
// fetches it. Anything else is NotFound with the list of known names.
absl::StatusOr<std::string> ResolveModelPath(std::string_view name_or_path);

}  // namespace tandem::runtime
