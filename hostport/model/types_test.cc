#include "hostport/model/types.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hostport {
namespace {

TEST(TypesTest, ProtocolsParseCaseInsensitively) {
  EXPECT_EQ(*ParseProtocol("tcp"), Protocol::kTCP);
  EXPECT_EQ(*ParseProtocol("Udp"), Protocol::kUDP);
  EXPECT_EQ(*ParseProtocol("SCTP"), Protocol::kSCTP);
  EXPECT_EQ(ProtocolName(Protocol::kSCTP), "SCTP");
  EXPECT_EQ(ProtocolKeyword(Protocol::kUDP), "udp");
}

TEST(TypesTest, UnknownProtocolNamesTextAndValidValues) {
  absl::StatusOr<Protocol> p = ParseProtocol("icmp");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().message(),
            "unknown protocol \"icmp\": want TCP, UDP or SCTP (any case)");
}

TEST(TypesTest, Families) {
  EXPECT_EQ(*ParseIPFamily("4"), IPFamily::kIPv4);
  EXPECT_EQ(*ParseIPFamily("6"), IPFamily::kIPv6);
  EXPECT_EQ(IPFamilyName(IPFamily::kIPv6), "6");
  EXPECT_FALSE(ParseIPFamily("ipv4").ok());
}

}  // namespace
}  // namespace hostport
