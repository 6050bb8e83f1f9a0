// Golden tests of both renderers: for every scenario, backend and family, the
// complete ruleset and the add and remove deltas of the scenario's last pod are
// compared with files under testdata/golden/. e2e/loadability_test feeds the
// same files to the real iptables-restore and nft.
//
// To rewrite the files after an intended change:
//   HOSTPORT_UPDATE_GOLDENS=1 bazel run //hostport:render_golden_test
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hostport/model/plan.h"
#include "hostport/render/iptables_renderer.h"
#include "hostport/render/nft_renderer.h"

namespace hostport {
namespace {

struct ScenarioPod {
  std::string id;
  PodPortMapping pod;
  std::string nat_interface;
};

struct Scenario {
  std::string name;
  std::vector<ScenarioPod> pods;
};

PortMapping Map(int host_port, int container_port, Protocol protocol,
                std::string host_ip) {
  return PortMapping{host_port, container_port, protocol, std::move(host_ip)};
}

PodPortMapping Pod(std::string ns, std::string name,
                   std::vector<std::string> ips,
                   std::vector<PortMapping> mappings) {
  PodPortMapping pod;
  pod.namespace_ = std::move(ns);
  pod.name = std::move(name);
  pod.ips = std::move(ips);
  pod.port_mappings = std::move(mappings);
  return pod;
}

std::vector<Scenario> Scenarios() {
  const Protocol tcp = Protocol::kTCP, udp = Protocol::kUDP,
                 sctp = Protocol::kSCTP;
  return {
      {"wildcard_dual_stack",
       {{"sandbox-1", Pod("default", "web", {"10.88.0.5", "fd00:88::5"},
                          {Map(8080, 80, tcp, "")})}}},
      {"host_ip",
       {{"sandbox-2",
         Pod("default", "api", {"10.88.0.7", "fd00:88::7"},
             {Map(443, 8443, tcp, "192.0.2.10"),
              Map(443, 8443, tcp, "2001:db8::10"), Map(53, 53, udp, "0.0.0.0"),
              Map(53, 53, udp, "::")})}}},
      {"multi_ip_sctp",
       {{"sandbox-3",
         Pod("telecom", "sig",
             {"10.88.0.8", "fd00:88::8", "10.89.0.8", "fd00:89::8"},
             {Map(3868, 3868, sctp, ""), Map(9090, 90, tcp, "")})}}},
      {"localhost",
       {{"sandbox-4",
         Pod("ops", "admin", {"10.88.0.9"},
             {Map(9000, 9000, tcp, "127.0.0.1"), Map(9001, 9001, tcp, "")}),
         "hp-br0"}}},
      {"several_pods",
       {{"sandbox-5",
         Pod("default", "web", {"10.88.0.5", "fd00:88::5"},
             {Map(8080, 80, tcp, "")}),
         "hp-br0"},
        {"sandbox-6", Pod("default", "db", {"10.88.0.6", "fd00:88::6"},
                          {Map(5432, 5432, tcp, "192.0.2.10"),
                           Map(5432, 5432, tcp, "198.51.100.10")})},
        {"sandbox-7",
         Pod("", "", {"10.88.0.7"}, {Map(9000, 9000, udp, "127.0.0.1")})}}},
  };
}

std::string GoldenPath(const std::string& file) {
  return absl::StrCat("hostport/render/testdata/golden/", file);
}

void CheckGolden(const std::string& file, const std::string& actual) {
  if (std::getenv("HOSTPORT_UPDATE_GOLDENS") != nullptr) {
    const char* workspace = std::getenv("BUILD_WORKSPACE_DIRECTORY");
    ASSERT_NE(workspace, nullptr) << "run through `bazel run` to update";
    std::ofstream out(absl::StrCat(workspace, "/", GoldenPath(file)));
    out << actual;
    ASSERT_TRUE(out.good()) << file;
    return;
  }
  std::ifstream in(GoldenPath(file));
  ASSERT_TRUE(in.good()) << "missing golden " << file
                         << "; create it with HOSTPORT_UPDATE_GOLDENS=1";
  std::stringstream expected;
  expected << in.rdbuf();
  EXPECT_EQ(actual, expected.str()) << "golden " << file << " differs";
}

class RenderGoldenTest : public ::testing::TestWithParam<Scenario> {};

TEST_P(RenderGoldenTest, MatchesGoldenFiles) {
  const Scenario& scenario = GetParam();
  std::vector<PodPlan> plans;
  for (const ScenarioPod& p : scenario.pods) {
    absl::StatusOr<PodPlan> plan = PlanPod(p.id, p.pod, p.nat_interface);
    ASSERT_TRUE(plan.ok()) << plan.status();
    plans.push_back(*plan);
  }
  const PodPlan& last = plans.back();
  for (IPFamily family : {IPFamily::kIPv4, IPFamily::kIPv6}) {
    const std::string stem =
        absl::StrCat(scenario.name, ".", IPFamilyName(family), ".");
    IptablesRenderer iptables;
    CheckGolden(stem + "iptables.full", iptables.Full(family, plans).Render());
    IptablesTransaction add(family), remove(family);
    iptables.AddPod(last, &add);
    iptables.RemovePod(last, &remove);
    CheckGolden(stem + "iptables.add", add.Render());
    CheckGolden(stem + "iptables.remove", remove.Render());

    NftRenderer nft;
    CheckGolden(stem + "nft.full", nft.Full(family, plans).Render());
    NftTransaction nft_add, nft_remove;
    nft.AddPod(family, last, &nft_add);
    nft.RemovePod(family, last, &nft_remove);
    CheckGolden(stem + "nft.add", nft_add.Render());
    CheckGolden(stem + "nft.remove", nft_remove.Render());
  }
}

INSTANTIATE_TEST_SUITE_P(Scenarios, RenderGoldenTest,
                         ::testing::ValuesIn(Scenarios()),
                         [](const ::testing::TestParamInfo<Scenario>& info) {
                           return info.param.name;
                         });

// The shapes every golden relies on, asserted directly so a wrong golden cannot
// hide them.
TEST(RenderTest, DeltaHoldsOnlyThePodsOwnOperations) {
  PodPortMapping pod =
      Pod("default", "web", {"10.88.0.5"}, {Map(8080, 80, Protocol::kTCP, "")});
  absl::StatusOr<PodPlan> plan = PlanPod("a", pod);
  ASSERT_TRUE(plan.ok());
  IptablesTransaction add(IPFamily::kIPv4);
  IptablesRenderer().AddPod(*plan, &add);
  EXPECT_EQ(add.size(), 6);  // 2 declarations, 2 jumps, DNAT, hairpin.
  // The shared chain is inserted into, never declared (which would flush it).
  EXPECT_THAT(add.Render(),
              ::testing::Not(::testing::HasSubstr(":KUBE-HOSTPORTS ")));
  NftTransaction nft_add;
  NftRenderer().AddPod(IPFamily::kIPv4, *plan, &nft_add);
  EXPECT_EQ(nft_add.size(), 2);  // hostports element, hairpin element.
}

TEST(RenderTest, RemoveNeverDeclaresSharedChains) {
  absl::StatusOr<PodPlan> plan =
      PlanPod("a", Pod("default", "web", {"10.88.0.5"},
                       {Map(8080, 80, Protocol::kTCP, "127.0.0.1")}));
  ASSERT_TRUE(plan.ok());
  IptablesTransaction remove(IPFamily::kIPv4);
  IptablesRenderer().RemovePod(*plan, &remove);
  const std::string text = remove.Render();
  EXPECT_THAT(text, ::testing::Not(::testing::HasSubstr(":KUBE-HOSTPORTS ")));
  EXPECT_THAT(text,
              ::testing::Not(::testing::HasSubstr(":CRIO-HOSTPORTS-MASQ ")));
  EXPECT_THAT(
      text, ::testing::Not(::testing::HasSubstr(":CRIO-HOSTPORTS-LOOPBACK ")));
  // nat before raw: the DNAT goes before its guard.
  EXPECT_LT(text.find("*nat"), text.find("*raw"));
}

TEST(RenderTest, AddPutsLoopbackGuardBeforeTheDnat) {
  absl::StatusOr<PodPlan> plan =
      PlanPod("a", Pod("default", "web", {"10.88.0.5"},
                       {Map(8080, 80, Protocol::kTCP, "127.0.0.1")}));
  ASSERT_TRUE(plan.ok());
  IptablesTransaction add(IPFamily::kIPv4);
  IptablesRenderer().AddPod(*plan, &add);
  const std::string text = add.Render();
  EXPECT_LT(text.find("*raw"), text.find("*nat"));
  EXPECT_THAT(text,
              ::testing::HasSubstr(
                  "-I CRIO-HOSTPORTS-LOOPBACK -d 127.0.0.1/32 -p tcp -m "
                  "comment --comment \"default/web hostport 8080\" -m tcp "
                  "--dport 8080 -j DROP"));
}

TEST(RenderTest, CustomNamesAreUsedEverywhere) {
  ObjectNames names;
  names.hostports_chain = "MY-HOSTPORTS";
  names.hostport_chain_prefix = "MY-HP-";
  names.masquerade_chain = "MY-MASQ";
  names.masquerade_chain_prefix = "MY-MQ-";
  names.loopback_guard_chain = "MY-LOOPBACK";
  names.nft_table = "my-hostports";
  ASSERT_TRUE(names.Validate().ok());
  absl::StatusOr<PodPlan> plan =
      PlanPod("a", Pod("default", "web", {"10.88.0.5"},
                       {Map(8080, 80, Protocol::kTCP, "127.0.0.1")}));
  ASSERT_TRUE(plan.ok());
  const std::string iptables =
      IptablesRenderer(names).Full(IPFamily::kIPv4, {*plan}).Render();
  for (const char* old_name :
       {"KUBE-HOSTPORTS", "KUBE-HP-", "CRIO-HOSTPORTS-MASQ", "CRIO-MASQ-",
        "CRIO-HOSTPORTS-LOOPBACK"}) {
    EXPECT_THAT(iptables, ::testing::Not(::testing::HasSubstr(old_name)));
  }
  EXPECT_THAT(iptables, ::testing::HasSubstr("-j MY-HP-"));
  const std::string nft =
      NftRenderer(names).Full(IPFamily::kIPv4, {*plan}).Render();
  EXPECT_THAT(nft, ::testing::Not(::testing::HasSubstr("crio-hostports")));
  EXPECT_THAT(nft, ::testing::HasSubstr("add table ip my-hostports"));
}

}  // namespace
}  // namespace hostport
