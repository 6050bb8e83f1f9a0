// Walks that branch: `-m statistic`, `-m recent`, `limit`, nft `numgen`.
// TraceAll gives every outcome with its probability; Trace refuses to pick
// one.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sim/iptables_parser.h"
#include "sim/nft_parser.h"
#include "sim/simulator.h"
#include "sim/testing/flow_table.h"

namespace sim {
namespace {

using ::sim::testing::MakeSimulator;
using ::sim::testing::PacketForFlow;
using ::sim::testing::ReadTestFile;
using ::testing::DoubleNear;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAreArray;

// A kube-proxy node: eth0 192.0.2.10, pods on cni0 (10.244.0.0/24).
std::string NodeHost() {
  return ReadTestFile("sim/testdata/kube-node-host.json");
}

// One outcome as a test reads it: "10.244.1.5:8080 0.333" or
// "10.244.1.5:8080 unknown"; dropped outcomes as "dropped 1.000".
std::string Describe(const TraceResult& r) {
  std::string where = r.verdict == PacketVerdict::kDropped
                          ? "dropped"
                          : absl::StrCat(r.To(), " from ", r.SourceSeen());
  return absl::StrCat(
      where, " ",
      r.probability_known ? absl::StrFormat("%.3f", r.probability) : "unknown");
}

std::vector<std::string> Outcomes(const Simulator& sim, const std::string& from,
                                  const std::string& dst) {
  absl::StatusOr<Packet> p =
      PacketForFlow({"", from, "", dst, "tcp", "", "", ""});
  EXPECT_TRUE(p.ok()) << p.status();
  if (!p.ok()) return {};
  absl::StatusOr<std::vector<TraceResult>> all = sim.TraceAll(*p);
  EXPECT_TRUE(all.ok()) << all.status();
  if (!all.ok()) return {};
  std::vector<std::string> out;
  for (const TraceResult& r : *all) out.push_back(Describe(r));
  return out;
}

absl::Status TraceStatus(const Simulator& sim, const std::string& from,
                         const std::string& dst) {
  absl::StatusOr<Packet> p =
      PacketForFlow({"", from, "", dst, "tcp", "", "", ""});
  if (!p.ok()) return p.status();
  return sim.Trace(*p).status();
}

TEST(StatisticParseTest, ProbabilityIsStoredIn31BitStepsAndPrintedBack) {
  absl::StatusOr<Rule> r = ParseIptablesRule(
      "-m statistic --mode random --probability 0.3333333333 -j ACCEPT",
      IpFamily::kV4);
  ASSERT_TRUE(r.ok()) << r.status();
  // iptables 1.8.9 stores lround(P * 2^31) and prints it with %.11f.
  EXPECT_EQ(r->text,
            "-m statistic --mode random --probability 0.33333333349 -j ACCEPT");
  ASSERT_EQ(r->matches.size(), 1u);
  EXPECT_EQ(r->matches[0].kind, Match::Kind::kChance);
  EXPECT_DOUBLE_EQ(r->matches[0].chance, 715827883.0 / 2147483648.0);

  r = ParseIptablesRule(
      "-m statistic --mode random ! --probability 0.2 -j ACCEPT",
      IpFamily::kV4);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->text,
            "-m statistic --mode random ! --probability 0.20000000019 -j "
            "ACCEPT");
  EXPECT_DOUBLE_EQ(r->matches[0].chance, 1 - 429496730.0 / 2147483648.0);

  r = ParseIptablesRule(
      "-m statistic --mode nth --every 3 --packet 1 -j ACCEPT", IpFamily::kV4);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->text, "-m statistic --mode nth --every 3 --packet 1 -j ACCEPT");
  EXPECT_DOUBLE_EQ(r->matches[0].chance, 1.0 / 3);
}

TEST(StatisticParseTest, BadOptionsNameTheConstruct) {
  for (const char* bad : {
           "-m statistic --mode random -j ACCEPT",
           "-m statistic --mode random --probability 1.5 -j ACCEPT",
           "-m statistic --mode nth --every 3 -j ACCEPT",
           "-m statistic --mode nth --every 0 --packet 0 -j ACCEPT",
           "-m statistic --mode nth --every 3 --packet 3 -j ACCEPT",
           "-m statistic --mode often --probability 0.5 -j ACCEPT",
           "-m statistic ! --mode random --probability 0.5 -j ACCEPT",
           "-m statistic --probability 0.5 -j ACCEPT",
       }) {
    absl::StatusOr<Rule> r = ParseIptablesRule(bad, IpFamily::kV4);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_THAT(r.status().message(), HasSubstr("statistic"));
    }
  }
}

TEST(RecentParseTest, PrintedAsIptablesSavePrintsIt) {
  // What iptables-save 1.8.9 printed for these (see the kube-proxy fixture).
  absl::StatusOr<Rule> r = ParseIptablesRule(
      "-m recent --name KUBE-SEP-A --mask 255.255.255.255 --rsource --rcheck "
      "--seconds 10800 --reap -j ACCEPT",
      IpFamily::kV4);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->text,
            "-m recent --rcheck --seconds 10800 --reap --name KUBE-SEP-A "
            "--mask 255.255.255.255 --rsource -j ACCEPT");
  EXPECT_LT(r->matches[0].chance, 0);  // unknown

  r = ParseIptablesRule("-m recent --set -j ACCEPT", IpFamily::kV4);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->text,
            "-m recent --set --name DEFAULT --mask 255.255.255.255 --rsource "
            "-j ACCEPT");
  EXPECT_EQ(r->matches[0].chance, 1);  // --set always matches

  r = ParseIptablesRule("-m recent ! --rcheck --name foo --rdest -j ACCEPT",
                        IpFamily::kV4);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->text,
            "-m recent ! --rcheck --name foo --mask 255.255.255.255 --rdest "
            "-j ACCEPT");

  EXPECT_FALSE(
      ParseIptablesRule("-m recent --name foo -j ACCEPT", IpFamily::kV4).ok());
  EXPECT_FALSE(
      ParseIptablesRule("-m recent --set --rcheck -j ACCEPT", IpFamily::kV4)
          .ok());
}

TEST(LimitParseTest, UnknownStateAndDefaults) {
  absl::StatusOr<Rule> r =
      ParseIptablesRule("-m limit -j ACCEPT", IpFamily::kV4);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->text, "-m limit --limit 3/hour -j ACCEPT");
  EXPECT_LT(r->matches[0].chance, 0);
  r = ParseIptablesRule("-m limit --limit 5/second --limit-burst 7 -j ACCEPT",
                        IpFamily::kV4);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->text, "-m limit --limit 5/sec --limit-burst 7 -j ACCEPT");
  EXPECT_FALSE(
      ParseIptablesRule("-m limit --limit fast -j ACCEPT", IpFamily::kV4).ok());
  // What iptables-save 1.8.9 printed back for each (the unit it picks).
  for (const auto& [given, printed] :
       std::vector<std::pair<std::string, std::string>>{
           {"60/min", "1/sec"},
           {"7/m", "7/min"},
           {"100/d", "100/day"},
           {"10000/s", "10000/sec"}}) {
    r = ParseIptablesRule("-m limit --limit " + given + " -j ACCEPT",
                          IpFamily::kV4);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->text, "-m limit --limit " + printed + " -j ACCEPT");
  }
}

TEST(RecentParseTest, Ipv6MaskDefault) {
  absl::StatusOr<Rule> r =
      ParseIptablesRule("-m recent --rcheck --name x -j ACCEPT", IpFamily::kV6);
  ASSERT_TRUE(r.ok()) << r.status();
  // As ip6tables-save 1.8.9 printed it.
  EXPECT_EQ(r->text,
            "-m recent --rcheck --name x --mask "
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff --rsource -j ACCEPT");
}

// What kube-proxy's services give a pod, in either mode: web's three
// endpoints a third each; sticky's two, with the probability unknown (session
// affinity).
void ExpectKubeProxyOutcomes(const Simulator& sim) {
  EXPECT_THAT(Outcomes(sim, "pod:10.244.0.5", "10.96.0.10:80"),
              UnorderedElementsAreArray({
                  "10.244.1.5:8080 from 10.244.0.5 0.333",
                  "10.244.1.6:8080 from 10.244.0.5 0.333",
                  "10.244.1.7:8080 from 10.244.0.5 0.333",
              }));
  EXPECT_THAT(Outcomes(sim, "pod:10.244.0.5", "10.96.0.20:80"),
              UnorderedElementsAreArray({
                  "10.244.1.5:8080 from 10.244.0.5 unknown",
                  "10.244.1.6:8080 from 10.244.0.5 unknown",
              }));
}

// kube-proxy's iptables mode, as loaded into a namespace and printed back by
// iptables-save 1.8.9 (see testdata/README.md): web has three endpoints,
// sticky has two and ClientIP session affinity.
TEST(KubeProxyIptablesTest, EachEndpointWithItsProbability) {
  auto sim =
      MakeSimulator(ReadTestFile("sim/testdata/kube-proxy-lb.iptables-save"),
                    "", "", NodeHost());
  ASSERT_NE(sim, nullptr);
  // Session affinity: the recent list decides, which the trace cannot know.
  ExpectKubeProxyOutcomes(*sim);
  absl::Status s = TraceStatus(*sim, "pod:10.244.0.5", "10.96.0.10:80");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("--probability 0.33333333349"));
  EXPECT_THAT(s.message(), HasSubstr("TraceAll"));
  // A packet that meets no probabilistic rule still has one answer.
  absl::StatusOr<Packet> p = PacketForFlow(
      {"", "pod:10.244.0.5", "", "10.96.0.99:80", "tcp", "", "", ""});
  ASSERT_TRUE(p.ok());
  absl::StatusOr<TraceResult> one = sim->Trace(*p);
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->probability, 1.0);
  EXPECT_TRUE(one->probability_known);
}

TEST(KubeProxyIptablesTest, TraceOfEachBranchSaysWhy) {
  auto sim =
      MakeSimulator(ReadTestFile("sim/testdata/kube-proxy-lb.iptables-save"),
                    "", "", NodeHost());
  ASSERT_NE(sim, nullptr);
  absl::StatusOr<Packet> p = PacketForFlow(
      {"", "pod:10.244.0.5", "", "10.96.0.10:80", "tcp", "", "", ""});
  ASSERT_TRUE(p.ok());
  absl::StatusOr<std::vector<TraceResult>> all = sim->TraceAll(*p);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_THAT(absl::StrJoin((*all)[0].trace, "\n"),
              HasSubstr("--probability 0.33333333349 matches (probability "
                        "33.3%)"));
  EXPECT_THAT(absl::StrJoin((*all)[2].trace, "\n"),
              HasSubstr("--probability 0.50000000000 does not match "
                        "(probability 50.0%)"));
}

constexpr char kNthAndLimit[] = R"(*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -d 192.0.2.10/32 -p tcp -m tcp --dport 81 -m statistic --mode nth --every 4 --packet 0 -j DNAT --to-destination 10.244.1.5:80
-A PREROUTING -d 192.0.2.10/32 -p tcp -m tcp --dport 81 -j DNAT --to-destination 10.244.1.6:80
-A PREROUTING -d 192.0.2.10/32 -p tcp -m tcp --dport 82 -m limit --limit 5/sec -j DNAT --to-destination 10.244.1.5:80
-A PREROUTING -d 192.0.2.10/32 -p tcp -m tcp --dport 83 -m recent --set --name X --mask 255.255.255.255 --rsource -j DNAT --to-destination 10.244.1.7:80
-A PREROUTING -d 192.0.2.10/32 -p tcp -m tcp --dport 84 -m statistic --mode random --probability 1.00000000000 -j DNAT --to-destination 10.244.1.7:80
-A PREROUTING -d 192.0.2.10/32 -p tcp -m tcp --dport 85 -m limit --limit 5/sec -j ACCEPT
COMMIT
)";

// On 6.x in a namespace, 600 local SYNs past `--probability 0.33333333349`
// and `--mode nth --every 4 --packet 0` matched 206 and 150 times.
TEST(BranchingTest, NthLimitRecentSet) {
  auto sim = MakeSimulator(kNthAndLimit, "", "", NodeHost());
  ASSERT_NE(sim, nullptr);
  EXPECT_THAT(Outcomes(*sim, "external", "192.0.2.10:81"),
              UnorderedElementsAreArray({
                  "10.244.1.5:80 from 203.0.113.7 0.250",
                  "10.244.1.6:80 from 203.0.113.7 0.750",
              }));
  EXPECT_THAT(Outcomes(*sim, "external", "192.0.2.10:82"),
              UnorderedElementsAreArray({
                  "10.244.1.5:80 from 203.0.113.7 unknown",
                  "192.0.2.10:82 from 203.0.113.7 unknown",
              }));
  // --set always matches, and probability 1 always: no branch at all.
  EXPECT_TRUE(TraceStatus(*sim, "external", "192.0.2.10:83").ok());
  EXPECT_TRUE(TraceStatus(*sim, "external", "192.0.2.10:84").ok());
  // Branches that end alike are one certain answer, for Trace too.
  EXPECT_THAT(Outcomes(*sim, "external", "192.0.2.10:85"),
              UnorderedElementsAreArray({"192.0.2.10:85 from 203.0.113.7 "
                                         "1.000"}));
  EXPECT_TRUE(TraceStatus(*sim, "external", "192.0.2.10:85").ok());
}

TEST(BranchingTest, IdenticalOutcomesAreMergedAndSummed) {
  constexpr char kTwoWaysToOne[] = R"(*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -p tcp -m statistic --mode random --probability 0.25 -j DNAT --to-destination 10.244.1.5:80
-A PREROUTING -p tcp -m statistic --mode random --probability 0.5 -j DNAT --to-destination 10.244.1.5:80
-A PREROUTING -p tcp -j DNAT --to-destination 10.244.1.6:80
COMMIT
)";
  auto sim = MakeSimulator(kTwoWaysToOne, "", "", NodeHost());
  ASSERT_NE(sim, nullptr);
  EXPECT_THAT(Outcomes(*sim, "external", "192.0.2.10:80"),
              UnorderedElementsAreArray({
                  "10.244.1.5:80 from 203.0.113.7 0.625",
                  "10.244.1.6:80 from 203.0.113.7 0.375",
              }));
}

TEST(BranchingTest, TooManyCombinationsIsRefusedNamingTheRule) {
  std::string rules =
      "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n"
      ":OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n";
  // 13 independent coin flips that each set a mark bit: 8192 combinations.
  for (int i = 0; i < 13; ++i) {
    absl::StrAppend(&rules,
                    "-A PREROUTING -m statistic --mode random --probability "
                    "0.5 -j MARK --set-xmark ",
                    absl::StrFormat("0x%x/0x%x", 1 << i, 1 << i), "\n");
  }
  absl::StrAppend(&rules, "COMMIT\n");
  auto sim = MakeSimulator(rules, "", "", NodeHost());
  ASSERT_NE(sim, nullptr);
  absl::StatusOr<Packet> p =
      PacketForFlow({"", "external", "", "192.0.2.10:80", "tcp", "", "", ""});
  ASSERT_TRUE(p.ok());
  absl::StatusOr<std::vector<TraceResult>> all = sim->TraceAll(*p);
  ASSERT_FALSE(all.ok());
  EXPECT_EQ(all.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(all.status().message(), HasSubstr("more than 4096"));
  EXPECT_THAT(all.status().message(), HasSubstr("chain PREROUTING rule 13"));
}

TEST(BranchingTest, DeterministicWalkHasOneCertainOutcome) {
  auto sim = MakeSimulator(kNthAndLimit, "", "", NodeHost());
  ASSERT_NE(sim, nullptr);
  EXPECT_THAT(Outcomes(*sim, "external", "192.0.2.10:90"),
              UnorderedElementsAreArray({"192.0.2.10:90 from 203.0.113.7 "
                                         "1.000"}));
}

// numgen as nft writes it: in a verdict map, a NAT map and a comparison.
constexpr char kNumgen[] = R"(table ip lb {
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		tcp dport 81 numgen random mod 3 vmap { 0 : goto a, 1 : goto b, 2 : goto c }
		tcp dport 82 dnat to numgen inc mod 2 map { 0 : 10.244.1.5, 1 : 10.244.1.6 }
		tcp dport 83 numgen random mod 2 == 0 dnat to 10.244.1.5:80
		tcp dport 83 dnat to 10.244.1.6:80
		tcp dport 84 numgen inc mod 4 offset 10 vmap { 10 : goto a, 11-13 : goto b }
		tcp dport 85 numgen random mod 1 vmap { 0 : goto a }
	}

	chain a {
		dnat to 10.244.1.5:80
	}

	chain b {
		dnat to 10.244.1.6:80
	}

	chain c {
		dnat to 10.244.1.7:80
	}
}
)";

// On 6.x in a namespace, 600 SYNs through `numgen random mod 3 vmap` went
// 219/183/198 to the three chains, and 400 through `numgen inc mod 4 offset
// 10 vmap { 10 : jump a, 11-13 : jump b }` 100/300.
TEST(NumgenTest, VmapMapAndComparison) {
  auto sim = MakeSimulator("", "", kNumgen, NodeHost());
  ASSERT_NE(sim, nullptr);
  EXPECT_THAT(Outcomes(*sim, "external", "192.0.2.10:81"),
              UnorderedElementsAreArray({
                  "10.244.1.5:80 from 203.0.113.7 0.333",
                  "10.244.1.6:80 from 203.0.113.7 0.333",
                  "10.244.1.7:80 from 203.0.113.7 0.333",
              }));
  EXPECT_THAT(Outcomes(*sim, "external", "192.0.2.10:82"),
              UnorderedElementsAreArray({
                  "10.244.1.5:82 from 203.0.113.7 0.500",
                  "10.244.1.6:82 from 203.0.113.7 0.500",
              }));
  EXPECT_THAT(Outcomes(*sim, "external", "192.0.2.10:83"),
              UnorderedElementsAreArray({
                  "10.244.1.5:80 from 203.0.113.7 0.500",
                  "10.244.1.6:80 from 203.0.113.7 0.500",
              }));
  EXPECT_THAT(Outcomes(*sim, "external", "192.0.2.10:84"),
              UnorderedElementsAreArray({
                  "10.244.1.5:80 from 203.0.113.7 0.250",
                  "10.244.1.6:80 from 203.0.113.7 0.750",
              }));
  // mod 1 has one value: kube-proxy writes it for one endpoint.
  EXPECT_TRUE(TraceStatus(*sim, "external", "192.0.2.10:85").ok());
  absl::Status s = TraceStatus(*sim, "external", "192.0.2.10:81");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("numgen random mod 3"));
}

TEST(NumgenTest, LimitIsUnknown) {
  auto sim = MakeSimulator("", "", R"(table ip lb {
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		tcp dport 81 limit rate 10/second burst 5 packets dnat to 10.244.1.5:80
	}
}
)",
                           NodeHost());
  ASSERT_NE(sim, nullptr);
  EXPECT_THAT(Outcomes(*sim, "external", "192.0.2.10:81"),
              UnorderedElementsAreArray({
                  "10.244.1.5:80 from 203.0.113.7 unknown",
                  "192.0.2.10:81 from 203.0.113.7 unknown",
              }));
}

// kube-proxy's nftables mode, as nft 1.0.6 lists it back (see
// testdata/README.md): web has three endpoints.
TEST(KubeProxyNftTest, EachEndpointWithItsProbability) {
  auto sim = MakeSimulator(
      "", "", ReadTestFile("sim/testdata/kube-proxy-lb.nft"), NodeHost());
  ASSERT_NE(sim, nullptr);
  // Session affinity: the sets are filled by traffic (`flags dynamic`,
  // `update @affinity-... { ip saddr }`), which the trace cannot know.
  ExpectKubeProxyOutcomes(*sim);
  absl::Status s = TraceStatus(*sim, "pod:10.244.0.5", "10.96.0.20:80");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("ip saddr @affinity-AAAAAAAA"));
}

TEST(KubeProxyNftTest, DynamicMapLookupsAreRefused) {
  Ruleset r;
  ASSERT_TRUE(ApplyNftScript(R"(table ip t {
	map m {
		type ipv4_addr : verdict
		flags dynamic
	}
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		ip saddr vmap @m
	}
}
)",
                             "t.nft", &r)
                  .ok());
  absl::StatusOr<std::unique_ptr<Simulator>> sim =
      Simulator::Create(std::move(r), HostModel::Default());
  ASSERT_FALSE(sim.ok());
  EXPECT_THAT(sim.status().message(), HasSubstr("map \"m\" has flags dynamic"));
}

TEST(KubeProxyNftTest, UpdateNeedsAKeyOfTheSetsType) {
  Ruleset r;
  absl::Status s = ApplyNftScript(R"(table ip t {
	set s {
		type ipv4_addr
		flags dynamic,timeout
	}
	chain c {
		update @s { tcp dport }
	}
}
)",
                                  "t.nft", &r);
  ASSERT_TRUE(s.ok()) << s;
  // The rule is kept as a placeholder, refused where a walk reaches it.
  const std::string& why = r.tables[0].chains.at("c").rules.at(0).unsupported;
  EXPECT_THAT(why, HasSubstr("line 7"));
  EXPECT_THAT(why, HasSubstr("does not fit the set"));
  EXPECT_TRUE(r.tables[0].sets.at("s").dynamic());
}

}  // namespace
}  // namespace sim
