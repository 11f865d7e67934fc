// CUDA graphs of forward passes (CudaBackend::RunPass): the ops of a pass
// are recorded by stream capture, and the recording is launched as one
// graph, so a decode step's few hundred small kernels run without the launch
// gap between them.
//
// Each pass is captured again (the kernel arguments change every step:
// context lengths, KV slots, page tables), and the executable graph kept
// per row count is updated in place with cudaGraphExecUpdate, which is cheap
// when the topology is unchanged (the same model, the same row count);
// only a changed topology re-instantiates. The host data a pass uploads is
// staged in pinned memory (StagingArena) that stays untouched until the
// graph has run, because a recorded copy reads its source when the graph
// executes, not when it was recorded.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tandem::runtime::cuda {

// Pinned host memory handed out front to back during one pass; Reset() only
// once the previous pass' graph finished reading it (WaitIdle).
class StagingArena {
 public:
  StagingArena() = default;
  ~StagingArena();
  StagingArena(const StagingArena&) = delete;
  StagingArena& operator=(const StagingArena&) = delete;

  // Makes room for `bytes` in total (outside a capture: it allocates).
  absl::Status Reserve(size_t bytes);
  // The event recorded after the graph that reads the arena was launched.
  absl::Status MarkInUse(cudaStream_t stream);
  // Blocks until the last graph that read the arena finished, then rewinds.
  absl::Status WaitIdleAndReset();
  // `bytes` of pinned memory, 16-byte aligned; ResourceExhausted when the
  // reservation is used up (the capture then fails and the pass runs eagerly).
  absl::StatusOr<void*> Take(size_t bytes);

 private:
  void* data_ = nullptr;
  size_t capacity_ = 0, used_ = 0;
  cudaEvent_t done_ = nullptr;
};

class PassGraphs {
 public:
  PassGraphs() = default;
  ~PassGraphs();
  PassGraphs(const PassGraphs&) = delete;
  PassGraphs& operator=(const PassGraphs&) = delete;

  // False once a capture of this row count failed: its passes run eagerly.
  bool Enabled(int64_t rows) const { return disabled_.count(rows) == 0; }
  void Disable(int64_t rows) { disabled_.insert(rows); }

  // Starts recording `stream`. Thread-local capture mode: an unsafe call
  // (an allocation, a synchronization) on this thread fails the capture
  // instead of silently running outside the graph.
  absl::Status Begin(cudaStream_t stream);
  // Ends the recording, updates or instantiates the executable graph of
  // `rows` and launches it on `stream`.
  absl::Status EndAndLaunch(cudaStream_t stream, int64_t rows);
  // Ends a recording whose ops failed; the graph is discarded.
  void Abandon(cudaStream_t stream);

  int64_t instantiations() const { return instantiations_; }
  int64_t updates() const { return updates_; }

 private:
  std::map<int64_t, cudaGraphExec_t> execs_;
  std::set<int64_t> disabled_;
  int64_t instantiations_ = 0, updates_ = 0;
};

}  // namespace tandem::runtime::cuda
