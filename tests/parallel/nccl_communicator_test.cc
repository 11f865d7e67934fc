// The NCCL communicator's argument checks, which run before NCCL is touched
// (so on a machine without a GPU too). Joining a real group needs GPUs and
// is not covered here.
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/parallel/nccl_communicator.h"

namespace tandem::runtime::parallel {
namespace {

using ::testing::HasSubstr;

TEST(NcclCommunicator, RejectsAUniqueIdOfTheWrongSize) {
  auto c = NcclCommunicator::Create(std::string(16, 'x'), 0, 2, nullptr);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(c.status().message(), HasSubstr("NCCL unique id must be 128 bytes, got 16"));
}

TEST(NcclCommunicator, RejectsBadRanks) {
  const std::string id(NCCL_UNIQUE_ID_BYTES, '\0');
  for (auto [rank, world] : {std::pair{2, 2}, {-1, 2}, {0, 0}}) {
    auto c = NcclCommunicator::Create(id, rank, world, nullptr);
    ASSERT_FALSE(c.ok()) << rank << "/" << world;
    EXPECT_THAT(c.status().message(), HasSubstr("is not a valid rank"));
  }
}

}  // namespace
}  // namespace tandem::runtime::parallel
