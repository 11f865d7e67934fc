#include "services/orchestrator/server/admission.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tandem::orchestrator::server {

AdmissionControl::Slot& AdmissionControl::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    if (owner_ != nullptr) owner_->Release();
    owner_ = other.owner_;
    other.owner_ = nullptr;
  }
  return *this;
}

AdmissionControl::Slot::~Slot() {
  if (owner_ != nullptr) owner_->Release();
}

void AdmissionControl::Notify() {
  if (on_change) on_change(running_, waiting_);
}

absl::StatusOr<AdmissionControl::Slot> AdmissionControl::Admit(std::chrono::system_clock::time_point deadline,
                                                               const std::function<bool()>& cancelled,
                                                               std::string* rejection) {
  std::unique_lock<std::mutex> lock(mu_);
  if (options_.max_running <= 0) {
    ++running_;
    Notify();
    return Slot(this);
  }
  // Fast path only when nobody queues ahead (FIFO).
  if (running_ < options_.max_running && waiting_ == 0) {
    ++running_;
    Notify();
    return Slot(this);
  }
  if (waiting_ >= options_.max_waiting) {
    if (rejection != nullptr) *rejection = "queue_full";
    return absl::ResourceExhaustedError(absl::StrCat("orchestrator overloaded: ", running_, " requests running, ",
                                                     waiting_, " waiting (limits ", options_.max_running, " and ",
                                                     options_.max_waiting, "); retry later"));
  }
  const uint64_t ticket = next_ticket_++;
  ++waiting_;
  Notify();
  const auto give_up = std::min(deadline, std::chrono::system_clock::now() +
                                              std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                                  absl::ToChronoNanoseconds(options_.max_wait)));
  absl::Status failed;
  while (!(ticket == serving_ && running_ < options_.max_running)) {
    const auto now = std::chrono::system_clock::now();
    if (cancelled && cancelled()) {
      failed = absl::CancelledError("request cancelled while queued");
    } else if (now >= deadline) {
      failed = absl::DeadlineExceededError("request deadline passed while queued for a slot");
    } else if (now >= give_up) {
      if (rejection != nullptr) *rejection = "queue_timeout";
      failed = absl::ResourceExhaustedError(absl::StrCat("orchestrator overloaded: no slot within ",
                                                         absl::FormatDuration(options_.max_wait), "; retry later"));
    }
    if (!failed.ok()) break;
    // Cancellation is polled: a waiter has no other wake-up for it.
    cv_.wait_until(lock, std::min(give_up, now + std::chrono::milliseconds(50)));
  }
  --waiting_;
  // Leaving the line (admitted or not) lets the next ticket move up; tickets
  // that gave up are skipped by advancing past every ticket no longer waiting.
  if (failed.ok()) {
    ++running_;
    ++serving_;
  } else if (ticket == serving_) {
    ++serving_;
  } else {
    abandoned_.insert(ticket);
  }
  while (abandoned_.erase(serving_) > 0) ++serving_;
  Notify();
  cv_.notify_all();
  if (!failed.ok()) return failed;
  return Slot(this);
}

void AdmissionControl::Release() {
  std::lock_guard<std::mutex> lock(mu_);
  --running_;
  Notify();
  cv_.notify_all();
}

int AdmissionControl::running() const {
  std::lock_guard<std::mutex> lock(mu_);
  return running_;
}

int AdmissionControl::waiting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return waiting_;
}

}  // namespace tandem::orchestrator::server
