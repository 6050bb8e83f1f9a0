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

}  // namespace
}  // namespace sim
