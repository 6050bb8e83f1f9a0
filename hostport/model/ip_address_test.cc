#include "hostport/model/ip_address.h"

#include "absl/container/flat_hash_set.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hostport {
namespace {

using ::testing::HasSubstr;

TEST(IpAddressTest, ParsesAndPrintsCanonicalText) {
  const struct {
    const char* in;
    const char* out;
    IPFamily family;
  } cases[] = {
      {"10.0.0.5", "10.0.0.5", IPFamily::kIPv4},
      {"0.0.0.0", "0.0.0.0", IPFamily::kIPv4},
      {"FD00:0:0:0::5", "fd00::5", IPFamily::kIPv6},
      {"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1", IPFamily::kIPv6},
      {"2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1", IPFamily::kIPv6},
      {"::", "::", IPFamily::kIPv6},
  };
  for (const auto& c : cases) {
    absl::StatusOr<IpAddress> ip = IpAddress::Parse(c.in);
    ASSERT_TRUE(ip.ok()) << c.in << ": " << ip.status();
    EXPECT_EQ(ip->ToString(), c.out);
    EXPECT_EQ(ip->family(), c.family);
  }
}

TEST(IpAddressTest, RejectsNonAddressesNamingThem) {
  for (const char* bad : {"", "10.0.0", "10.0.0.256", "10.0.0.5/24",
                          "fe80::1%eth0", "fd00::5::1", " 10.0.0.5", "host"}) {
    absl::StatusOr<IpAddress> ip = IpAddress::Parse(bad);
    ASSERT_FALSE(ip.ok()) << bad;
    EXPECT_THAT(std::string(ip.status().message()),
                HasSubstr(absl::StrCat("\"", bad, "\" is not an IP address")));
  }
}

TEST(IpAddressTest, Classifies) {
  EXPECT_TRUE(IpAddress::Parse("127.3.0.1")->IsLoopback());
  EXPECT_TRUE(IpAddress::Parse("::1")->IsLoopback());
  EXPECT_FALSE(IpAddress::Parse("::2")->IsLoopback());
  EXPECT_TRUE(IpAddress::Parse("0.0.0.0")->IsUnspecified());
  EXPECT_TRUE(IpAddress::Parse("::")->IsUnspecified());
  EXPECT_FALSE(IpAddress::Parse("10.0.0.1")->IsUnspecified());
  EXPECT_TRUE(IpAddress::Parse("fe80::1")->IsLinkLocal());
  EXPECT_TRUE(IpAddress::Parse("169.254.1.1")->IsLinkLocal());
  EXPECT_TRUE(IpAddress::Parse("ff02::1")->IsMulticast());
  EXPECT_TRUE(IpAddress::Parse("224.0.0.1")->IsMulticast());
  EXPECT_TRUE(IpAddress::Parse("::ffff:10.0.0.1")->IsV4Mapped());
  EXPECT_FALSE(IpAddress::Parse("10.0.0.1")->IsV4Mapped());
  for (const char* reserved :
       {"255.255.255.255", "240.0.0.1", "0.1.2.3", "0.0.0.0"}) {
    EXPECT_TRUE(IpAddress::Parse(reserved)->IsReservedV4()) << reserved;
  }
  for (const char* usable : {"239.255.255.255", "1.0.0.0", "10.88.0.5",
                             "::ffff:255.255.255.255", "fd00::"}) {
    EXPECT_FALSE(IpAddress::Parse(usable)->IsReservedV4()) << usable;
  }
}

TEST(IpAddressTest, KnowsItsRoleInASubnet) {
  EXPECT_TRUE(IpAddress::Parse("10.88.0.0")->IsNetworkOrBroadcastIn(16));
  EXPECT_TRUE(IpAddress::Parse("10.88.255.255")->IsNetworkOrBroadcastIn(16));
  EXPECT_FALSE(IpAddress::Parse("10.88.0.255")->IsNetworkOrBroadcastIn(16));
  EXPECT_TRUE(IpAddress::Parse("10.88.0.255")->IsNetworkOrBroadcastIn(24));
  EXPECT_TRUE(IpAddress::Parse("10.88.0.4")->IsNetworkOrBroadcastIn(30));
  EXPECT_FALSE(IpAddress::Parse("10.88.0.5")->IsNetworkOrBroadcastIn(30));
  // /31 (RFC 3021) and /32 have no network or broadcast address; nor IPv6.
  EXPECT_FALSE(IpAddress::Parse("10.88.0.4")->IsNetworkOrBroadcastIn(31));
  EXPECT_FALSE(IpAddress::Parse("10.88.0.4")->IsNetworkOrBroadcastIn(32));
  EXPECT_FALSE(IpAddress::Parse("fd00::")->IsNetworkOrBroadcastIn(64));
  EXPECT_FALSE(IpAddress::Parse("10.88.0.0")->IsNetworkOrBroadcastIn(-1));
}

TEST(IpAddressTest, EqualSpellingsCompareAndHashEqual) {
  absl::flat_hash_set<IpAddress> set;
  set.insert(*IpAddress::Parse("fd00::5"));
  set.insert(*IpAddress::Parse("FD00:0::5"));
  set.insert(*IpAddress::Parse("10.0.0.5"));
  EXPECT_EQ(set.size(), 2u);
  EXPECT_NE(*IpAddress::Parse("0.0.0.0"), *IpAddress::Parse("::"));
}

TEST(IpAddressTest, BracketsIPv6BeforeAPort) {
  EXPECT_EQ(IpAddress::Parse("fd00::5")->ToBracketedString(), "[fd00::5]");
  EXPECT_EQ(IpAddress::Parse("10.0.0.5")->ToBracketedString(), "10.0.0.5");
}

}  // namespace
}  // namespace hostport
