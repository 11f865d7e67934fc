#include "cli/deploy_command.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/deploy_processes.h"
#include "cli/run_context.h"
#include "services/common/credentials.h"
#include "services/common/deploy_config.h"
#include "services/common/health_client.h"
#include "services/gateway/gateway_probe.h"

namespace tandem::cli {
namespace {

namespace fs = std::filesystem;
using services::ServiceRole;

fs::path StateFile() {
  const char* dir = std::getenv("TANDEM_STATE_DIR");
  if (dir != nullptr && *dir != '\0') return fs::path(dir) / "last-deployment";
  const char* home = std::getenv("HOME");
  return fs::path(home != nullptr ? home : "/tmp") / ".cache" / "tandem" / "last-deployment";
}

// The last `lines` lines of a log, for failure reports.
std::string Tail(const fs::path& p, int lines) {
  std::string text = ReadFile(p);
  size_t pos = text.size();
  for (int i = 0; i <= lines && pos != std::string::npos && pos > 0; ++i) pos = text.rfind('\n', pos - 1);
  return pos == std::string::npos ? text : text.substr(pos + 1);
}

// SIGTERM to every pid, SIGKILL to those still alive after `grace`.
void Stop(const std::vector<pid_t>& pids, double grace_s) {
  for (pid_t pid : pids) kill(pid, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(grace_s);
  for (;;) {
    bool any = false;
    for (pid_t pid : pids) {
      waitpid(pid, nullptr, WNOHANG);  // reap our own children (no-op for others)
      any = any || kill(pid, 0) == 0;
    }
    if (!any) return;
    if (std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (pid_t pid : pids) {
    if (kill(pid, 0) == 0) {
      Progress(absl::StrCat("pid ", pid, " ignored SIGTERM for ", grace_s, " s: SIGKILL"));
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
}

}  // namespace

CLI::App* AddUpCommand(CLI::App& app, UpOptions& o) {
  CLI::App* cmd = app.add_subcommand(
      "up", "Start every service of a deployment config as local background processes and wait until all are SERVING");
  cmd->add_option("config", o.config, "Deployment config (YAML), e.g. deploy/local.yaml")->required();
  cmd->add_option("--timeout", o.timeout_s, "Seconds to wait for all services to report SERVING")
      ->check(CLI::Range(1.0, 86400.0))->capture_default_str();
  cmd->add_flag("--supervise", o.supervise,
                "Keep a supervisor running that restarts crashed services with backoff (tandem supervise)");
  return cmd;
}

CLI::App* AddDownCommand(CLI::App& app, DownOptions& o) {
  CLI::App* cmd = app.add_subcommand("down", "Stop the services started by `tandem up` and remove their pid files");
  cmd->add_option("config", o.config, "Deployment config (default: the one of the last `tandem up`)");
  cmd->add_option("--grace", o.grace_s, "Seconds between SIGTERM and SIGKILL")
      ->check(CLI::Range(0.0, 3600.0))->capture_default_str();
  return cmd;
}

int RunUp(const UpOptions& o) {
  auto config = services::LoadDeploymentConfig(o.config);
  if (!config.ok()) return ReportError(config.status());
  const std::string config_path = fs::absolute(o.config).string();
  const fs::path run_dir = RunDir(*config);
  std::error_code ec;
  fs::create_directories(run_dir, ec);
  if (ec) return ReportError(absl::PermissionDeniedError(absl::StrCat("cannot create ", run_dir.string(), ": ", ec.message())));

  for (const services::ServiceConfig& s : config->services) {
    const fs::path pid_file = run_dir / (s.name + ".pid");
    if (fs::exists(pid_file)) {
      const pid_t pid = ReadPid(pid_file);
      if (IsOurProcess(pid)) {
        return ReportError(absl::AlreadyExistsError(absl::StrCat(
            s.name, " is already running (pid ", pid, ", ", pid_file.string(), "); run `tandem down ", o.config, "` first")));
      }
      fs::remove(pid_file, ec);  // stale
    }
  }

  const std::string exe = SelfExe();
  struct Started {
    const services::ServiceConfig* service;
    pid_t pid;
    fs::path log, pid_file;
  };
  std::vector<Started> started;
  auto abort_all = [&](const absl::Status& why) {
    std::vector<pid_t> pids;
    for (const Started& s : started) pids.push_back(s.pid);
    Stop(pids, 5);
    for (const Started& s : started) fs::remove(s.pid_file, ec);
    return ReportError(why);
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(o.timeout_s);
  auto wait_serving = [&](const Started& st) -> absl::Status {
    const std::string address = st.service->grpc_address();
    // Under TLS the check speaks TLS, with the service's own certificate as
    // the client certificate that mutual TLS asks for.
    auto credentials = services::ChannelCredentialsFor(*config, *st.service);
    if (!credentials.ok()) return credentials.status();
    for (;;) {
      int wstatus = 0;
      if (waitpid(st.pid, &wstatus, WNOHANG) == st.pid) {
        return absl::UnavailableError(absl::StrCat(
            st.service->name, " exited during start-up (",
            WIFEXITED(wstatus) ? absl::StrCat("exit code ", WEXITSTATUS(wstatus)) : std::string("killed by a signal"),
            "); last lines of ", st.log.string(), ":\n", Tail(st.log, 15)));
      }
      // An orchestrator's HTTP gateway starts listening just after its gRPC
      // health turns SERVING; the URL printed below must already answer.
      if (services::CheckServing(address, "", absl::Seconds(1), *credentials).ok() &&
          (st.service->http_port == 0 ||
           gateway::CheckGatewayHealth(st.service->host, st.service->http_port, absl::Seconds(1),
                                       config->TlsFor(*st.service))
               .ok())) {
        return absl::OkStatus();
      }
      if (std::chrono::steady_clock::now() > deadline) {
        return absl::DeadlineExceededError(absl::StrCat(st.service->name, " at ", address, " not SERVING after ",
                                                        o.timeout_s, " s; last lines of ", st.log.string(), ":\n",
                                                        Tail(st.log, 15)));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  };
  // Two phases: model services first, then the orchestrators that connect
  // to them (an orchestrator fails fast if its target does not answer).
  for (bool orchestrators : {false, true}) {
    const size_t first = started.size();
    for (const services::ServiceConfig& s : config->services) {
      if ((s.role == ServiceRole::kOrchestrator) != orchestrators) continue;
      Started st{&s, -1, run_dir / (s.name + ".log"), run_dir / (s.name + ".pid")};
      auto pid = SpawnDetached(exe, ServeArgs(s, config_path), st.log, /*append=*/false);
      if (!pid.ok()) return abort_all(pid.status());
      st.pid = *pid;
      std::ofstream(st.pid_file) << st.pid << "\n";
      started.push_back(st);
      Progress(absl::StrCat("started ", s.name, " (", std::string(services::ServiceRoleName(s.role)), ", pid ", st.pid, "), log ", st.log.string()));
    }
    for (size_t i = first; i < started.size(); ++i) {
      if (absl::Status s = wait_serving(started[i]); !s.ok()) return abort_all(s);
    }
  }

  if (o.supervise) {
    const fs::path log = run_dir / "supervisor.log";
    auto pid = SpawnDetached(exe, {"supervise", config_path}, log, /*append=*/false);
    if (!pid.ok()) return abort_all(pid.status());
    std::ofstream(run_dir / "supervisor.pid") << *pid << "\n";
    Progress(absl::StrCat("started the supervisor (pid ", *pid, "), log ", log.string()));
  }
  fs::create_directories(StateFile().parent_path(), ec);
  std::ofstream(StateFile()) << run_dir.string() << "\n";
  std::printf("deployment %s is up (run folder %s)\n", config->name.c_str(), run_dir.c_str());
  std::printf("%-14s %-13s %-22s %-36s %s\n", "SERVICE", "ROLE", "GRPC", "METRICS", "LOG");
  for (const Started& st : started) {
    const std::string metrics = st.service->metrics_port > 0
                                    ? absl::StrCat("http://", st.service->metrics_address(), "/metrics")
                                    : std::string("-");
    std::printf("%-14s %-13s %-22s %-36s %s\n", st.service->name.c_str(), std::string(services::ServiceRoleName(st.service->role)).c_str(),
                st.service->grpc_address().c_str(), metrics.c_str(), st.log.c_str());
  }
  for (const Started& st : started) {
    if (st.service->http_port == 0) continue;
    const std::string url = absl::StrCat(config->TlsFor(*st.service) == nullptr ? "http://" : "https://",
                                         st.service->http_address(), "/v1");
    std::printf("OpenAI-compatible API of %s: %s (e.g. OpenAI(base_url=\"%s\", api_key=...))\n",
                st.service->name.c_str(), url.c_str(), url.c_str());
  }
  std::fflush(stdout);
  return kExitOk;
}

int RunDown(const DownOptions& o) {
  fs::path run_dir;
  if (!o.config.empty()) {
    auto config = services::LoadDeploymentConfig(o.config);
    if (!config.ok()) return ReportError(config.status());
    run_dir = RunDir(*config);
  } else {
    std::string recorded = ReadFile(StateFile());
    while (!recorded.empty() && (recorded.back() == '\n' || recorded.back() == ' ')) recorded.pop_back();
    if (recorded.empty()) {
      return ReportError(absl::NotFoundError(absl::StrCat(
          "no CONFIG given and no deployment recorded in ", StateFile().string(), " (see tandem down --help)")));
    }
    run_dir = recorded;
  }
  std::error_code ec;
  // The supervisor first, or it would restart what is being stopped.
  if (const pid_t supervisor = ReadPid(run_dir / "supervisor.pid"); IsOurProcess(supervisor)) {
    Stop({supervisor}, o.grace_s);
  }
  std::vector<pid_t> pids;
  std::vector<std::string> names;
  std::vector<fs::path> pid_files;
  for (const auto& entry : fs::directory_iterator(run_dir, ec)) {
    if (entry.path().extension() != ".pid") continue;
    pid_files.push_back(entry.path());
    const pid_t pid = ReadPid(entry.path());
    if (IsOurProcess(pid)) {
      pids.push_back(pid);
      names.push_back(absl::StrCat(entry.path().stem().string(), " (pid ", pid, ")"));
    }
  }
  Stop(pids, o.grace_s);
  for (const fs::path& p : pid_files) fs::remove(p, ec);
  if (names.empty()) {
    std::printf("nothing running in %s\n", run_dir.c_str());
  } else {
    std::printf("stopped %s\n", absl::StrJoin(names, ", ").c_str());
  }
  if (StateFile().has_filename() && ReadFile(StateFile()).find(run_dir.string()) == 0) fs::remove(StateFile(), ec);
  return kExitOk;
}

}  // namespace tandem::cli
