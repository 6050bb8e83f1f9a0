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
// so kube-proxy's "-m tcp -p tcp --dport" and "-m tcp --syn -p tcp" are
// valid (verified with iptables-restore 1.8.9); a port match for another
// protocol, --dport before any protocol, and -m multiport --dports before
// -p are not.
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
        "--dport 80 -p tcp -j ACCEPT",
        "-m multiport --dports 80,81 -p tcp -j ACCEPT"}) {
    absl::StatusOr<Rule> r = ParseIptablesRule(bad, IpFamily::kV4);
    EXPECT_FALSE(r.ok()) << bad;
  }
  rule = ParseIptablesRule("-m tcp --syn -p tcp -j ACCEPT", IpFamily::kV4);
  ASSERT_TRUE(rule.ok()) << rule.status();
  EXPECT_EQ(rule->text,
            "-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -j ACCEPT");
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

// The rule one nft statement of the long tail parses to, in an ip table.
Rule NftRule(const std::string& text, bool nat = false) {
  Ruleset r;
  std::string chain = nat ? "type nat hook prerouting priority dstnat;" : "";
  absl::Status s =
      ApplyNftScript(absl::StrCat("table ip t {\n\tchain c {\n\t\t", chain,
                                  "\n\t\t", text, "\n\t}\n}\n"),
                     "t.nft", &r);
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_TRUE(r.tables[0].unsupported.ok())
      << text << ": " << r.tables[0].unsupported;
  const std::vector<Rule>& rules = r.tables[0].chains.at("c").rules;
  EXPECT_EQ(rules.size(), 1u) << text;
  return rules.empty() ? Rule() : rules[0];
}

TEST(NftLongTailParserTest, StatementsAndMatchesParseToTheKernelsMeaning) {
  Rule r = NftRule("tcp flags syn / syn,ack drop");
  ASSERT_EQ(r.matches.size(), 2u);  // meta l4proto tcp, then the flags
  EXPECT_EQ(r.matches[1].fields, std::vector<Field>{Field::kTcpFlags});
  EXPECT_EQ(r.matches[1].mask, 0x12u);
  EXPECT_EQ(r.matches[1].value, 0x2u);
  r = NftRule("tcp flags & (fin|syn|rst|ack) != syn drop");
  EXPECT_EQ(r.matches[1].mask, 0x17u);
  EXPECT_TRUE(r.matches[1].negate);
  r = NftRule("reject with tcp reset");
  ASSERT_EQ(r.matches.size(), 1u);
  EXPECT_EQ(r.matches[0].fields, std::vector<Field>{Field::kL4Proto});
  EXPECT_EQ(r.actions[0].kind, Action::Kind::kReject);
  r = NftRule("meta l4proto tcp redirect to :8080", true);
  EXPECT_EQ(r.actions[0].kind, Action::Kind::kRedirect);
  EXPECT_EQ(r.actions[0].nat_port, 8080);
  r = NftRule("meta l4proto tcp masquerade to :1000-2000 random", true);
  EXPECT_EQ(r.actions[0].nat_port, 1000);
  EXPECT_EQ(r.actions[0].nat_port_hi, 2000);
  r = NftRule("dnat to 10.0.0.1-10.0.0.3", true);
  EXPECT_EQ(r.actions[0].nat_address_hi->ToString(), "10.0.0.3");
  r = NftRule("ct mark set meta mark");
  EXPECT_EQ(r.actions[0].kind, Action::Kind::kCopyMark);
  EXPECT_TRUE(r.actions[0].copy_to_conn);
  r = NftRule("meta mark set ct mark & 0xf");
  EXPECT_FALSE(r.actions[0].copy_to_conn);
  EXPECT_EQ(r.actions[0].copy_mask, 0xfu);
  r = NftRule("ct mark set 0x5");
  EXPECT_EQ(r.actions[0].kind, Action::Kind::kSetCtMark);
  EXPECT_EQ(r.actions[0].mark_xor, 5u);
  r = NftRule("ct mark & 0xff == 0x1 accept");
  EXPECT_EQ(r.matches[0].fields, std::vector<Field>{Field::kCtMark});
  EXPECT_EQ(r.matches[0].mask, 0xffu);
  r = NftRule("ip version 6 accept");  // never an IPv4 header
  EXPECT_EQ(r.matches[0].literal->elements()[0]->key[0].lo,
            EncodeNumber(ValueType::kNfProto, 0));
  r = NftRule("log prefix \"x \" level info counter name \"c\" notrack");
  ASSERT_EQ(r.actions.size(), 1u);
  EXPECT_EQ(r.actions[0].kind, Action::Kind::kNotrack);
  EXPECT_TRUE(r.matches.empty());
  r = NftRule("iif \"lo\" meta pkttype broadcast accept");
  EXPECT_EQ(r.matches[0].fields, std::vector<Field>{Field::kInIface});
  EXPECT_EQ(r.matches[1].fields, std::vector<Field>{Field::kPktType});
  r = NftRule("meta skuid 1000 accept");
  EXPECT_EQ(r.matches[0].fields, std::vector<Field>{Field::kSkUid});
}

TEST(NftLongTailParserTest, ErrorsNameTheConstruct) {
  struct Case {
    const char* rule;
    const char* message;
  };
  for (const Case& c : {
           Case{"redirect to :80", "transport protocol match"},
           Case{"meta l4proto tcp redirect to 80", "\":port[-port]\""},
           Case{"reject with icmp bogus-word extra", "at \"extra\""},
           Case{"reject with tcp rst", "tcp reset"},
           Case{"ip version four accept", "version number"},
           Case{"tcp flags syn / bogus drop", "TCP flag"},
           Case{"dnat to 10.0.0.1-10.0.0.x", "NAT target"},
           Case{"iif 2 accept", "interface index"},
           Case{"meta oif != 3 accept", "interface index"},
       }) {
    Ruleset r;
    ASSERT_TRUE(ApplyNftScript(absl::StrCat("table ip t {\n\tchain c {\n\t\t",
                                            c.rule, "\n\t}\n}\n"),
                               "t.nft", &r)
                    .ok());
    // An unreadable rule is kept as a placeholder refused where reached.
    const std::vector<Rule>& rules = r.tables[0].chains.at("c").rules;
    ASSERT_EQ(rules.size(), 1u) << c.rule;
    EXPECT_THAT(rules[0].unsupported, HasSubstr(c.message)) << c.rule;
    EXPECT_THAT(rules[0].unsupported, HasSubstr("line 3")) << c.rule;
  }
}

TEST(IptablesLongTailParserTest, MatchesParseToTheKernelsMeaning) {
  absl::StatusOr<Rule> r = ParseIptablesRule(
      "-m iprange --src-range 10.0.0.1-10.0.0.9 -m connmark --mark 0x1/0x3 -m "
      "physdev --physdev-is-bridged -j ACCEPT",
      IpFamily::kV4);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->matches.size(), 3u);
  EXPECT_EQ(r->matches[0].literal->elements()[0]->key[0].kind,
            ValuePattern::Kind::kRange);
  EXPECT_EQ(r->matches[1].fields, std::vector<Field>{Field::kCtMark});
  EXPECT_EQ(r->matches[1].mask, 3u);
  EXPECT_EQ(r->matches[2].fields, std::vector<Field>{Field::kPhysFlags});
  r = ParseIptablesRule(
      "-m addrtype --limit-iface-in --dst-type LOCAL -j ACCEPT", IpFamily::kV4);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->matches[0].fields, std::vector<Field>{Field::kDstAddrTypeIif});
  for (const char* bad : {
           "--src-range 10.0.0.1-10.0.0.2 -j X",      // no -m iprange
           "-m iprange --src-range 10.0.0.0/8 -j X",  // not a range
           "-m pkttype --pkt-type bogus -j X",
           "-m addrtype --limit-iface-in --limit-iface-out -j X",
           "-m physdev --physdev-in -j X",
           "-j CONNMARK --nfmask 0x1",
           "-p tcp -j REDIRECT --to-ports 90-80",
       }) {
    EXPECT_FALSE(ParseIptablesRule(bad, IpFamily::kV4).ok()) << bad;
  }
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
  EXPECT_THAT(ruleset.tables[0].chains.at("c").rules.at(0).unsupported,
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
  Ruleset commands;
  absl::Status s = ApplyNftScript(
      "add table ip f\nadd counter ip f c\nadd counter ip f d { }\n"
      "add chain ip f c1 { type filter hook input priority 0; }\n"
      "add rule ip f c1 counter name \"c\" accept\n",
      "cmds.nft", &commands);
  EXPECT_TRUE(s.ok()) << s;
  absl::StatusOr<Rule> rule = ParseIptablesRule(
      "-j LOG --log-prefix \"in: \" --log-tcp-options", IpFamily::kV4);
  ASSERT_TRUE(rule.ok()) << rule.status();
  EXPECT_TRUE(rule->actions.empty());
  EXPECT_EQ(rule->text, "-j LOG --log-prefix \"in: \" --log-tcp-options");
}

// REDIRECT goes to the first address of the input interface (verified: to
// a secondary address of the interface, the packet arrives for the
// primary), or to loopback from a local process.
TEST(NatTailTest, Redirect) {
  auto sim = MakeSimulator(
      Nat("-A PREROUTING -p tcp --dport 80 -j REDIRECT --to-ports 8080\n"
          "-A OUTPUT -p tcp --dport 80 -j REDIRECT\n"),
      "", R"(table ip6 n {
	chain pre {
		type nat hook prerouting priority dstnat;
		tcp dport 80 redirect to :8080
	}
}
)",
      kHost);
  ASSERT_NE(sim, nullptr);
  ExpectFlows(*sim, {
                        {"external on eth0", "external:eth0", "",
                         "198.51.100.1:80", "tcp", "local", "192.0.2.10:8080"},
                        {"from a pod: cni0's address", "pod:10.88.0.5", "",
                         "198.51.100.1:80", "tcp", "local", "10.88.0.1:8080"},
                        {"local: loopback, port kept", "local", "",
                         "198.51.100.1:80", "tcp", "local", "127.0.0.1:80"},
                        {"nft, IPv6", "external:eth0", "", "[2001:db8::99]:80",
                         "tcp", "local", "[2001:db8::10]:8080"},
                    });
  EXPECT_THAT(Msg(Restore(Filter("-A INPUT -p tcp -j REDIRECT\n"))),
              HasSubstr("valid only in table nat"));
  EXPECT_THAT(Msg(ParseIptablesRule("-j REDIRECT --to-ports 80", IpFamily::kV4)
                      .status()),
              HasSubstr("--to-ports needs -p tcp"));
}

// A port range keeps the packet's port when it is in the range; otherwise
// the kernel picks one and the trace refuses, naming the rule. An address
// range of more than one address refuses too.
TEST(NatTailTest, PortAndAddressRanges) {
  auto sim = MakeSimulator(
      Nat("-A PREROUTING -p tcp --dport 80:90 -j DNAT --to-destination "
          "10.88.0.5-10.88.0.5:85-95\n"
          "-A PREROUTING -p tcp --dport 100 -j DNAT --to-destination "
          "10.88.0.5-10.88.0.6\n"
          "-A POSTROUTING -o eth0 -p tcp --sport 40000 -j MASQUERADE "
          "--to-ports 30000-50000\n"
          "-A POSTROUTING -o eth0 -p tcp --sport 40001 -j MASQUERADE "
          "--to-ports 1000-2000\n"
          "-A POSTROUTING -o eth0 -p tcp --sport 40002 -j MASQUERADE "
          "--to-ports 5000\n"),
      "", "", kHost);
  ASSERT_NE(sim, nullptr);
  ExpectFlows(*sim, {
                        {"dport in range is kept", "external:eth0", "",
                         "192.0.2.10:88", "tcp", "delivered", "10.88.0.5:88"},
                        {"sport in range is kept", "pod:10.88.0.5",
                         "10.88.0.5:40000", "198.51.100.1:443", "tcp",
                         "delivered", "198.51.100.1:443", "192.0.2.10"},
                        {"one port", "pod:10.88.0.5", "10.88.0.5:40002",
                         "198.51.100.1:443", "tcp", "delivered",
                         "198.51.100.1:443", "192.0.2.10"},
                    });
  Packet p;
  p.dst = *IpAddress::Parse("198.51.100.1");
  p.dst_port = 443;
  p.src = *IpAddress::Parse("10.88.0.5");
  p.src_port = 40002;
  p.origin = *ParsePacketOrigin("pod:10.88.0.5");
  absl::StatusOr<TraceResult> r = sim->Trace(p);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->source_port, 5000);
  p.src_port = 40001;
  EXPECT_THAT(Msg(sim->Trace(p).status()),
              HasSubstr("chain POSTROUTING rule 2"));
  absl::Status s = TraceStatus(*sim, "external:eth0", "192.0.2.10", 80);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Msg(s), HasSubstr("port 80 is outside the range 85-95"));
  s = TraceStatus(*sim, "external:eth0", "192.0.2.10", 100);
  EXPECT_THAT(Msg(s), HasSubstr("chain PREROUTING rule 2"));
  EXPECT_THAT(Msg(s), HasSubstr("10.88.0.5-10.88.0.6"));
}

TEST(NatTailTest, NftRanges) {
  auto sim = MakeSimulator("", "", R"(table ip n {
	chain pre {
		type nat hook prerouting priority dstnat;
		tcp dport 80 dnat to 10.88.0.5:80-90
		tcp dport 81 dnat to 10.88.0.5-10.88.0.7
	}
	chain post {
		type nat hook postrouting priority srcnat;
		meta l4proto tcp oifname "eth0" masquerade to :1000-2000
	}
}
)",
                           kHost);
  ASSERT_NE(sim, nullptr);
  ExpectFlows(*sim, {{"kept", "external:eth0", "", "192.0.2.10:80", "tcp",
                      "delivered", "10.88.0.5:80"}});
  EXPECT_THAT(Msg(TraceStatus(*sim, "external:eth0", "192.0.2.10", 81)),
              HasSubstr("rule 2 (tcp dport 81 dnat to 10.88.0.5-10.88.0.7)"));
  EXPECT_THAT(Msg(TraceStatus(*sim, "pod:10.88.0.5", "198.51.100.1", 443)),
              HasSubstr("outside the range 1000-2000"));
}

// CONNMARK and ct mark: the connection's mark starts at 0; raw chains run
// before conntrack and so have none (verified: CONNMARK --set-mark in raw
// PREROUTING leaves the mark 0; in filter INPUT it is seen by the next
// rule).
TEST(CtMarkTest, ConnmarkBothSyntaxes) {
  auto sim = MakeSimulator(
      Raw("-A PREROUTING -p tcp --dport 5050 -j CONNMARK --set-mark 0x5\n") +
          Filter("-A INPUT -p tcp --dport 5050 -m connmark --mark 0x5 -j "
                 "DROP\n"
                 "-A INPUT -p tcp --dport 5051 -j CONNMARK --set-mark 0x6\n"
                 "-A INPUT -p tcp --dport 5051 -m connmark --mark 0x6 -j "
                 "DROP\n"
                 "-A INPUT -p tcp --dport 5052 -j MARK --set-mark 0x7\n"
                 "-A INPUT -p tcp --dport 5052 -j CONNMARK --save-mark\n"
                 "-A INPUT -p tcp --dport 5052 -j MARK --set-mark 0\n"
                 "-A INPUT -p tcp --dport 5052 -j CONNMARK --restore-mark "
                 "--mask 0x3\n"
                 "-A INPUT -p tcp --dport 5052 -m mark --mark 0x3 -j DROP\n"),
      "", R"(table inet f {
	chain fwd {
		type filter hook forward priority filter;
		ct mark 0 tcp dport 80 ct mark set 0x10
		tcp dport 80 ct mark set ct mark | 0x1
		tcp dport 80 meta mark set ct mark & 0xf
		tcp dport 80 meta mark 0x1 ct mark & 0xff == 0x11 drop
	}
}
)",
      kHost);
  ASSERT_NE(sim, nullptr);
  ExpectFlows(*sim, {
                        {"raw has no conntrack", "external:eth0", "",
                         "192.0.2.10:5050", "tcp", "local"},
                        {"filter sets and matches", "external:eth0", "",
                         "192.0.2.10:5051", "tcp", "dropped"},
                        {"save then restore with a mask", "external:eth0", "",
                         "192.0.2.10:5052", "tcp", "dropped"},
                        {"nft ct mark arithmetic", "external:eth0", "",
                         "10.88.0.5:80", "tcp", "dropped"},
                    });
  absl::StatusOr<Rule> rule = ParseIptablesRule(
      "-j CONNMARK --restore-mark --nfmask 0xff --ctmask 0xf", IpFamily::kV4);
  ASSERT_TRUE(rule.ok()) << rule.status();
  ASSERT_EQ(rule->actions.size(), 1u);
  EXPECT_EQ(rule->actions[0].kind, Action::Kind::kCopyMark);
  EXPECT_FALSE(rule->actions[0].copy_to_conn);
  EXPECT_EQ(rule->actions[0].mark_mask, 0xffu);  // packet bits cleared
  EXPECT_EQ(rule->actions[0].copy_mask, 0xfu);   // ct bits taken
  EXPECT_FALSE(ParseIptablesRule("-j CONNMARK", IpFamily::kV4).ok());
  // As iptables-save prints them (verified), so -D finds them.
  for (const auto& [in, saved] :
       std::vector<std::pair<std::string, std::string>>{
           {"-j CONNMARK --set-mark 0x4/0xf",
            "-j CONNMARK --set-xmark 0x4/0xf"},
           {"-j CONNMARK --set-xmark 0x4",
            "-j CONNMARK --set-xmark 0x4/0xffffffff"},
           {"-j CONNMARK --save-mark",
            "-j CONNMARK --save-mark --nfmask 0xffffffff --ctmask 0xffffffff"},
           {"-j CONNMARK --restore-mark --mask 0xff",
            "-j CONNMARK --restore-mark --nfmask 0xff --ctmask 0xff"},
           {"-j LOG --log-prefix \"x y\" --log-level 4",
            "-j LOG --log-prefix \"x y\""},
           {"-j LOG --log-level info", "-j LOG --log-level 6"},
       }) {
    absl::StatusOr<Rule> r = ParseIptablesRule(in, IpFamily::kV4);
    ASSERT_TRUE(r.ok()) << in << ": " << r.status();
    EXPECT_EQ(r->text, saved);
  }
}

// NOTRACK in raw: the packet gets no conntrack entry, so NAT does not apply
// and its ct state is "untracked"; before conntrack (raw) a packet's state
// is "invalid" (both verified: an nft notrack in raw priority made the
// DNAT rule count nothing and "ct state untracked" count the packet in
// input; "ct state invalid" counted it at priority -300).
TEST(NotrackTest, UntrackedPacketsSkipNat) {
  std::string nat =
      Nat("-A PREROUTING -p tcp --dport 8080 -j DNAT --to-destination "
          "10.88.0.5:80\n");
  auto sim = MakeSimulator(
      Raw("-A PREROUTING -p tcp --dport 8080 -s 198.51.100.0/24 -j CT "
          "--notrack\n"
          "-A PREROUTING -p tcp --dport 7070 -m conntrack --ctstate NEW -j "
          "DROP\n") +
          nat +
          Filter("-A INPUT -p tcp --dport 8080 -m conntrack --ctstate "
                 "UNTRACKED -j DROP\n"),
      "", "", kHost);
  ASSERT_NE(sim, nullptr);
  ExpectFlows(*sim, {
                        {"untracked: no DNAT, dropped as untracked",
                         "external:eth0", "198.51.100.9", "192.0.2.10:8080",
                         "tcp", "dropped", "", "", "filter/INPUT"},
                        {"tracked: DNAT", "external:eth0", "203.0.113.7",
                         "192.0.2.10:8080", "tcp", "delivered", "10.88.0.5:80"},
                        {"raw sees state invalid, not new", "external:eth0", "",
                         "192.0.2.10:7070", "tcp", "local"},
                    });
  auto nft = MakeSimulator("", "", R"(table ip t {
	chain raw {
		type filter hook prerouting priority raw;
		tcp dport 8080 notrack
	}
	chain pre {
		type nat hook prerouting priority dstnat;
		tcp dport 8080 dnat to 10.88.0.5:80
	}
}
)",
                           kHost);
  ASSERT_NE(nft, nullptr);
  ExpectFlows(*nft, {{"nft notrack", "external:eth0", "", "192.0.2.10:8080",
                      "tcp", "local", "192.0.2.10:8080"}});
  EXPECT_THAT(Msg(Restore(nat + Filter("-A INPUT -j NOTRACK\n"))),
              HasSubstr("valid only in table raw"));
  EXPECT_FALSE(ParseIptablesRule("-j CT --zone 1", IpFamily::kV4).ok());
}

// Before conntrack (raw) a packet has no entry: its original tuple and
// status are absent, so those matches fail, negated or not (xt_conntrack
// returns false without an entry unless only the state is tested).
TEST(NotrackTest, NoConntrackEntryInRaw) {
  auto sim = MakeSimulator(
      Raw("-A PREROUTING -p tcp --dport 80 -m conntrack --ctorigdstport 80 "
          "-j DROP\n"
          "-A PREROUTING -p tcp --dport 81 -m conntrack ! --ctorigdstport 80 "
          "-j DROP\n"
          "-A PREROUTING -p tcp --dport 82 -m conntrack --ctstate INVALID -j "
          "DROP\n"),
      "", R"(table ip t {
	chain raw {
		type filter hook prerouting priority raw;
		tcp dport 83 ct status & dnat == 0 drop
	}
}
)",
      kHost);
  ASSERT_NE(sim, nullptr);
  ExpectFlows(*sim, {
                        {"--ctorigdstport", "external:eth0", "",
                         "192.0.2.10:80", "tcp", "local"},
                        {"! --ctorigdstport", "external:eth0", "",
                         "192.0.2.10:81", "tcp", "local"},
                        {"--ctstate INVALID", "external:eth0", "",
                         "192.0.2.10:82", "tcp", "dropped"},
                        {"ct status", "external:eth0", "", "192.0.2.10:83",
                         "tcp", "local"},
                    });
}

// tcp flags: the traced packet is a connection's first, a SYN; UDP has no
// TCP flags.
TEST(MatchTailTest, TcpFlags) {
  auto sim = MakeSimulator(
      Filter("-A INPUT -p tcp --dport 1 --syn -j DROP\n"
             "-A INPUT -m tcp -p tcp --dport 2 --tcp-flags SYN,ACK ACK -j "
             "DROP\n"
             "-A INPUT -p tcp --dport 3 ! --syn -j DROP\n"),
      "", R"(table inet f {
	chain fwd {
		type filter hook forward priority filter;
		th dport 1 tcp flags syn / syn,ack drop
		th dport 2 tcp flags & (fin|syn|rst|ack) != syn drop
		th dport 3 tcp flags == syn drop
		th dport 4 tcp flags ack drop
	}
}
)",
      kHost);
  ASSERT_NE(sim, nullptr);
  ExpectFlows(
      *sim,
      {
          {"--syn", "external:eth0", "", "192.0.2.10:1", "tcp", "dropped"},
          {"--tcp-flags SYN,ACK ACK", "external:eth0", "", "192.0.2.10:2",
           "tcp", "local"},
          {"! --syn", "external:eth0", "", "192.0.2.10:3", "tcp", "local"},
          {"syn / syn,ack", "external:eth0", "", "10.88.0.5:1", "tcp",
           "dropped"},
          {"udp has no flags", "external:eth0", "", "10.88.0.5:1", "udp",
           "delivered"},
          {"& mask != syn", "external:eth0", "", "10.88.0.5:2", "tcp",
           "delivered"},
          {"== syn", "external:eth0", "", "10.88.0.5:3", "tcp", "dropped"},
          {"ack (any bit)", "external:eth0", "", "10.88.0.5:4", "tcp",
           "delivered"},
      });
  absl::StatusOr<Rule> rule =
      ParseIptablesRule("-p tcp --syn -j ACCEPT", IpFamily::kV4);
  ASSERT_TRUE(rule.ok()) << rule.status();
  EXPECT_EQ(rule->text,
            "-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -j ACCEPT");
  EXPECT_FALSE(ParseIptablesRule("-p udp --syn -j X", IpFamily::kV4).ok());
  EXPECT_FALSE(
      ParseIptablesRule("-p tcp --tcp-flags 2 2 -j X", IpFamily::kV4).ok());
  EXPECT_FALSE(
      ParseIptablesRule("-p tcp --tcp-flags SYN -j X", IpFamily::kV4).ok());
}

// pkttype, iprange, ip version, iif/oif by name.
TEST(MatchTailTest, PacketFacts) {
  auto sim = MakeSimulator(
      Filter("-A INPUT -p tcp --dport 1 -m pkttype --pkt-type unicast -j "
             "DROP\n"
             "-A INPUT -p tcp --dport 2 -m pkttype --pkt-type broadcast -j "
             "DROP\n"
             "-A INPUT -p tcp --dport 3 -m iprange --src-range "
             "203.0.113.1-203.0.113.9 -j DROP\n"
             "-A INPUT -p tcp --dport 4 -m iprange ! --dst-range "
             "192.0.2.1-192.0.2.9 -j DROP\n"),
      "", R"(table inet f {
	chain fwd {
		type filter hook forward priority filter;
		th dport 1 ip version 4 drop
		th dport 2 ip6 version 6 drop
		th dport 3 meta pkttype host iif "eth0" oif "cni0" drop
		th dport 4 iif "cni0" drop
	}
}
)",
      kHost);
  ASSERT_NE(sim, nullptr);
  ExpectFlows(
      *sim,
      {
          {"unicast", "external:eth0", "", "192.0.2.10:1", "tcp", "dropped"},
          {"not broadcast", "external:eth0", "", "192.0.2.10:2", "tcp",
           "local"},
          {"src in range", "external:eth0", "", "192.0.2.10:3", "tcp",
           "dropped"},
          {"src out of range", "external:eth0", "198.51.100.1", "192.0.2.10:3",
           "tcp", "local"},
          {"dst not in range", "external:eth0", "", "192.0.2.10:4", "tcp",
           "dropped"},
          {"ip version 4 on IPv4", "external:eth0", "", "10.88.0.5:1", "tcp",
           "dropped"},
          {"ip version 4 not on IPv6", "external:eth0", "", "[fd00:88::5]:1",
           "tcp", "delivered"},
          {"ip6 version 6", "external:eth0", "", "[fd00:88::5]:2", "tcp",
           "dropped"},
          {"pkttype host, iif, oif", "external:eth0", "", "10.88.0.5:3", "tcp",
           "dropped"},
          {"iif other", "external:eth0", "", "10.88.0.5:4", "tcp", "delivered"},
      });
  for (const char* bcast : {"255.255.255.255", "10.99.0.255"}) {
    absl::Status s = TraceStatus(*sim, "external:veth-r", bcast, 3);
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << bcast;
    EXPECT_THAT(Msg(s), HasSubstr("broadcast")) << bcast;
  }
  absl::StatusOr<Rule> rule =
      ParseIptablesRule("-m pkttype --pkt-type host -j ACCEPT", IpFamily::kV4);
  ASSERT_TRUE(rule.ok()) << rule.status();
  EXPECT_EQ(rule->text, "-m pkttype --pkt-type unicast -j ACCEPT");
}

// -m owner: valid only in OUTPUT and POSTROUTING (the kernel refuses it in
// INPUT); a local packet's owner is unknown to trace; a forwarded packet
// has no socket, so only "! --uid-owner" matches it.
TEST(MatchTailTest, Owner) {
  auto sim = MakeSimulator(
      Filter("-A OUTPUT -p tcp --dport 22 -m owner --uid-owner 1000 -j "
             "DROP\n") +
          Nat("-A POSTROUTING -o eth0 -m owner ! --uid-owner 0-99 -j "
              "MASQUERADE\n"),
      "", "", kHost);
  ASSERT_NE(sim, nullptr);
  ExpectFlows(*sim,
              {{"forwarded: no socket", "pod:10.88.0.5", "", "198.51.100.1:443",
                "tcp", "delivered", "198.51.100.1:443", "192.0.2.10"}});
  absl::Status s = TraceStatus(*sim, "local", "198.51.100.1", 22);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Msg(s), HasSubstr("chain OUTPUT rule 1"));
  EXPECT_THAT(Msg(s), HasSubstr("owner of a locally generated packet"));
  EXPECT_THAT(Msg(Restore(Filter("-A INPUT -m owner --uid-owner 0\n"))),
              HasSubstr("valid only in OUTPUT and POSTROUTING"));
  EXPECT_FALSE(
      ParseIptablesRule("-m owner --uid-owner root -j X", IpFamily::kV4).ok());
}

// nft meta skuid/skgid: a local packet's owner is unknown; a packet with no
// socket (forwarded or received) breaks the expression, so even != fails.
TEST(MatchTailTest, NftSkuid) {
  auto sim = MakeSimulator("", "", R"(table inet f {
	chain out {
		type filter hook output priority filter;
		tcp dport 22 meta skuid 1000 drop
	}
	chain fwd {
		type filter hook forward priority filter;
		tcp dport 22 meta skgid != 0 drop
	}
}
)",
                           kHost);
  ASSERT_NE(sim, nullptr);
  ExpectFlows(*sim, {{"forwarded: no socket", "external:eth0", "",
                      "10.88.0.5:22", "tcp", "delivered"}});
  absl::Status s = TraceStatus(*sim, "local", "198.51.100.1", 22);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Msg(s), HasSubstr("rule 1 (tcp dport 22 meta skuid 1000 drop)"));
}

// -m owner in a user chain is checked where a walk reaches it.
TEST(MatchTailTest, OwnerInAUserChainReachedFromInput) {
  auto sim = MakeSimulator(
      Filter(":U - [0:0]\n-A INPUT -j U\n-A U -m owner --uid-owner 0 -j "
             "DROP\n"),
      "", "", kHost);
  ASSERT_NE(sim, nullptr);
  absl::Status s = TraceStatus(*sim, "external:eth0", "192.0.2.10", 22);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Msg(s), HasSubstr("invalid in the input hook"));
}

// -m physdev: a packet that no bridge carried has no bridge ports (only
// negated options match); one through a bridge with br_netfilter refuses.
TEST(MatchTailTest, Physdev) {
  auto sim = MakeSimulator(
      Filter("-A FORWARD -p tcp --dport 1 -m physdev --physdev-in veth1 -j "
             "DROP\n"
             "-A FORWARD -p tcp --dport 2 -m physdev ! --physdev-is-bridged "
             "-j DROP\n"
             "-A FORWARD -p tcp --dport 3 -m physdev --physdev-is-bridged -j "
             "DROP\n"),
      "", "", kHost);
  ASSERT_NE(sim, nullptr);
  ExpectFlows(*sim, {
                        {"not bridged: --physdev-in fails", "external:eth0", "",
                         "10.99.0.5:1", "tcp", "delivered"},
                        {"not bridged: ! --physdev-is-bridged", "external:eth0",
                         "", "10.99.0.5:2", "tcp", "dropped"},
                        {"not bridged: --physdev-is-bridged", "external:eth0",
                         "", "10.99.0.5:3", "tcp", "delivered"},
                    });
  absl::Status s = TraceStatus(*sim, "external:eth0", "10.88.0.5", 1);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Msg(s), HasSubstr("bridge cni0"));
  EXPECT_THAT(Msg(s), HasSubstr("chain FORWARD rule 1"));
}

// --limit-iface-in: local only for an address of the input interface
// (verified: to the address of another interface, the rule did not match
// while plain --dst-type LOCAL did).
TEST(MatchTailTest, AddrtypeLimitIface) {
  auto sim = MakeSimulator(
      Filter("-A INPUT -p tcp --dport 4040 -m addrtype --dst-type LOCAL "
             "--limit-iface-in -j DROP\n"),
      "", "", kHost);
  ASSERT_NE(sim, nullptr);
  ExpectFlows(*sim, {
                        {"own address", "external:eth0", "", "192.0.2.10:4040",
                         "tcp", "dropped"},
                        {"another interface's address", "external:eth0", "",
                         "10.88.0.1:4040", "tcp", "local"},
                    });
  auto out = MakeSimulator(
      Nat("-A POSTROUTING -m addrtype --src-type LOCAL --limit-iface-out -j "
          "MASQUERADE\n"),
      "", "", kHost);
  ASSERT_NE(out, nullptr);
  ExpectFlows(
      *out,
      {
          {"source is the output interface's", "local", "", "198.51.100.1:80",
           "tcp", "delivered", "", "192.0.2.10"},
          {"source is another interface's: not masqueraded", "local",
           "10.88.0.1", "198.51.100.1:80", "tcp", "delivered", "", "10.88.0.1"},
      });
  auto post = MakeSimulator(
      Nat("-A POSTROUTING -m addrtype --dst-type LOCAL --limit-iface-in -j "
          "MASQUERADE\n"),
      "", "", kHost);
  ASSERT_NE(post, nullptr);
  EXPECT_THAT(Msg(TraceStatus(*post, "external:eth0", "10.88.0.5", 80)),
              HasSubstr("--limit-iface-in is invalid in the postrouting hook"));
  EXPECT_THAT(Msg(ParseIptablesRule("-m addrtype --dst-type LOCAL "
                                    "--limit-iface-in -j X",
                                    IpFamily::kV6)
                      .status()),
              HasSubstr("IPv6"));
}

}  // namespace
}  // namespace sim
