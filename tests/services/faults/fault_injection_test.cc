// Fault injection on real processes. One `tandem up --supervise` deployment
// on loopback (target, draft, retrieval, reward and orchestrator, SmolLM2-135M
// on one thread each); its services are killed with SIGKILL at random points
// of streaming requests (seeded), and the test checks what docs/resilience.md
// promises:
//   - draft lost mid-stream: the request completes, greedy tokens identical
//     to an undisturbed run, stats.fallback names the loss; the supervisor
//     restarts the draft and later requests draft again;
//   - retrieval lost: RAPID (eta = 0) completes as plain target decoding with
//     the undisturbed tokens;
//   - reward lost: best_of_n fails with UNAVAILABLE naming the reward service;
//   - target lost: the stream ends with UNAVAILABLE naming the target service
//     (not a hang), new requests are refused with UNAVAILABLE while it is
//     down, and succeed once `tandem supervise` has brought it back;
//   - no leaked sessions: every service's tandem:active_sessions returns to 0;
//   - SIGTERM drains: a stream in flight completes, then the orchestrator exits.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "services/common/health_client.h"
#include "tandem/v1/generation.grpc.pb.h"
#include "tests/common/loopback.h"
#include "tests/common/shell.h"
#include "tests/common/test_paths.h"

namespace {

namespace fs = std::filesystem;
using tandem::test_loopback::FreePort;
using tandem::test_loopback::HttpGetMetrics;
using Clock = std::chrono::steady_clock;

// The value of an unlabelled gauge; -1 when absent (service down).
double Gauge(int metrics_port, const std::string& name) {
  std::istringstream in(HttpGetMetrics(metrics_port));
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, name + " ") || absl::StartsWith(line, name + "{}")) {
      return std::stod(line.substr(line.rfind(' ') + 1));
    }
  }
  return -1;
}

// The sum of a counter family's samples whose labels contain `label`.
double Counter(int metrics_port, const std::string& family, const std::string& label) {
  std::istringstream in(HttpGetMetrics(metrics_port));
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

// Polls `done` every 100 ms for up to `limit` (a generous bound: waiting for
// a restart or a reconnect, not a timing assertion).
bool WaitFor(const std::function<bool()>& done, std::chrono::seconds limit) {
  const auto end = Clock::now() + limit;
  while (Clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return done();
}

struct Outcome {
  grpc::Status status;
  std::vector<int32_t> tokens;
  int chunks = 0;
  bool complete = false;
  tandem::v1::Stats stats;
};

class Deployment {
 public:
  struct Service {
    int grpc_port = 0;
    int metrics_port = 0;
  };

  void Start() {
    const fs::path model = fs::path(tandem::test_paths::ModelDir()) / "smollm2-135m.gguf";
    ASSERT_TRUE(fs::exists(model)) << "missing " << model << ": run scripts/setup.sh";
    dir_ = fs::temp_directory_path() / absl::StrCat("tandem-faults-", getpid());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "state");
    for (const char* name : {"target", "draft", "retrieval", "reward", "orchestrator"}) {
      services_[name] = Service{FreePort(), FreePort()};
    }
    auto entry = [&](const std::string& name, const std::string& role, const std::string& extra) {
      const Service& s = services_[name];
      return absl::StrCat("  - {name: ", name, ", role: ", role, ", model_path: ", model.string(),
                          ", grpc_port: ", s.grpc_port, ", metrics_port: ", s.metrics_port, ", threads: 1", extra,
                          "}\n");
    };
    config_ = dir_ / "deploy.yaml";
    std::ofstream(config_) << "name: faults-test\n"
                           << "log_dir: " << (dir_ / "run").string() << "\n"
                           << "services:\n"
                           << entry("target", "target", ", kv_budget_mb: 128")
                           << entry("draft", "draft", ", kv_budget_mb: 64")
                           << entry("retrieval", "retrieval", "")
                           << entry("reward", "reward", "")
                           << entry("orchestrator", "orchestrator",
                                    ", drafter: model, draft: draft, target: target, retrieval: retrieval, "
                                    "reward: reward");
    env_ = absl::StrCat("TANDEM_STATE_DIR=", (dir_ / "state").string(), " ");
    auto up = tandem::test_shell::RunShell(
        absl::StrCat(env_, TANDEM_CLI_BINARY, " up ", config_.string(), " --supervise --timeout 240 2>&1"));
    ASSERT_EQ(up.code, 0) << up.out;
    ASSERT_TRUE(fs::exists(run_dir() / "supervisor.pid")) << up.out;
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", services_["orchestrator"].grpc_port),
                                   grpc::InsecureChannelCredentials());
    stub_ = tandem::v1::Generation::NewStub(channel_);
  }

  void Stop() {
    if (env_.empty()) return;
    auto down = tandem::test_shell::RunShell(absl::StrCat(env_, TANDEM_CLI_BINARY, " down ", config_.string(), " 2>&1"));
    EXPECT_EQ(down.code, 0) << down.out;
    if (!HasFailure()) fs::remove_all(dir_);
  }
  static bool HasFailure() { return ::testing::Test::HasFailure(); }

  fs::path run_dir() const { return dir_ / "run"; }
  pid_t Pid(const std::string& name) const { return ReadPid(run_dir() / (name + ".pid")); }
  const Service& service(const std::string& name) { return services_[name]; }

  void Kill(const std::string& name) {
    const pid_t pid = Pid(name);
    ASSERT_GT(pid, 0) << name;
    ASSERT_EQ(kill(pid, SIGKILL), 0) << name << " pid " << pid;
  }
  // SIGTERM to the supervisor; the services keep running.
  void StopSupervisor() {
    const pid_t pid = ReadPid(run_dir() / "supervisor.pid");
    ASSERT_GT(pid, 0);
    kill(pid, SIGTERM);
    ASSERT_TRUE(WaitFor([&] { return kill(pid, 0) != 0; }, std::chrono::seconds(20)));
  }
  void StartSupervisor() {
    auto r = tandem::test_shell::RunShell(absl::StrCat("setsid ", TANDEM_CLI_BINARY, " supervise ", config_.string(),
                                                       " >> ", (run_dir() / "supervisor.log").string(),
                                                       " 2>&1 < /dev/null &"));
    ASSERT_EQ(r.code, 0);
  }
  bool Serving(const std::string& name) {
    return tandem::services::CheckServing(absl::StrCat("127.0.0.1:", services_[name].grpc_port), "",
                                          absl::Seconds(1))
        .ok();
  }
  // A restarted service: a new pid that answers SERVING.
  void WaitRestarted(const std::string& name, pid_t old_pid) {
    ASSERT_TRUE(WaitFor([&] { return Pid(name) != old_pid && Pid(name) > 0 && Serving(name); },
                        std::chrono::seconds(90)))
        << name << " was not restarted; supervisor log:\n"
        << tandem::test_shell::RunShell(absl::StrCat("cat ", (run_dir() / "supervisor.log").string())).out;
  }
  // Every session of `names` closed (the gauge of a running service at 0).
  void ExpectNoSessions(const std::vector<std::string>& names) {
    for (const std::string& name : names) {
      const int port = services_[name].metrics_port;
      EXPECT_TRUE(WaitFor([&] { return Gauge(port, "tandem:active_sessions") == 0; }, std::chrono::seconds(30)))
          << name << " still holds " << Gauge(port, "tandem:active_sessions") << " sessions";
    }
  }

  // Streams one request; `on_chunk(i)` runs after chunk i (0-based) arrived.
  Outcome Generate(const tandem::v1::GenerateRequest& request, const std::function<void(int)>& on_chunk = {},
                   std::chrono::seconds deadline = std::chrono::seconds(60)) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + deadline);
    auto reader = stub_->Generate(&ctx, request);
    Outcome o;
    tandem::v1::GenerateResponse resp;
    while (reader->Read(&resp)) {
      if (resp.has_chunk()) {
        o.tokens.insert(o.tokens.end(), resp.chunk().token_ids().begin(), resp.chunk().token_ids().end());
        if (on_chunk) on_chunk(o.chunks);
        ++o.chunks;
      } else if (resp.has_complete()) {
        o.complete = true;
        o.stats = resp.complete().stats();
      }
    }
    o.status = reader->Finish();
    return o;
  }

 private:
  fs::path dir_, config_;
  std::string env_;
  std::map<std::string, Service> services_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<tandem::v1::Generation::Stub> stub_;
};

tandem::v1::GenerateRequest Request(const std::string& strategy, int max_tokens) {
  tandem::v1::GenerateRequest r;
  r.set_prompt("Write a short story about a lighthouse keeper who finds a message in a bottle.");
  r.set_strategy(strategy);
  r.set_max_tokens(max_tokens);
  r.set_ignore_eos(true);  // every run streams the same number of rounds
  // Drafting every round: adaptive gamma may stop drafting (SmolLM2 drafting
  // for itself), and then a killed draft has no round to fall back from.
  if (strategy == "speculative") r.set_adaptive_gamma(false);
  return r;  // sampling unset: greedy
}

tandem::v1::GenerateRequest RapidRequest() {
  tandem::v1::GenerateRequest r;
  r.set_prompt("Which colour was the lighthouse door?");
  r.set_strategy("rapid");
  r.set_max_tokens(16);
  (*r.mutable_params())["eta"] = "0";  // lossless: greedy RAPID == target-only on the long context
  std::string context;
  for (int i = 0; i < 12; ++i) {
    context += absl::StrCat("Paragraph ", i, ". The keeper climbed the stairs and polished the lamp. ");
  }
  context += "The lighthouse door was painted bright green. ";
  r.set_context(context);
  return r;
}

TEST(FaultInjection, KillsServicesAtRandomPointsOfStreams) {
  Deployment d;
  d.Start();
  if (::testing::Test::HasFatalFailure()) return;

  // Undisturbed greedy references.
  const auto spec_request = Request("speculative", 40);
  Outcome base = d.Generate(spec_request);
  ASSERT_TRUE(base.status.ok()) << base.status.error_message();
  ASSERT_EQ(base.tokens.size(), 40u);
  EXPECT_EQ(base.stats.fallback(), "");
  Outcome target_only = d.Generate(Request("target_only", 40));
  ASSERT_TRUE(target_only.status.ok()) << target_only.status.error_message();
  EXPECT_EQ(target_only.tokens, base.tokens);
  ASSERT_GE(base.chunks, 6) << "too few rounds to kill the draft in the middle";

  // Draft killed after a random number of streamed chunks, three seeds.
  for (uint32_t seed : {1u, 2u, 3u}) {
    SCOPED_TRACE(absl::StrCat("draft kill, seed ", seed));
    std::mt19937 rng(seed);
    const int kill_after = std::uniform_int_distribution<int>(0, 3)(rng);
    const pid_t draft = d.Pid("draft");
    // Requests made while the orchestrator reconnects to a restarted draft
    // (the previous seed's wait below) fall back too: count from here.
    const double fallbacks_before =
        Counter(d.service("orchestrator").metrics_port, "tandem:request_fallbacks_total", "peer=\"draft\"");
    Outcome o = d.Generate(spec_request, [&](int chunk) {
      if (chunk == kill_after) d.Kill("draft");
    });
    ASSERT_TRUE(o.status.ok()) << o.status.error_code() << " " << o.status.error_message();
    ASSERT_TRUE(o.complete);
    EXPECT_EQ(o.tokens, base.tokens);
    EXPECT_TRUE(absl::StartsWith(o.stats.fallback(), "draft unavailable")) << o.stats.fallback();
    EXPECT_EQ(Counter(d.service("orchestrator").metrics_port, "tandem:request_fallbacks_total",
                      "peer=\"draft\""),
              fallbacks_before + 1);  // this request's fallback
    // The supervisor restarts it; the orchestrator reconnects and drafts again.
    d.WaitRestarted("draft", draft);
    EXPECT_TRUE(WaitFor(
        [&] {
          Outcome again = d.Generate(Request("speculative", 8));
          return again.status.ok() && again.stats.fallback().empty() && again.tokens.size() == 8u;
        },
        std::chrono::seconds(60)))
        << "requests did not draft again after the draft came back";
    d.ExpectNoSessions({"draft", "target", "orchestrator"});
  }

  // Retrieval lost: RAPID continues as target decoding, same greedy tokens.
  {
    SCOPED_TRACE("retrieval kill");
    Outcome rapid = d.Generate(RapidRequest());
    ASSERT_TRUE(rapid.status.ok()) << rapid.status.error_message();
    EXPECT_EQ(rapid.stats.fallback(), "");
    const pid_t retrieval = d.Pid("retrieval");
    d.Kill("retrieval");
    ASSERT_TRUE(WaitFor([&] { return !d.Serving("retrieval"); }, std::chrono::seconds(10)));
    Outcome o = d.Generate(RapidRequest());
    ASSERT_TRUE(o.status.ok()) << o.status.error_code() << " " << o.status.error_message();
    EXPECT_EQ(o.tokens, rapid.tokens);
    EXPECT_TRUE(absl::StartsWith(o.stats.fallback(), "retrieval unavailable")) << o.stats.fallback();
    d.WaitRestarted("retrieval", retrieval);
    d.ExpectNoSessions({"draft", "target", "orchestrator"});
  }

  // Reward lost during best_of_n: UNAVAILABLE naming the reward service.
  // The supervisor is stopped first: it would bring the reward service back
  // before best_of_n's one scoring call (the deployment healing itself).
  {
    SCOPED_TRACE("reward kill");
    d.StopSupervisor();
    std::mt19937 rng(4);
    auto request = Request("best_of_n", 64);
    (*request.mutable_params())["n"] = "4";
    (*request.mutable_params())["reward"] = "length";
    (*request.mutable_params())["reward_options"] = "max=100";
    const pid_t reward = d.Pid("reward");
    // best_of_n scores once, after sampling all 4 x 64 tokens (a second or
    // more on one thread): a kill within the first 100 ms lands before that
    // call. (Were the call first, the test would see its answer and fail.)
    const int delay_ms = std::uniform_int_distribution<int>(0, 100)(rng);
    auto killer = std::async(std::launch::async, [&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      d.Kill("reward");
    });
    Outcome o = d.Generate(request);
    killer.get();
    EXPECT_EQ(o.status.error_code(), grpc::StatusCode::UNAVAILABLE) << o.status.error_message();
    EXPECT_TRUE(absl::StrContains(o.status.error_message(), "reward service")) << o.status.error_message();
    // While it is down, every reward-guided request fails the same way.
    Outcome down = d.Generate(request);
    EXPECT_EQ(down.status.error_code(), grpc::StatusCode::UNAVAILABLE) << down.status.error_message();
    EXPECT_TRUE(absl::StrContains(down.status.error_message(), "reward service")) << down.status.error_message();
    d.StartSupervisor();
    d.WaitRestarted("reward", reward);
    EXPECT_TRUE(WaitFor([&] { return d.Generate(request).status.ok(); }, std::chrono::seconds(60)))
        << "best_of_n did not succeed after the reward service came back";
    d.ExpectNoSessions({"target", "orchestrator"});
  }

  // Target lost mid-stream: UNAVAILABLE naming it, not a hang (the client's
  // deadline would say DEADLINE_EXCEEDED). With the supervisor stopped the
  // target stays down: new requests are refused with UNAVAILABLE.
  {
    SCOPED_TRACE("target kill");
    d.StopSupervisor();
    std::mt19937 rng(6);
    const int kill_after = std::uniform_int_distribution<int>(1, 4)(rng);
    const pid_t target = d.Pid("target");
    Clock::time_point killed;
    Outcome o = d.Generate(
        spec_request,
        [&](int chunk) {
          if (chunk == kill_after) {
            killed = Clock::now();
            d.Kill("target");
          }
        },
        std::chrono::seconds(30));
    const double end_ms = std::chrono::duration<double, std::milli>(Clock::now() - killed).count();
    EXPECT_EQ(o.status.error_code(), grpc::StatusCode::UNAVAILABLE) << o.status.error_message();
    EXPECT_TRUE(absl::StrContains(o.status.error_message(), "target service")) << o.status.error_message();
    std::printf("[fault] in-flight request ended %.0f ms after the target was killed\n", end_ms);
    const Clock::time_point t0 = Clock::now();
    Outcome refused = d.Generate(Request("speculative", 8), {}, std::chrono::seconds(30));
    std::printf("[fault] a new request was refused after %.0f ms\n",
                std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::UNAVAILABLE) << refused.status.error_message();
    EXPECT_TRUE(absl::StrContains(refused.status.error_message(), "target service"))
        << refused.status.error_message();
    // Back: a standalone `tandem supervise` restarts the missing target.
    d.StartSupervisor();
    d.WaitRestarted("target", target);
    EXPECT_TRUE(WaitFor(
        [&] {
          Outcome again = d.Generate(Request("speculative", 40));
          return again.status.ok() && again.tokens == base.tokens;
        },
        std::chrono::seconds(60)))
        << "requests did not succeed after the target came back";
    d.ExpectNoSessions({"draft", "target", "orchestrator"});
  }

  // Drain: SIGTERM to the orchestrator in the middle of a stream; the stream
  // still completes (grace period), then the process exits and the
  // supervisor starts it again.
  {
    SCOPED_TRACE("orchestrator drain");
    const pid_t orchestrator = d.Pid("orchestrator");
    Outcome o = d.Generate(Request("speculative", 16), [&](int chunk) {
      if (chunk == 0) kill(orchestrator, SIGTERM);
    });
    ASSERT_TRUE(o.status.ok()) << o.status.error_code() << " " << o.status.error_message();
    EXPECT_EQ(o.tokens.size(), 16u);
    EXPECT_TRUE(o.complete);
    d.WaitRestarted("orchestrator", orchestrator);
    EXPECT_TRUE(WaitFor([&] { return d.Generate(Request("speculative", 4)).status.ok(); }, std::chrono::seconds(60)));
  }
  d.Stop();
}

}  // namespace
