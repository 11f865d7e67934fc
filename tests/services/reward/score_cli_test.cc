// `tandem score`: in process and against a Reward service (--server), the
// JSON output, and the usage exit code for bad arguments.
#include <string>

#include <nlohmann/json.hpp>

#include "gtest/gtest.h"
#include "services/reward/reward_server.h"
#include "tests/common/shell.h"

namespace {

using tandem::test_shell::ShellRun;

ShellRun Tandem(const std::string& args) {
  return tandem::test_shell::RunShell(std::string(TANDEM_CLI_BINARY) + " " + args + " 2>&1");
}

TEST(ScoreCli, InProcessAndAgainstAServer) {
  ShellRun r = Tandem("score --backend math --prompt q --response 'The answer is 18.' --response '\\boxed{17}' "
                 "--reference '#### 18' --json");
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["scores"], nlohmann::json::array({1.0, 0.0}));

  tandem::services::RewardServerOptions o;
  o.metrics_address = "";
  o.registry.judge_model = "";
  o.registry.similarity_embedder = "";
  auto server = tandem::services::RewardServer::Start(std::move(o));
  ASSERT_TRUE(server.ok()) << server.status();
  r = Tandem("score --server " + (*server)->address() +
          " --backend keyword --option required=apple,pear --prompt q --response 'an apple' --json");
  ASSERT_EQ(r.code, 0) << r.out;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["scores"], nlohmann::json::array({0.5}));

  r = Tandem("score --server " + (*server)->address() + " --backend judge --prompt q --response a");
  EXPECT_EQ(r.code, 2) << r.out;  // INVALID_ARGUMENT: no judge on this server
  EXPECT_NE(r.out.find("unknown reward backend 'judge'"), std::string::npos) << r.out;
  r = Tandem("score --backend math --prompt q");
  EXPECT_EQ(r.code, 2) << r.out;  // neither --response nor --step
  r = Tandem("score --backend math --option broken --prompt q --response a");
  EXPECT_EQ(r.code, 2) << r.out;
}

}  // namespace
