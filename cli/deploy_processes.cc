#include "cli/deploy_processes.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace tandem::cli {

namespace fs = std::filesystem;

std::string RunDir(const services::DeploymentConfig& d) {
  return d.log_dir.empty() ? absl::StrCat("/tmp/tandem-", d.name) : d.log_dir;
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

pid_t ReadPid(const fs::path& p) {
  try {
    return static_cast<pid_t>(std::stol(ReadFile(p)));
  } catch (...) {
    return -1;
  }
}

bool IsOurProcess(pid_t pid) {
  if (pid <= 0 || kill(pid, 0) != 0) return false;
  // A zombie has an empty cmdline: dead for our purposes.
  const std::string cmdline = ReadFile(fs::path("/proc") / std::to_string(pid) / "cmdline");
  return cmdline.find("serve") != std::string::npos || cmdline.find("supervise") != std::string::npos;
}

std::string SelfExe() {
  std::error_code ec;
  fs::path p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("tandem") : p.string();
}

absl::StatusOr<pid_t> SpawnDetached(const std::string& exe, const std::vector<std::string>& args,
                                    const fs::path& log, bool append) {
  const int log_fd = open(log.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0644);
  if (log_fd < 0) return absl::PermissionDeniedError(absl::StrCat("cannot write ", log.string()));
  const int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  std::vector<std::string> all = {exe};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) {
    close(log_fd);
    if (null_fd >= 0) close(null_fd);
    return absl::InternalError("fork failed");
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    setsid();
    if (null_fd >= 0) dup2(null_fd, 0);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(log_fd);
  if (null_fd >= 0) close(null_fd);
  return pid;
}

std::vector<std::string> ServeArgs(const services::ServiceConfig& s, const std::string& config_path) {
  return {"serve", "--role", std::string(services::ServiceRoleName(s.role)), "--config", config_path, "--service",
          s.name};
}

}  // namespace tandem::cli
