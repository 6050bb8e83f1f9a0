// ipsets (`ipset save` text, iptables `-m set --match-set`) and nft named
// sets as `nft list ruleset` prints them.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sim/ipset_parser.h"
#include "sim/iptables_parser.h"
#include "sim/simulator.h"
#include "sim/testing/flow_table.h"

namespace sim {
namespace {

using ::sim::testing::ExpectFlows;
using ::sim::testing::MakeSimulator;
using ::sim::testing::PacketForFlow;
using ::sim::testing::ReadTestFile;
using ::testing::HasSubstr;

TEST(IpsetParserTest, ReadsEveryModelledTypeFromRealOutput) {
  Ruleset r;
  absl::Status s =
      ApplyIpsetSave(ReadTestFile("sim/testdata/ipsets.save"), "ipsets", &r);
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_EQ(r.ipsets.size(), 8u);
  EXPECT_EQ(r.ipsets.at("ipport").elements->size(), 4u);
  EXPECT_EQ(r.ipsets.at("ipport").dimensions.size(), 2u);
  EXPECT_EQ(r.ipsets.at("ports").elements->size(), 4u);
  EXPECT_EQ(r.ipsets.at("v6").family, IpFamily::kV6);
  EXPECT_EQ(r.ipsets.at("lst").members,
            (std::vector<std::string>{"ips", "ports"}));
}

TEST(IpsetParserTest, UnmodelledThingsAreRefusedNamingThem) {
  struct Case {
    std::string text;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {"create n hash:net family inet\nadd n 10.1.2.0/24 nomatch\n",
            "ipsets:2: element option \"nomatch\""},
           {"create n hash:ip family inet netmask 24\n",
            "ipsets:1: create option \"netmask\""},
           {"create n hash:ip,port,ip family inet\n",
            "ipsets:1: ipset type hash:ip,port,ip of n is not modelled"},
           {"create n hash:mac\n", "hash:mac"},
           {"add n 10.0.0.1\n", "ipsets:1: add to ipset n before its create"},
           {"create n hash:ip family inet\nadd n 10.0.0.0/24\n",
            "ipsets:2: \"10.0.0.0/24\" in ipset n"},
           {"create n hash:ip,port family inet\nadd n 10.0.0.1,icmp:ping\n",
            "not a port of tcp, udp or sctp"},
           {"create n hash:ip family inet6\nadd n 10.0.0.1\n",
            "not an IPv6 address"},
           {"create l list:set\nadd l missing\n",
            "list:set l holds unknown set missing"},
           {"destroy n\n", "ipsets:1: expected"},
       }) {
    Ruleset r;
    absl::Status s = ApplyIpsetSave(c.text, "ipsets", &r);
    EXPECT_FALSE(s.ok()) << c.text;
    EXPECT_THAT(s.message(), HasSubstr(c.message)) << c.text;
    EXPECT_TRUE(r.ipsets.empty()) << c.text;
  }
}

TEST(IpsetMatchTest, ParsedAndPrintedAsIptablesSavePrintsIt) {
  absl::StatusOr<Rule> r = ParseIptablesRule(
      "-m set ! --match-set ipport src,dst -j ACCEPT", IpFamily::kV4);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->text, "-m set ! --match-set ipport src,dst -j ACCEPT");
  EXPECT_TRUE(r->matches[0].negate);
  EXPECT_EQ(r->matches[0].ipset_src, (std::vector<bool>{true, false}));
  for (const char* bad : {
           "-m set --match-set lst src,dst --return-nomatch -j ACCEPT",
           "-m set --match-set lst src ! --update-counters -j ACCEPT",
           "-m set --match-set lst source -j ACCEPT",
           "--match-set lst src -j ACCEPT",
           "-m set -j ACCEPT",
       }) {
    EXPECT_FALSE(ParseIptablesRule(bad, IpFamily::kV4).ok()) << bad;
  }
}

constexpr char kNodeHost[] = R"json({
  "interfaces": [
    {"name": "eth0", "addresses": ["192.0.2.10/24", "2001:db8::10/64"]}],
  "routes": [{"to": "default", "dev": "eth0"}]
})json";

// Each destination port tests one set; a match DNATs to 10.244.1.N where N
// says which rule matched.
constexpr char kSetRules[] = R"(*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -p tcp -m tcp --dport 1001 -m set --match-set ips src -j DNAT --to-destination 10.244.1.1
-A PREROUTING -p tcp -m tcp --dport 1002 -m set ! --match-set nets src -j DNAT --to-destination 10.244.1.2
-A PREROUTING -p tcp -m set --match-set ipport src,dst -j DNAT --to-destination 10.244.1.3
-A PREROUTING -p tcp -m set --match-set netport src,dst -j DNAT --to-destination 10.244.1.4
-A PREROUTING -p tcp -m tcp --sport 5000 -m set --match-set ports dst -j DNAT --to-destination 10.244.1.5
-A PREROUTING -p tcp -m tcp --sport 6000 -m set --match-set lst src,src -j DNAT --to-destination 10.244.1.6
-A PREROUTING -p tcp -m tcp --dport 1007 -m set --match-set missing src -j DNAT --to-destination 10.244.1.7
COMMIT
)";

std::unique_ptr<Simulator> SetSimulator() {
  Ruleset rules;
  IptablesParseOptions v4;
  absl::Status s = ApplyIptablesRestore(kSetRules, v4, &rules);
  EXPECT_TRUE(s.ok()) << s;
  s = ApplyIpsetSave(ReadTestFile("sim/testdata/ipsets.save"), "ipsets.save",
                     &rules);
  EXPECT_TRUE(s.ok()) << s;
  absl::StatusOr<HostModel> host = HostModel::FromJson(kNodeHost);
  EXPECT_TRUE(host.ok());
  absl::StatusOr<std::unique_ptr<Simulator>> sim =
      Simulator::Create(std::move(rules), *std::move(host));
  EXPECT_TRUE(sim.ok()) << sim.status();
  return sim.ok() ? *std::move(sim) : nullptr;
}

TEST(IpsetMatchTest, EachTypeMatchesOnTheDimensionsTheRuleNames) {
  std::unique_ptr<Simulator> sim = SetSimulator();
  ASSERT_NE(sim, nullptr);
  ExpectFlows(
      *sim,
      {
          {"hash:ip holds the source", "external", "10.0.0.1",
           "192.0.2.10:1001", "tcp", "delivered", "10.244.1.1:1001"},
          {"hash:ip lacks the source", "external", "10.0.0.2",
           "192.0.2.10:1001", "tcp", "local", "192.0.2.10:1001"},
          {"! hash:net: inside the prefix", "external", "10.1.200.3",
           "192.0.2.10:1002", "tcp", "local", "192.0.2.10:1002"},
          {"! hash:net: outside", "external", "10.2.0.1", "192.0.2.10:1002",
           "tcp", "delivered", "10.244.1.2:1002"},
          {"hash:ip,port src,dst", "external", "10.0.0.1", "192.0.2.10:80",
           "tcp", "delivered", "10.244.1.3:80"},
          {"hash:ip,port: udp:53 is not tcp:81", "external", "10.0.0.1",
           "192.0.2.10:81", "tcp", "local", "192.0.2.10:81"},
          {"hash:ip,port: the protocol is part of the key", "external",
           "10.0.0.1", "192.0.2.10:53", "udp", "local", "192.0.2.10:53"},
          {"hash:net,port", "external", "10.2.3.4", "192.0.2.10:8081", "tcp",
           "delivered", "10.244.1.4:8081"},
          {"bitmap:port dst", "external", "198.51.100.1:5000", "192.0.2.10:101",
           "tcp", "delivered", "10.244.1.5:101"},
          {"list:set: member ips reads the source address", "external",
           "10.0.0.1:6000", "192.0.2.10:9", "tcp", "delivered", "10.244.1.6:9"},
          {"list:set: member ports reads the source port", "external",
           "198.51.100.1:6000", "192.0.2.10:9", "tcp", "local", "192.0.2.10:9"},
      });
}

TEST(IpsetMatchTest, AMissingSetRefusesOnlyWhereReached) {
  std::unique_ptr<Simulator> sim = SetSimulator();
  ASSERT_NE(sim, nullptr);
  absl::StatusOr<Packet> p = PacketForFlow(
      {"", "external", "198.51.100.1", "192.0.2.10:1007", "tcp", "", "", ""});
  ASSERT_TRUE(p.ok());
  absl::StatusOr<TraceResult> r = sim->Trace(*p);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("no ipset \"missing\" is known"));
  EXPECT_THAT(r.status().message(), HasSubstr("rule 7"));
}

// Fewer dimensions than the set has: the kernel never finds the key
// (6.x: `--match-set IPPORT dst` counted no packet).
// The other family is refused.
TEST(IpsetMatchTest, FewerDimensionsNeverMatchOtherFamilyIsRefused) {
  Ruleset rules;
  IptablesParseOptions v4;
  ASSERT_TRUE(ApplyIptablesRestore(R"(*nat
:PREROUTING ACCEPT [0:0]
-A PREROUTING -p tcp -m tcp --dport 80 -m set --match-set ipport src -j DNAT --to-destination 10.244.1.1
-A PREROUTING -p tcp -m tcp --dport 80 -m set ! --match-set ipport src -j DNAT --to-destination 10.244.1.2
-A PREROUTING -p tcp -m tcp --dport 2 -m set --match-set v6 src -j ACCEPT
COMMIT
)",
                                   v4, &rules)
                  .ok());
  ASSERT_TRUE(
      ApplyIpsetSave(ReadTestFile("sim/testdata/ipsets.save"), "f", &rules)
          .ok());
  absl::StatusOr<std::unique_ptr<Simulator>> sim =
      Simulator::Create(std::move(rules), *HostModel::FromJson(kNodeHost));
  ASSERT_TRUE(sim.ok()) << sim.status();
  ExpectFlows(**sim, {{"ipport holds 10.0.0.1,tcp:80, src alone misses",
                       "external", "10.0.0.1", "192.0.2.10:80", "tcp",
                       "delivered", "10.244.1.2:80"}});
  absl::StatusOr<Packet> p =
      PacketForFlow({"", "external", "", "192.0.2.10:2", "tcp", "", "", ""});
  ASSERT_TRUE(p.ok());
  absl::StatusOr<TraceResult> r = (*sim)->Trace(*p);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(),
              HasSubstr("ipset v6 (f:20) is of the other family"));
}

// nft named sets as nft 1.0.6 lists them: interval sets with prefixes and
// ranges, typeof concatenations.
TEST(NftNamedSetsTest, AsListedByNft) {
  auto sim = MakeSimulator(
      "", "", ReadTestFile("sim/testdata/nft-named-sets.nft"), kNodeHost);
  ASSERT_NE(sim, nullptr);
  ExpectFlows(
      *sim, {
                {"prefix and concatenation", "external", "10.200.0.1",
                 "192.0.2.10:8080", "tcp", "delivered", "10.244.1.5:8080"},
                {"range", "external", "192.168.1.3", "192.0.2.10:9090", "tcp",
                 "delivered", "10.244.1.5:9090"},
                {"past the range, port interval", "external", "192.168.1.6",
                 "192.0.2.10:8050", "tcp", "delivered", "10.244.1.6:8050"},
                {"single address, port not in @svc", "external", "203.0.113.7",
                 "192.0.2.10:8081", "tcp", "local", "192.0.2.10:8081"},
                {"outside both", "external", "198.51.100.1", "192.0.2.10:8100",
                 "tcp", "local", "192.0.2.10:8100"},
            });
}

}  // namespace
}  // namespace sim
