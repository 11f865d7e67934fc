#include "services/common/shutdown_signal.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace tandem::services {
namespace {

// The only global mutable state: see the header. -1 = no ShutdownSignal.
std::atomic<int> g_signal_pipe_write_fd{-1};
// Previous dispositions, restored by the destructor; written only while
// g_signal_pipe_write_fd is being claimed, so no handler reads them.
struct sigaction g_old_term, g_old_int;

void OnSignal(int signo) {
  const int saved_errno = errno;
  const int fd = g_signal_pipe_write_fd.load(std::memory_order_relaxed);
  if (fd >= 0) {
    const unsigned char byte = static_cast<unsigned char>(signo);
    [[maybe_unused]] ssize_t n = write(fd, &byte, 1);  // non-blocking; a full pipe already wakes Wait()
  }
  errno = saved_errno;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ShutdownSignal>> ShutdownSignal::Install() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    return absl::InternalError(absl::StrCat("pipe2: ", std::strerror(errno)));
  }
  int expected = -1;
  if (!g_signal_pipe_write_fd.compare_exchange_strong(expected, fds[1])) {
    close(fds[0]);
    close(fds[1]);
    return absl::FailedPreconditionError("a ShutdownSignal is already installed in this process");
  }
  struct sigaction sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, &g_old_term);
  sigaction(SIGINT, &sa, &g_old_int);
  return std::unique_ptr<ShutdownSignal>(new ShutdownSignal(fds[0], fds[1]));
}

ShutdownSignal::ShutdownSignal(int read_fd, int write_fd) : read_fd_(read_fd), write_fd_(write_fd) {}

ShutdownSignal::~ShutdownSignal() {
  sigaction(SIGTERM, &g_old_term, nullptr);
  sigaction(SIGINT, &g_old_int, nullptr);
  g_signal_pipe_write_fd.store(-1);
  close(read_fd_);
  close(write_fd_);
}

int ShutdownSignal::WaitFor(absl::Duration timeout) {
  if (received_ >= 0) return received_;
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    const absl::Duration left = deadline - absl::Now();
    int ms = -1;
    if (timeout != absl::InfiniteDuration()) {
      if (left <= absl::ZeroDuration()) return -1;
      ms = static_cast<int>(absl::ToInt64Milliseconds(left)) + 1;
    }
    struct pollfd p{read_fd_, POLLIN, 0};
    const int r = poll(&p, 1, ms);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      if (r < 0) return -1;
      continue;  // timed out this slice; the loop re-checks the deadline
    }
    unsigned char byte = 0;
    if (read(read_fd_, &byte, 1) == 1) {
      received_ = byte;
      return received_;
    }
  }
}

int ShutdownSignal::Wait() { return WaitFor(absl::InfiniteDuration()); }

void ShutdownSignal::Trigger() {
  const unsigned char byte = 0;
  [[maybe_unused]] ssize_t n = write(write_fd_, &byte, 1);
}

}  // namespace tandem::services
