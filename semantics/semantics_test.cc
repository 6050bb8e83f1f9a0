#include "semantics/semantics.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace semantics {
namespace {

using hostport::Protocol;
using ::testing::HasSubstr;
using ::testing::Optional;

sim::IpAddress Ip(const char* text) { return *sim::IpAddress::Parse(text); }

Pod MakePod(std::string id, std::vector<std::string> ips,
            std::vector<PortMapping> mappings, std::string nat = "") {
  Pod p;
  p.id = id;
  p.pod.namespace_ = "ns";
  p.pod.name = id;
  p.pod.ips = std::move(ips);
  p.pod.port_mappings = std::move(mappings);
  p.nat_interface = std::move(nat);
  return p;
}

PortMapping Tcp(int host_port, std::string host_ip = "",
                int container_port = 80) {
  return {host_port, container_port, Protocol::kTCP, std::move(host_ip)};
}

struct ValidityCase {
  const char* name;
  Pod pod;
  const char* error;  // nullptr: valid
};

TEST(CheckPodTest, SaysWhatIsValid) {
  const std::vector<std::string> dual = {"10.88.0.2", "fd00:88::2"};
  Pod host_network = MakePod("h", {"bogus"}, {Tcp(0)});
  host_network.pod.host_network = true;
  Pod no_id = MakePod("", dual, {});
  Pod quote = MakePod("q", dual, {});
  quote.pod.name = "we\"b";
  const std::vector<ValidityCase> cases = {
      {"ports at the edges", MakePod("a", dual, {Tcp(1), Tcp(65535, "", 1)}),
       nullptr},
      {"host port 0", MakePod("a", dual, {Tcp(0)}), "host_port 0"},
      {"host port 65536", MakePod("a", dual, {Tcp(65536)}), "host_port 65536"},
      {"container port 0", MakePod("a", dual, {Tcp(80, "", 0)}),
       "container_port 0"},
      {"container port 65536", MakePod("a", dual, {Tcp(80, "", 65536)}),
       "container_port 65536"},
      {"unknown protocol",
       MakePod("a", dual, {{80, 80, static_cast<Protocol>(7), ""}}),
       "protocol 7"},
      {"host_ip ::1", MakePod("a", dual, {Tcp(80, "::1")}), "::1"},
      {"host_ip 127.0.0.1", MakePod("a", dual, {Tcp(80, "127.0.0.1")}),
       nullptr},
      {"host_ip IPv4-mapped", MakePod("a", dual, {Tcp(80, "::ffff:10.0.0.1")}),
       "IPv4-mapped"},
      {"host_ip link-local", MakePod("a", dual, {Tcp(80, "fe80::1")}),
       "link-local"},
      {"host_ip multicast", MakePod("a", dual, {Tcp(80, "224.0.0.1")}),
       "multicast"},
      {"host_ip not an address", MakePod("a", dual, {Tcp(80, "bogus")}),
       "not an IP address"},
      {"mappings without ips", MakePod("a", {}, {Tcp(80)}), "no ips"},
      {"no ips, no mappings", MakePod("a", {}, {}), nullptr},
      {"ip twice", MakePod("a", {"10.88.0.2", "10.88.0.2"}, {}), "twice"},
      {"loopback ip", MakePod("a", {"127.0.0.2"}, {}), "cannot be"},
      {"reserved ip", MakePod("a", {"240.0.0.1"}, {}), "cannot be"},
      {"ip 0.1.2.3", MakePod("a", {"0.1.2.3"}, {}), "cannot be"},
      {"overlap: all addresses and 0.0.0.0",
       MakePod("a", dual, {Tcp(80), Tcp(80, "0.0.0.0")}), "overlaps"},
      {"overlap: wildcard and an address",
       MakePod("a", dual, {Tcp(80, "::"), Tcp(80, "2001:db8::10")}),
       "overlaps"},
      {"overlap: one address spelled twice",
       MakePod("a", dual, {Tcp(80, "2001:db8::10"), Tcp(80, "2001:db8:0::10")}),
       "overlaps"},
      {"no overlap: 0.0.0.0 and ::",
       MakePod("a", dual, {Tcp(80, "0.0.0.0"), Tcp(80, "::")}), nullptr},
      {"no overlap: two addresses",
       MakePod("a", dual, {Tcp(80, "192.0.2.10"), Tcp(80, "192.0.3.10")}),
       nullptr},
      {"no overlap: other protocol",
       MakePod("a", dual, {Tcp(80), {80, 80, Protocol::kUDP, ""}}), nullptr},
      {"overlap whatever the pod's ips",
       MakePod("a", {"10.88.0.2"}, {Tcp(80, "::"), Tcp(80)}), "overlaps"},
      {"host network: nothing else matters", host_network, nullptr},
      {"empty id", no_id, "empty id"},
      {"quote in the name", quote, "character 0x22"},
      {"nat lo", MakePod("a", dual, {}, "lo"), nullptr},
      {"nat name too long", MakePod("a", dual, {}, "abcdefghijklmnop"),
       "15 bytes"},
      {"nat name with '/'", MakePod("a", dual, {}, "bad/name"), "0x2f"},
  };
  for (const ValidityCase& c : cases) {
    const absl::Status s = CheckPod(c.pod);
    if (c.error == nullptr) {
      EXPECT_TRUE(s.ok()) << c.name << ": " << s;
    } else {
      EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.name;
      EXPECT_THAT(std::string(s.message()), HasSubstr(c.error)) << c.name;
    }
  }
}

struct ConflictCase {
  const char* name;
  Pod a, b;
  bool conflict;
};

TEST(FindConflictTest, SameProtocolAndPortOnOverlappingAddresses) {
  const std::vector<std::string> dual_a = {"10.88.0.2", "fd00:88::2"};
  const std::vector<std::string> dual_b = {"10.88.0.3", "fd00:88::3"};
  const std::vector<ConflictCase> cases = {
      {"both everywhere", MakePod("a", dual_a, {Tcp(80)}),
       MakePod("b", dual_b, {Tcp(80)}), true},
      {"different HostIPs", MakePod("a", dual_a, {Tcp(80, "192.0.2.10")}),
       MakePod("b", dual_b, {Tcp(80, "192.0.3.10")}), false},
      {"same HostIP", MakePod("a", dual_a, {Tcp(80, "192.0.2.10")}),
       MakePod("b", dual_b, {Tcp(80, "192.0.2.10")}), true},
      {"wildcard and an address of its family",
       MakePod("a", dual_a, {Tcp(80, "0.0.0.0")}),
       MakePod("b", dual_b, {Tcp(80, "192.0.2.10")}), true},
      {"wildcard and an address of the other family",
       MakePod("a", dual_a, {Tcp(80, "0.0.0.0")}),
       MakePod("b", dual_b, {Tcp(80, "2001:db8::10")}), false},
      {"other protocol", MakePod("a", dual_a, {Tcp(80)}),
       MakePod("b", dual_b, {{80, 80, Protocol::kSCTP, ""}}), false},
      {"families the pods do not share", MakePod("a", {"10.88.0.2"}, {Tcp(80)}),
       MakePod("b", {"fd00:88::3"}, {Tcp(80)}), false},
      {"same id replaces", MakePod("a", dual_a, {Tcp(80)}),
       MakePod("a", dual_b, {Tcp(80)}), false},
  };
  for (const ConflictCase& c : cases) {
    EXPECT_EQ(FindConflict(c.a, c.b).has_value(), c.conflict) << c.name;
    EXPECT_EQ(FindConflict(c.b, c.a).has_value(), c.conflict) << c.name;
  }
  EXPECT_THAT(FindConflict(MakePod("a", dual_a, {Tcp(80, "0.0.0.0")}),
                           MakePod("b", dual_b, {Tcp(80, "192.0.2.10")})),
              Optional(HasSubstr("80/TCP on 0.0.0.0 of pod ns/a overlaps "
                                 "80/TCP on 192.0.2.10 of pod ns/b in IPv4")));
}

// eth0 192.0.2.10/24 2001:db8::10/64; hp-br0 10.88.0.1/16 fd00:88::1/64 with
// route_localnet and one bridge port per pod.
sim::HostModel Host(bool hairpin_mode = true) {
  sim::HostModel host;
  sim::HostInterface eth0;
  eth0.name = "eth0";
  eth0.addresses = {sim::IpPrefix(Ip("192.0.2.10"), 24),
                    sim::IpPrefix(Ip("2001:db8::10"), 64)};
  host.AddInterface(eth0);
  sim::HostInterface br;
  br.name = "hp-br0";
  br.addresses = {sim::IpPrefix(Ip("10.88.0.1"), 16),
                  sim::IpPrefix(Ip("fd00:88::1"), 64)};
  br.route_localnet = true;
  host.AddInterface(br);
  sim::Bridge bridge;
  bridge.name = "hp-br0";
  for (const char* pod : {"10.88.0.2", "10.88.0.3"}) {
    sim::BridgePort port;
    port.name = std::string("veth-") + pod;
    port.addresses = {Ip(pod)};
    port.hairpin_mode = hairpin_mode;
    bridge.ports.push_back(port);
  }
  host.AddBridge(bridge);
  return host;
}

sim::Packet From(sim::PacketOrigin::Kind kind, const char* src, const char* dst,
                 int port, sim::Protocol protocol = sim::Protocol::kTcp) {
  sim::Packet p;
  p.protocol = protocol;
  p.src = Ip(src);
  p.dst = Ip(dst);
  p.dst_port = static_cast<uint16_t>(port);
  p.origin.kind = kind;
  if (kind == sim::PacketOrigin::Kind::kExternal) p.origin.interface = "eth0";
  if (kind == sim::PacketOrigin::Kind::kPod) p.origin.pod = Ip(src);
  return p;
}

TEST(ClaimantTest, OnlyLocalDestinationsOnTheMappingsAddress) {
  const std::vector<Pod> pods = {
      MakePod("a", {"10.88.0.2"}, {Tcp(8080), Tcp(9090, "192.0.2.10")}),
      MakePod("b", {"10.88.0.3"}, {Tcp(9090, "10.88.0.1")})};
  const sim::HostModel host = Host();
  using K = sim::PacketOrigin::Kind;
  std::optional<Claim> c = Claimant(
      pods, host, From(K::kExternal, "203.0.113.7", "192.0.2.10", 8080));
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->pod, &pods[0]);
  EXPECT_EQ(c->mapping, &pods[0].pod.port_mappings[0]);
  c = Claimant(pods, host, From(K::kLocal, "10.88.0.1", "10.88.0.1", 9090));
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->pod, &pods[1]);
  // Not local: the host's own traffic to another machine's port.
  EXPECT_FALSE(
      Claimant(pods, host, From(K::kLocal, "192.0.2.10", "192.0.2.99", 8080)));
  EXPECT_FALSE(Claimant(pods, host,
                        From(K::kLocal, "192.0.2.10", "198.51.100.9", 8080)));
  // Other protocol, other family, other port.
  EXPECT_FALSE(Claimant(
      pods, host,
      From(K::kLocal, "192.0.2.10", "192.0.2.10", 8080, sim::Protocol::kUdp)));
  EXPECT_FALSE(Claimant(pods, host,
                        From(K::kLocal, "2001:db8::10", "2001:db8::10", 8080)));
  EXPECT_FALSE(
      Claimant(pods, host, From(K::kLocal, "192.0.2.10", "192.0.2.10", 8081)));
}

struct ExpectCase {
  const char* name;
  sim::Packet packet;
  const char* text;
};

TEST(ExpectTest, WhereEachClientEnds) {
  using K = sim::PacketOrigin::Kind;
  const std::vector<Pod> pods = {
      MakePod("a", {"10.88.0.2", "fd00:88::2"},
              {Tcp(8080, "", 80), Tcp(9000, "127.0.0.1", 90)}, "hp-br0"),
      MakePod("b", {"10.88.0.3"}, {Tcp(7000, "", 70)})};
  const sim::HostModel host = Host();
  const std::vector<ExpectCase> cases = {
      {"outside", From(K::kExternal, "203.0.113.7", "192.0.2.10", 8080),
       "reaches 10.88.0.2:80, sees 203.0.113.7"},
      {"outside, IPv6", From(K::kExternal, "2001:db8::7", "2001:db8::10", 8080),
       "reaches [fd00:88::2]:80, sees 2001:db8::7"},
      {"outside to 127.0.0.1, wildcard",
       From(K::kExternal, "203.0.113.7", "127.0.0.1", 8080),
       "reaches 10.88.0.2:80, sees 203.0.113.7"},
      {"outside to a loopback-bound port",
       From(K::kExternal, "203.0.113.7", "127.0.0.1", 9000), "blocked"},
      {"outside to ::1", From(K::kExternal, "2001:db8::7", "::1", 8080),
       "blocked"},
      {"host to 127.0.0.1 with a NAT interface",
       From(K::kLocal, "127.0.0.1", "127.0.0.1", 9000),
       "reaches 10.88.0.2:90, sees 10.88.0.1"},
      {"host to 127.0.0.1 without one",
       From(K::kLocal, "127.0.0.1", "127.0.0.1", 7000), "blocked"},
      {"host to ::1", From(K::kLocal, "::1", "::1", 8080), "blocked"},
      {"host to its address", From(K::kLocal, "192.0.2.10", "192.0.2.10", 8080),
       "reaches 10.88.0.2:80, sees 192.0.2.10"},
      {"host to a neighbour on a mapped port",
       From(K::kLocal, "192.0.2.10", "192.0.2.99", 8080),
       "reaches 192.0.2.99:8080, sees 192.0.2.10"},
      {"host to an unrouted address on a mapped port",
       From(K::kLocal, "192.0.2.10", "198.51.100.9", 8080), "blocked"},
      {"unmapped port", From(K::kExternal, "203.0.113.7", "192.0.2.10", 8081),
       "host socket"},
      {"unmapped port on 127.0.0.1 from outside",
       From(K::kExternal, "203.0.113.7", "127.0.0.1", 8081), "blocked"},
      {"another pod", From(K::kPod, "10.88.0.3", "192.0.2.10", 8080),
       "reaches 10.88.0.2:80, sees 10.88.0.3"},
      {"hairpin", From(K::kPod, "10.88.0.2", "192.0.2.10", 8080),
       "reaches 10.88.0.2:80, sees 10.88.0.1"},
  };
  for (const ExpectCase& c : cases) {
    EXPECT_EQ(Expect(pods, host, c.packet).Text(), c.text) << c.name;
  }
  EXPECT_EQ(Expect(pods, Host(/*hairpin_mode=*/false),
                   From(K::kPod, "10.88.0.2", "192.0.2.10", 8080))
                .Text(),
            "blocked");
}

}  // namespace
}  // namespace semantics
