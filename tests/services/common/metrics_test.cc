// ServiceMetrics: the families exist under the vLLM-compatible names, values
// match the recorded per-request Stats, the HTTP endpoint really serves them,
// and promtool accepts the exposition.
#include "services/common/metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <tuple>
#include <sstream>
#include <string>
#include <vector>

namespace tandem::services {
namespace {

// Value of the sample whose name+labels is exactly `series` (labels in the
// sorted order prometheus-cpp writes them), or nullopt.
std::optional<double> Sample(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::strtod(line.c_str() + series.size() + 1, nullptr);
  }
  return std::nullopt;
}

std::string HttpGet(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
      char buf[4096];
      ssize_t n;
      while ((n = read(fd, buf, sizeof(buf))) > 0) response.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  return response;
}

// Runs `promtool check metrics` on `exposition`. Its lint rule "metric names
// should not contain ':'" is expected and ignored: the `tandem:` prefix is
// the vLLM counter schema the project mandates (vllm:* names trip the same
// rule). Every other line of output is a problem.
struct PromtoolResult {
  std::string raw;
  std::vector<std::string> problems;
  int colon_warnings = 0;
};

PromtoolResult Promtool(const std::string& exposition) {
  static int n = 0;
  const std::string dump = ::testing::TempDir() + "/tandem_metrics_dump_" + std::to_string(getpid()) +
                           "_" + std::to_string(n++) + ".txt";
  std::ofstream(dump) << exposition;
  const std::string cmd = "promtool check metrics < " + dump + " 2>&1";
  PromtoolResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) {
    r.problems.push_back("cannot run promtool (install the Debian package prometheus)");
    return r;
  }
  char buf[1024];
  while (fgets(buf, sizeof(buf), p)) r.raw += buf;
  const int rc = pclose(p);
  std::istringstream lines(r.raw);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    if (line.find("metric names should not contain ':'") != std::string::npos) {
      ++r.colon_warnings;
    } else {
      r.problems.push_back(line);
    }
  }
  // rc 127: promtool missing; any failure without lines is a problem too.
  if (rc != 0 && r.problems.empty() && r.colon_warnings == 0) {
    r.problems.push_back("promtool exited with status " + std::to_string(rc));
  }
  std::remove(dump.c_str());
  return r;
}

tandem::v1::Stats ExampleStats() {
  tandem::v1::Stats s;
  s.set_strategy("speculative");
  s.set_drafter("ngram");
  s.set_prompt_tokens(12);
  s.set_generated_tokens(20);
  s.mutable_speculation()->set_num_drafts(5);
  s.mutable_speculation()->set_drafted_tokens(20);
  s.mutable_speculation()->set_accepted_tokens(11);
  for (int v : {5, 3, 2, 1}) s.mutable_speculation()->add_accepted_per_position(v);
  for (int v : {5, 5, 5, 5}) s.mutable_speculation()->add_drafted_per_position(v);
  s.set_target_calls(6);
  s.set_draft_calls(5);
  for (auto [gamma, reason, rounds] : {std::tuple{4, "acceptance", 3}, std::tuple{0, "load", 2}}) {
    tandem::v1::GammaChoice* c = s.mutable_speculation()->add_gamma_choices();
    c->set_gamma(gamma);
    c->set_reason(reason);
    c->set_rounds(rounds);
  }
  s.set_time_to_first_token_ms(30);
  s.set_e2e_latency_ms(400);
  s.set_draft_time_ms(50);
  s.set_target_time_ms(300);
  return s;
}

TEST(MetricsTest, ValuesMatchRecordedStats) {
  auto m = ServiceMetrics::Create({.listen_address = ""});  // no HTTP endpoint needed here
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ((*m)->port(), 0);
  const auto stats = ExampleStats();
  (*m)->RecordFinishedRequest(stats, tandem::v1::FINISH_REASON_LENGTH);
  (*m)->RecordFinishedRequest(stats, tandem::v1::FINISH_REASON_STOP);
  tandem::v1::Stats plain;
  plain.set_strategy("target_only");
  plain.set_generated_tokens(3);
  (*m)->RecordFinishedRequest(plain, tandem::v1::FINISH_REASON_ABORTED);
  (*m)->RecordFailedRequest("speculative", absl::StatusCode::kInvalidArgument);
  (*m)->SetActiveSessions(3);
  (*m)->SetKvCacheBytes(4096);
  const std::string text = (*m)->Serialize();
  const std::string sd = "{drafter=\"ngram\",strategy=\"speculative\"}";
  EXPECT_EQ(Sample(text, "tandem:spec_decode_num_drafts_total" + sd), 10);
  EXPECT_EQ(Sample(text, "tandem:spec_decode_num_draft_tokens_total" + sd), 40);
  EXPECT_EQ(Sample(text, "tandem:spec_decode_num_accepted_tokens_total" + sd), 22);
  EXPECT_EQ(Sample(text, "tandem:spec_decode_num_accepted_tokens_per_pos_total{drafter=\"ngram\",position=\"0\",strategy=\"speculative\"}"), 10);
  EXPECT_EQ(Sample(text, "tandem:spec_decode_num_accepted_tokens_per_pos_total{drafter=\"ngram\",position=\"3\",strategy=\"speculative\"}"), 2);
  // Per round: the chosen gamma by reason (two requests of 3 + 2 rounds).
  const std::string gamma = "tandem:spec_decode_gamma";
  EXPECT_EQ(Sample(text, gamma + "_count{drafter=\"ngram\",reason=\"acceptance\",strategy=\"speculative\"}"), 6);
  EXPECT_EQ(Sample(text, gamma + "_sum{drafter=\"ngram\",reason=\"acceptance\",strategy=\"speculative\"}"), 24);
  EXPECT_EQ(Sample(text, gamma + "_count{drafter=\"ngram\",reason=\"load\",strategy=\"speculative\"}"), 4);
  EXPECT_EQ(Sample(text, gamma + "_bucket{drafter=\"ngram\",reason=\"load\",strategy=\"speculative\",le=\"0\"}"), 4);
  EXPECT_EQ(Sample(text, "tandem:target_calls_total" + sd), 12);
  EXPECT_EQ(Sample(text, "tandem:draft_calls_total" + sd), 10);
  EXPECT_EQ(Sample(text, "tandem:request_success_total{finished_reason=\"length\",strategy=\"speculative\"}"), 1);
  EXPECT_EQ(Sample(text, "tandem:request_success_total{finished_reason=\"stop\",strategy=\"speculative\"}"), 1);
  EXPECT_EQ(Sample(text, "tandem:request_success_total{finished_reason=\"abort\",strategy=\"target_only\"}"), 1);
  EXPECT_EQ(Sample(text, "tandem:request_failure_total{code=\"INVALID_ARGUMENT\",strategy=\"speculative\"}"), 1);
  EXPECT_EQ(Sample(text, "tandem:generation_tokens_total{strategy=\"speculative\"}"), 40);
  EXPECT_EQ(Sample(text, "tandem:prompt_tokens_total{strategy=\"speculative\"}"), 24);
  EXPECT_EQ(Sample(text, "tandem:spec_decode_num_drafts_total{drafter=\"none\",strategy=\"target_only\"}"), 0);
  EXPECT_EQ(Sample(text, "tandem:time_to_first_token_seconds_count{strategy=\"speculative\"}"), 2);
  EXPECT_DOUBLE_EQ(*Sample(text, "tandem:time_to_first_token_seconds_sum{strategy=\"speculative\"}"), 0.06);
  EXPECT_EQ(Sample(text, "tandem:e2e_request_latency_seconds_count{strategy=\"target_only\"}"), 1);
  EXPECT_EQ(Sample(text, "tandem:active_sessions"), 3);
  EXPECT_EQ(Sample(text, "tandem:kv_cache_bytes"), 4096);
}

// One exposer for the whole binary: its destructor blocks ~2 s.
TEST(MetricsTest, HttpEndpointServesAndPromtoolAccepts) {
  auto m = ServiceMetrics::Create({.listen_address = "127.0.0.1:0"});
  ASSERT_TRUE(m.ok()) << m.status();
  ServiceMetrics& metrics = **m;
  ASSERT_GT(metrics.port(), 0);
  EXPECT_EQ(metrics.url(), "http://127.0.0.1:" + std::to_string(metrics.port()) + "/metrics");
  metrics.RecordFinishedRequest(ExampleStats(), tandem::v1::FINISH_REASON_LENGTH);
  metrics.RecordFailedRequest("speculative", absl::StatusCode::kCancelled);
  metrics.ObserveInterTokenLatency("speculative", 0.012);
  metrics.ObserveDraftRpcLatency("model", 0.0007);
  metrics.ObserveTargetVerifyLatency(0.02);
  metrics.SetActiveSessions(1);

  const std::string response = HttpGet(metrics.port(), "/metrics");
  ASSERT_NE(response.find(" 200 "), std::string::npos) << response.substr(0, 200);
  const size_t body_at = response.find("\r\n\r\n");
  ASSERT_NE(body_at, std::string::npos);
  const std::string body = response.substr(body_at + 4);
  for (const char* family :
       {"tandem:spec_decode_num_drafts_total", "tandem:spec_decode_num_draft_tokens_total",
        "tandem:spec_decode_num_accepted_tokens_total",
        "tandem:spec_decode_num_accepted_tokens_per_pos_total", "tandem:request_success_total",
        "tandem:request_failure_total", "tandem:time_to_first_token_seconds",
        "tandem:inter_token_latency_seconds", "tandem:e2e_request_latency_seconds",
        "tandem:draft_rpc_latency_seconds", "tandem:target_verify_latency_seconds",
        "tandem:generation_tokens_total", "tandem:prompt_tokens_total", "tandem:active_sessions",
        "tandem:kv_cache_bytes"}) {
    EXPECT_NE(body.find(std::string("# TYPE ") + family + " "), std::string::npos) << family;
  }
  EXPECT_EQ(Sample(body, "tandem:spec_decode_num_accepted_tokens_total{drafter=\"ngram\",strategy=\"speculative\"}"), 11);
  EXPECT_EQ(Sample(body, "tandem:draft_rpc_latency_seconds_count{drafter=\"model\"}"), 1);

  // promtool parses and lints the exposition exactly as served.
  const PromtoolResult good = Promtool(body);
  EXPECT_TRUE(good.problems.empty()) << "promtool check metrics:\n" << good.raw;
  EXPECT_GT(good.colon_warnings, 0) << good.raw;  // promtool did read our families
  // The check can fail: a corrupted exposition is reported.
  const PromtoolResult bad = Promtool(body + "tandem:broken{ 1\n");
  EXPECT_FALSE(bad.problems.empty()) << bad.raw;
}

}  // namespace
}  // namespace tandem::services
