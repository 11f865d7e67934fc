// How a model-backed reward backend (judge, gguf) loads its model.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "runtime/model/model.h"

namespace tandem::reward {

struct ModelBackendOptions {
  std::string model;                     // bundled name or GGUF path (runtime::ResolveModelPath)
  int threads = 0;                       // compute threads, 0 = all cores
  size_t kv_budget_bytes = 256u << 20;   // KV of live and cached sequences
  int64_t max_context = 0;               // 0 = the model's trained length
  size_t prefix_cache_entries = 64;      // cached KV sequences (LRU), 0 = no prefix reuse
};

// Resolves options.model and loads it with the thread, KV and context limits
// above; a load error keeps its code and names the backend ("judge: loading
// <path>: ...").
absl::StatusOr<std::unique_ptr<runtime::Model>> LoadBackendModel(const ModelBackendOptions& options,
                                                                 std::string_view backend);

}  // namespace tandem::reward
