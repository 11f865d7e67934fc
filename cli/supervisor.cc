#include "cli/supervisor.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include "absl/strings/str_cat.h"
#include "cli/deploy_processes.h"
#include "cli/run_context.h"
#include "services/common/deploy_config.h"
#include "services/common/shutdown_signal.h"

namespace tandem::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// One service's restart state.
struct Watched {
  const services::ServiceConfig* service = nullptr;
  pid_t pid = -1;
  Clock::time_point started;
  int crashes = 0;              // consecutive crashes (reset once healthy)
  Clock::time_point restart_at;  // when dead: the backoff's end
  bool dead = false;
};

void Log(const std::string& line) {
  std::printf("tandem-supervise: %s\n", line.c_str());
  std::fflush(stdout);
}

}  // namespace

CLI::App* AddSuperviseCommand(CLI::App& app, SuperviseOptions& o) {
  CLI::App* cmd = app.add_subcommand(
      "supervise", "Restart crashed services of a running local deployment with backoff (tandem up --supervise)");
  cmd->add_option("config", o.config, "Deployment config (YAML) of the running deployment")->required();
  cmd->add_option("--restart-delay", o.restart_delay_s, "Seconds before the first restart of a crashed service")
      ->check(CLI::Range(0.0, 3600.0))->capture_default_str();
  cmd->add_option("--max-delay", o.max_delay_s, "Most seconds between restarts (the delay doubles per crash)")
      ->check(CLI::Range(0.0, 86400.0))->capture_default_str();
  return cmd;
}

int RunSupervise(const SuperviseOptions& o) {
  auto config = services::LoadDeploymentConfig(o.config);
  if (!config.ok()) return ReportError(config.status());
  const std::string config_path = fs::absolute(o.config).string();
  const fs::path run_dir = RunDir(*config);
  const fs::path own_pid_file = run_dir / "supervisor.pid";
  if (const pid_t other = ReadPid(own_pid_file); other != getpid() && IsOurProcess(other)) {
    return ReportError(absl::AlreadyExistsError(
        absl::StrCat("a supervisor already runs for ", run_dir.string(), " (pid ", other, ")")));
  }
  auto signal = services::ShutdownSignal::Install();
  if (!signal.ok()) return ReportError(signal.status());
  std::ofstream(own_pid_file) << getpid() << "\n";

  std::map<std::string, Watched> watched;
  for (const services::ServiceConfig& s : config->services) {
    Watched w;
    w.service = &s;
    w.pid = ReadPid(run_dir / (s.name + ".pid"));
    w.started = Clock::now();
    watched[s.name] = w;
  }
  Log(absl::StrCat("watching ", watched.size(), " services of ", config->name, " in ", run_dir.string()));
  const std::string exe = SelfExe();
  const auto delay = [&o](int crashes) {
    return std::min(o.max_delay_s, o.restart_delay_s * static_cast<double>(1 << std::min(crashes - 1, 20)));
  };
  while ((*signal)->WaitFor(absl::Seconds(o.poll_s)) < 0) {
    const auto now = Clock::now();
    for (auto& [name, w] : watched) {
      const fs::path pid_file = run_dir / (name + ".pid");
      if (!fs::exists(pid_file)) continue;  // stopped on purpose (tandem down)
      if (!w.dead) {
        w.pid = ReadPid(pid_file);
        waitpid(w.pid, nullptr, WNOHANG);  // reap a child we restarted (no-op otherwise)
        if (IsOurProcess(w.pid)) {
          if (now - w.started > std::chrono::duration<double>(o.healthy_after_s)) w.crashes = 0;
          continue;
        }
        w.dead = true;
        ++w.crashes;
        const double wait_s = delay(w.crashes);
        w.restart_at = now + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(wait_s));
        Log(absl::StrCat(name, " (pid ", w.pid, ") is gone; restart #", w.crashes, " in ", wait_s, " s"));
      }
      if (now < w.restart_at) continue;
      auto pid = SpawnDetached(exe, ServeArgs(*w.service, config_path), run_dir / (name + ".log"), /*append=*/true);
      if (!pid.ok()) {
        ++w.crashes;
        w.restart_at = now + std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>(delay(w.crashes)));
        Log(absl::StrCat(name, ": ", pid.status().message()));
        continue;
      }
      std::ofstream(pid_file) << *pid << "\n";
      w.pid = *pid;
      w.dead = false;
      w.started = now;
      Log(absl::StrCat("restarted ", name, " (pid ", *pid, ")"));
    }
  }
  Log("stopping");
  std::error_code ec;
  if (ReadPid(own_pid_file) == getpid()) fs::remove(own_pid_file, ec);
  return kExitOk;
}

}  // namespace tandem::cli
