#include "services/common/allocator_policy.h"

#include <cstdlib>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace tandem::services {
namespace {

// Above one speculative round's messages (4 dense q rows of Qwen's 151 936
// tokens: 2.4 MB) so that they are reused, not mapped and faulted in anew.
constexpr int kMmapThreshold = 4 << 20;
constexpr int kTrimThreshold = 32 << 20;

}  // namespace

void ApplyServiceAllocatorPolicy() {
#if defined(__GLIBC__)
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, 2);
  // Setting the thresholds also turns off their dynamic growth (up to
  // 32 MiB): buffers of kMmapThreshold and more are mapped and returned to
  // the system on free; smaller ones are reused from the 2 arenas, which
  // hand free memory at their top back beyond kTrimThreshold.
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") == nullptr) mallopt(M_MMAP_THRESHOLD, kMmapThreshold);
  if (std::getenv("MALLOC_TRIM_THRESHOLD_") == nullptr) mallopt(M_TRIM_THRESHOLD, kTrimThreshold);
#endif
}

}  // namespace tandem::services
