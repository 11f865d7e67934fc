#include "services/common/allocator_policy.h"

#include <cstdlib>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace tandem::services {

void ApplyServiceAllocatorPolicy() {
#if defined(__GLIBC__)
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, 2);
  // Setting the threshold also turns off its dynamic growth: buffers of
  // 128 KiB and more (activations, prompts, logits rows) are mapped and
  // returned to the system on free.
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") == nullptr) mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#endif
}

}  // namespace tandem::services
