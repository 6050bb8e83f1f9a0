// EncodeNftData: set element data as the kernel stores it, byte for byte, and
// refusals that name the value; ChainsListed: chains of one table picked from
// `nft list chains`.
#include "hostport/os/nft_netlink.h"

#include <string>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hostport/os/nft_runner.h"

namespace hostport {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string Hex(const absl::StatusOr<std::string>& data) {
  EXPECT_TRUE(data.ok()) << data.status();
  return data.ok() ? absl::BytesToHexString(*data) : "";
}

TEST(EncodeNftDataTest, ConcatenationFieldsArePaddedToFourBytes) {
  EXPECT_EQ(Hex(EncodeNftData("inet_proto . inet_service", "tcp . 8080")),
            "06000000"
            "1f900000");
  EXPECT_EQ(Hex(EncodeNftData("ipv4_addr . inet_service", "10.88.0.5 . 80")),
            "0a580005"
            "00500000");
  EXPECT_EQ(Hex(EncodeNftData("ipv4_addr . inet_proto . inet_service",
                              "127.0.0.1 . udp . 53")),
            "7f000001"
            "11000000"
            "00350000");
  EXPECT_EQ(Hex(EncodeNftData("ipv6_addr . ipv6_addr", "fd00::1 . ::2")),
            "fd000000000000000000000000000001"
            "00000000000000000000000000000002");
  EXPECT_EQ(Hex(EncodeNftData("inet_proto . inet_service", "sctp . 1")),
            "84000000"
            "00010000");
}

TEST(EncodeNftDataTest, InterfaceNamesFillSixteenBytes) {
  EXPECT_EQ(Hex(EncodeNftData("ifname . ipv4_addr", "\"hp-br0\" . 10.0.0.1")),
            "68702d627230000000000000000000000a000001");
}

TEST(EncodeNftDataTest, OneFieldIsNotPadded) {
  EXPECT_EQ(Hex(EncodeNftData("inet_service", "443")), "01bb");
  EXPECT_EQ(Hex(EncodeNftData("inet_proto", "17")), "11");
}

TEST(EncodeNftDataTest, BadValuesAreNamed) {
  absl::StatusOr<std::string> port =
      EncodeNftData("inet_proto . inet_service", "tcp . 70000");
  EXPECT_EQ(port.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(port.status().message()),
              HasSubstr("\"70000\" is not a port: want 0-65535"));
  absl::StatusOr<std::string> address =
      EncodeNftData("ipv4_addr . inet_service", "fd00::1 . 80");
  EXPECT_THAT(std::string(address.status().message()),
              HasSubstr("\"fd00::1\" is not an IPv4 address"));
  absl::StatusOr<std::string> name =
      EncodeNftData("ifname . ipv4_addr", "hp-br0 . 10.0.0.1");
  EXPECT_THAT(std::string(name.status().message()),
              HasSubstr("not an interface name"));
  absl::StatusOr<std::string> fields =
      EncodeNftData("inet_proto . inet_service", "tcp");
  EXPECT_THAT(std::string(fields.status().message()),
              HasSubstr("\"tcp\" has 1 fields; type \"inet_proto . "
                        "inet_service\" has 2"));
  EXPECT_EQ(EncodeNftData("mark . inet_service", "1 . 2").status().code(),
            absl::StatusCode::kUnimplemented);
}

TEST(ChainsListedTest, OnlyTheNamedTablesChains) {
  const std::string listing =
      "table ip crio-hostports {\n"
      "\tchain hostports {\n\t}\n"
      "\tchain output {\n"
      "\t\ttype nat hook output priority -100; policy accept;\n\t}\n"
      "}\n"
      "table ip6 crio-hostports {\n"
      "\tchain prerouting {\n\t}\n"
      "}\n";
  EXPECT_THAT(ChainsListed(listing, "ip", "crio-hostports",
                           {"prerouting", "output", "hostports"}),
              ElementsAre("hostports", "output"));
  EXPECT_THAT(
      ChainsListed(listing, "ip6", "crio-hostports", {"prerouting", "output"}),
      ElementsAre("prerouting"));
  EXPECT_TRUE(ChainsListed(listing, "ip", "other", {"output"}).empty());
}

}  // namespace
}  // namespace hostport
