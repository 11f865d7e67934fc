#include "services/common/address.h"

#include <gtest/gtest.h>

namespace tandem::services {
namespace {

TEST(Address, HostKeepsWhatAnAddressNeeds) {
  EXPECT_EQ(AddressHost("10.0.0.5:50051"), "10.0.0.5");
  EXPECT_EQ(AddressHost("[::1]:0"), "[::1]");
  EXPECT_EQ(AddressHost("dns:///target.tandem.svc:50052"), "target.tandem.svc");
  EXPECT_EQ(AddressHost("target"), "target");
  EXPECT_EQ(AddressHost("::1"), "::1");  // a bare IPv6 literal has no port
}

TEST(Address, SameHostNormalizesLoopbackAndCase) {
  EXPECT_TRUE(OnSameHost("127.0.0.1:50051", "localhost:50052"));
  EXPECT_TRUE(OnSameHost("[::1]:1", "127.0.0.2:2"));
  EXPECT_TRUE(OnSameHost("Node-A:1", "dns:///node-a:2"));
  EXPECT_FALSE(OnSameHost("draft.tandem.svc:50051", "target.tandem.svc:50052"));
  EXPECT_FALSE(OnSameHost("10.0.0.5:1", "127.0.0.1:1"));
}

}  // namespace
}  // namespace tandem::services
