// Software prefetch of weight bytes a kernel is about to read.
#pragma once

#include <cstddef>

namespace tandem::kernels {

inline constexpr size_t kCacheLine = 64;

// Requests every cache line of [p, p + bytes) (bytes >= 1) into all cache
// levels. A prefetch never faults, so p may run past the end of a matrix.
inline void PrefetchLines(const void* p, size_t bytes) {
  const char* c = static_cast<const char*>(p);
  for (size_t o = 0; o < bytes; o += kCacheLine) __builtin_prefetch(c + o, 0, 3);
  __builtin_prefetch(c + bytes - 1, 0, 3);  // the last line when p is not line-aligned
}

}  // namespace tandem::kernels
