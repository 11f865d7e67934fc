// The process side of a local deployment, shared by `tandem up`, `down` and
// `supervise`: the run folder, pid files, and starting one detached
// `tandem serve` child per service.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "services/common/deploy_config.h"

namespace tandem::cli {

// The config's log_dir, else /tmp/tandem-<name>.
std::string RunDir(const services::DeploymentConfig& d);
std::string ReadFile(const std::filesystem::path& p);
// -1 when missing or unreadable.
pid_t ReadPid(const std::filesystem::path& p);
// A pid that still runs `tandem serve` or `tandem supervise` (guards against
// pid reuse after a crash).
bool IsOurProcess(pid_t pid);
// This binary (/proc/self/exe), so children run the same build.
std::string SelfExe();
// Starts `exe args...` detached (own session, stdin /dev/null), stdout and
// stderr to `log` (truncated, or appended with `append`: a restarted
// service keeps the log of its crash). Returns the child's pid.
absl::StatusOr<pid_t> SpawnDetached(const std::string& exe, const std::vector<std::string>& args,
                                    const std::filesystem::path& log, bool append);
// The arguments of `tandem serve` for one service of `config_path`.
std::vector<std::string> ServeArgs(const services::ServiceConfig& s, const std::string& config_path);

}  // namespace tandem::cli
