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
//
// That threshold mapped every buffer of 128 KiB and more afresh: at
// temperature > 0 a speculative round moves 4 dense q rows (600 KB each for
// Qwen's vocabulary) from the draft service through the orchestrator to the
// target, in protobuf messages and gRPC buffers allocated per call, and the
// three processes page-faulted ~4 000 times per round (80 000 in a 96-token
// request; 23 with a 4 MiB threshold), ~4 % of the deployment's time. The
// threshold is 4 MiB, with a 32 MiB trim threshold so that the arenas keep
// what the next round reuses; the soak's memory criterion was re-run with
// them (docs/benchmarks.md, "Soak").
#pragma once

namespace tandem::services {

// Applies max 2 arenas, a fixed 4 MiB mmap threshold and a 32 MiB trim
// threshold, unless the user set any through glibc's own environment
// variables (MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_),
// which then win. Call once, first thing in a
// service process, before other threads start. No-op on other C libraries.
void ApplyServiceAllocatorPolicy();

}  // namespace tandem::services
