// Group formation over real gRPC on loopback: several in-process ranks
// (threads) form a group through rank 0's tandem.v1.TensorParallel server;
// the group id is 128 opaque bytes standing in for an ncclUniqueId.
#include "services/parallel/bootstrap.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "services/parallel/rendezvous_client.h"

namespace tandem::services::parallel {
namespace {

int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// Bytes that differ at every position, including NULs, so a truncation or a
// string conversion anywhere on the path shows.
std::string OpaqueId() {
  std::string id(128, '\0');
  for (size_t i = 0; i < id.size(); ++i) id[i] = static_cast<char>((i * 37 + 11) & 0xff);
  id[5] = '\0';
  return id;
}

GroupOptions Options(int rank, int world, int port, absl::Duration timeout = absl::Seconds(30)) {
  GroupOptions o;
  o.group = "test/target";
  o.rank = rank;
  o.world_size = world;
  o.rendezvous = absl::StrCat("127.0.0.1:", port);
  o.listen_address = o.rendezvous;
  o.timeout = timeout;
  return o;
}

// Runs world_size ranks on threads; ranks > 0 start before rank 0, so they
// first find nothing listening and must retry.
std::vector<absl::StatusOr<std::string>> RunGroup(const std::vector<GroupOptions>& ranks, int* id_calls) {
  std::vector<absl::StatusOr<std::string>> got(ranks.size(), absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (size_t i = ranks.size(); i-- > 0;) {
    threads.emplace_back([&, i] {
      if (ranks[i].rank == 0) absl::SleepFor(absl::Milliseconds(700));
      got[i] = FormGroup(ranks[i], [&]() -> absl::StatusOr<std::string> {
        ++*id_calls;
        return OpaqueId();
      });
    });
  }
  for (auto& t : threads) t.join();
  return got;
}

TEST(FormGroup, FourRanksGetRankZerosBytesOverGrpc) {
  const int port = FreePort();
  std::vector<GroupOptions> ranks;
  for (int r = 0; r < 4; ++r) ranks.push_back(Options(r, 4, port));
  int id_calls = 0;
  auto got = RunGroup(ranks, &id_calls);
  EXPECT_EQ(id_calls, 1);  // only rank 0 makes the id
  for (size_t r = 0; r < got.size(); ++r) {
    ASSERT_TRUE(got[r].ok()) << "rank " << r << ": " << got[r].status();
    EXPECT_EQ(*got[r], OpaqueId()) << "rank " << r;
  }
}

TEST(FormGroup, WorldSizeOneNeedsNoNetwork) {
  int id_calls = 0;
  auto id = FormGroup(Options(0, 1, 1), [&]() -> absl::StatusOr<std::string> {
    ++id_calls;
    return OpaqueId();
  });
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, OpaqueId());
  EXPECT_EQ(id_calls, 1);
}

TEST(FormGroup, RankZeroIdErrorIsReturned) {
  auto id = FormGroup(Options(0, 2, FreePort()),
                      []() -> absl::StatusOr<std::string> { return absl::InternalError("ncclGetUniqueId failed"); });
  EXPECT_EQ(id.status().code(), absl::StatusCode::kInternal);
}

TEST(FormGroup, DuplicateRankGetsAlreadyExistsOverGrpc) {
  const int port = FreePort();
  // World 3 with ranks 0, 1, 1: one rank 1 is refused, and the group, still
  // missing rank 2, times out for the others.
  std::vector<GroupOptions> ranks = {Options(0, 3, port, absl::Seconds(4)), Options(1, 3, port, absl::Seconds(4)),
                                     Options(1, 3, port, absl::Seconds(4))};
  int id_calls = 0;
  auto got = RunGroup(ranks, &id_calls);
  int already = 0, deadline = 0;
  for (const auto& g : got) {
    ASSERT_FALSE(g.ok());
    if (g.status().code() == absl::StatusCode::kAlreadyExists) {
      ++already;
      EXPECT_NE(g.status().message().find("rank 1 already joined"), std::string::npos) << g.status();
    }
    if (g.status().code() == absl::StatusCode::kDeadlineExceeded) ++deadline;
  }
  EXPECT_EQ(already, 1);
  EXPECT_EQ(deadline, 2);
}

TEST(FormGroup, WorldSizeMismatchIsInvalidArgumentOverGrpc) {
  const int port = FreePort();
  std::vector<GroupOptions> ranks = {Options(0, 2, port, absl::Seconds(3)), Options(1, 3, port, absl::Seconds(3))};
  int id_calls = 0;
  auto got = RunGroup(ranks, &id_calls);
  EXPECT_EQ(got[0].status().code(), absl::StatusCode::kDeadlineExceeded) << got[0].status();
  EXPECT_EQ(got[1].status().code(), absl::StatusCode::kInvalidArgument) << got[1].status();
  EXPECT_NE(got[1].status().message().find("world size 3"), std::string::npos) << got[1].status();
}

TEST(FormGroup, WrongGroupIsFailedPreconditionOverGrpc) {
  const int port = FreePort();
  std::vector<GroupOptions> ranks = {Options(0, 2, port, absl::Seconds(3)), Options(1, 2, port, absl::Seconds(3))};
  ranks[1].group = "other/target";
  int id_calls = 0;
  auto got = RunGroup(ranks, &id_calls);
  EXPECT_EQ(got[1].status().code(), absl::StatusCode::kFailedPrecondition) << got[1].status();
}

TEST(FormGroup, NoRankZeroIsDeadlineExceededNamingTheLastError) {
  JoinOptions join;
  join.address = absl::StrCat("127.0.0.1:", FreePort());
  join.group = "test/target";
  join.rank = 1;
  join.world_size = 2;
  join.deadline = absl::Now() + absl::Seconds(1);
  join.retry_interval = absl::Milliseconds(100);
  auto got = JoinRendezvous(join);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDeadlineExceeded) << got.status();
  EXPECT_NE(got.status().message().find("last error"), std::string::npos) << got.status();
}

DeploymentConfig Parse(const std::string& tp) {
  auto c = ParseDeploymentConfig("name: dep\nservices:\n"
                                 "  - {name: target, role: target, model: smollm2-135m, grpc_port: 5001, host: 0.0.0.0,\n"
                                 "     tensor_parallel: " + tp + "}\n");
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : DeploymentConfig{};
}

TEST(GroupOptionsFor, RankFromConfigOrEnvironment) {
  const DeploymentConfig fixed = Parse("{world_size: 4, rank: 2, rendezvous: 't-0.peers:50060', timeout_s: 9}");
  auto o = GroupOptionsFor(fixed, fixed.services[0], std::string("3"));
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->rank, 2);  // the config wins over the environment
  EXPECT_EQ(o->world_size, 4);
  EXPECT_EQ(o->group, "dep/target");
  EXPECT_EQ(o->rendezvous, "t-0.peers:50060");
  EXPECT_EQ(o->listen_address, "0.0.0.0:50060");
  EXPECT_EQ(o->timeout, absl::Seconds(9));

  const DeploymentConfig from_env = Parse("{world_size: 4, rendezvous: 't-0.peers:50060'}");
  auto e = GroupOptionsFor(from_env, from_env.services[0], std::string("3"));
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->rank, 3);
  EXPECT_EQ(e->timeout, absl::Seconds(600));
  for (const std::optional<std::string>& bad : {std::optional<std::string>(), std::optional<std::string>("x"),
                                                std::optional<std::string>("4"), std::optional<std::string>("-1")}) {
    auto b = GroupOptionsFor(from_env, from_env.services[0], bad);
    EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument) << (bad ? *bad : "<unset>");
  }
}

TEST(GroupOptionsFor, ConfigErrors) {
  for (const char* bad : {"{world_size: 2}", "{world_size: 2, rendezvous: 'nohost'}",
                          "{world_size: 2, rendezvous: 'h:0'}", "{world_size: 0, rendezvous: 'h:1'}",
                          "{world_size: 2, rank: 2, rendezvous: 'h:1'}", "{world_size: 2, rendezvous: 'h:1', x: 1}"}) {
    auto c = ParseDeploymentConfig(
        absl::StrCat("name: dep\nservices:\n  - {name: target, role: target, model: m, grpc_port: 5001,\n"
                     "     tensor_parallel: ", bad, "}\n"));
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_NE(c.status().message().find("tensor_parallel"), std::string::npos) << c.status();
  }
  auto draft = ParseDeploymentConfig(
      "name: dep\nservices:\n  - {name: d, role: draft, model: m, grpc_port: 5001,\n"
      "     tensor_parallel: {world_size: 2, rendezvous: 'h:1'}}\n");
  ASSERT_FALSE(draft.ok());
  EXPECT_NE(draft.status().message().find("only valid for role: target"), std::string::npos) << draft.status();
  const DeploymentConfig none = ParseDeploymentConfig(
      "name: dep\nservices:\n  - {name: target, role: target, model: m, grpc_port: 5001}\n").value();
  EXPECT_FALSE(none.services[0].tensor_parallel.has_value());
  EXPECT_EQ(GroupOptionsFor(none, none.services[0], std::nullopt).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tandem::services::parallel
