// Low-latency fork/join pool. One Run() is: publish (fn, ctx), bump a
// generation counter, do share 0 on the caller, wait for the workers. Workers
// spin on the generation for a while (a decode step issues the next Run within
// microseconds) and only then sleep on a futex, so the common case costs a few
// cache-line transfers and no system call. Sleepers are counted so that the
// wake-up syscall is made only when someone sleeps.
//
// Job fields are published seqlock-style: the caller writes them (relaxed
// atomics) and then bumps the generation; a worker reads the generation, the
// fields, and the generation again, retrying if it moved. That lets a worker
// that lagged behind a RunDynamic job (which does not wait for it) pick up
// whatever job is current when it finally runs, and never a torn one.
//
// The fields live in two slots indexed by generation parity, so publishing
// job g+1 never writes the slot a worker may still be reading for job g. With
// a single slot, a worker lagging behind a finished RunDynamic job g could
// read job g+1's fields while the caller was still writing them (before the
// generation bump), pass the generation re-check, and run a torn job: e.g.
// g's fn and dead ctx as a static job, or g+1's static job twice (releasing
// the caller while another worker was still inside it). Job g+2 may write g's
// slot, but only after the generation has moved to g+1, and the release/acquire
// fences below make a worker that saw any of those writes also see the moved
// generation, so it retries.
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

  // The job of generation g is in jobs[g & 1] (see the seqlock note above).
  struct Job {
    std::atomic<Fn> fn{nullptr};
    std::atomic<void*> ctx{nullptr};
    std::atomic<bool> dynamic{false};
  };
  Job jobs[2];
  std::atomic<bool> stop{false};

  alignas(64) std::atomic<uint32_t> generation{0};
  alignas(64) std::atomic<uint32_t> pending{0};      // static jobs: workers still to finish
  alignas(64) std::atomic<uint32_t> active{0};       // dynamic jobs: workers inside fn
  std::atomic<uint32_t> closed_generation{0};        // dynamic job no longer open to join
  alignas(64) std::atomic<uint32_t> sleeping_workers{0};
  std::atomic<uint32_t> caller_sleeping{0};

  // Waits until the generation differs from `seen`; returns it.
  uint32_t AwaitGeneration(uint32_t seen) {
    uint32_t g = generation.load(std::memory_order_acquire);
    for (int i = 0; g == seen && i < kSpinIterations; ++i) {
      CpuRelax();
      g = generation.load(std::memory_order_acquire);
    }
    while (g == seen) {
      sleeping_workers.fetch_add(1, std::memory_order_seq_cst);
      // Re-check after announcing: a caller that bumped the generation before
      // seeing our announcement will not wake us.
      if (generation.load(std::memory_order_seq_cst) == seen) FutexWait(&generation, seen);
      sleeping_workers.fetch_sub(1, std::memory_order_seq_cst);
      g = generation.load(std::memory_order_acquire);
    }
    return g;
  }

  void WakeCaller(std::atomic<uint32_t>* counter) {
    if (caller_sleeping.load(std::memory_order_seq_cst) != 0) FutexWakeAll(counter);
  }

  void WorkerLoop(int index) {
    uint32_t seen = 0;
    for (;;) {
      uint32_t g = AwaitGeneration(seen);
      Fn f;
      void* c;
      bool dyn, quit;
      for (;;) {  // consistent snapshot of the job of generation g
        const Job& job = jobs[g & 1];
        f = job.fn.load(std::memory_order_relaxed);
        c = job.ctx.load(std::memory_order_relaxed);
        dyn = job.dynamic.load(std::memory_order_relaxed);
        quit = stop.load(std::memory_order_relaxed);
        // Pairs with Publish's release fence: if any load above saw a later
        // job's write to this slot, the re-check below sees the moved generation.
        std::atomic_thread_fence(std::memory_order_acquire);
        const uint32_t again = generation.load(std::memory_order_seq_cst);
        if (again == g) break;
        g = again;
      }
      seen = g;
      if (quit) return;
      if (!dyn) {
        // Static jobs wait for every worker, so the job cannot change under us.
        f(c, index, n_threads);
        if (pending.fetch_sub(1, std::memory_order_seq_cst) == 1) WakeCaller(&pending);
        continue;
      }
      // Dynamic: join only while the job is still open. Announce first, then
      // check, so the caller either sees us (and waits) or we see it closed.
      active.fetch_add(1, std::memory_order_seq_cst);
      if (closed_generation.load(std::memory_order_seq_cst) != g &&
          generation.load(std::memory_order_seq_cst) == g) {
        f(c, index, n_threads);
      }
      if (active.fetch_sub(1, std::memory_order_seq_cst) == 1) WakeCaller(&active);
    }
  }

  void Publish(Fn f, void* c, bool dyn) {
    // Only the caller writes the generation, so this is the job's number.
    Job& job = jobs[(generation.load(std::memory_order_relaxed) + 1) & 1];
    // Orders the previous generation bump before the slot writes (see WorkerLoop).
    std::atomic_thread_fence(std::memory_order_release);
    job.fn.store(f, std::memory_order_relaxed);
    job.ctx.store(c, std::memory_order_relaxed);
    job.dynamic.store(dyn, std::memory_order_relaxed);
    if (!dyn) pending.store(static_cast<uint32_t>(n_threads - 1), std::memory_order_relaxed);
    generation.fetch_add(1, std::memory_order_seq_cst);
    if (sleeping_workers.load(std::memory_order_seq_cst) != 0) FutexWakeAll(&generation);
  }

  void WaitZero(std::atomic<uint32_t>* counter) {
    // seq_cst: for a dynamic job this load must not pass the caller's
    // closed_generation store (a worker announces in `active`, then reads it).
    uint32_t p = counter->load(std::memory_order_seq_cst);
    for (int i = 0; p != 0 && i < kSpinIterations; ++i) {
      CpuRelax();
      p = counter->load(std::memory_order_seq_cst);
    }
    while (p != 0) {
      caller_sleeping.store(1, std::memory_order_seq_cst);
      p = counter->load(std::memory_order_seq_cst);
      if (p != 0) FutexWait(counter, p);
      caller_sleeping.store(0, std::memory_order_seq_cst);
      p = counter->load(std::memory_order_acquire);
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
    impl_->stop.store(true, std::memory_order_relaxed);
    impl_->Publish(nullptr, nullptr, true);
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
  impl_->Publish(fn, ctx, false);
  fn(ctx, 0, impl_->n_threads);
  impl_->WaitZero(&impl_->pending);
}

void ThreadPool::RunDynamic(Fn fn, void* ctx) {
  if (impl_->n_threads == 1) {
    fn(ctx, 0, 1);
    return;
  }
  impl_->Publish(fn, ctx, true);
  fn(ctx, 0, impl_->n_threads);
  impl_->closed_generation.store(impl_->generation.load(std::memory_order_relaxed),
                                 std::memory_order_seq_cst);
  impl_->WaitZero(&impl_->active);
}

}  // namespace tandem::kernels
