// Admission control of the Generation service: at most `max_running`
// requests run strategies at once; up to `max_waiting` more wait in a FIFO
// queue for a slot (at most `max_wait`); beyond that a request is refused
// at once with RESOURCE_EXHAUSTED and a retry hint, instead of piling up
// threads and KV sessions on the draft/target services until everything is
// slow. KV memory itself is admitted where it lives: the target's OpenSession
// answers RESOURCE_EXHAUSTED when its KV budget cannot hold a prompt, and the
// Generation service adds the same retry hint to that answer.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tandem::orchestrator::server {

struct AdmissionOptions {
  int max_running = 0;  // 0 = no limit (and no queue)
  int max_waiting = 0;  // requests that may wait for a slot; 0 = refuse when full
  absl::Duration max_wait = absl::Seconds(30);  // a queued request gives up after this
};

class AdmissionControl {
 public:
  explicit AdmissionControl(AdmissionOptions options) : options_(options) {}

  // A running slot; releases it (and wakes the next waiter) when destroyed.
  class Slot {
   public:
    Slot() = default;
    explicit Slot(AdmissionControl* owner) : owner_(owner) {}
    Slot(Slot&& other) noexcept : owner_(other.owner_) { other.owner_ = nullptr; }
    Slot& operator=(Slot&& other) noexcept;
    ~Slot();

   private:
    AdmissionControl* owner_ = nullptr;
  };

  // A slot now, or after waiting in the queue. RESOURCE_EXHAUSTED when the
  // queue is full or the wait exceeded max_wait; DEADLINE_EXCEEDED when
  // `deadline` passed first; CANCELLED when `cancelled()` became true (polled
  // while waiting). With RESOURCE_EXHAUSTED, `*rejection` (optional) names
  // why for metrics: "queue_full" or "queue_timeout".
  absl::StatusOr<Slot> Admit(std::chrono::system_clock::time_point deadline,
                             const std::function<bool()>& cancelled, std::string* rejection = nullptr);

  int running() const;
  int waiting() const;
  const AdmissionOptions& options() const { return options_; }
  // Called with (running, waiting) whenever either changes (metrics); set
  // before the first Admit.
  std::function<void(int running, int waiting)> on_change;

 private:
  void Release();
  void Notify();  // mu_ held

  const AdmissionOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int running_ = 0;            // guarded by mu_
  int waiting_ = 0;            // guarded by mu_
  uint64_t next_ticket_ = 0;   // guarded by mu_: FIFO order of waiters
  uint64_t serving_ = 0;       // guarded by mu_: the ticket allowed to take the next slot
  std::set<uint64_t> abandoned_;  // guarded by mu_: tickets that left the queue out of turn
};

}  // namespace tandem::orchestrator::server
