// glibc malloc settings for a long-running service process.
//
// With glibc's defaults a service's resident memory crept up for as long as
// it served: up to 8 malloc arenas per core (one per gRPC and compute thread
// that allocates), and a dynamic mmap threshold that, after the first large
// buffer is freed, serves every later one of that size from an arena, whose
// freed pages stay resident and fragment. The soak benchmark (64 streams,
// 15 minutes, bench/soak/soak.py) measured +10 % target RSS after warm-up
// with the defaults and a flat series with 2 arenas and a fixed 128 KiB mmap
// threshold (docs/benchmarks.md, "Soak").
#pragma once

namespace tandem::services {

// Applies max 2 arenas and a fixed 128 KiB mmap threshold, unless the user
// set either through glibc's own environment variables (MALLOC_ARENA_MAX,
// MALLOC_MMAP_THRESHOLD_), which then win. Call once, first thing in a
// service process, before other threads start. No-op on other C libraries.
void ApplyServiceAllocatorPolicy();

}  // namespace tandem::services
