// Graceful shutdown on SIGTERM/SIGINT through a self-pipe.
//
// A POSIX signal handler may only touch async-signal-safe state, and it has
// no way to reach an object: this is the one place where tandem keeps global
// mutable state. It is a single std::atomic<int> holding the write end of the
// pipe, set while a ShutdownSignal exists; the handler writes the signal
// number into the pipe and a normal thread blocked in Wait() wakes up and
// runs the (non signal-safe) shutdown. Only one ShutdownSignal may be alive
// at a time.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tandem::services {

class ShutdownSignal {
 public:
  // Creates the pipe and installs SIGTERM and SIGINT handlers.
  // FAILED_PRECONDITION if another ShutdownSignal is alive.
  static absl::StatusOr<std::unique_ptr<ShutdownSignal>> Install();
  // Restores the previous handlers and closes the pipe.
  ~ShutdownSignal();
  ShutdownSignal(const ShutdownSignal&) = delete;
  ShutdownSignal& operator=(const ShutdownSignal&) = delete;

  // Blocks until a signal arrives or Trigger() is called. Returns the signal
  // number, or 0 for Trigger(). Later calls return at once.
  int Wait();
  // As Wait(), but gives up after `timeout` and returns -1.
  int WaitFor(absl::Duration timeout);
  // Programmatic shutdown (tests, an admin RPC): wakes Wait() like a signal.
  void Trigger();

 private:
  ShutdownSignal(int read_fd, int write_fd);
  int read_fd_;
  int write_fd_;
  int received_ = -1;  // cached result once something arrived
};

}  // namespace tandem::services
