// GrpcServer through real gRPC on loopback: health answers SERVING per
// service, reflection lists the registered services, SIGTERM shuts the server
// down gracefully.
#include "services/common/grpc_server.h"

#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>

#include <future>
#include <string>

#include "grpc/health/v1/health.grpc.pb.h"
#include "services/common/health_client.h"
#include "tandem/v1/draft.grpc.pb.h"

namespace tandem::services {
namespace {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

// A Draft service whose methods are all UNIMPLEMENTED: enough to register.
class EmptyDraft final : public tandem::v1::Draft::Service {};

grpc::Status Check(grpc::health::v1::Health::Stub& stub, const std::string& service,
                   HealthCheckResponse::ServingStatus* status) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  HealthCheckRequest req;
  req.set_service(service);
  HealthCheckResponse resp;
  grpc::Status s = stub.Check(&ctx, req, &resp);
  *status = resp.status();
  return s;
}

// Asks grpc.reflection.v1alpha for the service list with a generic call (the
// reflection stubs live inside libgrpc++_reflection; compiling our own copy
// of reflection.proto would register the descriptors twice). Returns the raw
// response bytes, which contain the service names as strings.
std::string ReflectionListServices(const std::shared_ptr<grpc::Channel>& channel) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto call = stub.PrepareCall(&ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  void* tag;
  bool ok;
  auto step = [&](intptr_t want) { return cq.Next(&tag, &ok) && ok && reinterpret_cast<intptr_t>(tag) == want; };
  call->StartCall(reinterpret_cast<void*>(1));
  if (!step(1)) return "";
  // ServerReflectionRequest{list_services: "*"}: field 7, length-delimited.
  const std::string req = std::string("\x3a\x01*", 3);
  grpc::Slice slice(req);
  grpc::ByteBuffer out(&slice, 1);
  call->Write(out, reinterpret_cast<void*>(2));
  if (!step(2)) return "";
  grpc::ByteBuffer in;
  call->Read(&in, reinterpret_cast<void*>(3));
  if (!step(3)) return "";
  call->WritesDone(reinterpret_cast<void*>(4));
  step(4);
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  step(5);
  std::vector<grpc::Slice> slices;
  if (!in.Dump(&slices).ok()) return "";
  std::string bytes;
  for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return bytes;
}

TEST(GrpcServerTest, HealthReflectionAndSignalShutdown) {
  auto signal = ShutdownSignal::Install();
  ASSERT_TRUE(signal.ok()) << signal.status();
  EXPECT_EQ(ShutdownSignal::Install().status().code(), absl::StatusCode::kFailedPrecondition);

  EmptyDraft draft;
  GrpcServerOptions options;
  options.address = "127.0.0.1:0";
  options.health_service_names = {tandem::v1::Draft::service_full_name()};
  grpc::Service* services[] = {&draft};
  auto server = GrpcServer::Start(options, services);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->port(), 0);
  EXPECT_EQ((*server)->address(), "127.0.0.1:" + std::to_string((*server)->port()));

  auto channel = grpc::CreateChannel((*server)->address(), grpc::InsecureChannelCredentials());
  auto health = grpc::health::v1::Health::NewStub(channel);
  HealthCheckResponse::ServingStatus st;
  ASSERT_TRUE(Check(*health, "", &st).ok());
  EXPECT_EQ(st, HealthCheckResponse::SERVING);
  ASSERT_TRUE(Check(*health, "tandem.v1.Draft", &st).ok());
  EXPECT_EQ(st, HealthCheckResponse::SERVING);
  EXPECT_EQ(Check(*health, "tandem.v1.Nope", &st).error_code(), grpc::StatusCode::NOT_FOUND);

  // The same through the helper `tandem up` uses.
  const std::string addr = (*server)->address();
  EXPECT_TRUE(CheckServing(addr, "tandem.v1.Draft").ok());
  EXPECT_TRUE(WaitUntilServing(addr, "", absl::Seconds(20)).ok());
  EXPECT_EQ(CheckServing(addr, "tandem.v1.Nope").code(), absl::StatusCode::kNotFound);

  (*server)->SetServing(false);
  ASSERT_TRUE(Check(*health, "tandem.v1.Draft", &st).ok());
  EXPECT_EQ(st, HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(CheckServing(addr, "tandem.v1.Draft").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(WaitUntilServing(addr, "tandem.v1.Draft", absl::Milliseconds(200), absl::Milliseconds(50)).code(),
            absl::StatusCode::kDeadlineExceeded);
  (*server)->SetServing(true);

  // The registered service answers (its methods are unimplemented here).
  auto draft_stub = tandem::v1::Draft::NewStub(channel);
  grpc::ClientContext ctx;
  tandem::v1::ProposeRequest preq;
  tandem::v1::ProposeResponse presp;
  EXPECT_EQ(draft_stub->Propose(&ctx, preq, &presp).error_code(), grpc::StatusCode::UNIMPLEMENTED);

  const std::string listed = ReflectionListServices(channel);
  EXPECT_NE(listed.find("tandem.v1.Draft"), std::string::npos) << "reflection did not list the service";
  EXPECT_NE(listed.find("grpc.health.v1.Health"), std::string::npos);

  // SIGTERM → graceful shutdown → the serving loop returns the signal.
  auto served = std::async(std::launch::async, [&] { return ServeUntilSignal(**server, **signal); });
  ASSERT_EQ(kill(getpid(), SIGTERM), 0);
  EXPECT_EQ(served.get(), SIGTERM);
  grpc::ClientContext after;
  after.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  HealthCheckRequest hreq;
  HealthCheckResponse hresp;
  EXPECT_FALSE(health->Check(&after, hreq, &hresp).ok());
  EXPECT_EQ(CheckServing(addr, "", absl::Milliseconds(500)).code(), absl::StatusCode::kUnavailable);
}

TEST(GrpcServerTest, TriggerAndBindFailure) {
  auto signal = ShutdownSignal::Install();
  ASSERT_TRUE(signal.ok()) << signal.status();
  EXPECT_EQ((*signal)->WaitFor(absl::Milliseconds(1)), -1);
  (*signal)->Trigger();
  EXPECT_EQ((*signal)->Wait(), 0);

  GrpcServerOptions options;
  options.address = "256.1.2.3:1";  // not an address
  auto server = GrpcServer::Start(options, {});
  EXPECT_EQ(server.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace tandem::services
