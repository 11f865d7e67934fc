// `tandem up` / `tandem generate --server` / `tandem down` end to end, as a
// user runs them: a generated config with free loopback ports (target, draft
// and orchestrator processes over the real SmolLM2-135M), health-checked
// start-up, a speculative generation with statistics, the /metrics counters,
// and a clean stop that leaves no process and no pid file behind.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/common/loopback.h"
#include "tests/common/shell.h"
#include "tests/common/test_paths.h"

namespace {

namespace fs = std::filesystem;
using tandem::test_loopback::FreePort;
using tandem::test_loopback::HttpGetMetrics;

using tandem::test_shell::ShellRun;
// Runs a shell command, stdout captured (stderr passes through to the log).
ShellRun Sh(const std::string& cmd) { return tandem::test_shell::RunShell(cmd); }

double Sample(const std::string& text, const std::string& family, const std::string& label) {
  std::istringstream in(text);
  std::string line;
  double sum = 0;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, family + "{") && absl::StrContains(line, label)) {
      sum += std::stod(line.substr(line.rfind(' ') + 1));
    }
  }
  return sum;
}

pid_t ReadPid(const fs::path& p) {
  std::ifstream in(p);
  long pid = -1;
  in >> pid;
  return static_cast<pid_t>(pid);
}

TEST(TandemUpDown, StartsServesAndStopsALocalDeployment) {
  const fs::path model = fs::path(tandem::test_paths::ModelDir()) / "smollm2-135m.gguf";
  ASSERT_TRUE(fs::exists(model)) << "missing " << model << ": run scripts/setup.sh (or set TANDEM_MODEL_DIR)";

  const fs::path dir = fs::temp_directory_path() / absl::StrCat("tandem-updown-", getpid());
  fs::remove_all(dir);
  fs::create_directories(dir / "state");
  const int t_port = FreePort(), d_port = FreePort(), o_port = FreePort(), o_metrics = FreePort();
  const fs::path config = dir / "deploy.yaml";
  std::ofstream(config) << "name: updown-test\n"
                        << "log_dir: " << (dir / "run").string() << "\n"
                        << "services:\n"
                        << "  - {name: target, role: target, model_path: " << model.string()
                        << ", grpc_port: " << t_port << ", threads: 1, kv_budget_mb: 64}\n"
                        << "  - {name: draft, role: draft, model_path: " << model.string()
                        << ", grpc_port: " << d_port << ", threads: 1, kv_budget_mb: 64}\n"
                        << "  - {name: orchestrator, role: orchestrator, model_path: " << model.string()
                        << ", grpc_port: " << o_port << ", metrics_port: " << o_metrics
                        << ", drafter: model, draft: draft, target: target}\n";
  const std::string env = absl::StrCat("TANDEM_STATE_DIR=", (dir / "state").string(), " ");
  const std::string tandem = TANDEM_CLI_BINARY;

  ShellRun up = Sh(absl::StrCat(env, tandem, " up ", config.string(), " --timeout 240"));
  ASSERT_EQ(up.code, 0) << up.out;
  for (int port : {t_port, d_port, o_port}) EXPECT_TRUE(absl::StrContains(up.out, absl::StrCat("127.0.0.1:", port))) << up.out;
  EXPECT_TRUE(absl::StrContains(up.out, absl::StrCat("http://127.0.0.1:", o_metrics, "/metrics"))) << up.out;
  EXPECT_TRUE(absl::StrContains(up.out, (dir / "run" / "orchestrator.log").string())) << up.out;
  std::vector<pid_t> pids;
  for (const char* name : {"target", "draft", "orchestrator"}) {
    const fs::path pid_file = dir / "run" / absl::StrCat(name, ".pid");
    ASSERT_TRUE(fs::exists(pid_file)) << pid_file;
    pids.push_back(ReadPid(pid_file));
    EXPECT_EQ(kill(pids.back(), 0), 0) << name << " is not running";
  }

  // A second `up` of a running deployment is refused.
  ShellRun again = Sh(absl::StrCat(env, tandem, " up ", config.string(), " 2>&1"));
  EXPECT_NE(again.code, 0);
  EXPECT_TRUE(absl::StrContains(again.out, "already running")) << again.out;

  // `tandem health` (the container HEALTHCHECK) sees every role SERVING.
  for (int port : {t_port, d_port, o_port}) {
    ShellRun health = Sh(absl::StrCat(tandem, " health 127.0.0.1:", port));
    EXPECT_EQ(health.code, 0) << health.out;
    EXPECT_TRUE(absl::StrContains(health.out, "SERVING")) << health.out;
  }

  ShellRun gen = Sh(absl::StrCat(tandem, " generate --server 127.0.0.1:", o_port,
                            " --strategy speculative --param gamma=3 --temperature 0 --max-tokens 12 --json",
                            " 'The capital of France is'"));
  ASSERT_EQ(gen.code, 0) << gen.out;
  nlohmann::json j = nlohmann::json::parse(gen.out);
  EXPECT_GT(j["completion_tokens"].get<int>(), 0);
  EXPECT_EQ(j["stats"]["strategy"], "speculative");
  EXPECT_EQ(j["stats"]["drafter"], "model");
  EXPECT_GT(j["stats"]["speculation"]["drafted_tokens"].get<int>(), 0);
  EXPECT_GT(j["stats"]["target_calls"].get<int>(), 0);
  EXPECT_EQ(j["stats"]["speculation"]["accepted_per_position"].size(),
            j["stats"]["speculation"]["drafted_per_position"].size());

  const std::string metrics = HttpGetMetrics(o_metrics);
  EXPECT_EQ(Sample(metrics, "tandem:spec_decode_num_draft_tokens_total", "drafter=\"model\""),
            j["stats"]["speculation"]["drafted_tokens"].get<double>())
      << metrics;
  EXPECT_EQ(Sample(metrics, "tandem:spec_decode_num_accepted_tokens_total", "drafter=\"model\""),
            j["stats"]["speculation"]["accepted_tokens"].get<double>());

  // The same command without --server runs the strategy in process and
  // prints the same JSON shape.
  ShellRun local = Sh(absl::StrCat(tandem, " generate --model ", model.string(), " --threads 1",
                                   " --strategy speculative --param drafter=ngram --gamma 3 --temperature 0",
                                   " --max-tokens 12 --json '1, 2, 3, 4, 5, 6,'"));
  ASSERT_EQ(local.code, 0) << local.out;
  nlohmann::json lj = nlohmann::json::parse(local.out);
  EXPECT_EQ(lj["stats"]["strategy"], "speculative");
  EXPECT_EQ(lj["stats"]["drafter"], "ngram");
  EXPECT_EQ(lj["stats"]["generated_tokens"], lj["completion_tokens"]);
  for (const auto& [key, value] : j.items()) EXPECT_TRUE(lj.contains(key)) << key;
  for (const auto& [key, value] : j["stats"].items()) EXPECT_TRUE(lj["stats"].contains(key)) << key;

  // `down` without a config stops the last deployment `up` recorded.
  ShellRun down = Sh(absl::StrCat(env, tandem, " down"));
  ASSERT_EQ(down.code, 0) << down.out;
  EXPECT_TRUE(absl::StrContains(down.out, "stopped")) << down.out;
  for (pid_t pid : pids) EXPECT_NE(kill(pid, 0), 0) << "pid " << pid << " still running";
  // A stopped service fails the health check (exit 1) and says why.
  ShellRun gone = Sh(absl::StrCat(tandem, " health --timeout 1 127.0.0.1:", o_port, " 2>&1"));
  EXPECT_EQ(gone.code, 1) << gone.out;
  EXPECT_TRUE(absl::StrContains(gone.out, absl::StrCat("127.0.0.1:", o_port))) << gone.out;
  for (const char* name : {"target", "draft", "orchestrator"}) {
    EXPECT_FALSE(fs::exists(dir / "run" / absl::StrCat(name, ".pid")));
    EXPECT_TRUE(fs::exists(dir / "run" / absl::StrCat(name, ".log")));
  }
  fs::remove_all(dir);
}

TEST(TandemUpDown, AFailingServiceStopsTheOthersAndReportsItsLog) {
  const fs::path dir = fs::temp_directory_path() / absl::StrCat("tandem-upfail-", getpid());
  fs::remove_all(dir);
  fs::create_directories(dir / "state");
  const fs::path config = dir / "deploy.yaml";
  std::ofstream(config) << "name: upfail-test\n"
                        << "log_dir: " << (dir / "run").string() << "\n"
                        << "services:\n"
                        << "  - {name: target, role: target, model_path: " << (dir / "missing.gguf").string()
                        << ", grpc_port: " << FreePort() << "}\n"
                        << "  - {name: orchestrator, role: orchestrator, grpc_port: " << FreePort()
                        << ", drafter: ngram, target: target}\n";
  const std::string env = absl::StrCat("TANDEM_STATE_DIR=", (dir / "state").string(), " ");
  ShellRun up = Sh(absl::StrCat(env, TANDEM_CLI_BINARY, " up ", config.string(), " --timeout 60 2>&1"));
  EXPECT_NE(up.code, 0);
  EXPECT_TRUE(absl::StrContains(up.out, "target exited during start-up")) << up.out;
  EXPECT_TRUE(absl::StrContains(up.out, "missing.gguf")) << up.out;  // the log's tail names the problem
  EXPECT_FALSE(fs::exists(dir / "run" / "target.pid"));
  EXPECT_FALSE(fs::exists(dir / "run" / "orchestrator.pid"));
  EXPECT_FALSE(fs::exists(dir / "state" / "last-deployment"));
  fs::remove_all(dir);
}

}  // namespace
