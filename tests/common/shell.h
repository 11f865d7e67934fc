// Runs a shell command from a test and captures its stdout and exit code
// (for tests that drive the `tandem` CLI; add 2>&1 to the command to capture
// stderr too).
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace tandem::test_shell {

struct ShellRun {
  int code = -1;  // exit status; -1 when the command could not start or did not exit normally
  std::string out;
};

inline ShellRun RunShell(const std::string& cmd) {
  ShellRun r;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace tandem::test_shell
