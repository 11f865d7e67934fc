// `tandem up CONFIG` / `tandem down [CONFIG]`: a local deployment on
// loopback, one detached child process (`tandem serve --role R --service N`)
// per service of the config.
//
// Run folder: the config's log_dir, else /tmp/tandem-<name>. It holds
// <service>.log (stdout+stderr) and <service>.pid per service. `up` waits
// until every service reports SERVING through grpc.health.v1 and prints each
// one's gRPC address, metrics URL and log file; if any fails to start, the
// others are stopped again and the failing log's tail is printed. `down`
// sends SIGTERM to every pid of the run folder, SIGKILL after a grace
// period, and removes the pid files. `up` records its run folder in
// $TANDEM_STATE_DIR (default ~/.cache/tandem)/last-deployment so that `down`
// works without arguments.
#pragma once

#include <string>

#include "CLI/CLI.hpp"

namespace tandem::cli {

struct UpOptions {
  std::string config;
  double timeout_s = 300;  // until all SERVING (model loads included)
  // Also start `tandem supervise CONFIG` detached (cli/supervisor.h), which
  // restarts crashed services with backoff; `down` stops it first.
  bool supervise = false;
};

struct DownOptions {
  std::string config;  // empty = the last `tandem up`
  double grace_s = 30;  // above the services' default drain_grace_s (20)
};

CLI::App* AddUpCommand(CLI::App& app, UpOptions& options);
CLI::App* AddDownCommand(CLI::App& app, DownOptions& options);
int RunUp(const UpOptions& options);
int RunDown(const DownOptions& options);

}  // namespace tandem::cli
