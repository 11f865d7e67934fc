// How a model-backed reward backend (judge, gguf) loads its model.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace tandem::reward {

struct ModelBackendOptions {
  std::string model;                     // bundled name or GGUF path (runtime::ResolveModelPath)
  int threads = 0;                       // compute threads, 0 = all cores
  size_t kv_budget_bytes = 256u << 20;   // KV of live and cached sequences
  int64_t max_context = 0;               // 0 = the model's trained length
  size_t prefix_cache_entries = 64;      // cached KV sequences (LRU), 0 = no prefix reuse
};

}  // namespace tandem::reward
