// nft semantics checked against the kernel (6.x, nft 1.0.6) in a network
// namespace: what a statement does where its family or device is left out,
// rules nft lists without their statement, and refusals that stay with the
// rule that holds them.
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sim/nft_parser.h"
#include "sim/simulator.h"
#include "sim/testing/flow_table.h"

namespace sim {
namespace {

using ::sim::testing::ExpectFlows;
using ::sim::testing::MakeSimulator;
using ::sim::testing::PacketForFlow;
using ::sim::testing::ReadTestFile;
using ::testing::HasSubstr;

// eth0 faces the world; cni0 is the pods' bridge with one pod per family.
constexpr char kHost[] = R"json({
  "interfaces": [
    {"name": "eth0", "addresses": ["192.0.2.10/24", "2001:db8::10/64"]},
    {"name": "cni0", "addresses": ["10.88.0.1/16", "fd00:88::1/64"]}],
  "routes": [{"to": "default", "dev": "eth0"}],
  "bridges": [{"name": "cni0", "ports": [
    {"name": "veth1", "addresses": ["10.88.0.5", "fd00:88::5"]}]}]
})json";

absl::StatusOr<TraceResult> TraceFlow(const Simulator& sim,
                                      const sim::testing::Flow& flow) {
  absl::StatusOr<Packet> p = PacketForFlow(flow);
  if (!p.ok()) return p.status();
  return sim.Trace(*p);
}

// Kernel: in an inet table `masquerade` is stored as `[ masq ]` with no
// family and masquerades IPv6 too (a local UDP packet from fd00:9::1 arrived
// as fd00:1::1, the outgoing interface's address).
TEST(InetNatTest, UnqualifiedMasqueradeAppliesToBothFamilies) {
  auto sim = MakeSimulator("", "", R"(table inet t {
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "eth0" masquerade
	}
}
)",
                           kHost);
  ASSERT_NE(sim, nullptr);
  ExpectFlows(*sim,
              {
                  {"v4 pod out", "pod:10.88.0.5", "", "198.51.100.9:80", "tcp",
                   "delivered", "198.51.100.9:80", "192.0.2.10"},
                  {"v6 pod out", "pod:fd00:88::5", "", "[2001:db8:1::9]:80",
                   "tcp", "delivered", "[2001:db8:1::9]:80", "2001:db8::10"},
              });
}

// nft 1.1 takes `dnat to ADDRESS` in an inet table and stores the family of
// the address; a map's data type decides for `dnat to KEY map @m`. Each
// applies to its family only: the other family's packet goes on to the next
// rule (kernel: a v6 packet passed `dnat ip to 10.1.0.2:5002` and was
// DNATed by the next rule, `dnat ip6 to [fd00:1::2]:5002`).
TEST(InetNatTest, UnqualifiedDnatTakesTheFamilyOfItsTarget) {
  auto sim = MakeSimulator("", "", R"(table inet t {
	map v6ports {
		type inet_service : ipv6_addr . inet_service
		elements = { 8081 : fd00:88::5 . 81 }
	}
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		tcp dport 8080 dnat to 10.88.0.5:80
		tcp dport 8080 dnat to [fd00:88::5]:80
		dnat to tcp dport map @v6ports
		dnat to tcp dport map { 8082 : 10.88.0.5 . 82 }
	}
}
)",
                           kHost);
  ASSERT_NE(sim, nullptr);
  ExpectFlows(
      *sim,
      {
          {"v4 literal", "external", "", "192.0.2.10:8080", "tcp", "delivered",
           "10.88.0.5:80", ""},
          {"v6 passes the v4 literal", "external", "", "[2001:db8::10]:8080",
           "tcp", "delivered", "[fd00:88::5]:80", ""},
          {"v6 map", "external", "", "[2001:db8::10]:8081", "tcp", "delivered",
           "[fd00:88::5]:81", ""},
          {"v4 passes the v6 map", "external", "", "192.0.2.10:8081", "tcp",
           "local", "192.0.2.10:8081", ""},
          {"v4 anonymous map", "external", "", "192.0.2.10:8082", "tcp",
           "delivered", "10.88.0.5:82", ""},
          {"v6 passes the v4 anonymous map", "external", "",
           "[2001:db8::10]:8082", "tcp", "local", "[2001:db8::10]:8082", ""},
      });
}

// Kernel: meta iifname stores "" when the packet has no input device, so
// `iifname != "x"` matches a locally generated packet in output (a nat
// output rule `iifname != "x" udp dport 5001 dnat ip to 10.1.0.2:5002` DNATed
// a local packet).
TEST(InterfaceNameTest, NoInputDeviceIsTheEmptyName) {
  auto sim = MakeSimulator("", "", R"(table ip t {
	chain out {
		type nat hook output priority -100; policy accept;
		iifname != "x" tcp dport 8080 dnat to 10.88.0.5:80
		iifname "eth0" tcp dport 8081 dnat to 10.88.0.5:81
	}
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		oifname != "y" tcp dport 8082 dnat to 10.88.0.5:82
	}
}
)",
                           kHost);
  ASSERT_NE(sim, nullptr);
  ExpectFlows(*sim,
              {
                  {"local, iifname != x", "local", "", "192.0.2.10:8080", "tcp",
                   "delivered", "10.88.0.5:80", ""},
                  {"local, iifname eth0", "local", "", "192.0.2.10:8081", "tcp",
                   "local", "192.0.2.10:8081", ""},
                  {"received, oifname != y before routing", "external", "",
                   "192.0.2.10:8082", "tcp", "delivered", "10.88.0.5:82", ""},
              });
}

// A statement the simulator does not model stays with its rule, in a table
// of any type: packets that never reach that rule are answered, one that
// does is refused, naming the table, chain, rule and line.
TEST(UnmodelledRuleTest, RefusedOnlyWhereTheWalkReachesIt) {
  auto sim = MakeSimulator("", "", R"(table ip t {
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		tcp dport 8080 dnat to 10.88.0.5:80
		tcp dport 9090 jump limited
	}
	chain limited {
		ip dscp 1 dnat to 10.88.0.5:90
	}
	chain fwd {
		type filter hook forward priority filter; policy accept;
		tcp dport 80 accept
		tcp dport 81 meta cpu 1 accept
	}
}
)",
                           kHost);
  ASSERT_NE(sim, nullptr);
  ExpectFlows(*sim,
              {
                  {"never reaches the limit", "external", "", "192.0.2.10:8080",
                   "tcp", "delivered", "10.88.0.5:80", ""},
              });
  absl::StatusOr<TraceResult> r = TraceFlow(
      *sim, {"", "external", "", "192.0.2.10:9090", "tcp", "", "", ""});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(),
              HasSubstr("nft table ip t (nft) chain limited rule 1"));
  EXPECT_THAT(r.status().message(), HasSubstr("line 8"));
  EXPECT_THAT(r.status().message(), HasSubstr("dscp"));
  r = TraceFlow(*sim,
                {"", "external", "", "198.51.100.9:81", "tcp", "", "", ""});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("chain fwd rule 2"));
  EXPECT_THAT(r.status().message(), HasSubstr("cpu"));
}

// A set or map the simulator cannot model (a type it lacks, data ranges)
// refuses only the rules that use it, where the walk reaches them.
TEST(UnmodelledRuleTest, UnmodelledSetRefusesOnlyTheRulesUsingIt) {
  auto sim = MakeSimulator("", "", R"(table ip t {
	set macs {
		type ether_addr
		elements = { 02:00:00:00:00:01 }
	}
	map spread {
		type inet_service : ipv4_addr . inet_service
		flags interval
		elements = { 9090 : 10.88.0.5-10.88.0.6 . 90 }
	}
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		tcp dport 8080 dnat to 10.88.0.5:80
		dnat to tcp dport map @spread
	}
}
add element ip t spread { 9091 : 10.88.0.5-10.88.0.6 . 91 }
add element ip t macs { 02:00:00:00:00:02 }
)",
                           kHost);
  ASSERT_NE(sim, nullptr);
  ExpectFlows(*sim, {
                        {"before the map", "external", "", "192.0.2.10:8080",
                         "tcp", "delivered", "10.88.0.5:80", ""},
                    });
  absl::StatusOr<TraceResult> r = TraceFlow(
      *sim, {"", "external", "", "192.0.2.10:9090", "tcp", "", "", ""});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("chain pre rule 2"));
  EXPECT_THAT(r.status().message(),
              HasSubstr("set \"spread\" is not modelled"));
  EXPECT_THAT(r.status().message(), HasSubstr("line 9"));
}

// nft prints a statement it cannot show (an iptables-nft xt match or target
// without its library) as nothing, between the single spaces it puts around
// every statement: a leading, doubled or trailing space. Such a rule is kept
// with the matches nft did show and refused where they all hold.
TEST(ListedWithoutStatementTest, GapsMarkTheRuleNotLegitCounters) {
  absl::StatusOr<Ruleset> r = ParseNftRuleset(
      "table ip t {\n\tchain c {\n"
      "\t\t counter packets 0 bytes 0 jump d\n"                          // 3
      "\t\tmeta l4proto tcp  counter packets 0 bytes 0 accept\n"         // 4
      "\t\ttcp dport 7070 counter packets 0 bytes 0 \n"                  // 5
      "\t\ttcp dport 7071 counter packets 0 bytes 0\n"                   // 6
      "\t\ttcp dport 7072 counter\n"                                     // 7
      "\t\ttcp dport 7073 counter accept \n"                             // 8
      "\t\ttcp dport 80 counter packets 0 bytes 0 xt target \"DNAT\"\n"  // 9
      "\t\ttcp dport 7074 counter packets 0 bytes 0  # handle 9\n"       // 10
      "\t\ttcp dport 7075 counter packets 0 bytes 0 # handle 10\n"       // 11
      "\t}\n\tchain d {\n\t}\n}\n",
      "listed.nft");
  ASSERT_TRUE(r.ok()) << r.status();
  const std::vector<Rule>& rules = r->tables[0].chains["c"].rules;
  ASSERT_EQ(rules.size(), 9u);
  for (int i : {0, 1, 2}) {
    EXPECT_THAT(rules[i].unsupported,
                HasSubstr(absl::StrCat("line ", i + 3, ": nft listed")))
        << rules[i].text;
    EXPECT_TRUE(rules[i].actions.empty()) << rules[i].text;
  }
  EXPECT_EQ(rules[1].matches.size(), 1u);  // the shown `meta l4proto tcp`
  EXPECT_EQ(rules[6].matches.size(), 2u);  // tcp, and dport 80
  for (int i : {3, 4, 5}) {
    EXPECT_EQ(rules[i].unsupported, "") << rules[i].text;
  }
  // Newer nft names what it could not show; the matches before it stay.
  EXPECT_THAT(rules[6].unsupported,
              HasSubstr("line 9: iptables-nft xt target \"DNAT\""));
  EXPECT_TRUE(rules[6].actions.empty());
  // `nft -a list`: one space before "# handle N" is nft's own.
  EXPECT_THAT(rules[7].unsupported, HasSubstr("line 10: nft listed"));
  EXPECT_EQ(rules[8].unsupported, "");
}

constexpr char kXtHost[] = R"json({
  "interfaces": [
    {"name": "eth0", "addresses": ["192.0.2.10/24"]},
    {"name": "cni0", "addresses": ["10.88.0.1/16"]}],
  "routes": [{"to": "default", "dev": "eth0"}],
  "bridges": [{"name": "cni0", "ports": [
    {"name": "veth1", "addresses": ["10.88.0.5"]},
    {"name": "veth2", "addresses": ["10.88.0.7"]}]}]
})json";

// The real listings (testdata/README): given the iptables-save text, the
// answers come from it; the listing alone is answered where it is complete
// and refused where a rule the walk reaches lost a statement.
TEST(ListedWithoutStatementTest, RealIptablesNftListings) {
  std::string rules =
      ReadTestFile("sim/testdata/iptables-nft-xt.iptables-save");
  auto truth = MakeSimulator(rules, "", "", kXtHost);
  ASSERT_NE(truth, nullptr);
  ExpectFlows(*truth, {
                          {"8080", "external", "", "192.0.2.10:8080", "tcp",
                           "delivered", "10.88.0.5:80", "203.0.113.7"},
                          {"9001", "external", "", "192.0.2.10:9001", "tcp",
                           "delivered", "10.88.0.7:90", "203.0.113.7"},
                      });
  auto full = MakeSimulator(
      "", "", ReadTestFile("sim/testdata/iptables-nft-xt.nft"), kXtHost);
  ASSERT_NE(full, nullptr);
  ExpectFlows(*full,
              {
                  {"multiport translated", "external", "", "192.0.2.10:9001",
                   "tcp", "delivered", "10.88.0.7:90", "203.0.113.7"},
              });
  absl::StatusOr<TraceResult> t = TraceFlow(
      *full, {"", "external", "", "192.0.2.10:8080", "tcp", "", "", ""});
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(t.status().message(),
              HasSubstr("nft table ip nat (nft) chain HX-DNAT rule 1"));
  EXPECT_THAT(t.status().message(), HasSubstr("line 22"));

  auto bare = MakeSimulator(
      "", "", ReadTestFile("sim/testdata/iptables-nft-xt-nolibs.nft"), kXtHost);
  ASSERT_NE(bare, nullptr);
  for (const char* dst : {"192.0.2.10:8080", "192.0.2.10:9001"}) {
    t = TraceFlow(*bare, {"", "external", "", dst, "tcp", "", "", ""});
    ASSERT_FALSE(t.ok()) << dst;
    EXPECT_EQ(t.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(t.status().message(),
                HasSubstr("nft table ip nat (nft) chain PREROUTING rule 1"));
    EXPECT_THAT(t.status().message(), HasSubstr("line 4"));
  }
}

// CRI-O's nftables hostports, as written and as nft lists them back, on a
// host with eth0 and the pods' bridge cni0 (two pods per family).
constexpr char kCrioHost[] = R"json({
  "interfaces": [
    {"name": "eth0", "addresses": ["192.0.2.10/24", "2001:db8::10/64"]},
    {"name": "cni0", "addresses": ["10.88.0.1/16", "fd00:88::1/64"]}],
  "routes": [{"to": "default", "dev": "eth0"}],
  "bridges": [{"name": "cni0", "ports": [
    {"name": "veth1", "addresses": ["10.88.0.5", "fd00:88::5"]},
    {"name": "veth2", "addresses": ["10.88.0.7", "fd00:88::7"]}]}]
})json";

// The masquerade rule's `ct status & dnat|snat == dnat` is stored as
// ((status & dnat) ^ snat) == dnat, which no connection satisfies: a pod
// reaching itself through its hostport keeps its own address as source,
// and that hairpin fails.
void ExpectCrioFlows(const std::string& file) {
  SCOPED_TRACE(file);
  auto sim = MakeSimulator("", "", ReadTestFile(file), kCrioHost);
  ASSERT_NE(sim, nullptr);
  ExpectFlows(
      *sim,
      {
          {"external, every address", "external:eth0", "198.51.100.9",
           "192.0.2.10:8080", "tcp", "delivered", "10.88.0.5:80",
           "198.51.100.9"},
          {"external, the host bridge address", "external:eth0", "198.51.100.9",
           "10.88.0.1:8080", "tcp", "delivered", "10.88.0.5:80",
           "198.51.100.9"},
          {"external, host IP map", "external:eth0", "198.51.100.9",
           "192.0.2.10:5353", "udp", "delivered", "10.88.0.5:53",
           "198.51.100.9"},
          {"host IP map, other address", "external:eth0", "198.51.100.9",
           "10.88.0.1:5353", "udp", "local", "10.88.0.1:5353", ""},
          {"no mapping", "external:eth0", "", "192.0.2.10:8081", "tcp", "local",
           "192.0.2.10:8081", ""},
          {"not local: not DNATed", "external:eth0", "", "198.51.100.1:8080",
           "tcp", "delivered", "198.51.100.1:8080", ""},
          {"local client", "local", "", "192.0.2.10:8080", "tcp", "delivered",
           "10.88.0.5:80", "192.0.2.10"},
          {"local client, host IP map", "local", "", "192.0.2.10:5353", "udp",
           "delivered", "10.88.0.5:53", "192.0.2.10"},
          // Kernel: a SYN to 127.0.0.1:8080 from the host never reached the
          // pod (DNATed, unmasqueraded, route_localnet 0).
          {"local client to 127.0.0.1", "local", "", "127.0.0.1:8080", "tcp",
           "dropped", "", "", "127.0.0.1"},
          {"other pod", "pod:10.88.0.7", "", "192.0.2.10:8080", "tcp",
           "delivered", "10.88.0.5:80", "10.88.0.7"},
          {"hairpin is never masqueraded", "pod:10.88.0.5", "",
           "192.0.2.10:8080", "tcp", "dropped", "10.88.0.5:80", "10.88.0.5",
           "hairpin without masquerade"},
          {"v6 external", "external:eth0", "2001:db8:1::9",
           "[2001:db8::10]:8080", "tcp", "delivered", "[fd00:88::5]:80",
           "2001:db8:1::9"},
          {"v6 host IP map", "external:eth0", "2001:db8:1::9",
           "[2001:db8::10]:5353", "udp", "delivered", "[fd00:88::5]:53",
           "2001:db8:1::9"},
          {"v6 local client", "local", "", "[2001:db8::10]:8080", "tcp",
           "delivered", "[fd00:88::5]:80", "2001:db8::10"},
          {"v6 other pod", "pod:fd00:88::7", "", "[2001:db8::10]:8080", "tcp",
           "delivered", "[fd00:88::5]:80", "fd00:88::7"},
          {"v6 hairpin is never masqueraded", "pod:fd00:88::5", "",
           "[2001:db8::10]:8080", "tcp", "dropped", "[fd00:88::5]:80",
           "fd00:88::5", "hairpin without masquerade"},
      });
}

// Kernel (nft --debug=netlink): `ct status & (dnat | snat) == dnat` is
// `( reg & 0x30 ) ^ 0`, cmp eq 0x20; `ct status & dnat|snat == dnat` is
// `( reg & 0x20 ) ^ 0x10`, cmp eq 0x20, which never holds.
TEST(CrioHostportsTest, BitwiseIsTheStoredExpression) {
  auto sim = MakeSimulator("", "", R"(table ip t {
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		tcp dport 1 dnat to 10.88.0.5:80
		tcp dport 2 dnat to 10.88.0.5:80
	}
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		tcp dport 80 ip saddr 198.51.100.1 ct status & dnat|snat == dnat masquerade
		tcp dport 80 ip saddr 198.51.100.2 ct status & (dnat | snat) == dnat masquerade
		tcp dport 80 ip saddr 198.51.100.3 ct status & dnat ^ dnat == 0 masquerade
		tcp dport 80 ip saddr 198.51.100.4 ct status dnat / snat,dnat masquerade
		tcp dport 80 ip saddr 198.51.100.5 ct status snat / snat,dnat masquerade
	}
}
)",
                           kCrioHost);
  ASSERT_NE(sim, nullptr);
  ExpectFlows(
      *sim, {
                {"never holds", "external:eth0", "198.51.100.1", "192.0.2.10:1",
                 "tcp", "delivered", "10.88.0.5:80", "198.51.100.1"},
                {"dnat only", "external:eth0", "198.51.100.2", "192.0.2.10:1",
                 "tcp", "delivered", "10.88.0.5:80", "10.88.0.1"},
                {"xor", "external:eth0", "198.51.100.3", "192.0.2.10:1", "tcp",
                 "delivered", "10.88.0.5:80", "10.88.0.1"},
            });
  Ruleset r;
  ASSERT_TRUE(ApplyNftScript("table ip t {\n\tchain c {\n"
                             "\t\tct status | snat & dnat == dnat accept\n"
                             "\t\tdnat ip prefix to 10.0.0.0/8\n"
                             "\t}\n}\n",
                             "s", &r)
                  .ok());
  const std::vector<Rule>& rules = r.tables[0].chains["c"].rules;
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_THAT(rules[0].unsupported,
              HasSubstr("line 3: bitwise operators of rising precedence"));
  EXPECT_THAT(rules[1].unsupported, HasSubstr("line 4: unsupported dnat form"));
}

// nft spells the bitwise operators "and", "or" and "xor" too; kube-proxy's
// nftables mode writes "mark and 0x4000 == 0 return".
TEST(BitwiseWordsTest, AndOrXorAreTheOperators) {
  Ruleset r;
  ASSERT_TRUE(ApplyNftScript("table ip t {\n\tchain c {\n"
                             "\t\tmark and 0x4000 == 0 return\n"
                             "\t\tmark & 0x4000 == 0 return\n"
                             "\t\tmeta mark and 0xff xor 0x1 == 0x2 accept\n"
                             "\t}\n}\n",
                             "s", &r)
                  .ok());
  const std::vector<Rule>& rules = r.tables[0].chains["c"].rules;
  ASSERT_EQ(rules.size(), 3u);
  for (const Rule& rule : rules) {
    EXPECT_EQ(rule.unsupported, "") << rule.text;
    ASSERT_EQ(rule.matches.size(), 1u) << rule.text;
  }
  EXPECT_EQ(rules[0].matches[0].mask, 0x4000u);
  EXPECT_EQ(rules[0].matches[0].value, 0u);
  EXPECT_EQ(rules[1].matches[0].mask, rules[0].matches[0].mask);
  EXPECT_EQ(rules[2].matches[0].mask, 0xffu);
  EXPECT_EQ(rules[2].matches[0].xor_value, 0x1u);
  EXPECT_EQ(rules[2].matches[0].value, 0x2u);
}

TEST(CrioHostportsTest, AsWritten) {
  ExpectCrioFlows("sim/testdata/crio-hostports.nft");
}

TEST(CrioHostportsTest, AsListed) {
  ExpectCrioFlows("sim/testdata/crio-hostports.listed.nft");
}

}  // namespace
}  // namespace sim
