// Packet-flow tables over the rulesets of each peer shape, and the walk's
// corner cases.
#include "sim/simulator.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"
#include "sim/iptables_parser.h"
#include "sim/nft_parser.h"
#include "sim/testing/flow_table.h"

namespace sim {
namespace {

using ::sim::testing::ExpectFlows;
using ::sim::testing::Flow;
using ::sim::testing::MakeSimulator;
using ::sim::testing::PacketForFlow;
using ::sim::testing::ReadTestFile;
using ::testing::HasSubstr;

// A kube-proxy node: eth0 192.0.2.10, pods on cni0 (10.244.0.0/24).
std::string NodeHost() {
  return ReadTestFile("sim/testdata/kube-node-host.json");
}

// eth0 faces the world; cni0 is the pods' bridge with two pods.
constexpr char kBridgeHost[] = R"json({
  "interfaces": [
    {"name": "eth0", "addresses": ["192.0.2.10/24", "2001:db8::10/64"]},
    {"name": "cni0", "addresses": ["10.88.0.1/16", "fd00:88::1/64"],
     "route_localnet": true}],
  "routes": [{"to": "default", "dev": "eth0"}],
  "bridges": [{"name": "cni0", "ports": [
    {"name": "veth1", "addresses": ["10.88.0.5", "fd00:88::5"]},
    {"name": "veth2", "addresses": ["10.88.0.7", "fd00:88::7"]}]}]
})json";

constexpr char kBridgeHostNoRouteLocalnet[] = R"json({
  "interfaces": [
    {"name": "eth0", "addresses": ["192.0.2.10/24"]},
    {"name": "cni0", "addresses": ["10.88.0.1/16"]}],
  "routes": [{"to": "default", "dev": "eth0"}],
  "bridges": [{"name": "cni0", "ports": [
    {"name": "veth1", "addresses": ["10.88.0.5"]}]}]
})json";

constexpr char kBridgeHostNoHairpin[] = R"json({
  "interfaces": [
    {"name": "eth0", "addresses": ["192.0.2.10/24"]},
    {"name": "cni0", "addresses": ["10.88.0.1/16"], "route_localnet": true}],
  "routes": [{"to": "default", "dev": "eth0"}],
  "bridges": [{"name": "cni0", "ports": [
    {"name": "veth1", "addresses": ["10.88.0.5"], "hairpin_mode": false},
    {"name": "veth2", "addresses": ["10.88.0.7"]}]}]
})json";

constexpr char kBridgeHostNoBrNetfilter[] = R"json({
  "interfaces": [
    {"name": "eth0", "addresses": ["192.0.2.10/24"]},
    {"name": "cni0", "addresses": ["10.88.0.1/16"], "route_localnet": true}],
  "routes": [{"to": "default", "dev": "eth0"}],
  "bridges": [{"name": "cni0", "br_netfilter": false, "ports": [
    {"name": "veth1", "addresses": ["10.88.0.5"]},
    {"name": "veth2", "addresses": ["10.88.0.7"]}]}]
})json";

// The real dump of the CNI portmap plugin (see testdata/README): 8080/tcp →
// 10.88.0.5:80, snat on.
TEST(CniPortmapTest, FixtureBehavesAsTheKernelDoes) {
  std::string rules = ReadTestFile("sim/testdata/cni-portmap-v4.iptables-save");
  auto sim = MakeSimulator(rules, "", "", kBridgeHost);
  ASSERT_NE(sim, nullptr);
  ExpectFlows(
      *sim,
      {
          {"external to host address", "external:eth0", "198.51.100.9",
           "192.0.2.10:8080", "tcp", "delivered", "10.88.0.5:80",
           "198.51.100.9"},
          {"external to bridge address", "external", "", "10.88.0.1:8080",
           "tcp", "delivered", "10.88.0.5:80", "203.0.113.7"},
          {"host process to 127.0.0.1 is marked and masqueraded", "local", "",
           "127.0.0.1:8080", "tcp", "delivered", "10.88.0.5:80", "10.88.0.1"},
          {"host process to its own address keeps its source", "local", "",
           "192.0.2.10:8080", "tcp", "delivered", "10.88.0.5:80", "192.0.2.10"},
          {"pod to its own hostport (hairpin, masqueraded)", "pod:10.88.0.5",
           "", "192.0.2.10:8080", "tcp", "delivered", "10.88.0.5:80",
           "10.88.0.1"},
          {"other pod in 10.88/16 is masqueraded too", "pod:10.88.0.7", "",
           "192.0.2.10:8080", "tcp", "delivered", "10.88.0.5:80", "10.88.0.1"},
          {"non-mapped port from outside stays local", "external", "",
           "192.0.2.10:8081", "tcp", "local", "192.0.2.10:8081", "203.0.113.7"},
          {"non-mapped port from the host stays local", "local", "",
           "127.0.0.1:8081", "tcp", "local", "127.0.0.1:8081", "127.0.0.1"},
          {"127.0.0.1 in a pod is the pod's own loopback", "pod:10.88.0.5", "",
           "127.0.0.1:8080", "tcp", "delivered", "127.0.0.1:8080", "127.0.0.1"},
          {"non-mapped port from the pod stays local", "pod:10.88.0.5", "",
           "10.88.0.1:8081", "tcp", "local", "10.88.0.1:8081", "10.88.0.5"},
          {"udp is not mapped", "external", "", "192.0.2.10:8080", "udp",
           "local", "192.0.2.10:8080", ""},
          {"non-local destination is just forwarded", "external", "",
           "198.51.100.1:8080", "tcp", "delivered", "198.51.100.1:8080",
           "203.0.113.7"},
      });
}

TEST(CniPortmapTest, TraceReadsLikeTheRules) {
  std::string rules = ReadTestFile("sim/testdata/cni-portmap-v4.iptables-save");
  auto sim = MakeSimulator(rules, "", "", kBridgeHost);
  ASSERT_NE(sim, nullptr);
  Packet p;
  p.dst = *IpAddress::Parse("192.0.2.10");
  p.dst_port = 8080;
  absl::StatusOr<TraceResult> r = sim->Trace(p);
  ASSERT_TRUE(r.ok()) << r.status();
  std::string trace = absl::StrJoin(r->trace, "\n");
  EXPECT_THAT(trace, HasSubstr("nat/PREROUTING rule 1: -m addrtype --dst-type "
                               "LOCAL -j CNI-HOSTPORT-DNAT → jump "
                               "CNI-HOSTPORT-DNAT"));
  EXPECT_THAT(trace, HasSubstr("DNAT 192.0.2.10:8080 → 10.88.0.5:80"));
  ASSERT_EQ(r->bindings.size(), 1u);
  EXPECT_EQ(r->bindings[0].after, "10.88.0.5:80");
  EXPECT_EQ(r->out_interface, "cni0");
}

TEST(CniPortmapTest, LocalhostNeedsRouteLocalnet) {
  std::string rules = ReadTestFile("sim/testdata/cni-portmap-v4.iptables-save");
  auto sim = MakeSimulator(rules, "", "", kBridgeHostNoRouteLocalnet);
  ASSERT_NE(sim, nullptr);
  ExpectFlows(
      *sim,
      {
          {"127.0.0.1 source routed out cni0 is martian", "local", "",
           "127.0.0.1:8080", "tcp", "dropped", "", "", "route_localnet=0"},
          {"external is unaffected", "external", "", "192.0.2.10:8080", "tcp",
           "delivered", "10.88.0.5:80", "203.0.113.7"},
          {"127/8 source from outside is martian", "external:eth0", "127.0.0.5",
           "192.0.2.10:8080", "tcp", "dropped", "", "", "martian source"},
      });
}

// DESIGN §4's CRI-O/hostport iptables shape: wildcard 8080 → :80, HostIP
// 192.0.2.10 9090 → :90, hairpin masquerade for the pod.
constexpr char kHostportV4[] = R"(*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-HOSTPORTS - [0:0]
:KUBE-HP-IJHALPHTORMHHPPK - [0:0]
:KUBE-HP-SKQ6QP2DHJ7ZIKME - [0:0]
:CRIO-HOSTPORTS-MASQ - [0:0]
:CRIO-MASQ-IJHALPHTORMHHPPK - [0:0]
-A PREROUTING -m comment --comment "kube hostport portals" -m addrtype --dst-type LOCAL -j KUBE-HOSTPORTS
-A OUTPUT -m comment --comment "kube hostport portals" -m addrtype --dst-type LOCAL -j KUBE-HOSTPORTS
-A POSTROUTING -m conntrack --ctstate DNAT -j CRIO-HOSTPORTS-MASQ
-A KUBE-HOSTPORTS -p tcp -m comment --comment "default/web hostport 8080" -m tcp --dport 8080 -j KUBE-HP-IJHALPHTORMHHPPK
-A KUBE-HOSTPORTS -p tcp -m comment --comment "default/web hostport 9090" -m tcp --dport 9090 -j KUBE-HP-SKQ6QP2DHJ7ZIKME
-A KUBE-HP-IJHALPHTORMHHPPK -p tcp -m comment --comment "default/web hostport 8080" -m tcp -j DNAT --to-destination 10.88.0.5:80
-A KUBE-HP-SKQ6QP2DHJ7ZIKME -d 192.0.2.10/32 -p tcp -m comment --comment "default/web hostport 9090" -m tcp -j DNAT --to-destination 10.88.0.5:90
-A CRIO-HOSTPORTS-MASQ -m comment --comment "default/web hairpin" -j CRIO-MASQ-IJHALPHTORMHHPPK
-A CRIO-MASQ-IJHALPHTORMHHPPK -s 10.88.0.5/32 -d 10.88.0.5/32 -j MASQUERADE
COMMIT
)";

constexpr char kHostportV6[] = R"(*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-HOSTPORTS - [0:0]
:KUBE-HP-IJHALPHTORMHHPPK - [0:0]
:KUBE-HP-V6SPECIFIC9090 - [0:0]
:CRIO-HOSTPORTS-MASQ - [0:0]
:CRIO-MASQ-IJHALPHTORMHHPPK - [0:0]
-A PREROUTING -m comment --comment "kube hostport portals" -m addrtype --dst-type LOCAL -j KUBE-HOSTPORTS
-A OUTPUT -m comment --comment "kube hostport portals" -m addrtype --dst-type LOCAL -j KUBE-HOSTPORTS
-A POSTROUTING -m conntrack --ctstate DNAT -j CRIO-HOSTPORTS-MASQ
-A KUBE-HOSTPORTS -p tcp -m comment --comment "default/web hostport 8080" -m tcp --dport 8080 -j KUBE-HP-IJHALPHTORMHHPPK
-A KUBE-HOSTPORTS -p tcp -m comment --comment "default/web hostport 9090" -m tcp --dport 9090 -j KUBE-HP-V6SPECIFIC9090
-A KUBE-HP-IJHALPHTORMHHPPK -p tcp -m tcp -j DNAT --to-destination [fd00:88::5]:80
-A KUBE-HP-V6SPECIFIC9090 -d 2001:db8::10/128 -p tcp -m tcp -j DNAT --to-destination [fd00:88::5]:90
-A CRIO-HOSTPORTS-MASQ -j CRIO-MASQ-IJHALPHTORMHHPPK
-A CRIO-MASQ-IJHALPHTORMHHPPK -s fd00:88::5/128 -d fd00:88::5/128 -j MASQUERADE
COMMIT
)";

std::vector<Flow> HostportFlowsV4() {
  return {
      {"external to HostIP-less mapping", "external", "", "192.0.2.10:8080",
       "tcp", "delivered", "10.88.0.5:80", "203.0.113.7"},
      {"external to another local address, wildcard", "external", "",
       "10.88.0.1:8080", "tcp", "delivered", "10.88.0.5:80", "203.0.113.7"},
      {"external to the specific HostIP", "external", "", "192.0.2.10:9090",
       "tcp", "delivered", "10.88.0.5:90", "203.0.113.7"},
      {"specific HostIP does not map other addresses", "external", "",
       "10.88.0.1:9090", "tcp", "local", "10.88.0.1:9090", "203.0.113.7"},
      {"hairpin is masqueraded", "pod:10.88.0.5", "", "192.0.2.10:8080", "tcp",
       "delivered", "10.88.0.5:80", "10.88.0.1"},
      {"other pod keeps its source (br_netfilter)", "pod:10.88.0.7", "",
       "192.0.2.10:8080", "tcp", "delivered", "10.88.0.5:80", "10.88.0.7"},
      {"host process to its address", "local", "", "192.0.2.10:8080", "tcp",
       "delivered", "10.88.0.5:80", "192.0.2.10"},
      {"host process to 127.0.0.1 without masquerade fails", "local", "",
       "127.0.0.1:8080", "tcp", "dropped", "", "", "unmasqueraded"},
      {"udp is not mapped", "external", "", "192.0.2.10:8080", "udp", "local",
       "", ""},
      {"sctp is not mapped", "external", "", "192.0.2.10:8080", "sctp", "local",
       "", ""},
  };
}

std::vector<Flow> HostportFlowsV6() {
  return {
      {"v6 external", "external", "", "[2001:db8::10]:8080", "tcp", "delivered",
       "[fd00:88::5]:80", "2001:db8:ffff::7"},
      {"v6 external to bridge address", "external", "2001:db8::99",
       "[fd00:88::1]:8080", "tcp", "delivered", "[fd00:88::5]:80",
       "2001:db8::99"},
      {"v6 hairpin is masqueraded", "pod:fd00:88::5", "", "[2001:db8::10]:8080",
       "tcp", "delivered", "[fd00:88::5]:80", "fd00:88::1"},
      {"v6 host process to its address", "local", "", "[2001:db8::10]:8080",
       "tcp", "delivered", "[fd00:88::5]:80", "2001:db8::10"},
      {"::1 never leaves loopback", "local", "", "[::1]:8080", "tcp", "dropped",
       "", "", "::1 never leaves loopback"},
      {"::1 arriving from outside is dropped", "external:eth0", "",
       "[::1]:8080", "tcp", "dropped", "", "", "IPv6 ::1"},
      {"v6 unmapped port", "external", "", "[2001:db8::10]:8081", "tcp",
       "local", "[2001:db8::10]:8081", ""},
      {"v6 specific HostIP", "external", "", "[2001:db8::10]:9090", "tcp",
       "delivered", "[fd00:88::5]:90", "2001:db8:ffff::7"},
      {"v6 specific HostIP does not map other addresses", "external", "",
       "[fd00:88::1]:9090", "tcp", "local", "[fd00:88::1]:9090", ""},
  };
}

TEST(HostportIptablesTest, BothFamilies) {
  auto sim = MakeSimulator(kHostportV4, kHostportV6, "", kBridgeHost);
  ASSERT_NE(sim, nullptr);
  ExpectFlows(*sim, HostportFlowsV4());
  ExpectFlows(*sim, HostportFlowsV6());
}

TEST(HostportIptablesTest, HairpinWithoutMasqueradeFails) {
  std::string rules = kHostportV4;
  rules.replace(rules.find("-A CRIO-MASQ-IJHALPHTORMHHPPK"),
                std::string("-A CRIO-MASQ-IJHALPHTORMHHPPK -s 10.88.0.5/32 -d "
                            "10.88.0.5/32 -j MASQUERADE\n")
                    .size(),
                "");
  auto sim = MakeSimulator(rules, "", "", kBridgeHost);
  ASSERT_NE(sim, nullptr);
  ExpectFlows(
      *sim, {
                {"hairpin unmasqueraded", "pod:10.88.0.5", "",
                 "192.0.2.10:8080", "tcp", "dropped", "10.88.0.5:80",
                 "10.88.0.5", "hairpin without masquerade"},
                {"other pod still fine", "pod:10.88.0.7", "", "192.0.2.10:8080",
                 "tcp", "delivered", "10.88.0.5:80", "10.88.0.7"},
            });
}

TEST(HostportIptablesTest, HairpinModeOffFailsEvenMasqueraded) {
  auto sim = MakeSimulator(kHostportV4, "", "", kBridgeHostNoHairpin);
  ASSERT_NE(sim, nullptr);
  ExpectFlows(
      *sim, {
                {"hairpin_mode off", "pod:10.88.0.5", "", "192.0.2.10:8080",
                 "tcp", "dropped", "", "", "hairpin_mode off"},
                {"other pod unaffected", "pod:10.88.0.7", "", "192.0.2.10:8080",
                 "tcp", "delivered", "10.88.0.5:80", "10.88.0.7"},
            });
}

TEST(HostportIptablesTest, WithoutBrNetfilterRepliesBypassConntrack) {
  auto sim = MakeSimulator(kHostportV4, "", "", kBridgeHostNoBrNetfilter);
  ASSERT_NE(sim, nullptr);
  ExpectFlows(
      *sim,
      {
          {"pod to pod via hostport, unmasqueraded", "pod:10.88.0.7", "",
           "192.0.2.10:8080", "tcp", "dropped", "", "", "br_netfilter off"},
          {"pod to pod directly is bridged", "pod:10.88.0.7", "",
           "10.88.0.5:80", "tcp", "delivered", "10.88.0.5:80", "10.88.0.7"},
          {"hairpin masqueraded still works", "pod:10.88.0.5", "",
           "192.0.2.10:8080", "tcp", "delivered", "10.88.0.5:80", "10.88.0.1"},
      });
}

// DESIGN §4's nftables shape, both families.
constexpr char kHostportNft[] = R"(table ip crio-hostports {
	map hostipports {
		type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service
		elements = { 192.0.2.10 . tcp . 9090 comment "KQ3FQ6YV3E6ECTAE" : 10.88.0.5 . 90 }
	}

	map hostports {
		type inet_proto . inet_service : ipv4_addr . inet_service
		elements = { tcp . 8080 comment "KQ3FQ6YV3E6ECTAE" : 10.88.0.5 . 80 }
	}

	set hairpins {
		type ipv4_addr . ipv4_addr
		elements = { 10.88.0.5 . 10.88.0.5 comment "KQ3FQ6YV3E6ECTAE" }
	}

	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		fib daddr type local goto hostports
	}

	chain output {
		type nat hook output priority -100; policy accept;
		fib daddr type local goto hostports
	}

	chain hostports {
		dnat ip to ip daddr . meta l4proto . th dport map @hostipports
		dnat ip to meta l4proto . th dport map @hostports
	}

	chain masquerading {
		type nat hook postrouting priority srcnat; policy accept;
		ct status & dnat == dnat ip saddr . ip daddr @hairpins masquerade
	}
}
table ip6 crio-hostports {
	map hostipports {
		type ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service
		elements = { 2001:db8::10 . tcp . 9090 : fd00:88::5 . 90 }
	}

	map hostports {
		type inet_proto . inet_service : ipv6_addr . inet_service
		elements = { tcp . 8080 comment "KQ3FQ6YV3E6ECTAE" : fd00:88::5 . 80 }
	}

	set hairpins {
		type ipv6_addr . ipv6_addr
		elements = { fd00:88::5 . fd00:88::5 }
	}

	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		fib daddr type local goto hostports
	}

	chain output {
		type nat hook output priority dstnat; policy accept;
		fib daddr type local goto hostports
	}

	chain hostports {
		dnat ip6 to ip6 daddr . meta l4proto . th dport map @hostipports
		dnat ip6 to meta l4proto . th dport map @hostports
	}

	chain masquerading {
		type nat hook postrouting priority srcnat; policy accept;
		ct status dnat ip6 saddr . ip6 daddr @hairpins masquerade
	}
}
)";

TEST(HostportNftTest, SameAnswersAsIptables) {
  auto sim = MakeSimulator("", "", kHostportNft, kBridgeHost);
  ASSERT_NE(sim, nullptr);
  ExpectFlows(*sim, HostportFlowsV4());
  ExpectFlows(*sim, HostportFlowsV6());
}

TEST(HostportNftTest, MapHitIsOneLookupAndTraced) {
  auto sim = MakeSimulator("", "", kHostportNft, kBridgeHost);
  ASSERT_NE(sim, nullptr);
  absl::StatusOr<Packet> p =
      PacketForFlow({"", "external", "", "192.0.2.10:9090", "tcp", "", "", ""});
  ASSERT_TRUE(p.ok());
  absl::StatusOr<TraceResult> r = sim->Trace(*p);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(absl::StrJoin(r->trace, "\n"),
              HasSubstr("ip crio-hostports/hostports rule 1: dnat ip to ip "
                        "daddr . meta l4proto . th dport map @hostipports → "
                        "DNAT 192.0.2.10:9090 → 10.88.0.5:90"));
}

// The iptables and nft renderings of the same mappings must agree on every
// packet, not just the rows above.
RC_GTEST_PROP(HostportShapesAgreeTest, IptablesAndNftGiveTheSameAnswer, ()) {
  static const auto* iptables =
      MakeSimulator(kHostportV4, kHostportV6, "", kBridgeHost).release();
  static const auto* nft =
      MakeSimulator("", "", kHostportNft, kBridgeHost).release();
  RC_ASSERT(iptables != nullptr && nft != nullptr);
  const bool v6 = *rc::gen::arbitrary<bool>();
  const std::vector<std::string> dsts =
      v6 ? std::vector<std::string>{"2001:db8::10", "fd00:88::1", "::1",
                                    "fd00:88::5", "2001:db8::99"}
         : std::vector<std::string>{"192.0.2.10", "10.88.0.1",  "127.0.0.1",
                                    "10.88.0.5",  "192.0.2.99", "127.0.0.9"};
  const std::vector<std::string> froms =
      v6 ? std::vector<std::string>{"external", "external:cni0", "local",
                                    "pod:fd00:88::5", "pod:fd00:88::7"}
         : std::vector<std::string>{"external", "external:cni0", "local",
                                    "pod:10.88.0.5", "pod:10.88.0.7"};
  Packet p;
  p.dst = *IpAddress::Parse(*rc::gen::elementOf(dsts));
  p.dst_port = *rc::gen::elementOf(std::vector<uint16_t>{80, 8080, 9090, 9091});
  p.protocol = *rc::gen::elementOf(
      std::vector<Protocol>{Protocol::kTcp, Protocol::kUdp, Protocol::kSctp});
  p.origin = *ParsePacketOrigin(*rc::gen::elementOf(froms));
  absl::StatusOr<TraceResult> a = iptables->Trace(p);
  absl::StatusOr<TraceResult> b = nft->Trace(p);
  RC_ASSERT(a.ok() == b.ok());
  if (!a.ok()) return;
  RC_ASSERT(a->verdict == b->verdict);
  RC_ASSERT(a->To() == b->To());
  RC_ASSERT(a->SourceSeen() == b->SourceSeen());
}

// Docker's shape: DOCKER chain from PREROUTING and (not for 127/8) OUTPUT;
// containers reaching a published port go through docker-proxy.
constexpr char kDocker[] = R"(*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A POSTROUTING -s 172.17.0.2/32 -d 172.17.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
COMMIT
)";

constexpr char kDockerHost[] = R"json({
  "interfaces": [
    {"name": "eth0", "addresses": ["192.0.2.10/24"]},
    {"name": "docker0", "addresses": ["172.17.0.1/16"]}],
  "routes": [{"to": "default", "dev": "eth0"}],
  "bridges": [{"name": "docker0", "ports": [
    {"name": "veth0", "addresses": ["172.17.0.2"]}]}]
})json";

TEST(DockerShapeTest, PublishedPort) {
  auto sim = MakeSimulator(kDocker, "", "", kDockerHost);
  ASSERT_NE(sim, nullptr);
  ExpectFlows(
      *sim,
      {
          {"external to published port", "external", "", "192.0.2.10:8080",
           "tcp", "delivered", "172.17.0.2:80", "203.0.113.7"},
          {"host to its address (OUTPUT, no in-interface)", "local", "",
           "192.0.2.10:8080", "tcp", "delivered", "172.17.0.2:80",
           "192.0.2.10"},
          {"host to 127.0.0.1 is left to docker-proxy", "local", "",
           "127.0.0.1:8080", "tcp", "local", "127.0.0.1:8080", "127.0.0.1"},
          {"container to the published port returns to docker-proxy",
           "pod:172.17.0.2", "", "192.0.2.10:8080", "tcp", "local",
           "192.0.2.10:8080", "172.17.0.2"},
          {"container to the internet is masqueraded", "pod:172.17.0.2", "",
           "198.51.100.1:53", "udp", "delivered", "198.51.100.1:53",
           "192.0.2.10"},
      });
}

// kube-proxy's iptables shape (one endpoint, no statistic match): marks for
// masquerade, clears the mark with --set-xmark 0x4000/0x0.
constexpr char kKubeProxy[] = R"(*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-SVC-WEB - [0:0]
:KUBE-EXT-WEB - [0:0]
:KUBE-SEP-WEB1 - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment "default/web cluster IP" -m tcp --dport 80 -j KUBE-SVC-WEB
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-NODEPORTS -p tcp -m comment --comment "default/web" -m tcp --dport 30080 -j KUBE-EXT-WEB
-A KUBE-EXT-WEB -m comment --comment "masquerade traffic for default/web external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-WEB -j KUBE-SVC-WEB
-A KUBE-SVC-WEB ! -s 10.244.0.0/16 -d 10.96.0.10/32 -p tcp -m comment --comment "default/web cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ
-A KUBE-SVC-WEB -m comment --comment "default/web -> 10.244.1.5:8080" -j KUBE-SEP-WEB1
-A KUBE-SEP-WEB1 -s 10.244.1.5/32 -m comment --comment "default/web" -j KUBE-MARK-MASQ
-A KUBE-SEP-WEB1 -p tcp -m comment --comment "default/web" -m tcp -j DNAT --to-destination 10.244.1.5:8080
COMMIT
)";

TEST(KubeProxyShapeTest, NodePortAndClusterIp) {
  auto sim = MakeSimulator(kKubeProxy, "", "", NodeHost());
  ASSERT_NE(sim, nullptr);
  ExpectFlows(
      *sim, {
                {"nodeport from outside is masqueraded", "external", "",
                 "192.0.2.10:30080", "tcp", "delivered", "10.244.1.5:8080",
                 "192.0.2.10"},
                {"cluster IP from a pod keeps its source", "pod:10.244.0.5", "",
                 "10.96.0.10:80", "tcp", "delivered", "10.244.1.5:8080",
                 "10.244.0.5"},
                {"cluster IP from the host is masqueraded", "local", "",
                 "10.96.0.10:80", "tcp", "delivered", "10.244.1.5:8080",
                 "192.0.2.10"},
                {"other node port is local", "external", "", "192.0.2.10:30081",
                 "tcp", "local", "192.0.2.10:30081", ""},
            });
}

TEST(KubeProxyShapeTest, MarkArithmeticIsTheKernels) {
  auto sim = MakeSimulator(kKubeProxy, "", "", NodeHost());
  ASSERT_NE(sim, nullptr);
  absl::StatusOr<Packet> p = PacketForFlow(
      {"", "external", "", "192.0.2.10:30080", "tcp", "", "", ""});
  absl::StatusOr<TraceResult> r = sim->Trace(*p);
  ASSERT_TRUE(r.ok());
  std::string trace = absl::StrJoin(r->trace, "\n");
  EXPECT_THAT(trace, HasSubstr("mark 0x0 → 0x4000"));
  // --set-xmark 0x4000/0x0 is an XOR: it clears the bit it just tested.
  EXPECT_THAT(trace, HasSubstr("mark 0x4000 → 0x0"));
}

// kube-proxy's nftables shape (one endpoint, no numgen): verdict maps keyed
// by concatenations, goto chains, mark arithmetic.
constexpr char kKubeProxyNft[] = R"(table ip kube-proxy {
	map service-ips {
		type ipv4_addr . inet_proto . inet_service : verdict
		elements = { 10.96.0.10 . tcp . 80 : goto service-WEB }
	}

	map service-nodeports {
		type inet_proto . inet_service : verdict
		elements = { tcp . 30080 : goto external-WEB }
	}

	set nodeport-ips {
		type ipv4_addr
		elements = { 192.0.2.10 }
	}

	chain nat-prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		jump services
	}

	chain nat-output {
		type nat hook output priority -100; policy accept;
		jump services
	}

	chain nat-postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		jump masquerading
	}

	chain masquerading {
		meta mark & 0x00004000 == 0x00000000 return
		meta mark set meta mark ^ 0x00004000
		masquerade fully-random
	}

	chain mark-for-masquerade {
		meta mark set meta mark | 0x00004000
	}

	chain services {
		ip daddr . meta l4proto . th dport vmap @service-ips
		ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports
	}

	chain external-WEB {
		jump mark-for-masquerade
		goto service-WEB
	}

	chain service-WEB {
		ip saddr != 10.244.0.0/16 ip daddr 10.96.0.10 tcp dport 80 jump mark-for-masquerade
		goto endpoint-WEB1
	}

	chain endpoint-WEB1 {
		ip saddr 10.244.1.5 jump mark-for-masquerade
		meta l4proto tcp dnat to 10.244.1.5:8080
	}
}
)";

TEST(KubeProxyShapeTest, NftablesModeAgreesWithIptablesMode) {
  auto nft = MakeSimulator("", "", kKubeProxyNft, NodeHost());
  ASSERT_NE(nft, nullptr);
  ExpectFlows(
      *nft, {
                {"nodeport from outside is masqueraded", "external", "",
                 "192.0.2.10:30080", "tcp", "delivered", "10.244.1.5:8080",
                 "192.0.2.10"},
                {"cluster IP from a pod keeps its source", "pod:10.244.0.5", "",
                 "10.96.0.10:80", "tcp", "delivered", "10.244.1.5:8080",
                 "10.244.0.5"},
                {"cluster IP from the host is masqueraded", "local", "",
                 "10.96.0.10:80", "tcp", "delivered", "10.244.1.5:8080",
                 "192.0.2.10"},
                {"other node port is local", "external", "", "192.0.2.10:30081",
                 "tcp", "local", "192.0.2.10:30081", ""},
                {"nodeport on a non-nodeport address is local", "external", "",
                 "10.244.0.1:30080", "tcp", "local", "", ""},
            });
}

// Jump, goto, return and mark corner cases in one chain set.
constexpr char kCorners[] = R"(*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:A - [0:0]
:B - [0:0]
:C - [0:0]
:M - [0:0]
-A PREROUTING -p tcp -j A
-A PREROUTING -p tcp --dport 1001 -j DNAT --to-destination 10.0.0.1:1
-A PREROUTING -p tcp --dport 1005 -j M
-A A -p tcp --dport 1001 -g B
-A A -p tcp --dport 1001 -j DNAT --to-destination 10.0.0.99:1
-A A -p tcp --dport 1002 -j B
-A A -p tcp --dport 1002 -m mark --mark 0x1 -j DNAT --to-destination 10.0.0.22:1
-A A -p tcp --dport 1003 -j RETURN
-A A -p tcp --dport 1003 -j DNAT --to-destination 10.0.0.99:1
-A A -p tcp --dport 1004 -g C
-A B -p tcp --dport 1002 -j C
-A B -j MARK --set-xmark 0x1/0xffffffff
-A C -p tcp --dport 1004 -j DNAT --to-destination 10.0.0.4:1
-A C -j RETURN
-A M -j MARK --set-xmark 0xf0/0xff
-A M -j MARK --set-mark 0x1/0xf
-A M -j MARK --or-mark 0x100
-A M -j MARK --and-mark 0xff
-A M -j MARK --xor-mark 0x1
-A M -p tcp -m mark --mark 0xf0 -j DNAT --to-destination 10.0.0.5:5
COMMIT
)";

TEST(CornerCasesTest, JumpGotoReturnAndMarks) {
  auto sim = MakeSimulator(kCorners, "", "", "");
  ASSERT_NE(sim, nullptr);
  ExpectFlows(*sim,
              {
                  {"goto: falling off B returns past A", "external", "",
                   "192.0.2.10:1001", "tcp", "delivered", "10.0.0.1:1", ""},
                  {"jump: return to A, mark persists", "external", "",
                   "192.0.2.10:1002", "tcp", "delivered", "10.0.0.22:1", ""},
                  {"RETURN skips the rest of A", "external", "",
                   "192.0.2.10:1003", "tcp", "local", "192.0.2.10:1003", ""},
                  {"goto then DNAT", "external", "", "192.0.2.10:1004", "tcp",
                   "delivered", "10.0.0.4:1", ""},
                  {"set-xmark, set-mark, or, and, xor compose", "external", "",
                   "192.0.2.10:1005", "tcp", "delivered", "10.0.0.5:5", ""},
              });
}

TEST(CornerCasesTest, PolicyDropIsFinal) {
  auto sim = MakeSimulator(
      "*nat\n:PREROUTING DROP [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT "
      "[0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n",
      "", "", "");
  ASSERT_NE(sim, nullptr);
  ExpectFlows(*sim, {
                        {"policy drop", "external", "", "192.0.2.10:80", "tcp",
                         "dropped", "", "", "policy drop"},
                        {"output unaffected", "local", "", "192.0.2.10:80",
                         "tcp", "local", "", ""},
                    });
}

// Base chains of several tables on one hook, by priority.
constexpr char kPriorities[] = R"(table ip first {
	chain pre {
		type nat hook prerouting priority dstnat - 100; policy accept;
		tcp dport 81 drop
		tcp dport 80 accept
	}
}
table ip second {
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		tcp dport 80 dnat to 10.0.0.2:80
		tcp dport 82 meta mark set 0x7
	}
}
table ip third {
	chain pre {
		type nat hook prerouting priority dstnat + 50; policy accept;
		tcp dport 80 dnat to 10.0.0.3:80
		meta mark 0x7 dnat to 10.0.0.7:82
	}
}
table inet fourth {
	chain pre {
		type nat hook prerouting priority 10; policy accept;
		meta nfproto ipv6 tcp dport 83 dnat ip6 to [fd00::83]:83
		tcp dport { 84, 85-86 } ip saddr != 203.0.113.0/24 dnat ip to 10.0.0.84
		ip daddr vmap { 192.0.2.10 : jump v4only, 192.0.2.11 : drop }
	}
	chain v4only {
		tcp dport 87 dnat ip to 10.0.0.87:87
	}
}
)";

TEST(CornerCasesTest, BaseChainsByPriority) {
  auto sim = MakeSimulator("", "", kPriorities, "");
  ASSERT_NE(sim, nullptr);
  ExpectFlows(
      *sim,
      {
          {"accept does not stop the next base chain", "external", "",
           "192.0.2.10:80", "tcp", "delivered", "10.0.0.2:80", ""},
          {"drop is final", "external", "", "192.0.2.10:81", "tcp", "dropped",
           "", "", "dropped by a rule"},
          {"mark from one table seen by the next", "external", "",
           "192.0.2.10:82", "tcp", "delivered", "10.0.0.7:82", ""},
          {"inet chain for IPv6", "external", "", "[2001:db8::10]:83", "tcp",
           "delivered", "[fd00::83]:83", ""},
          {"anonymous set with range and != prefix", "external", "198.51.100.1",
           "192.0.2.10:86", "tcp", "delivered", "10.0.0.84:86", ""},
          {"!= prefix excludes", "external", "203.0.113.9", "192.0.2.10:86",
           "tcp", "local", "", ""},
          {"verdict map jump", "external", "203.0.113.9", "192.0.2.10:87",
           "tcp", "delivered", "10.0.0.87:87", ""},
          {"verdict map drop", "local", "", "192.0.2.11:87", "tcp", "delivered",
           "192.0.2.11:87", ""},
      });
}

TEST(CornerCasesTest, IptablesNftRenderingIsNotCountedTwice) {
  std::string rules = ReadTestFile("sim/testdata/cni-portmap-v4.iptables-save");
  constexpr char kRendering[] = R"(table ip nat {
	chain PREROUTING {
		type nat hook prerouting priority dstnat; policy accept;
		fib daddr type local counter packets 0 bytes 0 jump CNI-HOSTPORT-DNAT
	}
	chain CNI-HOSTPORT-DNAT {
		meta l4proto tcp  tcp dport 8080 counter packets 0 bytes 0 xt target "DNAT"
	}
}
)";
  auto sim = MakeSimulator(rules, "", kRendering, kBridgeHost);
  ASSERT_NE(sim, nullptr);
  EXPECT_THAT(absl::StrJoin(sim->notes(), "\n"),
              HasSubstr("iptables-nft's rendering"));
  absl::StatusOr<Packet> p =
      PacketForFlow({"", "external", "", "192.0.2.10:8080", "tcp", "", "", ""});
  absl::StatusOr<TraceResult> r = sim->Trace(*p);
  ASSERT_TRUE(r.ok());
  int prerouting_chains = 0;
  for (const std::string& line : r->trace) {
    if (line.rfind("prerouting: ", 0) == 0) ++prerouting_chains;
  }
  EXPECT_EQ(prerouting_chains, 1);
}

// The real rendering: with the iptables-save texts at hand the nft tables are
// ignored and the answers are the iptables ones; alone, the lossy ip table
// lost its DNAT, and a walk that reaches that rule is refused.
TEST(CornerCasesTest, RealIptablesNftRendering) {
  std::string nft = ReadTestFile("sim/testdata/iptables-nft-rendering.nft");
  std::string v4 = ReadTestFile("sim/testdata/cni-portmap-v4.iptables-save");
  std::string v6 = ReadTestFile("sim/testdata/hostport-v6.ip6tables-save");
  auto both = MakeSimulator(v4, v6, nft, kBridgeHost);
  ASSERT_NE(both, nullptr);
  ExpectFlows(
      *both,
      {
          {"v4 from the iptables text", "external", "", "192.0.2.10:8080",
           "tcp", "delivered", "10.88.0.5:80", "203.0.113.7"},
          {"v6 from the ip6tables text", "external", "", "[2001:db8::10]:8080",
           "tcp", "delivered", "[fd00:88::5]:80", "2001:db8:ffff::7"},
          {"v6 hairpin", "pod:fd00:88::5", "", "[2001:db8::10]:8080", "tcp",
           "delivered", "[fd00:88::5]:80", "fd00:88::1"},
      });
  std::string notes = absl::StrJoin(both->notes(), "\n");
  EXPECT_THAT(notes, HasSubstr("nft table ip nat (nft) ignored"));
  EXPECT_THAT(notes, HasSubstr("nft table ip6 nat (nft) ignored"));

  auto alone = MakeSimulator("", "", nft, kBridgeHost);
  ASSERT_NE(alone, nullptr);
  EXPECT_THAT(absl::StrJoin(alone->notes(), "\n"),
              HasSubstr("looks like an iptables-nft table"));
  ExpectFlows(*alone, {
                          {"the ip6 rendering is complete", "external", "",
                           "[2001:db8::10]:8080", "tcp", "delivered",
                           "[fd00:88::5]:80", "2001:db8:ffff::7"},
                      });
  // The ip rendering lost its DNAT (and a comment match): refused where
  // the walk reaches the first rule that shows it, not answered "local".
  absl::StatusOr<Packet> v4_packet =
      PacketForFlow({"", "external", "", "192.0.2.10:8080", "tcp", "", "", ""});
  absl::StatusOr<TraceResult> r = alone->Trace(*v4_packet);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(),
              HasSubstr("chain CNI-HOSTPORT-DNAT rule 1"));
  EXPECT_THAT(r.status().message(), HasSubstr("listed a statement"));
}

TEST(CornerCasesTest, UnsupportedNftConstructIsRefusedWhereReached) {
  Ruleset ruleset;
  ASSERT_TRUE(ApplyNftScript(R"(table ip t {
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		tcp dport 80 ip dscp cs1 dnat to 10.0.0.1
	}
}
)",
                             "t.nft", &ruleset)
                  .ok());
  absl::StatusOr<std::unique_ptr<Simulator>> sim =
      Simulator::Create(ruleset, HostModel::Default());
  ASSERT_TRUE(sim.ok()) << sim.status();
  Packet p;
  p.dst = *IpAddress::Parse("192.0.2.10");
  p.dst_port = 80;
  absl::StatusOr<TraceResult> r = (*sim)->Trace(p);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("line 4"));
  EXPECT_THAT(r.status().message(), HasSubstr("\"ip dscp\""));
  EXPECT_THAT(r.status().message(), HasSubstr("ip t"));
}

// A filter-only table is evaluated at its hooks; what it holds that the
// simulator does not model (here `ip dscp`) makes a walk that reaches it
// refuse,
// and leaves walks that never enter it alone.
TEST(FilterHooksTest, UnmodelledFilterTableRefusesOnlyWhereEntered) {
  Ruleset ruleset;
  ASSERT_TRUE(ApplyNftScript(R"(table inet filter {
	chain input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept
		tcp dport 22 ip dscp 1 accept
	}
}
)",
                             "f.nft", &ruleset)
                  .ok());
  absl::StatusOr<std::unique_ptr<Simulator>> sim =
      Simulator::Create(ruleset, HostModel::Default());
  ASSERT_TRUE(sim.ok()) << sim.status();
  Packet to_host;
  to_host.dst = *IpAddress::Parse("192.0.2.10");
  to_host.dst_port = 22;
  absl::StatusOr<TraceResult> r = (*sim)->Trace(to_host);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("nft table inet filter (f.nft) "
                                              "chain input rule 2"));
  EXPECT_THAT(r.status().message(), HasSubstr("dscp"));
  Packet out = to_host;
  out.dst = *IpAddress::Parse("198.51.100.9");
  out.origin.kind = PacketOrigin::Kind::kLocal;
  r = (*sim)->Trace(out);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->verdict, PacketVerdict::kDelivered);
}

// Docker sets iptables' FORWARD policy to DROP: a DNATed flow dies there
// unless a rule accepts it first. The walk says which chain dropped it.
constexpr char kDockerLikeFilter[] = R"(*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-USER
-A DOCKER-USER -j RETURN
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -d 192.0.2.10/32 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.88.0.5:80
COMMIT
)";

TEST(FilterHooksTest, IptablesForwardPolicyDropIsFinal) {
  auto sim = MakeSimulator(kDockerLikeFilter, "", "", kBridgeHost);
  ASSERT_NE(sim, nullptr);
  ExpectFlows(*sim,
              {
                  {"DNATed, then FORWARD policy", "external:eth0", "",
                   "192.0.2.10:8080", "tcp", "dropped", "", "",
                   "policy drop of filter/FORWARD"},
                  {"INPUT accepts", "external:eth0", "", "192.0.2.10:22", "tcp",
                   "local", "", ""},
                  {"local to the pod: OUTPUT accepts", "local", "",
                   "10.88.0.5:80", "tcp", "delivered", "10.88.0.5:80", ""},
              });
  std::string opened(kDockerLikeFilter);
  opened.replace(opened.find("-A FORWARD -j DOCKER-USER"),
                 strlen("-A FORWARD -j DOCKER-USER"),
                 "-A FORWARD -m conntrack --ctstate DNAT -j ACCEPT\n"
                 "-A FORWARD -j DOCKER-USER");
  sim = MakeSimulator(opened, "", "", kBridgeHost);
  ASSERT_NE(sim, nullptr);
  ExpectFlows(
      *sim,
      {
          {"DNATed flows accepted first", "external:eth0", "",
           "192.0.2.10:8080", "tcp", "delivered", "10.88.0.5:80", ""},
          {"the pod itself stays closed", "external:eth0", "", "10.88.0.5:80",
           "tcp", "dropped", "", "", "policy drop of filter/FORWARD"},
      });
}

// firewalld's forward chain drops by policy in its own table: an accept in
// any other table cannot override it (drop in any base chain is final).
TEST(FilterHooksTest, NftForwardDropInAnotherTableIsFinal) {
  auto sim = MakeSimulator("", "", R"(table inet firewalld {
	chain filter_FORWARD {
		type filter hook forward priority filter + 10; policy drop;
		ct state established,related accept
	}
}
table ip hostports {
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr 192.0.2.10 tcp dport 8080 dnat to 10.88.0.5:80
	}
	chain forward {
		type filter hook forward priority filter; policy accept;
		ct status dnat accept
	}
}
)",
                           kBridgeHost);
  ASSERT_NE(sim, nullptr);
  ExpectFlows(
      *sim, {
                {"accepted by ours, dropped by firewalld", "external:eth0", "",
                 "192.0.2.10:8080", "tcp", "dropped", "", "",
                 "policy drop of inet firewalld/filter_FORWARD"},
            });
}

// An unmodelled rule in iptables' filter table is refused where a walk
// reaches it, and nowhere else.
TEST(FilterHooksTest, IptablesUnmodelledFilterRuleRefusesWhereReached) {
  auto sim = MakeSimulator(
      "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT "
      "[0:0]\n-A INPUT -p tcp -m tcp --dport 22 -m u32 --u32 0x0=0x0 -j "
      "DROP\nCOMMIT\n",
      "", "", kBridgeHost);
  ASSERT_NE(sim, nullptr);
  ExpectFlows(*sim,
              {
                  {"forwarded: INPUT not reached", "external:eth0", "",
                   "10.88.0.5:80", "tcp", "delivered", "10.88.0.5:80", ""},
              });
  Packet p;
  p.dst = *IpAddress::Parse("192.0.2.10");
  p.dst_port = 22;
  absl::StatusOr<TraceResult> r = sim->Trace(p);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("chain INPUT rule 1"));
  EXPECT_THAT(r.status().message(), HasSubstr("u32"));
}

// hostport's localnet guard, as both backends write it: route_localnet on
// cni0 makes 127.0.0.0/8 routable from there, and the guard drops what
// conntrack did not DNAT; a host process reaching a local port over lo is
// not affected (the looped-back packet passes INPUT from lo).
TEST(FilterHooksTest, LocalnetGuardDropsNeighboursTo127) {
  const std::string iptables =
      "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT "
      "[0:0]\n:CRIO-HOSTPORTS-LOCALNET - [0:0]\n-A INPUT -d 127.0.0.0/8 ! -i "
      "lo -m comment --comment \"hostport localnet guard\" -j "
      "CRIO-HOSTPORTS-LOCALNET\n-A CRIO-HOSTPORTS-LOCALNET -m conntrack ! "
      "--ctstate RELATED,ESTABLISHED,DNAT -j DROP\nCOMMIT\n";
  const std::string nft = R"(table ip crio-hostports {
	chain localnet {
		type filter hook input priority filter; policy accept;
		iifname != "lo" ip daddr 127.0.0.0/8 ct state != { established, related } ct status & dnat != dnat drop
	}
}
)";
  const std::vector<Flow> guarded = {
      {"neighbour to 127.0.0.1", "external:cni0", "10.88.0.5", "127.0.0.1:2379",
       "tcp", "dropped", "", "", "CRIO-HOSTPORTS-LOCALNET"},
      {"host process over lo", "local", "", "127.0.0.1:2379", "tcp", "local",
       "", ""},
  };
  for (const auto& [iptables_v4, nft_script] :
       std::vector<std::pair<std::string, std::string>>{{iptables, ""},
                                                        {"", nft}}) {
    auto open = MakeSimulator("", "", "", kBridgeHost);
    ASSERT_NE(open, nullptr);
    ExpectFlows(*open, {{"without the guard", "external:cni0", "10.88.0.5",
                         "127.0.0.1:2379", "tcp", "local", "", ""}});
    auto sim = MakeSimulator(iptables_v4, "", nft_script, kBridgeHost);
    ASSERT_NE(sim, nullptr);
    std::vector<Flow> flows = guarded;
    if (!nft_script.empty()) flows[0].reason = "crio-hostports/localnet";
    ExpectFlows(*sim, flows);
  }
}

// hostport's localhost shape: a 127.0.0.1 HostIP mapping and masquerade of
// loopback sources leaving by the NAT interface (which has route_localnet).
constexpr char kHostportLocalhost[] = R"(*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-HOSTPORTS - [0:0]
:KUBE-HP-SKQ6QP2DHJ7ZIKME - [0:0]
-A PREROUTING -m comment --comment "kube hostport portals" -m addrtype --dst-type LOCAL -j KUBE-HOSTPORTS
-A OUTPUT -m comment --comment "kube hostport portals" -m addrtype --dst-type LOCAL -j KUBE-HOSTPORTS
-A POSTROUTING -s 127.0.0.0/8 -o cni0 -m comment --comment "localhost hostports" -j MASQUERADE
-A KUBE-HOSTPORTS -p tcp -m comment --comment "default/web hostport 7070" -m tcp --dport 7070 -j KUBE-HP-SKQ6QP2DHJ7ZIKME
-A KUBE-HP-SKQ6QP2DHJ7ZIKME -d 127.0.0.1/32 -p tcp -m tcp -j DNAT --to-destination 10.88.0.5:70
COMMIT
)";

TEST(HostportLocalhostTest, WithAndWithoutRouteLocalnet) {
  auto with = MakeSimulator(kHostportLocalhost, "", "", kBridgeHost);
  ASSERT_NE(with, nullptr);
  ExpectFlows(
      *with,
      {
          {"127.0.0.1 reaches the pod, masqueraded", "local", "",
           "127.0.0.1:7070", "tcp", "delivered", "10.88.0.5:70", "10.88.0.1"},
          // Seen from 127.0.0.1: the kernel's route to 127.0.0.2 says
          // "src 127.0.0.1" (checked: a socket on 127.0.0.2 sees 127.0.0.1).
          {"other 127/8 addresses are not this HostIP", "local", "",
           "127.0.0.2:7070", "tcp", "local", "127.0.0.2:7070", "127.0.0.1"},
          {"the host address is not this HostIP", "local", "",
           "192.0.2.10:7070", "tcp", "local", "", ""},
          {"external to the host address is not mapped", "external", "",
           "192.0.2.10:7070", "tcp", "local", "", ""},
      });
  auto without =
      MakeSimulator(kHostportLocalhost, "", "", kBridgeHostNoRouteLocalnet);
  ASSERT_NE(without, nullptr);
  ExpectFlows(*without, {
                            {"without route_localnet the martian is dropped",
                             "local", "", "127.0.0.1:7070", "tcp", "dropped",
                             "", "", "martian source 127.0.0.1"},
                        });
}

// Pods routed point-to-point (no bridge): the pod's interface comes from the
// routes.
TEST(RoutedPodsTest, PodBehindARoute) {
  constexpr char kRoutedHost[] = R"json({
    "interfaces": [{"name": "eth0", "addresses": ["192.0.2.10/24"]},
                   {"name": "cali1", "addresses": []}],
    "routes": [{"to": "10.88.0.5/32", "dev": "cali1"},
               {"to": "default", "dev": "eth0"}]})json";
  auto sim = MakeSimulator(kHostportV4, "", "", kRoutedHost);
  ASSERT_NE(sim, nullptr);
  ExpectFlows(*sim, {
                        {"external", "external", "", "192.0.2.10:8080", "tcp",
                         "delivered", "10.88.0.5:80", "203.0.113.7"},
                        {"masquerade needs an address on the way out",
                         "pod:10.88.0.5", "", "192.0.2.10:8080", "tcp",
                         "dropped", "", "", "no IPv4 address on cali1"},
                    });
}

constexpr char kNftCorners[] = R"(table ip c {
	map ports {
		type inet_proto . inet_service : ipv4_addr . inet_service
		elements = { tcp . 2001 : 10.0.0.1 . 1 }
	}
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		tcp dport 2000-2099 jump sub
		tcp dport 2005 dnat to 10.0.0.5:5
		tcp dport 2006 goto loop
		tcp dport 2007 jump ret
		tcp dport 2007 dnat to 10.0.0.7:7
		tcp dport 2008 snat to 10.0.0.8
	}
	chain sub {
		dnat to meta l4proto . th dport map @ports
		tcp dport { 2002, 2003 } dnat to tcp dport map { 2002 : 10.0.0.2 . 2, 2003 : 10.0.0.3 . 3 }
		tcp dport 2004 return
		tcp dport 2004 dnat to 10.0.0.99
		tcp dport 2009 ip daddr vmap { 10.0.0.1 : drop }
		tcp dport 2009 dnat to 10.0.0.9
	}
	chain loop {
		jump loop
	}
	chain ret {
		return
		drop
	}
	chain post {
		type nat hook postrouting priority srcnat; policy drop;
		tcp dport 2010 masquerade
		ct original proto-dst 1 accept
	}
}
table inet i {
	chain pre {
		type nat hook prerouting priority dstnat + 1; policy accept;
		tcp dport 2010 dnat ip to 10.0.0.10:2010
	}
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		tcp dport 2010 ct status dnat accept
	}
}
)";

TEST(CornerCasesTest, NftJumpsMapsAndErrors) {
  Ruleset ruleset;
  // ct original proto-dst is not modelled: a walk that reaches it refuses.
  ASSERT_TRUE(ApplyNftScript(kNftCorners, "c.nft", &ruleset).ok());
  absl::StatusOr<std::unique_ptr<Simulator>> unmodelled =
      Simulator::Create(ruleset, HostModel::Default());
  ASSERT_TRUE(unmodelled.ok()) << unmodelled.status();
  absl::StatusOr<Packet> to_post =
      PacketForFlow({"", "external", "", "192.0.2.10:2005", "tcp", "", "", ""});
  EXPECT_THAT((*unmodelled)->Trace(*to_post).status().message(),
              HasSubstr("chain post rule 2 (ct original proto-dst 1 accept)"));

  std::string text = kNftCorners;
  text.replace(text.find("\t\tct original proto-dst 1 accept\n"),
               std::string("\t\tct original proto-dst 1 accept\n").size(),
               "\t\ttcp dport { 1, 2, 3, 7, 2009 } accept\n");
  auto sim = MakeSimulator("", "", text, "");
  ASSERT_NE(sim, nullptr);
  ExpectFlows(
      *sim, {
                {"named map hit", "external", "", "192.0.2.10:2001", "tcp",
                 "delivered", "10.0.0.1:1", ""},
                {"anonymous map with port", "external", "", "192.0.2.10:2002",
                 "tcp", "delivered", "10.0.0.2:2", ""},
                {"anonymous map, address and port", "external", "",
                 "192.0.2.10:2003", "tcp", "delivered", "10.0.0.3:3", ""},
                {"return from a jumped chain resumes the caller", "external",
                 "", "192.0.2.10:2004", "tcp", "local", "192.0.2.10:2004", ""},
                {"map misses fall through; a NAT chain's policy drop is final",
                 "external", "", "192.0.2.10:2005", "tcp", "dropped",
                 "10.0.0.5:5", "", "policy drop of ip c/post"},
                {"return from the first rule of a chain resumes the caller",
                 "external", "", "192.0.2.10:2007", "tcp", "delivered",
                 "10.0.0.7:7", ""},
                {"vmap miss goes on", "external", "", "192.0.2.10:2009", "tcp",
                 "delivered", "10.0.0.9:2009", ""},
                {"inet ip dnat, masquerade in the next table's turn",
                 "external", "", "192.0.2.10:2010", "tcp", "delivered",
                 "10.0.0.10:2010", "192.0.2.10"},
            });
  absl::StatusOr<Packet> loop =
      PacketForFlow({"", "external", "", "192.0.2.10:2006", "tcp", "", "", ""});
  absl::StatusOr<TraceResult> r = sim->Trace(*loop);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->verdict, PacketVerdict::kDropped);
  EXPECT_THAT(r->reason, HasSubstr("loops"));
  absl::StatusOr<Packet> snat =
      PacketForFlow({"", "external", "", "192.0.2.10:2008", "tcp", "", "", ""});
  absl::StatusOr<TraceResult> bad = sim->Trace(*snat);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("SNAT/MASQUERADE reached in the prerouting hook"));
}

TEST(CornerCasesTest, IptablesIndexKeepsRuleOrder) {
  // More rules than the index threshold, keyed and unkeyed interleaved: the
  // first matching rule in file order must win.
  std::string rules =
      "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT "
      "[0:0]\n:POSTROUTING ACCEPT [0:0]\n";
  for (int i = 0; i < 20; ++i) {
    rules += absl::StrCat("-A PREROUTING -p tcp -m tcp --dport ", 3000 + i,
                          " -j DNAT --to-destination 10.0.1.", i, ":1\n");
    if (i == 5) {
      rules +=
          "-A PREROUTING -p tcp -m multiport --dports 3007,3008 -j DNAT "
          "--to-destination 10.0.2.1:1\n";
      rules +=
          "-A PREROUTING -s 198.51.100.0/24 -p tcp -j DNAT "
          "--to-destination 10.0.3.1:1\n";
    }
  }
  rules +=
      "-A PREROUTING -p tcp -m tcp --dport 3002 -j DNAT --to-destination "
      "10.0.9.9:1\nCOMMIT\n";
  auto sim = MakeSimulator(rules, "", "", "");
  ASSERT_NE(sim, nullptr);
  ExpectFlows(*sim,
              {
                  {"keyed before unkeyed", "external", "198.51.100.1",
                   "192.0.2.10:3002", "tcp", "delivered", "10.0.1.2:1", ""},
                  {"unkeyed before keyed", "external", "198.51.100.1",
                   "192.0.2.10:3009", "tcp", "delivered", "10.0.3.1:1", ""},
                  {"multiport key before the single-port rule", "external", "",
                   "192.0.2.10:3008", "tcp", "delivered", "10.0.2.1:1", ""},
                  {"unkeyed miss, keyed hit", "external", "", "192.0.2.10:3019",
                   "tcp", "delivered", "10.0.1.19:1", ""},
                  {"no key at all", "external", "", "192.0.2.10:4000", "tcp",
                   "local", "", ""},
                  {"other protocol shares no key", "external", "",
                   "192.0.2.10:3002", "udp", "local", "", ""},
              });
}

TEST(CornerCasesTest, NoRouteIsADrop) {
  auto sim = MakeSimulator(
      kCorners, "", "",
      R"({"interfaces": [{"name": "eth0", "addresses": ["192.0.2.10/24"]}]})");
  ASSERT_NE(sim, nullptr);
  ExpectFlows(
      *sim,
      {
          {"unroutable from the host", "local", "", "[2606::1]:80", "tcp",
           "dropped", "", "", "no route to 2606::1"},
          {"DNAT to an unroutable address", "external", "", "192.0.2.10:1004",
           "tcp", "dropped", "10.0.0.4:1", "", "no route to 10.0.0.4"},
      });
}

TEST(CornerCasesTest, InvalidPacketsAreRejected) {
  auto sim = MakeSimulator(kCorners, "", "", "");
  ASSERT_NE(sim, nullptr);
  Packet p;
  p.dst = *IpAddress::Parse("192.0.2.10");
  p.dst_port = 80;
  p.src = *IpAddress::Parse("2001:db8::1");
  EXPECT_FALSE(sim->Trace(p).ok());
  p.src.reset();
  p.origin = *ParsePacketOrigin("external:nope0");
  EXPECT_THAT(sim->Trace(p).status().message(), HasSubstr("nope0"));
  p.origin = *ParsePacketOrigin("pod:10.99.0.1");
  // The default route reaches it, so that pod is "behind eth0".
  EXPECT_TRUE(sim->Trace(p).ok());
  EXPECT_FALSE(ParsePacketOrigin("satellite").ok());
}

}  // namespace
}  // namespace sim
