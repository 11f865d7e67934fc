// `tandem supervise CONFIG`: restarts the crashed services of a local
// deployment, so that it heals like a Kubernetes one (off by default;
// `tandem up --supervise` starts it detached, `tandem down` stops it first).
//
// Every `poll` it reads the run folder's <service>.pid files; a service whose
// pid no longer runs is started again (`tandem serve`, its log appended) after
// a backoff: restart_delay, doubled after every crash up to max_delay, back to
// restart_delay once a service has run for `healthy_after`. A missing pid
// file means the service was stopped on purpose and is left alone. It does not
// wait for SERVING: the orchestrator's channels reconnect by themselves.
// Writes supervisor.pid, logs each restart to stdout, exits on SIGTERM/SIGINT.
#pragma once

#include <string>

#include "CLI/CLI.hpp"

namespace tandem::cli {

struct SuperviseOptions {
  std::string config;
  double restart_delay_s = 0.5;
  double max_delay_s = 30;
  double healthy_after_s = 60;
  double poll_s = 0.2;
};

CLI::App* AddSuperviseCommand(CLI::App& app, SuperviseOptions& options);
int RunSupervise(const SuperviseOptions& options);

}  // namespace tandem::cli
