#include "sim/host_model.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sim {
namespace {

using ::testing::HasSubstr;

constexpr char kHost[] = R"json({
  "interfaces": [
    {"name": "eth0", "addresses": ["192.0.2.10/24", "2001:db8::10/64"]},
    {"name": "hp-br0", "addresses": ["10.88.0.1/16", "fd00:88::1/64"],
     "route_localnet": true}],
  "routes": [{"to": "10.88.0.0/16", "dev": "hp-br0"},
             {"to": "fd00:88::/64", "dev": "hp-br0"},
             {"to": "default", "dev": "eth0"}],
  "bridges": [{"name": "hp-br0", "br_netfilter": true,
               "ports": [{"name": "veth1", "addresses": ["10.88.0.5", "fd00:88::5"],
                          "hairpin_mode": true},
                         {"name": "veth2", "addresses": ["10.88.0.6"]}]}]
})json";

IpAddress Addr(const char* s) { return *IpAddress::Parse(s); }

TEST(HostModelTest, ParsesTheDesignExample) {
  absl::StatusOr<HostModel> host = HostModel::FromJson(kHost);
  ASSERT_TRUE(host.ok()) << host.status();
  ASSERT_NE(host->FindInterface("lo"), nullptr);
  EXPECT_TRUE(host->FindInterface("hp-br0")->route_localnet);
  EXPECT_FALSE(host->FindInterface("eth0")->route_localnet);
  EXPECT_TRUE(host->IsLocal(Addr("127.3.4.5")));
  EXPECT_TRUE(host->IsLocal(Addr("::1")));
  EXPECT_TRUE(host->IsLocal(Addr("10.88.0.1")));
  EXPECT_FALSE(host->IsLocal(Addr("10.88.0.5")));
  EXPECT_EQ(host->Route(Addr("10.88.0.5"))->name, "hp-br0");
  EXPECT_EQ(host->Route(Addr("fd00:88::5"))->name, "hp-br0");
  EXPECT_EQ(host->Route(Addr("8.8.8.8"))->name, "eth0");
  EXPECT_EQ(host->Route(Addr("2606::1"))->name, "eth0");
  EXPECT_EQ(host->Route(Addr("192.0.2.10"))->name, "lo");
  EXPECT_EQ(
      host->SourceAddress(*host->FindInterface("hp-br0"), Addr("10.88.0.5"))
          ->ToString(),
      "10.88.0.1");
  EXPECT_EQ(
      host->SourceAddress(*host->FindInterface("hp-br0"), Addr("fd00:88::5"))
          ->ToString(),
      "fd00:88::1");
  const Bridge* bridge = nullptr;
  const BridgePort* port = host->FindBridgePort(Addr("10.88.0.6"), &bridge);
  ASSERT_NE(port, nullptr);
  EXPECT_EQ(port->name, "veth2");
  EXPECT_TRUE(port->hairpin_mode);  // the default
  EXPECT_EQ(bridge->name, "hp-br0");
}

TEST(HostModelTest, WithoutRoutesOnlyConnectedPrefixesRoute) {
  absl::StatusOr<HostModel> host = HostModel::FromJson(
      R"({"interfaces": [{"name": "eth0", "addresses": ["192.0.2.10/24"]}]})");
  ASSERT_TRUE(host.ok());
  EXPECT_EQ(host->Route(Addr("192.0.2.99"))->name, "eth0");
  EXPECT_EQ(host->Route(Addr("8.8.8.8")), nullptr);
  EXPECT_TRUE(HostModel::FromJson("{}").ok());
}

TEST(HostModelTest, ErrorsNameTheBadValue) {
  struct Case {
    const char* json;
    const char* message;
  };
  for (
      const Case& c : {
          Case{"[", "not valid JSON"},
          Case{R"({"interfaces": [{"name": "eth0", "route_localnt": true}]})",
               "unknown key \"route_localnt\""},
          Case{
              R"({"interfaces": [{"name": "eth0", "addresses": ["10.0.0.300/8"]}]})",
              "10.0.0.300/8"},
          Case{R"({"routes": [{"to": "10.0.0.0/8", "dev": "eth9"}]})",
               "no interface \"eth9\""},
          Case{R"({"bridges": [{"name": "br9"}]})", "br9"},
          Case{R"({"interfaces": [{"name": "eth0", "route_localnet": "yes"}]})",
               "route_localnet"},
          Case{R"({"interfaces": {}})", "interfaces"},
      }) {
    absl::StatusOr<HostModel> host = HostModel::FromJson(c.json);
    ASSERT_FALSE(host.ok()) << c.json;
    EXPECT_THAT(std::string(host.status().message()), HasSubstr(c.message))
        << c.json;
  }
  absl::Status s =
      HostModel::FromJson(
          R"({"interfaces": [{"name": "eth0", "route_localnt": 1}]})")
          .status();
  EXPECT_THAT(std::string(s.message()), HasSubstr("interfaces[0]"));
}

TEST(HostModelTest, SourceAddressSkipsLinkLocal) {
  absl::StatusOr<HostModel> host = HostModel::FromJson(R"({"interfaces": [
    {"name": "eth0", "addresses": ["fe80::1/64", "2001:db8::10/64"]}]})");
  ASSERT_TRUE(host.ok());
  const HostInterface& eth0 = *host->FindInterface("eth0");
  EXPECT_EQ(host->SourceAddress(eth0, Addr("2606::1"))->ToString(),
            "2001:db8::10");
  EXPECT_EQ(host->SourceAddress(eth0, Addr("fe80::9"))->ToString(), "fe80::1");
}

// The kernel's local route for a secondary IPv4 address carries the
// primary's address as its source (`ip route get 192.0.2.11` says "src
// 192.0.2.10"): a local process talking to its host's secondary address is
// seen from the primary. IPv6 picks the destination itself (RFC 6724 rule 1).
TEST(HostModelTest, LocalSourceOfASecondaryAddressIsThePrimary) {
  absl::StatusOr<HostModel> host = HostModel::FromJson(R"json({
    "interfaces": [{"name": "eth0", "addresses": [
      "192.0.2.10/24", "192.0.2.11/24", "198.51.100.7/32",
      "2001:db8::10/64", "2001:db8::11/64"]}]})json");
  ASSERT_TRUE(host.ok()) << host.status();
  EXPECT_EQ(host->LocalSource(Addr("192.0.2.11")), Addr("192.0.2.10"));
  EXPECT_EQ(host->LocalSource(Addr("192.0.2.10")), Addr("192.0.2.10"));
  EXPECT_EQ(host->LocalSource(Addr("198.51.100.7")), Addr("198.51.100.7"));
  EXPECT_EQ(host->LocalSource(Addr("127.0.0.5")), Addr("127.0.0.1"));
  EXPECT_EQ(host->LocalSource(Addr("2001:db8::11")), Addr("2001:db8::11"));
  EXPECT_EQ(host->LocalSource(Addr("::1")), Addr("::1"));
}

TEST(HostModelTest, FromIpCommands) {
  constexpr char kAddr[] = R"([
    {"ifindex": 1, "ifname": "lo", "addr_info": [
      {"family": "inet", "local": "127.0.0.1", "prefixlen": 8}]},
    {"ifindex": 2, "ifname": "eth0", "addr_info": [
      {"family": "inet", "local": "192.0.2.10", "prefixlen": 24},
      {"family": "inet6", "local": "2001:db8::10", "prefixlen": 64}]}])";
  constexpr char kRoute4[] = R"([
    {"dst": "default", "gateway": "192.0.2.1", "dev": "eth0"},
    {"dst": "10.88.0.0/16", "dev": "eth0"}])";
  constexpr char kRoute6[] = R"([
    {"dst": "default", "gateway": "2001:db8::1", "dev": "eth0"}])";
  absl::StatusOr<HostModel> host =
      HostModel::FromIpJson(kAddr, {kRoute4, kRoute6}, {{"eth0", true}});
  ASSERT_TRUE(host.ok()) << host.status();
  EXPECT_TRUE(host->FindInterface("eth0")->route_localnet);
  EXPECT_EQ(host->Route(Addr("8.8.8.8"))->name, "eth0");
  EXPECT_EQ(host->Route(Addr("2606::1"))->name, "eth0");
  EXPECT_TRUE(host->IsLocal(Addr("::1")));
  EXPECT_FALSE(HostModel::FromIpJson("{", {}, {}).ok());
}

}  // namespace
}  // namespace sim
