// Low-latency fork/join pool. One Run() is: publish (fn, ctx), bump a
// generation counter, do share 0 on the caller, wait for a pending counter to
// reach zero. Workers spin on the generation for a while (a decode step issues
// the next Run within microseconds) and only then sleep on a futex, so the
// common case costs two cache-line transfers and no system call. Sleepers are
// counted so that the wake-up syscall is made only when someone sleeps.
#include "kernels/cpu/thread_pool.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace tandem::kernels {
namespace {

// A few hundred microseconds of spinning (pause is ~10-140 cycles depending on
// the core) before a thread goes to sleep: long enough to bridge the gaps
// between the parallel loops of one decode step, short enough not to burn a
// shared core for long when the model is idle.
constexpr int kSpinIterations = 1 << 14;

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

void FutexWait(std::atomic<uint32_t>* addr, uint32_t expected) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(addr), FUTEX_WAIT_PRIVATE, expected, nullptr,
          nullptr, 0);
}

void FutexWakeAll(std::atomic<uint32_t>* addr) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(addr), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr,
          nullptr, 0);
}

static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t) &&
                  std::atomic<uint32_t>::is_always_lock_free,
              "futex needs a plain 32-bit atomic");

}  // namespace

struct ThreadPool::Impl {
  int n_threads = 1;
  std::vector<std::thread> workers;

  // Written by the caller before the generation bump (release), read by
  // workers after observing it (acquire).
  Fn fn = nullptr;
  void* ctx = nullptr;
  bool stop = false;

  alignas(64) std::atomic<uint32_t> generation{0};
  alignas(64) std::atomic<uint32_t> pending{0};
  alignas(64) std::atomic<uint32_t> sleeping_workers{0};
  std::atomic<uint32_t> caller_sleeping{0};

  void WorkerLoop(int index) {
    uint32_t seen = 0;
    for (;;) {
      uint32_t g = generation.load(std::memory_order_acquire);
      for (int i = 0; g == seen && i < kSpinIterations; ++i) {
        CpuRelax();
        g = generation.load(std::memory_order_acquire);
      }
      while (g == seen) {
        sleeping_workers.fetch_add(1, std::memory_order_seq_cst);
        // Re-check after announcing: a caller that bumped the generation
        // before seeing our announcement will not wake us.
        if (generation.load(std::memory_order_seq_cst) == seen) FutexWait(&generation, seen);
        sleeping_workers.fetch_sub(1, std::memory_order_seq_cst);
        g = generation.load(std::memory_order_acquire);
      }
      seen = g;
      if (stop) return;
      fn(ctx, index, n_threads);
      if (pending.fetch_sub(1, std::memory_order_seq_cst) == 1 &&
          caller_sleeping.load(std::memory_order_seq_cst) != 0) {
        FutexWakeAll(&pending);
      }
    }
  }

  void Publish() {
    pending.store(static_cast<uint32_t>(n_threads - 1), std::memory_order_relaxed);
    generation.fetch_add(1, std::memory_order_seq_cst);
    if (sleeping_workers.load(std::memory_order_seq_cst) != 0) FutexWakeAll(&generation);
  }

  void WaitWorkers() {
    uint32_t p = pending.load(std::memory_order_acquire);
    for (int i = 0; p != 0 && i < kSpinIterations; ++i) {
      CpuRelax();
      p = pending.load(std::memory_order_acquire);
    }
    while (p != 0) {
      caller_sleeping.store(1, std::memory_order_seq_cst);
      p = pending.load(std::memory_order_seq_cst);
      if (p != 0) FutexWait(&pending, p);
      caller_sleeping.store(0, std::memory_order_seq_cst);
      p = pending.load(std::memory_order_acquire);
    }
  }
};

ThreadPool::ThreadPool(int n_threads) : impl_(new Impl) {
  impl_->n_threads = n_threads < 1 ? 1 : n_threads;
  impl_->workers.reserve(static_cast<size_t>(impl_->n_threads - 1));
  for (int i = 1; i < impl_->n_threads; ++i) {
    impl_->workers.emplace_back([this, i] { impl_->WorkerLoop(i); });
  }
}

ThreadPool::~ThreadPool() {
  if (impl_->n_threads > 1) {
    impl_->stop = true;
    impl_->Publish();
    for (std::thread& t : impl_->workers) t.join();
  }
  delete impl_;
}

int ThreadPool::size() const { return impl_->n_threads; }

void ThreadPool::Run(Fn fn, void* ctx) {
  if (impl_->n_threads == 1) {
    fn(ctx, 0, 1);
    return;
  }
  impl_->fn = fn;
  impl_->ctx = ctx;
  impl_->Publish();
  fn(ctx, 0, impl_->n_threads);
  impl_->WaitWorkers();
}

}  // namespace tandem::kernels
