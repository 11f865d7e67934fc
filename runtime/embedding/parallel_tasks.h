// Runs fn(task) for task in [0, n) on a thread pool's threads, each thread
// claiming the next task from a shared counter, so that tasks of uneven cost
// (attention over sequences of different lengths, edge tiles) balance
// themselves and a descheduled worker on a loaded machine costs nothing
// (RunDynamic skips workers that have not started).
#pragma once

#include <atomic>
#include <cstdint>

#include "kernels/cpu/thread_pool.h"

namespace tandem::embedding {

template <typename Fn>
void ParallelTasks(kernels::ThreadPool& pool, int64_t n, Fn&& fn) {
  if (n <= 0) return;
  if (n == 1 || pool.size() == 1) {
    for (int64_t t = 0; t < n; ++t) fn(t);
    return;
  }
  struct Ctx {
    Fn* fn;
    int64_t n;
    std::atomic<int64_t> next{0};
  } ctx{&fn, n};
  pool.RunDynamic(
      [](void* p, int, int) {
        auto* c = static_cast<Ctx*>(p);
        for (int64_t t; (t = c->next.fetch_add(1, std::memory_order_relaxed)) < c->n;) (*c->fn)(t);
      },
      &ctx);
}

}  // namespace tandem::embedding
