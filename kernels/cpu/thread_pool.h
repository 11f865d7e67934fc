// A fixed pool of worker threads for data-parallel loops. A decode step of a
// small model issues hundreds of tiny parallel loops, so dispatch must cost
// microseconds: workers spin briefly on an atomic generation counter before
// sleeping, and the calling thread takes part in the work.
#pragma once

#include <cstdint>

namespace tandem::kernels {

class ThreadPool {
 public:
  // n_threads counts the calling thread; 1 means "run inline, no workers".
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const;

  // Runs fn(ctx, thread_index, n_threads) once on every thread (thread_index in
  // [0, n_threads)) and returns when all have finished. Not reentrant: one
  // Run at a time per pool (callers serialize; the model holds one pool).
  using Fn = void (*)(void* ctx, int thread_index, int n_threads);
  void Run(Fn fn, void* ctx);

  // Like Run, but fn is only guaranteed to run on the calling thread: a
  // worker that has not started by the time the caller's own fn(...) returns
  // is skipped instead of waited for. For loops that claim work from a shared
  // atomic counter (MatMul does): on a loaded machine a descheduled worker then
  // costs nothing instead of a scheduler time slice. Returns when every call
  // of fn that started has returned. thread_index values are distinct.
  void RunDynamic(Fn fn, void* ctx);

  // Convenience: splits [0, n) into contiguous chunks, one per thread.
  template <typename F>
  void ParallelFor(int64_t n, F&& f) {
    struct Ctx { F* f; int64_t n; } ctx{&f, n};
    Run([](void* c, int t, int nt) {
          auto* x = static_cast<Ctx*>(c);
          int64_t chunk = (x->n + nt - 1) / nt;
          int64_t begin = chunk * t;
          int64_t end = begin + chunk < x->n ? begin + chunk : x->n;
          if (begin < end) (*x->f)(begin, end);
        }, &ctx);
  }

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace tandem::kernels
