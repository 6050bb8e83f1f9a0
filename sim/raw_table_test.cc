// iptables' raw table: its PREROUTING and OUTPUT run at priority -300, before
// conntrack and NAT, so a DROP there stops a packet before any DNAT could make
// it routable (hostport's loopback guard lives there).
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sim/iptables_parser.h"
#include "sim/testing/flow_table.h"

namespace sim {
namespace {

using testing::Flow;

constexpr char kHost[] = R"({"interfaces": [
  {"name": "eth0", "addresses": ["192.0.2.10/24"]},
  {"name": "br0", "addresses": ["10.88.0.1/16"], "route_localnet": true}]})";

constexpr char kRules[] = R"(*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:GUARD - [0:0]
-A PREROUTING -d 127.0.0.0/8 ! -i lo -j GUARD
-A PREROUTING -p udp --dport 9 -j ACCEPT
-A GUARD -d 127.0.0.1/32 -p tcp -m tcp --dport 9000 -j DROP
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -p tcp -m tcp --dport 9000 -j DNAT --to-destination 10.88.0.7:9000
-A PREROUTING -p udp -m udp --dport 9 -j DNAT --to-destination 10.88.0.7:9
-A OUTPUT -d 127.0.0.1/32 -p tcp -m tcp --dport 9000 -j DNAT --to-destination 10.88.0.7:9000
-A POSTROUTING -s 127.0.0.0/8 -o br0 -j MASQUERADE
COMMIT
)";

TEST(RawTableTest, DropInRawPreroutingComesBeforeTheDnat) {
  std::unique_ptr<Simulator> sim =
      testing::MakeSimulator(kRules, "", "", kHost);
  ASSERT_NE(sim, nullptr);
  testing::ExpectFlows(
      *sim, {
                {"neighbour to the loopback-bound port", "external:eth0", "",
                 "127.0.0.1:9000", "tcp", "dropped", "", "", "raw/GUARD"},
                {"the host itself is not guarded", "local", "127.0.0.1",
                 "127.0.0.1:9000", "tcp", "delivered", "10.88.0.7:9000",
                 "10.88.0.1", ""},
                {"other ports pass raw and are DNATed", "external:eth0", "",
                 "192.0.2.10:9000", "tcp", "delivered", "10.88.0.7:9000",
                 "203.0.113.7", ""},
                {"accept in raw does not stop nat", "external:eth0", "",
                 "192.0.2.10:9", "udp", "delivered", "10.88.0.7:9", "", ""},
            });
}

TEST(RawTableTest, NatTargetsInRawAreRefused) {
  Ruleset ruleset;
  ASSERT_TRUE(ApplyIptablesRestore(
                  "*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p tcp -j "
                  "DNAT --to-destination 10.0.0.1:80\nCOMMIT\n",
                  {}, &ruleset)
                  .ok());
  absl::StatusOr<std::unique_ptr<Simulator>> sim =
      Simulator::Create(std::move(ruleset), HostModel::Default());
  ASSERT_FALSE(sim.ok());
  EXPECT_THAT(std::string(sim.status().message()),
              ::testing::HasSubstr("NAT targets are valid only in table nat"));
}

}  // namespace
}  // namespace sim
