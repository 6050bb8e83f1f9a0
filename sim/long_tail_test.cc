// The long tail of matches and targets real hosts carry (issue 12), in both
// syntaxes: each construct parses to what the kernel evaluates, and a walk
// through it gives the kernel's answer or refuses, naming the rule.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sim/iptables_parser.h"
#include "sim/nft_parser.h"
#include "sim/simulator.h"
#include "sim/testing/flow_table.h"

namespace sim {
namespace {

using ::sim::testing::ExpectFlows;
using ::sim::testing::MakeSimulator;
using ::testing::HasSubstr;

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

// iptables-restore checks that -m tcp has -p tcp when the rule is complete,
// so kube-proxy's "-m tcp -p tcp --dport" is valid (verified with
// iptables-restore 1.8.9); a port match for another protocol is not.
TEST(IptablesProtocolMatchTest, ModuleBeforeProtocol) {
  absl::StatusOr<Rule> rule =
      ParseIptablesRule("-m tcp -p tcp --dport 80 -j ACCEPT", IpFamily::kV4);
  ASSERT_TRUE(rule.ok()) << rule.status();
  EXPECT_EQ(rule->text, "-p tcp -m tcp --dport 80 -j ACCEPT");
  rule = ParseIptablesRule("-m tcp --dport 80 -p tcp -j ACCEPT", IpFamily::kV4);
  ASSERT_TRUE(rule.ok()) << rule.status();
  EXPECT_EQ(rule->text, "-p tcp -m tcp --dport 80 -j ACCEPT");
  for (const char* bad :
       {"-m tcp --dport 80 -j ACCEPT", "-m udp -p tcp --dport 80 -j ACCEPT",
        "-p tcp -m tcp --dport 80 -m udp --dport 81 -j X",
        "--dport 80 -p tcp -j ACCEPT"}) {
    absl::StatusOr<Rule> r = ParseIptablesRule(bad, IpFamily::kV4);
    EXPECT_FALSE(r.ok()) << bad;
  }
  EXPECT_THAT(
      Msg(ParseIptablesRule("-m udp -p tcp --dport 80 -j ACCEPT", IpFamily::kV4)
              .status()),
      HasSubstr("-m udp needs -p udp"));
}

// eth0 faces the world; cni0 is a bridge with br_netfilter on; veth-r is a
// routed interface with no bridge.
constexpr char kHost[] = R"json({
  "interfaces": [
    {"name": "eth0", "addresses": ["192.0.2.10/24", "2001:db8::10/64"]},
    {"name": "cni0", "addresses": ["10.88.0.1/16", "fd00:88::1/64"]},
    {"name": "veth-r", "addresses": ["10.99.0.1/24"]}],
  "routes": [{"to": "default", "dev": "eth0"}],
  "bridges": [{"name": "cni0", "ports": [
    {"name": "veth1", "addresses": ["10.88.0.5", "fd00:88::5"]}]}]
})json";

std::string Filter(const std::string& rules) {
  return absl::StrCat(
      "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT "
      "[0:0]\n",
      rules, "COMMIT\n");
}

std::string Nat(const std::string& rules) {
  return absl::StrCat(
      "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT "
      "[0:0]\n:POSTROUTING ACCEPT [0:0]\n",
      rules, "COMMIT\n");
}

std::string Raw(const std::string& rules) {
  return absl::StrCat("*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n",
                      rules, "COMMIT\n");
}

absl::Status Restore(const std::string& text, IpFamily family = IpFamily::kV4) {
  Ruleset r;
  IptablesParseOptions o;
  o.family = family;
  return ApplyIptablesRestore(text, o, &r);
}

// The walk's status for one packet.
absl::Status TraceStatus(const Simulator& sim, const std::string& from,
                         const std::string& dst, int port,
                         Protocol proto = Protocol::kTcp) {
  Packet p;
  p.protocol = proto;
  p.dst = *IpAddress::Parse(dst);
  p.dst_port = static_cast<uint16_t>(port);
  p.origin = *ParsePacketOrigin(from);
  return sim.Trace(p).status();
}

// REJECT is a final verdict of the filter table (verified: the kernel
// refuses it in nat, raw and mangle, and tcp-reset without -p tcp).
TEST(RejectTest, IptablesRejectIsFinalAndOnlyInFilter) {
  auto sim = MakeSimulator(
      Filter("-A INPUT -p tcp --dport 22 -j REJECT --reject-with tcp-reset\n"
             "-A FORWARD -d 10.88.0.5/32 -j REJECT\n"),
      "", "", kHost);
  ASSERT_NE(sim, nullptr);
  ExpectFlows(
      *sim,
      {
          {"rejected to the host", "external:eth0", "", "192.0.2.10:22", "tcp",
           "dropped", "", "", "rejected by filter/INPUT rule 1"},
          {"other port", "external:eth0", "", "192.0.2.10:80", "tcp", "local"},
          {"forwarded and rejected", "external:eth0", "", "10.88.0.5:80", "udp",
           "dropped", "", "", "rejected by filter/FORWARD rule 1"},
      });
  absl::StatusOr<Ruleset> r = ParseIptablesSave(
      Filter("-A INPUT -j REJECT\n-A INPUT -j REJECT --reject-with "
             "host-prohib\n"),
      IpFamily::kV4);
  ASSERT_TRUE(r.ok()) << r.status();
  const Chain& input = r->tables[0].chains.at("INPUT");
  EXPECT_EQ(input.rules[0].text,
            "-j REJECT --reject-with icmp-port-unreachable");
  EXPECT_EQ(input.rules[1].text,
            "-j REJECT --reject-with icmp-host-prohibited");
  r = ParseIptablesSave(Filter("-A INPUT -j REJECT\n"), IpFamily::kV6);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->tables[0].chains.at("INPUT").rules[0].text,
            "-j REJECT --reject-with icmp6-port-unreachable");
  EXPECT_THAT(Msg(Restore(Nat("-A OUTPUT -j REJECT\n"))),
              HasSubstr("valid only in table filter"));
  EXPECT_THAT(Msg(Restore(Raw("-A OUTPUT -j REJECT\n"))),
              HasSubstr("valid only in table filter"));
  EXPECT_THAT(
      Msg(ParseIptablesRule("-j REJECT --reject-with tcp-reset", IpFamily::kV4)
              .status()),
      HasSubstr("tcp-reset needs -p tcp"));
  EXPECT_THAT(
      Msg(ParseIptablesRule("-j REJECT --reject-with bogus", IpFamily::kV4)
              .status()),
      HasSubstr("bogus"));
}

// nft adds the protocol a reject's reply needs as a match: "with tcp reset"
// only rejects TCP, "with icmp" only IPv4 in an inet table (verified with
// nft --debug=netlink); reject is refused by the kernel in postrouting.
TEST(RejectTest, NftRejectAndItsImplicitMatches) {
  auto sim = MakeSimulator("", "", R"(table inet f {
	chain input {
		type filter hook input priority filter; policy accept;
		tcp dport 22 reject with tcp reset
		udp dport 53 reject with icmp type host-unreachable
		udp dport 54 reject with icmpx admin-prohibited
		tcp dport 23 reject
	}
}
)",
                           kHost);
  ASSERT_NE(sim, nullptr);
  ExpectFlows(
      *sim, {
                {"tcp reset", "external:eth0", "", "192.0.2.10:22", "tcp",
                 "dropped", "", "", "rejected by inet f/input rule 1"},
                {"tcp reset leaves udp alone", "external:eth0", "",
                 "192.0.2.10:22", "udp", "local"},
                {"icmp rejects IPv4", "external:eth0", "", "192.0.2.10:53",
                 "udp", "dropped", "", "", "rule 2"},
                {"icmp leaves IPv6 alone", "external:eth0", "",
                 "[2001:db8::10]:53", "udp", "local"},
                {"icmpx rejects IPv6", "external:eth0", "", "[2001:db8::10]:54",
                 "udp", "dropped", "", "", "rule 3"},
                {"bare reject", "external:eth0", "", "192.0.2.10:23", "tcp",
                 "dropped", "", "", "rule 4"},
            });
  Ruleset ruleset;
  absl::Status s = ApplyNftScript(
      "table ip6 t { chain c { reject with icmp type host-unreachable; }; }",
      "t.nft", &ruleset);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_THAT(Msg(ruleset.tables[0].unsupported),
              HasSubstr("conflicting protocols"));
  auto post = MakeSimulator("", "", R"(table ip f {
	chain r { reject; }
	chain post { type filter hook postrouting priority 0; jump r; }
}
)",
                            kHost);
  ASSERT_NE(post, nullptr);
  absl::Status refused = TraceStatus(*post, "external:eth0", "10.88.0.5", 80);
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Msg(refused), HasSubstr("invalid in the postrouting hook"));
}

// -j LOG, -m nfacct, nft log and named counters change nothing.
TEST(NoOpTest, LogAndCountersFallThrough) {
  auto sim = MakeSimulator(
      Filter("-A INPUT -p tcp --dport 22 -j LOG --log-prefix \"in: \" "
             "--log-level 4\n"
             "-A INPUT -m nfacct --nfacct-name ssh -p tcp --dport 22 -j "
             "DROP\n"),
      "", R"(table ip f {
	counter c { }
	chain fwd {
		type filter hook forward priority filter; policy accept;
		tcp dport 80 log prefix "fwd " level info counter name "c"
		tcp dport 80 log flags tcp sequence,options drop
	}
}
)",
      kHost);
  ASSERT_NE(sim, nullptr);
  ExpectFlows(*sim, {
                        {"logged, then dropped by rule 2", "external:eth0", "",
                         "192.0.2.10:22", "tcp", "dropped", "", "",
                         "dropped by a rule of filter/INPUT"},
                        {"nft: logged, counted, dropped", "external:eth0", "",
                         "10.88.0.5:80", "tcp", "dropped", "", "",
                         "dropped by a rule of ip f/fwd"},
                    });
  absl::StatusOr<Rule> rule = ParseIptablesRule(
      "-j LOG --log-prefix \"in: \" --log-tcp-options", IpFamily::kV4);
  ASSERT_TRUE(rule.ok()) << rule.status();
  EXPECT_TRUE(rule->actions.empty());
  EXPECT_EQ(rule->text, "-j LOG --log-prefix \"in: \" --log-tcp-options");
}

}  // namespace
}  // namespace sim
