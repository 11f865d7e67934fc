// The Generation service's admission control: a bounded number of running
// requests, a bounded FIFO queue, RESOURCE_EXHAUSTED beyond it, and the
// queue depth reported to metrics.
#include "services/orchestrator/server/admission.h"

#include <atomic>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace tandem::orchestrator::server {
namespace {

using std::chrono::system_clock;
const auto kNever = system_clock::time_point::max();
const std::function<bool()> kNotCancelled = [] { return false; };

TEST(Admission, UnlimitedAdmitsEveryone) {
  AdmissionControl admission(AdmissionOptions{});
  std::vector<AdmissionControl::Slot> slots;
  for (int i = 0; i < 100; ++i) {
    auto slot = admission.Admit(kNever, kNotCancelled);
    ASSERT_TRUE(slot.ok());
    slots.push_back(std::move(*slot));
  }
  EXPECT_EQ(admission.running(), 100);
  slots.clear();
  EXPECT_EQ(admission.running(), 0);
}

TEST(Admission, FullQueueIsRefusedWithResourceExhausted) {
  AdmissionControl admission(AdmissionOptions{.max_running = 1, .max_waiting = 0});
  auto first = admission.Admit(kNever, kNotCancelled);
  ASSERT_TRUE(first.ok());
  std::string why;
  auto second = admission.Admit(kNever, kNotCancelled, &why);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(why, "queue_full");
  EXPECT_NE(second.status().message().find("retry"), std::string::npos) << second.status();
  *first = AdmissionControl::Slot();  // released
  EXPECT_TRUE(admission.Admit(kNever, kNotCancelled).ok());
}

// Waiters get the slot in arrival order when it frees up; the queue depth is
// reported while they wait.
TEST(Admission, QueuedRequestsRunInOrderWhenSlotsFree) {
  AdmissionControl admission(AdmissionOptions{.max_running = 1, .max_waiting = 2});
  std::atomic<int> max_waiting{0};
  admission.on_change = [&](int, int waiting) {
    int seen = max_waiting.load();
    while (waiting > seen && !max_waiting.compare_exchange_weak(seen, waiting)) {
    }
  };
  auto running = admission.Admit(kNever, kNotCancelled);
  ASSERT_TRUE(running.ok());
  std::vector<int> order;
  std::mutex order_mu;
  auto waiter = [&](int id) {
    auto slot = admission.Admit(kNever, kNotCancelled);
    EXPECT_TRUE(slot.ok()) << id;
    std::lock_guard<std::mutex> lock(order_mu);
    order.push_back(id);
  };
  std::thread a(waiter, 1);
  while (admission.waiting() < 1) std::this_thread::yield();
  std::thread b(waiter, 2);
  while (admission.waiting() < 2) std::this_thread::yield();
  // The queue is full now: a third waiter is refused at once.
  EXPECT_EQ(admission.Admit(kNever, kNotCancelled).status().code(), absl::StatusCode::kResourceExhausted);
  *running = AdmissionControl::Slot();
  a.join();
  b.join();
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  EXPECT_EQ(max_waiting.load(), 2);
  EXPECT_EQ(admission.waiting(), 0);
  EXPECT_EQ(admission.running(), 0);
}

TEST(Admission, QueuedRequestsGiveUpOnCancelDeadlineOrMaxWait) {
  AdmissionControl admission(AdmissionOptions{.max_running = 1, .max_waiting = 4, .max_wait = absl::Milliseconds(50)});
  auto running = admission.Admit(kNever, kNotCancelled);
  ASSERT_TRUE(running.ok());
  EXPECT_EQ(admission.Admit(kNever, [] { return true; }).status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(admission.Admit(system_clock::now(), kNotCancelled).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  std::string why;
  EXPECT_EQ(admission.Admit(kNever, kNotCancelled, &why).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(why, "queue_timeout");
  EXPECT_EQ(admission.waiting(), 0);
  // Those that gave up do not block the line: the next waiter gets the slot.
  *running = AdmissionControl::Slot();
  EXPECT_TRUE(admission.Admit(kNever, kNotCancelled).ok());
}

// A waiter that leaves out of turn (cancelled behind another) does not stall
// the queue.
TEST(Admission, AWaiterLeavingOutOfTurnDoesNotStallTheQueue) {
  AdmissionControl admission(AdmissionOptions{.max_running = 1, .max_waiting = 4});
  auto running = admission.Admit(kNever, kNotCancelled);
  ASSERT_TRUE(running.ok());
  std::atomic<bool> cancel_second{false};
  auto first = std::async(std::launch::async, [&] { return admission.Admit(kNever, kNotCancelled).ok(); });
  while (admission.waiting() < 1) std::this_thread::yield();
  auto second = std::async(std::launch::async, [&] {
    return admission.Admit(kNever, [&] { return cancel_second.load(); }).status().code();
  });
  while (admission.waiting() < 2) std::this_thread::yield();
  auto third = std::async(std::launch::async, [&] { return admission.Admit(kNever, kNotCancelled).ok(); });
  while (admission.waiting() < 3) std::this_thread::yield();
  cancel_second = true;
  EXPECT_EQ(second.get(), absl::StatusCode::kCancelled);
  *running = AdmissionControl::Slot();
  EXPECT_TRUE(first.get());  // its slot is released at once (the Slot is a temporary)
  EXPECT_TRUE(third.get());
}

}  // namespace
}  // namespace tandem::orchestrator::server
