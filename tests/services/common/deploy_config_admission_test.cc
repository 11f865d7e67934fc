// The orchestrator's admission-control keys of a deployment config.
#include "gtest/gtest.h"
#include "services/common/deploy_config.h"

namespace tandem::services {
namespace {

constexpr const char* kBase =
    "name: t\n"
    "services:\n"
    "  - {name: target, role: target, model: smollm2-135m, grpc_port: 5001}\n";

TEST(DeployConfigAdmission, KeysAreParsedWithDefaults) {
  auto plain = ParseDeploymentConfig(std::string(kBase) +
                                     "  - {name: o, role: orchestrator, grpc_port: 5000, target: target}\n");
  ASSERT_TRUE(plain.ok()) << plain.status();
  const ServiceConfig& d = plain->services[1];
  EXPECT_EQ(d.max_running_requests, 0);
  EXPECT_EQ(d.max_queued_requests, 0);
  EXPECT_EQ(d.queue_timeout_s, 30);
  EXPECT_EQ(d.retry_after_ms, 1000);

  auto set = ParseDeploymentConfig(std::string(kBase) +
                                   "  - {name: o, role: orchestrator, grpc_port: 5000, target: target,\n"
                                   "     max_running_requests: 8, max_queued_requests: 32, queue_timeout_s: 5,\n"
                                   "     retry_after_ms: 250}\n");
  ASSERT_TRUE(set.ok()) << set.status();
  const ServiceConfig& o = set->services[1];
  EXPECT_EQ(o.max_running_requests, 8);
  EXPECT_EQ(o.max_queued_requests, 32);
  EXPECT_EQ(o.queue_timeout_s, 5);
  EXPECT_EQ(o.retry_after_ms, 250);
}

TEST(DeployConfigAdmission, BadValuesAndWrongRolesAreRejected) {
  auto negative = ParseDeploymentConfig(std::string(kBase) +
                                        "  - {name: o, role: orchestrator, grpc_port: 5000, target: target,"
                                        " max_running_requests: -1}\n");
  ASSERT_FALSE(negative.ok());
  EXPECT_NE(negative.status().message().find("max_running_requests"), std::string::npos) << negative.status();
  auto on_target = ParseDeploymentConfig(
      "name: t\nservices:\n"
      "  - {name: target, role: target, model: smollm2-135m, grpc_port: 5001, max_queued_requests: 3}\n");
  ASSERT_FALSE(on_target.ok());
  EXPECT_NE(on_target.status().message().find("only valid for role: orchestrator"), std::string::npos)
      << on_target.status();
}

// drain_grace_s applies to every role.
TEST(DeployConfigAdmission, DrainGraceDefaultsAndBounds) {
  auto plain = ParseDeploymentConfig(kBase);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->services[0].drain_grace_s, 20);
  auto set = ParseDeploymentConfig(
      "name: t\nservices:\n"
      "  - {name: target, role: target, model: smollm2-135m, grpc_port: 5001, drain_grace_s: 3}\n");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->services[0].drain_grace_s, 3);
  auto bad = ParseDeploymentConfig(
      "name: t\nservices:\n"
      "  - {name: target, role: target, model: smollm2-135m, grpc_port: 5001, drain_grace_s: -1}\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("drain_grace_s"), std::string::npos) << bad.status();
}

}  // namespace
}  // namespace tandem::services
