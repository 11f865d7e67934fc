// gRPC <-> absl status conversion, and the mapping of a lost peer onto
// UNAVAILABLE (what the drafter fallback and retrying clients act on).
#include "services/common/status_convert.h"

#include "gtest/gtest.h"

namespace tandem::services {
namespace {

TEST(StatusConvert, CodesAndMessagesRoundTrip) {
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
  const absl::Status s = FromGrpcStatus(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "queue full"));
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(s.message(), "queue full");
  const grpc::Status back = ToGrpcStatus(absl::DeadlineExceededError("late"));
  EXPECT_EQ(back.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(back.error_message(), "late");
}

TEST(StatusConvert, TransportLossIsUnavailable) {
  for (const char* message : {"Socket closed", "Stream removed", "Connection reset by peer",
                              "Broken pipe", "failed to connect to all addresses"}) {
    const absl::Status s = FromPeerStatus(grpc::Status(grpc::StatusCode::UNKNOWN, message));
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << message;
    EXPECT_EQ(s.message(), message);
  }
}

TEST(StatusConvert, OtherCodesAndUnknownsKeepTheirMeaning) {
  // A handler's UNKNOWN (an exception escaped it) is not a lost peer.
  EXPECT_EQ(FromPeerStatus(grpc::Status(grpc::StatusCode::UNKNOWN, "Unexpected error in RPC handling")).code(),
            absl::StatusCode::kUnknown);
  // The peer's own codes pass through, even with a transport-like message.
  EXPECT_EQ(FromPeerStatus(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "Socket closed")).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FromPeerStatus(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "Deadline Exceeded")).code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(FromPeerStatus(grpc::Status::OK).ok());
}

}  // namespace
}  // namespace tandem::services
