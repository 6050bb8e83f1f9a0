#include "sim/ip_address.h"

#include <arpa/inet.h>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace sim {
namespace {

TEST(IpAddressTest, ParsesAndPrintsBothFamilies) {
  struct Case {
    const char* text;
    const char* printed;
    IpFamily family;
  };
  for (const Case& c : {Case{"10.0.0.1", "10.0.0.1", IpFamily::kV4},
                        Case{"fd00:0:0::5", "fd00::5", IpFamily::kV6},
                        Case{"::1", "::1", IpFamily::kV6},
                        Case{"2001:DB8::10", "2001:db8::10", IpFamily::kV6}}) {
    absl::StatusOr<IpAddress> a = IpAddress::Parse(c.text);
    ASSERT_TRUE(a.ok()) << c.text;
    EXPECT_EQ(a->ToString(), c.printed);
    EXPECT_EQ(a->family(), c.family);
    EXPECT_EQ(*IpAddress::Parse(a->ToString()), *a);
  }
  for (const char* bad :
       {"", "10.0.0", "10.0.0.256", "fd00::5::1", "x", "10.0.0.1/8"}) {
    absl::StatusOr<IpAddress> a = IpAddress::Parse(bad);
    EXPECT_FALSE(a.ok()) << bad;
    if (!a.ok()) {
      EXPECT_NE(a.status().message().find(bad), std::string::npos);
    }
  }
}

// IPv4 is printed without inet_ntop; it must print what inet_ntop does.
TEST(IpAddressTest, PrintsEveryIpv4ByteAsInetNtop) {
  for (int b = 0; b < 256; ++b) {
    uint8_t bytes[4] = {static_cast<uint8_t>(b), 0, static_cast<uint8_t>(b),
                        static_cast<uint8_t>(255 - b)};
    IpAddress a = IpAddress::FromBytes(IpFamily::kV4, bytes);
    char want[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, bytes, want, sizeof(want));
    EXPECT_EQ(a.ToString(), want);
    EXPECT_EQ(a.WithPort(static_cast<uint16_t>(b * 257)),
              absl::StrCat(want, ":", b * 257));
  }
  EXPECT_EQ(IpAddress::Parse("255.255.255.255")->WithPort(65535),
            "255.255.255.255:65535");
  EXPECT_EQ(IpAddress::Parse("fd00::5")->WithPort(80), "[fd00::5]:80");
}

TEST(IpAddressTest, EqualityComparesFamilyAndAllBytes) {
  EXPECT_EQ(*IpAddress::Parse("10.0.0.1"), IpAddress::V4(0x0a000001));
  EXPECT_NE(*IpAddress::Parse("10.0.0.1"), *IpAddress::Parse("10.0.0.2"));
  EXPECT_NE(*IpAddress::Parse("::"), IpAddress());  // same bytes, not family
  EXPECT_NE(*IpAddress::Parse("fd00::1"), *IpAddress::Parse("fd00::2"));
}

TEST(IpAddressTest, Loopback) {
  EXPECT_TRUE(IpAddress::Parse("127.0.0.1")->IsLoopback());
  EXPECT_TRUE(IpAddress::Parse("127.255.0.9")->IsLoopback());
  EXPECT_TRUE(IpAddress::Parse("::1")->IsLoopback());
  EXPECT_FALSE(IpAddress::Parse("::2")->IsLoopback());
  EXPECT_FALSE(IpAddress::Parse("128.0.0.1")->IsLoopback());
}

TEST(IpPrefixTest, ContainsAndPrints) {
  IpPrefix p = *IpPrefix::Parse("10.88.0.1/16");
  EXPECT_TRUE(p.Contains(*IpAddress::Parse("10.88.255.1")));
  EXPECT_FALSE(p.Contains(*IpAddress::Parse("10.89.0.1")));
  EXPECT_FALSE(p.Contains(*IpAddress::Parse("::1")));
  EXPECT_EQ(p.ToString(), "10.88.0.1/16");
  EXPECT_EQ(IpPrefix::Parse("fd00::5")->ToString(), "fd00::5/128");
  IpPrefix odd = *IpPrefix::Parse("fd00:88::/61");
  EXPECT_TRUE(odd.Contains(*IpAddress::Parse("fd00:88:0:7::1")));
  EXPECT_FALSE(odd.Contains(*IpAddress::Parse("fd00:88:0:8::1")));
  EXPECT_FALSE(IpPrefix::Parse("10.0.0.0/33").ok());
  EXPECT_FALSE(IpPrefix::Parse("10.0.0.0/x").ok());
}

TEST(EndpointTest, ParsesBothFamiliesAndNamesBadValues) {
  IpAddress a;
  uint16_t port;
  ASSERT_TRUE(ParseEndpoint("10.0.0.5:80", false, &a, &port).ok());
  EXPECT_EQ(a.WithPort(port), "10.0.0.5:80");
  ASSERT_TRUE(ParseEndpoint("[fd00::5]:80", false, &a, &port).ok());
  EXPECT_EQ(a.WithPort(port), "[fd00::5]:80");
  ASSERT_TRUE(ParseEndpoint("fd00::5", true, &a, &port).ok());
  EXPECT_EQ(port, 0);
  EXPECT_FALSE(ParseEndpoint("fd00::5", false, &a, &port).ok());
  absl::Status s = ParseEndpoint("10.0.0.5:0", false, &a, &port);
  EXPECT_NE(s.message().find("\"0\""), std::string::npos) << s;
  EXPECT_FALSE(ParseEndpoint("[fd00::5", false, &a, &port).ok());
  EXPECT_FALSE(ParseEndpoint("10.0.0.5:", false, &a, &port).ok());
}

}  // namespace
}  // namespace sim
