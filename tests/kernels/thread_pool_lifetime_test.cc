// Regression test for a lifetime race in ThreadPool: a worker that lagged
// behind a RunDynamic job could take a torn job snapshot while the caller was
// already publishing the next (static) job: the next job's `dynamic=false`
// with the finished job's fn/ctx. It then ran the old fn on the old ctx (a
// dead stack frame of the returned RunDynamic caller) as a static job, and
// ran the new job twice. In the model this was an intermittent segfault.
//
// The window is a few stores wide, so the test widens it by oversubscribing
// the machine (many more pool threads than cores: the caller is preempted
// mid-publish now and then) and by running many tiny alternating jobs. Every
// call checks that its ctx is the live job of its kind; after RunDynamic
// returns its ctx is poisoned, so a late call on it is seen. Each static job
// must run exactly once per thread index. (With a 20 us sleep put into the
// old Publish between the field stores and the generation bump, this test
// failed within milliseconds: a static job ran twice on one thread index.)
#include "kernels/cpu/thread_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

namespace tandem::kernels {
namespace {

constexpr uint32_t kDynamicLive = 0xD1A11FE0u;
constexpr uint32_t kStaticLive = 0x57A71C00u;
constexpr uint32_t kDead = 0xDEADDEADu;
constexpr int kMaxThreads = 16;

struct Errors {
  std::atomic<int> wrong_ctx{0};
};

struct DynamicJob {
  std::atomic<uint32_t> magic{kDynamicLive};
  Errors* errors;
};

struct StaticJob {
  std::atomic<uint32_t> magic{kStaticLive};
  Errors* errors;
  std::atomic<int> runs[kMaxThreads] = {};
};

void DynamicFn(void* c, int, int) {
  auto* job = static_cast<DynamicJob*>(c);
  if (job->magic.load(std::memory_order_relaxed) != kDynamicLive) {
    job->errors->wrong_ctx.fetch_add(1);
  }
}

void StaticFn(void* c, int t, int) {
  auto* job = static_cast<StaticJob*>(c);
  if (job->magic.load(std::memory_order_relaxed) != kStaticLive) {
    // Not a static job's ctx at all (e.g. a dead dynamic one): the errors
    // pointer sits at the same place in both, but don't trust it.
    return;
  }
  job->runs[t].fetch_add(1, std::memory_order_relaxed);
}

TEST(ThreadPoolLifetime, LateWorkerNeverRunsAFinishedDynamicJob) {
  const int n_threads =
      std::min(kMaxThreads, std::max(4, 2 * static_cast<int>(std::thread::hardware_concurrency())));
  ThreadPool pool(n_threads);
  Errors errors;
  // A few dynamic ctxs at distinct addresses, so a dead one is never the
  // static job's storage reused.
  std::vector<DynamicJob> dynamic_jobs(4);
  for (DynamicJob& d : dynamic_jobs) d.errors = &errors;
  int bad_static_rounds = 0;
  for (int r = 0; r < 3000 && bad_static_rounds == 0 && errors.wrong_ctx.load() == 0; ++r) {
    DynamicJob& dyn = dynamic_jobs[static_cast<size_t>(r) % dynamic_jobs.size()];
    dyn.magic.store(kDynamicLive, std::memory_order_relaxed);
    pool.RunDynamic(DynamicFn, &dyn);
    dyn.magic.store(kDead, std::memory_order_relaxed);  // as if its frame were gone
    StaticJob st;
    st.errors = &errors;
    pool.Run(StaticFn, &st);
    for (int t = 0; t < n_threads; ++t) {
      if (st.runs[t].load() != 1) ++bad_static_rounds;
    }
    st.magic.store(kDead, std::memory_order_relaxed);
  }
  EXPECT_EQ(errors.wrong_ctx.load(), 0) << "a dynamic job's fn ran after RunDynamic returned";
  EXPECT_EQ(bad_static_rounds, 0) << "a static job did not run exactly once per thread index";
}

}  // namespace
}  // namespace tandem::kernels
