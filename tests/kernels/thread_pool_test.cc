#include "kernels/cpu/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace tandem::kernels {
namespace {

TEST(ThreadPool, EveryThreadIndexRunsOncePerRun) {
  for (int n : {1, 2, 3, 5}) {
    ThreadPool pool(n);
    ASSERT_EQ(pool.size(), n);
    struct Ctx {
      std::vector<std::atomic<int>> hits;
      std::atomic<int> bad_nt{0};
      int n;
    } ctx{std::vector<std::atomic<int>>(n), {}, n};
    const int runs = 2000;
    for (int r = 0; r < runs; ++r) {
      pool.Run([](void* p, int t, int nt) {
                 auto* c = static_cast<Ctx*>(p);
                 if (nt != c->n) c->bad_nt++;
                 c->hits[t]++;
               }, &ctx);
    }
    EXPECT_EQ(ctx.bad_nt.load(), 0);
    for (int t = 0; t < n; ++t) EXPECT_EQ(ctx.hits[t].load(), runs) << "n=" << n << " t=" << t;
  }
}

TEST(ThreadPool, ParallelForCoversEveryIndexOnce) {
  ThreadPool pool(2);
  for (int64_t len : {0, 1, 2, 3, 17, 1000}) {
    std::vector<int> seen(len, 0);
    for (int rep = 0; rep < 200; ++rep) {
      pool.ParallelFor(len, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) seen[i]++;  // disjoint ranges: no race
      });
    }
    for (int64_t i = 0; i < len; ++i) ASSERT_EQ(seen[i], 200) << "len=" << len << " i=" << i;
  }
}

TEST(ThreadPool, WorksAfterWorkersFallAsleep) {
  ThreadPool pool(3);
  std::atomic<int> count{0};
  for (int r = 0; r < 5; ++r) {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));  // past the spin phase
    pool.Run([](void* p, int, int) { static_cast<std::atomic<int>*>(p)->fetch_add(1); }, &count);
    EXPECT_EQ(count.load(), 3 * (r + 1));
  }
}

TEST(ThreadPool, ResultsVisibleToCallerAfterRun) {
  ThreadPool pool(2);
  std::vector<int64_t> data(1 << 16);
  for (int rep = 0; rep < 50; ++rep) {
    pool.ParallelFor(static_cast<int64_t>(data.size()), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) data[i] = i * rep;
    });
    int64_t bad = 0;
    for (size_t i = 0; i < data.size(); ++i) bad += data[i] != static_cast<int64_t>(i) * rep;
    ASSERT_EQ(bad, 0);
  }
}

TEST(ThreadPool, RunDynamicClaimsEveryItemOnceAndCallerAlwaysRuns) {
  for (int n : {1, 2, 3}) {
    ThreadPool pool(n);
    struct Ctx {
      std::atomic<int64_t> next{0};
      int64_t total = 0;
      std::vector<std::atomic<int>> hits;
      std::atomic<int> caller_runs{0};
      std::atomic<int> bad_index{0};
      int n;
    };
    Ctx ctx;
    ctx.total = 97;
    ctx.hits = std::vector<std::atomic<int>>(ctx.total);
    ctx.n = n;
    const int runs = 3000;
    for (int r = 0; r < runs; ++r) {
      ctx.next = 0;
      pool.RunDynamic([](void* p, int t, int nt) {
                        auto* c = static_cast<Ctx*>(p);
                        if (t < 0 || t >= c->n || nt != c->n) c->bad_index++;
                        if (t == 0) c->caller_runs++;
                        for (int64_t i; (i = c->next.fetch_add(1)) < c->total;) c->hits[i]++;
                      }, &ctx);
      // Everything claimed has finished when RunDynamic returns.
      for (int64_t i = 0; i < ctx.total; ++i) ASSERT_EQ(ctx.hits[i].load(), r + 1) << "n=" << n << " i=" << i;
    }
    EXPECT_EQ(ctx.caller_runs.load(), runs);
    EXPECT_EQ(ctx.bad_index.load(), 0);
  }
}

TEST(ThreadPool, StaticAndDynamicRunsInterleave) {
  // A worker that missed a dynamic job must join the next static one exactly once.
  ThreadPool pool(3);
  std::atomic<int> static_hits{0}, dynamic_calls{0};
  for (int r = 0; r < 3000; ++r) {
    pool.RunDynamic([](void* p, int, int) { static_cast<std::atomic<int>*>(p)->fetch_add(1); }, &dynamic_calls);
    pool.Run([](void* p, int, int) { static_cast<std::atomic<int>*>(p)->fetch_add(1); }, &static_hits);
    ASSERT_EQ(static_hits.load(), 3 * (r + 1));
  }
  EXPECT_GE(dynamic_calls.load(), 3000);
  EXPECT_LE(dynamic_calls.load(), 3 * 3000);
}

}  // namespace
}  // namespace tandem::kernels
