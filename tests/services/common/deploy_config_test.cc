#include "services/common/deploy_config.h"

#include <gtest/gtest.h>

#include <string>

namespace tandem::services {
namespace {

constexpr char kGood[] = R"(name: demo
services:
  - name: t
    role: target
    model: smollm2-135m
    grpc_port: 7001
    metrics_port: 7101
  - name: d
    role: draft
    model_path: /models/d.gguf
    host: 10.0.0.5
    grpc_port: 7002
    head_vocab: 65536
    requantize: q4_0
  - name: o
    role: orchestrator
    grpc_port: 7000
    drafter: model
    draft: d
    target: t
)";

TEST(DeployConfigTest, ParsesGoodConfig) {
  auto c = ParseDeploymentConfig(kGood, "good.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->name, "demo");
  ASSERT_EQ(c->services.size(), 3u);
  const ServiceConfig& t = c->services[0];
  EXPECT_EQ(t.role, ServiceRole::kTarget);
  EXPECT_EQ(t.model, "smollm2-135m");
  EXPECT_EQ(t.host, "127.0.0.1");  // default
  EXPECT_EQ(t.grpc_address(), "127.0.0.1:7001");
  EXPECT_EQ(t.metrics_address(), "127.0.0.1:7101");
  EXPECT_EQ(t.kv_budget_mb, 512);  // default
  EXPECT_EQ(t.device, runtime::DeviceKind::kCpu);  // default
  EXPECT_EQ(t.line, 3);
  EXPECT_EQ(c->services[1].metrics_address(), "");
  EXPECT_EQ(t.head_vocab, 0);  // default: the whole vocabulary
  EXPECT_EQ(c->services[1].head_vocab, 65536);
  EXPECT_FALSE(t.requantize.has_value());  // default: as stored
  EXPECT_EQ(c->services[1].requantize, kernels::GgmlType::kQ4_0);
  const ServiceConfig* o = c->Find("o");
  ASSERT_NE(o, nullptr);
  EXPECT_EQ(o->drafter, DrafterKind::kModel);
  EXPECT_EQ(o->default_strategy, "speculative");  // default with a drafter
  EXPECT_EQ(*c->ResolveAddress(o->draft), "10.0.0.5:7002");
  EXPECT_EQ(*c->ResolveAddress(o->target), "127.0.0.1:7001");
  EXPECT_EQ(*c->ResolveAddress("remote:1234"), "remote:1234");
  EXPECT_EQ(c->ResolveAddress("nope").status().code(), absl::StatusCode::kNotFound);
}

TEST(DeployConfigTest, DeviceSelectsTheBackend) {
  for (const auto& [text, kind] : {std::pair<const char*, runtime::DeviceKind>{"cpu", runtime::DeviceKind::kCpu},
                                   {"cuda", runtime::DeviceKind::kCuda},
                                   {"auto", runtime::DeviceKind::kAuto}}) {
    auto c = ParseDeploymentConfig(absl::StrCat("name: demo\nservices:\n  - name: t\n    role: target\n    model: m\n"
                                                "    grpc_port: 1\n    device: ", text, "\n"),
                                   "x.yaml");
    ASSERT_TRUE(c.ok()) << text << ": " << c.status();
    EXPECT_EQ(c->services[0].device, kind) << text;
  }
}

TEST(DeployConfigTest, BundledExamplesAreValid) {
  for (const char* file : {"deploy/local.yaml", "deploy/local-ngram.yaml"}) {
    auto c = LoadDeploymentConfig(std::string(TANDEM_SOURCE_DIR) + "/" + file);
    ASSERT_TRUE(c.ok()) << file << ": " << c.status();
    const ServiceConfig* target = c->Find("target");
    ASSERT_NE(target, nullptr) << file;
    EXPECT_EQ(target->model, "smollm2-135m");
    const ServiceConfig* orch = c->Find("orchestrator");
    ASSERT_NE(orch, nullptr) << file;
    EXPECT_NE(orch->drafter, DrafterKind::kNone);
  }
  // local.yaml wires every service: reward and retrieval resolve by name.
  auto local = LoadDeploymentConfig(std::string(TANDEM_SOURCE_DIR) + "/deploy/local.yaml");
  ASSERT_TRUE(local.ok()) << local.status();
  const ServiceConfig* orch = local->Find("orchestrator");
  ASSERT_NE(orch, nullptr);
  EXPECT_EQ(*local->ResolveAddress(orch->reward), "127.0.0.1:50055");
  EXPECT_EQ(*local->ResolveAddress(orch->retrieval), "127.0.0.1:50054");
  ASSERT_NE(local->Find("retrieval"), nullptr);
  EXPECT_EQ(local->Find("retrieval")->embedder, "all-minilm-l6-v2");
  EXPECT_EQ(LoadDeploymentConfig("/nonexistent/x.yaml").status().code(), absl::StatusCode::kNotFound);
}

// Each bad config must fail with INVALID_ARGUMENT whose message names the
// line and the field.
struct BadCase {
  const char* yaml;
  const char* expected;  // substring of the error
};

TEST(DeployConfigTest, RejectsBadConfigsNamingLineAndField) {
  const std::string head = "name: demo\nservices:\n";
  const BadCase cases[] = {
      {"", "empty"},
      {"name: demo\n", "services: is required"},
      {"name: demo\nservices: []\n", "services: must be a non-empty list"},
      {"name: demo\nservices:\n  - name: t\n    role: target\n    model: m\n    grpc_port: 70000\n",
       "x.yaml:6: services[0].grpc_port: must be in [1, 65535], got 70000"},
      {"name: demo\nservices:\n  - name: t\n    role: target\n    model: m\n    grpc_port: abc\n",
       "x.yaml:6: services[0].grpc_port: must be an integer"},
      {"name: demo\nservices:\n  - name: t\n    role: boss\n    model: m\n    grpc_port: 1\n",
       "x.yaml:4: services[0].role: unknown role 'boss'"},
      {"name: demo\nservices:\n  - name: t\n    role: target\n    model: m\n    grpc_port: 1\n    device: gpu\n",
       "x.yaml:7: services[0].device: unknown device 'gpu' (cpu, cuda or auto)"},
      {"name: demo\nservices:\n  - name: t\n    role: target\n    model: m\n    grpc_prot: 1\n",
       "x.yaml:6: services[0].grpc_prot: unknown key"},
      {"name: demo\nservices:\n  - name: t\n    role: target\n    grpc_port: 1\n",
       "services[0].model: role target needs model or model_path"},
      {"name: demo\nservices:\n  - name: t\n    role: target\n    model: m\n    grpc_port: 1\n"
       "  - name: t\n    role: draft\n    model: m\n    grpc_port: 2\n",
       "x.yaml:7: services[1].name: duplicate service name 't'"},
      {"name: demo\nservices:\n  - name: t\n    role: target\n    model: m\n    grpc_port: 1\n"
       "  - name: d\n    role: draft\n    model: m\n    grpc_port: 1\n",
       "x.yaml:10: services[1].grpc_port: port 1 on 127.0.0.1 is already used"},
      {"name: demo\nservices:\n  - name: o\n    role: orchestrator\n    grpc_port: 1\n    drafter: model\n    target: t\n",
       "services[0].draft: is required with drafter: model"},
      {"name: demo\nservices:\n  - name: o\n    role: orchestrator\n    grpc_port: 1\n    drafter: ngram\n    target: t\n",
       "x.yaml:7: services[0].target: no service named 't'"},
      {"name: demo\nservices:\n  - name: d\n    role: draft\n    model: m\n    grpc_port: 2\n"
       "  - name: o\n    role: orchestrator\n    grpc_port: 1\n    drafter: ngram\n    target: d\n",
       "services[1].target: service 'd' has role draft, expected target"},
      {"name: demo\nservices:\n  - name: o\n    role: orchestrator\n    grpc_port: 1\n    target: h:1\n"
       "    default_strategy: speculative\n",
       "x.yaml:7: services[0].default_strategy: 'speculative' needs a drafter"},
      {"name: demo\nservices:\n  - name: o\n    role: orchestrator\n    grpc_port: 1\n    target: h:1\n"
       "    default_strategy: magic\n",
       "services[0].default_strategy: unknown strategy 'magic'"},
      {"name: demo\nservices:\n  - name: t\n    role: target\n    model: m\n    grpc_port: 1\n    drafter: ngram\n",
       "x.yaml:7: services[0].drafter: is only valid for role: orchestrator"},
      // The orchestrator's reward and retrieval references, like target/draft.
      {"name: demo\nservices:\n  - name: o\n    role: orchestrator\n    grpc_port: 1\n    target: h:1\n"
       "    reward: judge\n",
       "x.yaml:7: services[0].reward: no service named 'judge'"},
      {"name: demo\nservices:\n  - name: t\n    role: target\n    model: m\n    grpc_port: 2\n"
       "  - name: o\n    role: orchestrator\n    grpc_port: 1\n    target: t\n    reward: t\n",
       "x.yaml:11: services[1].reward: service 't' has role target, expected reward"},
      {"name: demo\nservices:\n  - name: o\n    role: orchestrator\n    grpc_port: 1\n    target: h:1\n"
       "    retrieval: docs\n",
       "x.yaml:7: services[0].retrieval: no service named 'docs'"},
      {"name: demo\nservices:\n  - name: r\n    role: reward\n    model: m\n    grpc_port: 2\n"
       "  - name: o\n    role: orchestrator\n    grpc_port: 1\n    target: h:1\n    retrieval: r\n",
       "services[1].retrieval: service 'r' has role reward, expected retrieval"},
      {"name: demo\nservices:\n  - name: r\n    role: reward\n    model: m\n    grpc_port: 2\n    embedder: e\n",
       "x.yaml:7: services[0].embedder: is only valid for role: retrieval"},
      {"name: demo\nservices:\n  - name: r\n    role: retrieval\n    model: m\n    grpc_port: 2\n"
       "    reward_model: rm.gguf\n",
       "x.yaml:7: services[0].reward_model: is only valid for role: reward"},
      {"name: demo\nservices:\n  - name: r\n    role: reward\n    model: m\n    grpc_port: 2\n    reward: r\n",
       "x.yaml:7: services[0].reward: is only valid for role: orchestrator"},
      // A target's (or judge's) vocabulary is what it generates from; only a drafter's may be cut.
      {"name: demo\nservices:\n  - name: t\n    role: target\n    model: m\n    grpc_port: 1\n    head_vocab: 1000\n",
       "x.yaml:7: services[0].head_vocab: is only valid for role: draft"},
      {"name: demo\nservices:\n  - name: d\n    role: draft\n    model: m\n    grpc_port: 1\n    head_vocab: -1\n",
       "x.yaml:7: services[0].head_vocab: must be in [0, "},
      // Likewise a target's weights: only a drafter's may be made coarser.
      {"name: demo\nservices:\n  - name: t\n    role: target\n    model: m\n    grpc_port: 1\n    requantize: q4_0\n",
       "x.yaml:7: services[0].requantize: is only valid for role: draft"},
      {"name: demo\nservices:\n  - name: d\n    role: draft\n    model: m\n    grpc_port: 1\n    requantize: q2_k\n",
       "x.yaml:7: services[0].requantize: must be q4_0 or q8_0"},
      {"name: demo\nservices:\n  - name: t\n    role: target\n   model: [unclosed\n", "x.yaml:"},
      {"name: Bad Name\nservices:\n  - name: t\n", "x.yaml:1: name: must be 1..64 characters"},
  };
  for (const BadCase& c : cases) {
    auto r = ParseDeploymentConfig(c.yaml, "x.yaml");
    ASSERT_FALSE(r.ok()) << "accepted:\n" << c.yaml;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
    EXPECT_NE(std::string(r.status().message()).find(c.expected), std::string::npos)
        << "got: " << r.status().message() << "\nwanted: " << c.expected << "\nfor:\n" << c.yaml;
  }
}

}  // namespace
}  // namespace tandem::services
